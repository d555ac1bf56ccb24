"""video_net API, mounted at /api/v1/video-net."""

from __future__ import annotations

import msgspec
from litestar import get, post
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from core.db import utcnow
from core.pagination import OffsetPagination, paginate
from core.web import Caller, DbSession, Page, one_or_404, reject_if_taken, requires, visible_to
from plugins.video_net.models import CAMERA_STATUSES, Camera
from plugins.video_net.schemas import CameraIn, CameraOut


def _out(camera: Camera) -> CameraOut:
    return msgspec.convert(camera, CameraOut, from_attributes=True)


@get("/cameras", summary="List cameras", guards=[requires("video_net:read")])
async def list_cameras(
    db_session: DbSession,
    caller: Caller,
    page: Page,
    status: FromQuery[str | None] = None,
    owner: FromQuery[str | None] = None,
) -> OffsetPagination[CameraOut]:
    """Cameras in code order (a grid worker's: those of their grids), optionally of one status and owner."""
    if status is not None and status not in CAMERA_STATUSES:
        raise ValidationException(
            extra=[{"key": "status", "source": "query", "message": f"expected one of {CAMERA_STATUSES}"}]
        )
    query = visible_to(select(Camera).order_by(Camera.code), Camera.grid_id, caller)
    if status:
        query = query.where(Camera.status == status)
    if owner:
        query = query.where(Camera.owner == owner)
    return await paginate(db_session, query, page, _out)


@post("/cameras", summary="Register a camera", guards=[requires("video_net:manage")])
async def create_camera(db_session: DbSession, data: JSONBody[CameraIn]) -> CameraOut:
    """Register a camera; its code must be new (409 otherwise)."""
    await reject_if_taken(db_session, Camera, "camera", code=data.code)
    camera = Camera(**msgspec.structs.asdict(data), status="unknown")
    db_session.add(camera)
    await db_session.flush()
    return _out(camera)


@get("/cameras/{code:str}", summary="One camera", guards=[requires("video_net:read")])
async def get_camera(db_session: DbSession, caller: Caller, code: FromPath[str]) -> CameraOut:
    """The camera with this GB/T 28181 code (404 for a grid worker when it is outside their grids)."""
    return _out(await one_or_404(db_session, Camera, "camera", caller=caller, code=code))


@post(
    "/cameras/{code:str}/heartbeat",
    summary="Record a heartbeat",
    status_code=200,
    guards=[requires("video_net:ingest")],
)
async def heartbeat(db_session: DbSession, code: FromPath[str]) -> CameraOut:
    """Mark the camera alive now (status ``online``)."""
    camera = await one_or_404(db_session, Camera, "camera", code=code)
    camera.last_heartbeat_at = utcnow()
    camera.status = "online"
    return _out(camera)


ROUTES = [list_cameras, create_camera, get_camera, heartbeat]
