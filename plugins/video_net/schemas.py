"""Request and response shapes of the video_net API (msgspec, Litestar's fast path)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

GbCode = Annotated[str, msgspec.Meta(pattern=r"^\d{20}$", description="GB/T 28181 20-digit device id")]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]


class CameraIn(msgspec.Struct, forbid_unknown_fields=True):
    """A camera to register."""

    code: GbCode
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    owner: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    lon: Longitude
    lat: Latitude
    grid_id: int | None = None
    enabled: bool = True


class CameraOut(msgspec.Struct):
    """A camera as the API shows it."""

    code: str
    name: str
    owner: str
    lon: float
    lat: float
    grid_id: int | None
    enabled: bool
    status: str
    last_heartbeat_at: datetime | None
