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
    return {
        "code": code,
        "name": record["name"],
        "owner": owner,
        "lon": _coordinate(record, "lon", 180),
        "lat": _coordinate(record, "lat", 90),
    }
