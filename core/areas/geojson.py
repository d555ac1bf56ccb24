"""GeoJSON FeatureCollections of areas in and out: validation with the path of every problem.

A feature's ``properties`` say what it is::

    {"type": "Feature",
     "properties": {"level": "grid", "code": "ningwei-01-03", "name": "宁新社区第3网格", "parent": "ningwei-01"},
     "geometry": {"type": "Polygon", "coordinates": [[[120.2455, 30.1935], ...]]}}

``level`` is ``street``, ``community`` or ``grid``; codes are 1-64 ASCII letters, digits, ``.``,
``_`` or ``-`` (they appear in URLs); ``parent`` is the code of the street of a
community, or of the community of a grid; ``active`` (grids, default true) takes a grid out of
point lookups. A grid needs a Polygon or MultiPolygon; for streets and communities the outline is
optional (``"geometry": null``). Other properties are ignored (an export's ``id``, ``area_m2``,
``street`` ...), so an export can be imported again as it is. Positions are ``[lon, lat]``; a third
number (altitude) is dropped.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from core.areas.geo import CRS_NAMES, Crs, from_wgs84, to_wgs84
from core.areas.models import CODE_LENGTH, NAME_LENGTH
from core.errors import InputError

Level = Literal["street", "community", "grid"]
LEVELS: tuple[Level, ...] = ("street", "community", "grid")
PARENT_LEVEL: dict[str, Level] = {"community": "street", "grid": "community"}
POLYGON_TYPES = ("Polygon", "MultiPolygon")
MAX_PROBLEMS = 50
CODE_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{CODE_LENGTH - 1}}}")
CODE_RULE = f"expected a code of 1-{CODE_LENGTH} letters, digits, '.', '_' or '-' (starting with a letter or digit)"


class GeoJSONError(InputError):
    """Input that is not a valid area FeatureCollection: every problem as ``(field path, message)``.

    The path names the feature by its index, e.g. ``features[3].geometry.coordinates[0]``.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems[:MAX_PROBLEMS]
        field, message = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(field, message + more)


@dataclass(frozen=True)
class AreaFeature:
    """One validated feature: geometry in WGS84 (2D), or None for a street or community without one."""

    index: int
    level: Level
    code: str
    name: str
    parent: str | None
    geometry: dict[str, Any] | None
    active: bool = True

    @property
    def path(self) -> str:
        """``features[<index>]``: where the feature is in the request."""
        return f"features[{self.index}]"


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.items.append((field, message))

    def raise_any(self) -> None:
        if self.items:
            raise GeoJSONError(self.items)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _position(value: Any, path: str, crs: Crs, problems: _Problems) -> list[float] | None:
    if not isinstance(value, list) or len(value) not in (2, 3) or not all(_number(v) for v in value):
        problems.add(path, "expected a position [lon, lat]")
        return None
    lon, lat = float(value[0]), float(value[1])
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        problems.add(path, f"[{lon}, {lat}] is not a longitude and latitude (lon -180..180, lat -90..90)")
        return None
    return list(to_wgs84(lon, lat, crs))


def _ring(value: Any, path: str, crs: Crs, problems: _Problems) -> list[list[float]] | None:
    if not isinstance(value, list) or len(value) < 4:
        problems.add(path, "expected a linear ring: a list of at least 4 positions")
        return None
    positions = [_position(p, f"{path}[{i}]", crs, problems) for i, p in enumerate(value)]
    ring = [p for p in positions if p is not None]
    if len(ring) < len(positions):
        return None
    if value[0][:2] != value[-1][:2]:
        problems.add(path, "the ring is not closed: its last position must equal its first")
        return None
    return ring


def _polygon(value: Any, path: str, crs: Crs, problems: _Problems) -> list[list[list[float]]] | None:
    if not isinstance(value, list) or not value:
        problems.add(path, "expected a polygon: a list of linear rings (the shell, then any holes)")
        return None
    rings = [_ring(r, f"{path}[{i}]", crs, problems) for i, r in enumerate(value)]
    valid = [r for r in rings if r is not None]
    return valid if len(valid) == len(rings) else None


def parse_geometry(value: Any, path: str, crs: Crs, problems: _Problems) -> dict[str, Any] | None:
    """A Polygon or MultiPolygon in WGS84, or None with the problems added (rings closed, polygon valid)."""
    if not isinstance(value, dict):
        problems.add(path, "expected a GeoJSON Polygon or MultiPolygon")
        return None
    kind = value.get("type")
    if kind not in POLYGON_TYPES:
        problems.add(f"{path}.type", f"expected Polygon or MultiPolygon, got {kind!r}")
        return None
    coordinates = value.get("coordinates")
    cpath = f"{path}.coordinates"
    if kind == "Polygon":
        polygon = _polygon(coordinates, cpath, crs, problems)
        if polygon is None:
            return None
        geometry: dict[str, Any] = {"type": "Polygon", "coordinates": polygon}
    else:
        if not isinstance(coordinates, list) or not coordinates:
            problems.add(cpath, "expected a list of polygons")
            return None
        parts = [_polygon(p, f"{cpath}[{i}]", crs, problems) for i, p in enumerate(coordinates)]
        polygons = [p for p in parts if p is not None]
        if len(polygons) < len(parts):
            return None
        geometry = {"type": "MultiPolygon", "coordinates": polygons}
    shapely_geometry = to_shape(geometry)
    if not shapely_geometry.is_valid:
        problems.add(path, f"not a valid polygon: {explain_validity(shapely_geometry)}")
        return None
    if shapely_geometry.area <= 0:
        problems.add(path, "the polygon has no area")
        return None
    return geometry


