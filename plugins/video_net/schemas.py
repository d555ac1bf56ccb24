"""Request and response shapes of the video_net API (msgspec, Litestar's fast path)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from core.errors import InputError

GbCode = Annotated[str, msgspec.Meta(pattern=r"^\d{20}$", description="GB/T 28181 20-digit device id")]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
CameraType = Literal["bullet", "dome", "ptz", "panoramic", "other"]
Tags = Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=40)]], msgspec.Meta(max_length=20)]
StreamUrl = Annotated[str, msgspec.Meta(pattern=r"^(rtsp|rtmp|http|https)://", max_length=500)]
Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class CameraIn(msgspec.Struct, forbid_unknown_fields=True):
    """A camera to register."""

    code: GbCode
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    owner: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    lon: Longitude
    lat: Latitude
    grid_id: int | None = None
    enabled: bool = True
    camera_type: CameraType = "other"
    tags: Tags = []
    is_key: bool = False
    stream_url: StreamUrl | None = None


class CameraPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Fields of a camera to change (those given)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    owner: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | msgspec.UnsetType = msgspec.UNSET
    lon: Longitude | msgspec.UnsetType = msgspec.UNSET
    lat: Latitude | msgspec.UnsetType = msgspec.UNSET
    grid_id: int | msgspec.UnsetType | None = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    camera_type: CameraType | msgspec.UnsetType = msgspec.UNSET
    tags: Tags | msgspec.UnsetType = msgspec.UNSET
    is_key: bool | msgspec.UnsetType = msgspec.UNSET
    stream_url: StreamUrl | msgspec.UnsetType | None = msgspec.UNSET


class CameraOut(msgspec.Struct):
    """A camera as the API shows it; ``stream_url`` only to callers with ``video_net:secrets`` (admins)."""

    code: str
    name: str
    owner: str
    lon: float
    lat: float
    grid_id: int | None
    enabled: bool
    status: str
    last_heartbeat_at: datetime | None
    camera_type: str = "other"
    tags: list[str] = []
    is_key: bool = False
    status_since: datetime | None = None
    stream_url: str | None = None


class HeartbeatIn(msgspec.Struct, forbid_unknown_fields=True):
    """A heartbeat in a batch: the camera and, optionally, the device's time of it."""

    code: GbCode
    at: datetime | None = None


class AlertBody(msgspec.Struct, forbid_unknown_fields=True):
    """One analytics alert. ``alert_id`` is the sender's id (a replay stores nothing); the snapshot is
    the SHA-256 of one uploaded to ``/snapshots``, or a URL the platform fetches."""

    camera: GbCode
    alert_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    type: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    confidence: Annotated[float, msgspec.Meta(ge=0, le=1)]
    occurred_at: datetime
    snapshot: Sha256 | None = None
    snapshot_url: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    payload: dict[str, Any] = {}


class AlertOut(msgspec.Struct):
    """A stored alert."""

    id: int
    camera: str
    alert_id: str
    alert_type: str
    confidence: float
    occurred_at: datetime
    received_at: datetime
    outcome: str
    incident_id: int | None
    snapshot: str | None


class IncidentOut(msgspec.Struct):
    """An incident: the alerts of one camera and type within the cooldown of each other."""

    id: int
    camera: str
    alert_type: str
    grid_id: int | None
    status: str
    severity: str
    first_seen_at: datetime
    last_seen_at: datetime
    alert_count: int
    best_confidence: float
    best_snapshot: str | None
    event_id: int | None
    case_id: int | None
    closed_at: datetime | None
    closed_by: str | None
    note: str | None


class ReviewIn(msgspec.Struct, forbid_unknown_fields=True):
    """A note on closing an incident or marking it a false positive."""

    note: Annotated[str, msgspec.Meta(max_length=1000)] | None = None


class SuppressionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A window without incidents: one camera (or all: null) and one type (or all: null)."""

    starts_at: datetime
    ends_at: datetime
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    camera: GbCode | None = None
    alert_type: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class SuppressionOut(msgspec.Struct):
    """A stored suppression window."""

    id: int
    camera: str | None
    alert_type: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str


class SnapshotOut(msgspec.Struct):
    """A stored snapshot."""

    sha256: str
    content_type: str
    size: int
    width: int
    height: int


def decoded(body: bytes, kind: Any) -> Any:
    """``body`` decoded as ``kind``; :class:`core.errors.InputError` naming the bad field (``[3].confidence``)."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).rpartition(" - at `$")
        if not message:
            raise InputError("body", str(exc)) from None
        raise InputError(where.rstrip("`").lstrip(".") or "body", message) from None
    except msgspec.DecodeError as exc:
        raise InputError("body", f"expected JSON ({exc})") from None
