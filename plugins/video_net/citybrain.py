"""The camera list of City Brain's video platform, mapped onto the camera registry.

``camera_values`` maps and checks one record; ``CameraRecord`` is the same checks declared for
msgspec, so that a sync decodes and checks whole pages in C (the source's ``record_type``). The
two must agree: ``tests/plugins/test_video_net_citybrain.py`` holds them side by side.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

import msgspec

Owner = Literal["public_security", "urban_management", "community"]
OWNERS = frozenset(get_args(Owner))


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


class CameraRecord(msgspec.Struct, gc=False):
    """A City Brain camera record as the camera columns, checked as it is decoded: what camera_values checks."""

    code: Annotated[str, msgspec.Meta(min_length=20, max_length=20)] = msgspec.field(name="id")
    name: Annotated[str, msgspec.Meta(max_length=200)]
    owner: Owner
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    updated_at: datetime

    def __post_init__(self) -> None:
        """The id's digits (a pattern in msgspec.Meta would cost 40% more to decode)."""
        if not self.code.isdigit():
            raise ValueError("id: expected a 20-digit GB/T 28181 device id")
