"""Demo areas: Ningwei street (宁围街道), four communities, sixteen grids tiling about 3.8 x 3.3 km.

The communities are the quadrants around the street centre (120.2655, 30.1860), where the
plugins' demo data lies; each is two by two grids. Grid ids are 1-16 on a fresh database, in
community order (宁新 1-4, 宁税 5-8, 振宁 9-12, 合丰 13-16), each community's grids row by row
from the north-west: the demo grid worker works grids 1 and 2, and the demo cameras sit in 1-4.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.areas.models import Street
from core.areas.store import import_features

STREET = ("ningwei", "宁围街道")
CENTRE = (120.2655, 30.1860)
GRID_DLON, GRID_DLAT = 0.0100, 0.0075  # about 960 m x 830 m
# code suffix, name, quadrant (column, row) of the 2 x 2 blocks, row 0 in the north
COMMUNITIES = (
    ("01", "宁新社区", (0, 0)),
    ("02", "宁税社区", (1, 0)),
    ("03", "振宁社区", (0, 1)),
    ("04", "合丰社区", (1, 1)),
)


def _rectangle(west: float, north: float, dlon: float, dlat: float) -> dict[str, Any]:
    east, south = round(west + dlon, 6), round(north - dlat, 6)
    west, north = round(west, 6), round(north, 6)
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def demo_collection() -> dict[str, Any]:
    """The demo street, communities and grids as a FeatureCollection (WGS84)."""
    west0, north0 = CENTRE[0] - 2 * GRID_DLON, CENTRE[1] + 2 * GRID_DLAT
    street_code, street_name = STREET
    features: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "properties": {"level": "street", "code": street_code, "name": street_name},
            "geometry": _rectangle(west0, north0, 4 * GRID_DLON, 4 * GRID_DLAT),
        }
    ]
    grids: list[dict[str, Any]] = []
    for suffix, name, (column, row) in COMMUNITIES:
        code = f"{street_code}-{suffix}"
        west, north = west0 + 2 * column * GRID_DLON, north0 - 2 * row * GRID_DLAT
        features.append(
            {
                "type": "Feature",
                "properties": {"level": "community", "code": code, "name": name, "parent": street_code},
                "geometry": _rectangle(west, north, 2 * GRID_DLON, 2 * GRID_DLAT),
            }
        )
        for number in range(4):
            grids.append(
                {
                    "type": "Feature",
                    "properties": {
                        "level": "grid",
                        "code": f"{code}-{number + 1:02d}",
                        "name": f"{name}第{number + 1}网格",
                        "parent": code,
                    },
                    "geometry": _rectangle(
                        west + (number % 2) * GRID_DLON, north - (number // 2) * GRID_DLAT, GRID_DLON, GRID_DLAT
                    ),
                }
            )
    return {"type": "FeatureCollection", "features": features + grids}


async def load(session: AsyncSession) -> dict[str, int]:
    """Import the demo areas unless the demo street is there already; rows added per kind."""
    if await session.scalar(select(Street.id).where(Street.code == STREET[0])) is not None:
        return {}
    result = await import_features(session, demo_collection())
    return {f"{level}s" if level != "community" else "communities": n for level, n in result.created.items()}
