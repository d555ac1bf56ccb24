"""Where a vending point is: its GeoJSON polygon (or a square around its centre), and point-in-polygon.

A point on a polygon's edge counts as inside (shapely ``intersects``), so a vendor standing on the
painted line of a vending point is in it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.areas.geo import Crs, to_wgs84
from core.areas.models import Grid

METRES_PER_DEGREE = 111_320.0


def square_around(lon: float, lat: float, half_size_m: float) -> dict[str, Any]:
    """A GeoJSON Polygon: the square of ``2 * half_size_m`` metres a side centred on ``lon``/``lat``."""
    dlat = half_size_m / METRES_PER_DEGREE
    dlon = half_size_m / (METRES_PER_DEGREE * math.cos(math.radians(lat)))
    west, east, south, north = lon - dlon, lon + dlon, lat - dlat, lat + dlat
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [[[round(x, 7), round(y, 7)] for x, y in ring]]}


def polygon_of(point: Any, half_size_m: float) -> dict[str, Any]:
    """The point's polygon, or the square around its centre when it has none."""
    return point.polygon or square_around(point.lon, point.lat, half_size_m)


def shape_of(point: Any, half_size_m: float) -> BaseGeometry:
    """The shapely polygon of a vending point."""
    return shape(polygon_of(point, half_size_m))


def covers(area: BaseGeometry, lon: float, lat: float) -> bool:
    """Whether the WGS84 position lies in ``area`` or on its edge."""
    return bool(area.intersects(Point(lon, lat)))


def parse_polygon(value: Any, crs: Crs, field: str = "polygon") -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """A GeoJSON Polygon in WGS84 from input in ``crs``, or ``(None, problems)`` naming each bad part."""
    if not isinstance(value, dict) or value.get("type") != "Polygon":
        return None, [(f"{field}.type", "expected a GeoJSON Polygon")]
    rings = value.get("coordinates")
    if not isinstance(rings, list) or not rings:
        return None, [(f"{field}.coordinates", "expected a list of linear rings")]
    out: list[list[list[float]]] = []
    for r, ring in enumerate(rings):
        path = f"{field}.coordinates[{r}]"
        if not isinstance(ring, list) or len(ring) < 4:
            return None, [(path, "expected a linear ring of at least 4 positions")]
        positions = []
        for p, position in enumerate(ring):
            ok = isinstance(position, list) and len(position) in (2, 3)
            ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in position)
            if not ok or not (-180 <= position[0] <= 180 and -90 <= position[1] <= 90):
                return None, [(f"{path}[{p}]", "expected a position [lon, lat] in range")]
            positions.append(list(to_wgs84(float(position[0]), float(position[1]), crs)))
        if ring[0][:2] != ring[-1][:2]:
            return None, [(path, "the ring is not closed: its last position must equal its first")]
        positions[-1] = positions[0]
        out.append(positions)
    polygon = {"type": "Polygon", "coordinates": out}
    geometry = shape(polygon)
    if not geometry.is_valid:
        return None, [(field, f"not a valid polygon: {explain_validity(geometry)}")]
    if geometry.area <= 0:
        return None, [(field, "the polygon has no area")]
    return polygon, []


async def grid_locator(session: AsyncSession) -> Callable[[float, float], int | None]:
    """Point -> grid id over the active grids in the database (lowest id on shared edges), for code that
    has a session but not the app's area index (the demo loader)."""
    rows = (await session.execute(select(Grid.id, Grid.geometry).where(Grid.active.is_(True)).order_by(Grid.id))).all()
    shapes = [(grid_id, shape(geometry)) for grid_id, geometry in rows if geometry]

    def locate(lon: float, lat: float) -> int | None:
        return next((grid_id for grid_id, area in shapes if covers(area, lon, lat)), None)

    return locate
