"""Camera endpoints under /api/v1/video-net: registry, CSV import, GeoJSON, heartbeats."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

import msgspec
from litestar import Request, get, patch, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.params import Body, FromPath, FromQuery, JSONBody
from sqlalchemy import String, cast, select

from core.db import utcnow
from core.errors import InputError
from core.pagination import OffsetPagination, paginate
from core.security.principal import Principal
from core.web import Caller, DbSession, Page, one_or_404, reject_if_taken, requires, visible_to
from plugins.video_net.context import bus_of
from plugins.video_net.dedup import cameras_by_code
from plugins.video_net.models import CAMERA_STATUSES, Camera
from plugins.video_net.schemas import CameraIn, CameraOut, CameraPatch, HeartbeatIn, decoded
from plugins.video_net.status import Beat, delivered, record_heartbeats

SECRETS = "video_net:secrets"
MAX_BATCH = 1000
MAX_IMPORT_ROWS = 20_000


def camera_out(camera: Camera, caller: Principal | None = None) -> CameraOut:
    """The API view of a camera; the stream URL only for callers who may see secrets."""
    out = msgspec.convert(camera, CameraOut, from_attributes=True)
    if caller is None or not caller.can(SECRETS):
        out.stream_url = None
    return out


@get("/cameras", summary="List cameras", guards=[requires("video_net:read")])
async def list_cameras(
    db_session: DbSession,
    caller: Caller,
    page: Page,
    status: FromQuery[str | None] = None,
    owner: FromQuery[str | None] = None,
    is_key: FromQuery[bool | None] = None,
    tag: FromQuery[str | None] = None,
) -> OffsetPagination[CameraOut]:
    """Cameras in code order (a grid worker's: those of their grids), optionally of one status, owner or tag."""
    if status is not None and status not in CAMERA_STATUSES:
        raise ValidationException(
            extra=[{"key": "status", "source": "query", "message": f"expected one of {CAMERA_STATUSES}"}]
        )
    query = visible_to(select(Camera).order_by(Camera.code), Camera.grid_id, caller)
    if status:
        query = query.where(Camera.status == status)
    if owner:
        query = query.where(Camera.owner == owner)
    if is_key is not None:
        query = query.where(Camera.is_key.is_(is_key))
    if tag:
        # The JSON list as text holds '"tag"' exactly when it lists the tag (the same on SQLite and PostgreSQL).
        query = query.where(cast(Camera.tags, String).like(f"%{msgspec.json.encode(tag).decode()}%"))
    return await paginate(db_session, query, page, lambda c: camera_out(c, caller))


@post("/cameras", summary="Register a camera", guards=[requires("video_net:manage")])
async def create_camera(db_session: DbSession, caller: Caller, data: JSONBody[CameraIn]) -> CameraOut:
    """Register a camera; its code must be new (409 otherwise)."""
    await reject_if_taken(db_session, Camera, "camera", code=data.code)
    camera = Camera(**msgspec.structs.asdict(data), status="unknown")
    db_session.add(camera)
    await db_session.flush()
    return camera_out(camera, caller)


@get("/cameras/geojson", summary="Cameras as GeoJSON", guards=[requires("video_net:read")])
async def cameras_geojson(
    db_session: DbSession, caller: Caller, status: FromQuery[str | None] = None
) -> dict[str, Any]:
    """A FeatureCollection of the caller's cameras (points, [lon, lat] WGS84) with status and owner."""
    query = visible_to(select(Camera).order_by(Camera.code), Camera.grid_id, caller)
    if status:
        query = query.where(Camera.status == status)
    features = [
        {
            "type": "Feature",
            "id": camera.code,
            "geometry": {"type": "Point", "coordinates": [camera.lon, camera.lat]},
            "properties": {
                "code": camera.code,
                "name": camera.name,
                "owner": camera.owner,
                "status": camera.status,
                "camera_type": camera.camera_type,
                "is_key": camera.is_key,
                "enabled": camera.enabled,
                "grid_id": camera.grid_id,
                "last_heartbeat_at": camera.last_heartbeat_at.isoformat() if camera.last_heartbeat_at else None,
            },
        }
        for camera in await db_session.scalars(query)
    ]
    return {"type": "FeatureCollection", "features": features}


def _csv_rows(content: bytes) -> list[dict[str, str]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("data", "expected UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = {"code", "name", "owner", "lon", "lat"} - set(reader.fieldnames or [])
    if missing:
        raise InputError("data", f"the header lacks the columns {', '.join(sorted(missing))}")
    rows = list(reader)
    if len(rows) > MAX_IMPORT_ROWS:
        raise InputError("data", f"at most {MAX_IMPORT_ROWS} rows")
    return rows


def _camera_from_row(number: int, row: dict[str, str]) -> CameraIn:
    values: dict[str, Any] = {k: v.strip() for k, v in row.items() if k and v is not None and v.strip() != ""}
    for name in ("lon", "lat"):
        if name in values:
            try:
                values[name] = float(values[name])
            except ValueError:
                raise InputError(f"[row {number}].{name}", "expected a number") from None
    if "grid_id" in values:
        if not values["grid_id"].isdigit():
            raise InputError(f"[row {number}].grid_id", "expected a whole number")
        values["grid_id"] = int(values["grid_id"])
    for name in ("enabled", "is_key"):
        if name in values:
            values[name] = values[name].lower() in ("1", "true", "yes", "y", "是")
    if "tags" in values:
        values["tags"] = [t.strip() for t in values["tags"].replace("；", ";").split(";") if t.strip()]
    try:
        return msgspec.convert(values, CameraIn)
    except msgspec.ValidationError as exc:
        field = str(exc).rsplit("$.", 1)[-1].rstrip("`") if "$." in str(exc) else "row"
        raise InputError(f"[row {number}].{field}", str(exc).split(" - at ")[0]) from None


@post("/cameras/import", summary="Import cameras from CSV", status_code=200, guards=[requires("video_net:manage")])
async def import_cameras(
    db_session: DbSession,
    caller: Caller,
    data: Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> dict[str, int]:
    """A CSV file (multipart field ``data``; UTF-8; columns code, name, owner, lon, lat and optionally
    grid_id, camera_type, tags (``;``-separated), is_key, enabled, stream_url): new codes are registered,
    known ones updated. All rows or none; a bad row is named (``[row 3].lon``)."""
    rows = _csv_rows(await data.read())
    parsed = [_camera_from_row(number, row) for number, row in enumerate(rows, start=2)]
    seen: set[str] = set()
    for number, camera in enumerate(parsed, start=2):
        if camera.code in seen:
            raise InputError(f"[row {number}].code", f"camera {camera.code} appears twice")
        seen.add(camera.code)
    known = await cameras_by_code(db_session, seen)
    created = updated = 0
    for row, camera in zip(rows, parsed, strict=True):
        values = msgspec.structs.asdict(camera)
        existing = known.get(camera.code)
        if existing is None:
            db_session.add(Camera(**values, status="unknown"))
            created += 1
        else:
            for name, value in values.items():
                if name in row:  # a column of the file
                    setattr(existing, name, value)
            updated += 1
    return {"created": created, "updated": updated}


@get("/cameras/{code:str}", summary="One camera", guards=[requires("video_net:read")])
async def get_camera(db_session: DbSession, caller: Caller, code: FromPath[str]) -> CameraOut:
    """The camera with this GB/T 28181 code (404 for a grid worker when it is outside their grids)."""
    return camera_out(await one_or_404(db_session, Camera, "camera", caller=caller, code=code), caller)


@patch("/cameras/{code:str}", summary="Edit a camera", guards=[requires("video_net:manage")])
async def edit_camera(
    db_session: DbSession, caller: Caller, code: FromPath[str], data: JSONBody[CameraPatch]
) -> CameraOut:
    """Change the fields given (name, owner, place, grid, type, tags, key camera, enabled, stream URL)."""
    camera = await one_or_404(db_session, Camera, "camera", caller=caller, code=code)
    for name, value in msgspec.structs.asdict(data).items():
        if value is not msgspec.UNSET:
            setattr(camera, name, value)
    await db_session.flush()
    return camera_out(camera, caller)


@post(
    "/cameras/{code:str}/heartbeat",
    summary="Record a heartbeat",
    status_code=200,
    guards=[requires("video_net:ingest")],
)
async def heartbeat(db_session: DbSession, state: State, caller: Caller, code: FromPath[str]) -> CameraOut:
    """Mark the camera alive now (status ``online``; coming back from offline is an event)."""
    camera = await one_or_404(db_session, Camera, "camera", code=code)
    bus = bus_of(state)
    emitted = await record_heartbeats(db_session, bus, [Beat(code)], utcnow(), {code: camera})
    out = camera_out(camera, caller)
    await db_session.commit()
    delivered(bus, emitted)
    return out


@post("/heartbeats", summary="Record heartbeats (batch)", status_code=200, guards=[requires("video_net:ingest")])
async def heartbeats(request: Request[Any, Any, Any], db_session: DbSession, state: State) -> dict[str, Any]:
    """Up to 1,000 heartbeats ``[{code, at?}]`` (``at``: the device's time, never later than now); all or
    none, an unknown camera is named (``[3].code``). Replays change nothing."""
    data = decoded(await request.body(), list[HeartbeatIn])
    if not data or len(data) > MAX_BATCH:
        raise InputError("heartbeats", f"expected 1 to {MAX_BATCH} heartbeats")
    cameras = await cameras_by_code(db_session, (beat.code for beat in data))
    for index, beat in enumerate(data):
        if beat.code not in cameras:
            raise InputError(f"[{index}].code", f"no camera with code {beat.code}")
        if beat.at is not None and beat.at.tzinfo is None:
            raise InputError(f"[{index}].at", "expected a time with its offset")
    bus = bus_of(state)
    came_online = [c.code for c in cameras.values() if c.status != "online"]
    emitted = await record_heartbeats(db_session, bus, [Beat(b.code, b.at) for b in data], utcnow(), cameras)
    answer = {"accepted": len(data), "came_online": sorted(c for c in came_online if cameras[c].status == "online")}
    await db_session.commit()
    delivered(bus, emitted)
    return answer


ROUTES = [list_cameras, create_camera, cameras_geojson, import_cameras, get_camera, edit_camera, heartbeat, heartbeats]