def to_shape(geometry: dict[str, Any]) -> BaseGeometry:
    """The shapely geometry of a stored GeoJSON geometry."""
    return shape(geometry)


def _text(properties: dict[str, Any], key: str, path: str, limit: int, problems: _Problems) -> str | None:
    value = properties.get(key)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        problems.add(f"{path}.properties.{key}", f"expected text of 1-{limit} characters")
        return None
    return value.strip()


def _code(properties: dict[str, Any], key: str, path: str, problems: _Problems) -> str | None:
    value = properties.get(key)
    if not isinstance(value, str) or not CODE_PATTERN.fullmatch(value):
        problems.add(f"{path}.properties.{key}", CODE_RULE)
        return None
    return value


def parse_feature(feature: Any, index: int, crs: Crs, problems: _Problems) -> AreaFeature | None:
    """One feature of the collection, or None with its problems added."""
    path = f"features[{index}]"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        problems.add(path, 'expected a GeoJSON Feature ({"type": "Feature", "properties": ..., "geometry": ...})')
        return None
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        problems.add(f"{path}.properties", "expected an object with level, code, name and parent")
        return None
    before = len(problems.items)
    level = properties.get("level")
    if level not in LEVELS:
        problems.add(f"{path}.properties.level", f"expected one of {', '.join(LEVELS)}")
    code = _code(properties, "code", path, problems)
    name = _text(properties, "name", path, NAME_LENGTH, problems)
    parent: str | None = None
    if level in PARENT_LEVEL:
        parent = _code(properties, "parent", path, problems)
    active = properties.get("active", True)
    if not isinstance(active, bool):
        problems.add(f"{path}.properties.active", "expected true or false")
    raw_geometry = feature.get("geometry")
    geometry = None
    if raw_geometry is None:
        if level == "grid":
            problems.add(f"{path}.geometry", "a grid needs a Polygon or MultiPolygon")
    else:
        geometry = parse_geometry(raw_geometry, f"{path}.geometry", crs, problems)
    if len(problems.items) > before:
        return None
    return AreaFeature(index, level, code, name, parent, geometry, active)  # type: ignore[arg-type]


def collection_crs(document: dict[str, Any], crs: Crs | None) -> Crs:
    """The coordinate system of a collection: ``crs`` if given, else its ``coordinate_system``, else WGS84.

    A collection that declares one system and a request that names the other is refused, so an
    export in GCJ-02 cannot be imported as WGS84 by mistake (a shift of several hundred metres).
    """
    declared = document.get("coordinate_system")
    if declared is not None and declared not in CRS_NAMES:
        raise GeoJSONError([("coordinate_system", f"expected one of {', '.join(CRS_NAMES)}")])
    if crs is not None and declared is not None and crs != declared:
        raise GeoJSONError([("crs", f"the collection says its coordinates are {declared}, the request says {crs}")])
    return crs or declared or "wgs84"


def parse_feature_collection(document: Any, crs: Crs | None = None) -> list[AreaFeature]:
    """Every feature of an area FeatureCollection, validated and in WGS84; :class:`GeoJSONError` otherwise.

    ``crs`` is the system of the coordinates (see :func:`collection_crs`). Checks each feature on its
    own (properties, closed rings, valid polygons) and that no code appears twice for one level;
    parent codes are checked against the database on import.
    """
    problems = _Problems()
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        problems.add("type", 'expected a GeoJSON FeatureCollection ({"type": "FeatureCollection", "features": [...]})')
        problems.raise_any()
    source_crs = collection_crs(document, crs)
    raw = document.get("features")
    if not isinstance(raw, list) or not raw:
        problems.add("features", "expected a non-empty list of features")
        problems.raise_any()
    features: list[AreaFeature] = []
    seen: dict[tuple[str, str], int] = {}
    for index, item in enumerate(raw):
        feature = parse_feature(item, index, source_crs, problems)
        if feature is None:
            continue
        first = seen.setdefault((feature.level, feature.code), index)
        if first != index:
            problems.add(f"{feature.path}.properties.code", f"{feature.code} is already in features[{first}]")
            continue
        features.append(feature)
    problems.raise_any()
    return features


# -- out ------------------------------------------------------------------------------------------


def _convert_rings(polygon: list[list[list[float]]], crs: Crs) -> list[list[list[float]]]:
    return [[list(from_wgs84(p[0], p[1], crs)) for p in ring] for ring in polygon]


def geometry_in(geometry: dict[str, Any] | None, crs: Crs) -> dict[str, Any] | None:
    """A stored WGS84 geometry in ``crs``."""
    if geometry is None or crs == "wgs84":
        return geometry
    if geometry["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": _convert_rings(geometry["coordinates"], crs)}
    return {"type": "MultiPolygon", "coordinates": [_convert_rings(p, crs) for p in geometry["coordinates"]]}


def feature(properties: dict[str, Any], geometry: dict[str, Any] | None, crs: Crs) -> dict[str, Any]:
    """A GeoJSON Feature of an area with its geometry in ``crs``."""
    return {"type": "Feature", "properties": properties, "geometry": geometry_in(geometry, crs)}


def feature_collection(features: list[dict[str, Any]], crs: Crs) -> dict[str, Any]:
    """A FeatureCollection; its ``coordinate_system`` member says ``wgs84`` or ``gcj02`` (RFC 7946 has no
    place for a CRS: GeoJSON is WGS84 unless both sides agree otherwise, as map SDKs in China do)."""
    return {"type": "FeatureCollection", "coordinate_system": crs, "features": features}


def bounds(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    """``(min_lon, min_lat, max_lon, max_lat)`` of a geometry."""
    min_lon, min_lat, max_lon, max_lat = shapely.bounds(to_shape(geometry)).tolist()
    return min_lon, min_lat, max_lon, max_lat
