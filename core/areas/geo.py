"""Coordinates: GCJ-02 <-> WGS84, great-circle distance and the area of a polygon on the sphere.

GCJ-02 (the "Mars" coordinates of Chinese map SDKs such as Amap and Tencent) is WGS84 shifted by
a published, deterministic formula (the one every "eviltransform" port implements). WGS84 ->
GCJ-02 is that formula; GCJ-02 -> WGS84 has no closed form and is solved by fixed-point iteration
until the shift changes by less than about a millimetre. Points outside the rectangle the
formula's authors used for mainland China are not shifted.

Everything is ``(lon, lat)`` in GeoJSON order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

Crs = Literal["wgs84", "gcj02"]
CRS_NAMES: tuple[Crs, ...] = ("wgs84", "gcj02")

# Krasovsky 1940, the ellipsoid of the GCJ-02 formula.
_A = 6378245.0
_EE = 0.00669342162296594323
EARTH_RADIUS_M = 6378137.0  # WGS84 equatorial radius: distances and areas

_ITERATION_TOLERANCE_DEG = 1e-10  # ~0.01 mm
_MAX_ITERATIONS = 30


def out_of_china(lon: float, lat: float) -> bool:
    """Whether a point lies outside the rectangle where GCJ-02 shifts coordinates."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _shift(lon: float, lat: float) -> tuple[float, float]:
    """The GCJ-02 offset (dlon, dlat) in degrees at a WGS84 point."""
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """A WGS84 point in GCJ-02 (unchanged outside China)."""
    if out_of_china(lon, lat):
        return lon, lat
    dlon, dlat = _shift(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """A GCJ-02 point in WGS84 (unchanged outside China), exact to well under a millimetre.

    Solves ``wgs84_to_gcj02(w) == g`` by iteration: ``w <- w + (g - wgs84_to_gcj02(w))``; the
    shift varies slowly, so each step gains about three orders of magnitude.
    """
    if out_of_china(lon, lat):
        return lon, lat
    w_lon, w_lat = lon, lat
    for _ in range(_MAX_ITERATIONS):
        g_lon, g_lat = wgs84_to_gcj02(w_lon, w_lat)
        d_lon, d_lat = lon - g_lon, lat - g_lat
        w_lon, w_lat = w_lon + d_lon, w_lat + d_lat
        if abs(d_lon) < _ITERATION_TOLERANCE_DEG and abs(d_lat) < _ITERATION_TOLERANCE_DEG:
            break
    return w_lon, w_lat


def to_wgs84(lon: float, lat: float, crs: Crs) -> tuple[float, float]:
    """A point of ``crs`` in WGS84."""
    return gcj02_to_wgs84(lon, lat) if crs == "gcj02" else (lon, lat)


def from_wgs84(lon: float, lat: float, crs: Crs) -> tuple[float, float]:
    """A WGS84 point in ``crs``."""
    return wgs84_to_gcj02(lon, lat) if crs == "gcj02" else (lon, lat)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two WGS84 points (spherical earth)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def ring_area_m2(ring: Sequence[Sequence[float]]) -> float:
    """The area in m² enclosed by a closed ``[lon, lat]`` ring on the sphere (unsigned).

    The spherical-excess approximation of Chamberlain and Duquette ("Some algorithms for polygons
    on a sphere", JPL, 2007), as GeoJSON tools compute it; within a fraction of a percent of the
    ellipsoidal area for a street-sized ring.
    """
    n = len(ring)
    if n < 4:
        return 0.0
    total = 0.0
    for i in range(n - 1):
        lower, middle, upper = ring[i - 1 if i > 0 else n - 2], ring[i], ring[i + 1]
        total += (math.radians(upper[0]) - math.radians(lower[0])) * math.sin(math.radians(middle[1]))
    return abs(total * EARTH_RADIUS_M * EARTH_RADIUS_M / 2.0)


def polygons_area_m2(polygons: Sequence[Sequence[Sequence[Sequence[float]]]]) -> float:
    """The area in m² of polygons given as lists of rings (the first the shell, the others holes)."""
    return sum(ring_area_m2(rings[0]) - sum(ring_area_m2(hole) for hole in rings[1:]) for rings in polygons)
