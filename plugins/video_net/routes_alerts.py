"""Alert, snapshot, incident and suppression endpoints under /api/v1/video-net."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import File
from sqlalchemy import exists, select

from core.citybrain.outbox import enqueue_event
from core.db import utcnow
from core.errors import InputError
from core.pagination import OffsetPagination, paginate
from core.web import Caller, DbSession, Page, PlatformSettings, one_or_404, requires, visible_to
from plugins.video_net import snapshots
from plugins.video_net.context import alert_types_of, settings_of
from plugins.video_net.dedup import AlertIn, AlertOutcome
from plugins.video_net.models import INCIDENT_STATUSES, Alert, Camera, Incident, Snapshot, Suppression
from plugins.video_net.schemas import (
    AlertBody,
    AlertOut,
    IncidentOut,
    ReviewIn,
    SnapshotOut,
    SuppressionIn,
    SuppressionOut,
    decoded,
)
from plugins.video_net.writer import writer_of

MAX_BATCH = 1000


def _outcome(outcome: AlertOutcome) -> dict[str, Any]:
    return {"alert_id": outcome.alert_id, "outcome": outcome.outcome, "incident_id": outcome.incident_id,
            "replay": outcome.replay, "case_id": outcome.case_id}  # fmt: skip


@post("/alerts", summary="Report analytics alerts", guards=[requires("video_net:ingest")])
async def report_alerts(request: Request[Any, Any, Any], state: State) -> Response[dict[str, Any]]:
    """One alert or a list of up to 1,000 (all stored or none; a bad one is named, ``[3].type``).

    Each is idempotent by (camera, ``alert_id``): a replay stores nothing and answers the first
    outcome with ``replay: true``. ``outcome`` is ``new_incident``, ``merged``, ``below_threshold``,
    ``suppressed`` or ``camera_disabled``. 201 when anything new was stored, else 200.

    The hot path of device traffic: it takes no per-request dependencies (each costs a task), and
    the alerts are written by the process's group-committing writer.
    """
    data = decoded(await request.body(), AlertBody | list[AlertBody])
    batch = isinstance(data, list)
    bodies = data if isinstance(data, list) else [data]
    if not bodies or len(bodies) > MAX_BATCH:
        raise InputError("alerts", f"expected 1 to {MAX_BATCH} alerts")
    prefix = (lambda i: f"[{i}].") if batch else (lambda i: "")
    config, types = settings_of(state), alert_types_of(state)
    items = [AlertIn(b.camera, b.alert_id, b.type, b.confidence, b.occurred_at, b.snapshot, b.payload) for b in bodies]
    fetched = {
        index: await snapshots.fetch(body.snapshot_url, f"{prefix(index)}snapshot_url", config.snapshot_max_bytes,
                                     config.snapshot_fetch_timeout)
        for index, body in enumerate(bodies)
        if body.snapshot_url and not body.snapshot
    }  # fmt: skip
    if fetched:  # content-addressed, so a snapshot stored for an alert that then fails harms nothing
        async with state.database.session() as session:
            for index, image in fetched.items():
                await snapshots.store(session, state.settings.data_dir, image, source_url=bodies[index].snapshot_url)
                items[index] = replace(items[index], snapshot=image.sha256)
    outcomes = await writer_of(state, types, config.push_incidents).submit(items, prefix)
    answers = [_outcome(o) for o in outcomes]
    status = 200 if all(o.replay for o in outcomes) else 201
    return Response({"results": answers} if batch else answers[0], status_code=status)


def _alert_out(alert: Alert) -> AlertOut:
    return AlertOut(
        id=alert.id, camera=alert.camera.code, alert_id=alert.alert_id, alert_type=alert.alert_type,
        confidence=alert.confidence, occurred_at=alert.occurred_at, received_at=alert.received_at,
        outcome=alert.outcome, incident_id=alert.incident_id, snapshot=alert.snapshot,
    )  # fmt: skip


@get("/alerts", summary="List alerts", guards=[requires("video_net:read")])
async def list_alerts(
    db_session: DbSession,
    caller: Caller,
    page: Page,
    camera: FromQuery[str | None] = None,
    alert_type: FromQuery[str | None] = None,
    outcome: FromQuery[str | None] = None,
    incident_id: FromQuery[int | None] = None,
    since: FromQuery[datetime | None] = None,
) -> OffsetPagination[AlertOut]:
    """Alerts, newest first (a grid worker's: of cameras in their grids)."""
    query = select(Alert).order_by(Alert.occurred_at.desc(), Alert.id.desc())
    if caller.grid_ids is not None:
        query = query.where(Alert.camera_id.in_(visible_to(select(Camera.id), Camera.grid_id, caller)))
    if camera:
        query = query.where(Alert.camera_id.in_(select(Camera.id).where(Camera.code == camera)))
    if alert_type:
        query = query.where(Alert.alert_type == alert_type)
    if outcome:
        query = query.where(Alert.outcome == outcome)
    if incident_id is not None:
        query = query.where(Alert.incident_id == incident_id)
    if since is not None:
        query = query.where(Alert.occurred_at >= since)
    return await paginate(db_session, query, page, _alert_out)


@get("/alert-types", summary="Alert types", guards=[requires("video_net:read")])
async def list_alert_types(state: State) -> list[dict[str, Any]]:
    """The registry as configured: threshold, cooldown, severity, core event type and case category."""
    return [
        {"type": t.key, "title": t.title, "min_confidence": t.min_confidence,
         "cooldown_seconds": int(t.cooldown.total_seconds()), "severity": t.severity, "event_type": t.event_type,
         "case_category": t.case_category}
        for t in alert_types_of(state).values()
    ]  # fmt: skip


# -- snapshots --------------------------------------------------------------------------------------


@post("/snapshots", summary="Upload a snapshot", guards=[requires("video_net:ingest")])
async def upload_snapshot(
    db_session: DbSession,
    state: State,
    settings: PlatformSettings,
    data: Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> SnapshotOut:
    """A JPEG or PNG (multipart field ``data``), verified by decoding its header and size-limited (413);
    anything else is a 422. Stored once by SHA-256; send that as an alert's ``snapshot``."""
    image = snapshots.checked_image(await data.read(), "data", settings_of(state).snapshot_max_bytes)
    row = await snapshots.store(db_session, settings.data_dir, image)
    await db_session.flush()
    return msgspec.convert(row, SnapshotOut, from_attributes=True)


@get("/snapshots/{sha256:str}", summary="Download a snapshot", guards=[requires("video_net:read")])
async def download_snapshot(
    db_session: DbSession, caller: Caller, settings: PlatformSettings, sha256: FromPath[str]
) -> File:
    """The image, to callers who may see an alert or incident that shows it (grid workers: of their grids)."""
    row = await db_session.get(Snapshot, sha256) if len(sha256) == 64 else None
    if row is not None and caller.grid_ids is not None:
        mine = visible_to(select(Camera.id), Camera.grid_id, caller)
        shown = await db_session.scalar(select(exists().where(Alert.snapshot == sha256, Alert.camera_id.in_(mine))))
        row = row if shown else None
    path = snapshots.media_path(settings.data_dir, sha256)
    if row is None or not path.exists():
        raise NotFoundException(f"no snapshot {sha256}")
    extension = "jpg" if row.content_type == "image/jpeg" else "png"
    return File(path=path, filename=f"{sha256[:16]}.{extension}", media_type=row.content_type,
                content_disposition_type="inline")  # fmt: skip


# -- incidents --------------------------------------------------------------------------------------


def incident_out(incident: Incident) -> IncidentOut:
    """The API view of an incident."""
    return IncidentOut(
        id=incident.id, camera=incident.camera.code, alert_type=incident.alert_type, grid_id=incident.grid_id,
        status=incident.status, severity=incident.severity, first_seen_at=incident.first_seen_at,
        last_seen_at=incident.last_seen_at, alert_count=incident.alert_count,
        best_confidence=incident.best_confidence, best_snapshot=incident.best_snapshot, event_id=incident.event_id,
        case_id=incident.case_id, closed_at=incident.closed_at, closed_by=incident.closed_by, note=incident.note,
    )  # fmt: skip


@get("/incidents", summary="List incidents", guards=[requires("video_net:read")])
async def list_incidents(
    db_session: DbSession,
    caller: Caller,
    page: Page,
    status: FromQuery[str | None] = None,
    alert_type: FromQuery[str | None] = None,
    camera: FromQuery[str | None] = None,
    grid_id: FromQuery[int | None] = None,
) -> OffsetPagination[IncidentOut]:
    """Incidents, latest activity first (a grid worker's: of their grids)."""
    if status is not None and status not in INCIDENT_STATUSES:
        raise InputError("status", f"expected one of {', '.join(INCIDENT_STATUSES)}")
    query = visible_to(select(Incident).order_by(Incident.last_seen_at.desc(), Incident.id.desc()),
                       Incident.grid_id, caller)  # fmt: skip
    if status:
        query = query.where(Incident.status == status)
    if alert_type:
        query = query.where(Incident.alert_type == alert_type)
    if camera:
        query = query.where(Incident.camera_id.in_(select(Camera.id).where(Camera.code == camera)))
    if grid_id is not None:
        query = query.where(Incident.grid_id == grid_id)
    return await paginate(db_session, query, page, incident_out)


@get("/incidents/{incident_id:int}", summary="One incident", guards=[requires("video_net:read")])
async def get_incident(db_session: DbSession, caller: Caller, incident_id: FromPath[int]) -> IncidentOut:
    """The incident (its alerts: ``GET /alerts?incident_id=``)."""
    return incident_out(await one_or_404(db_session, Incident, "incident", caller=caller, id=incident_id))


async def _review(
    db_session: DbSession, state: State, caller: Caller, incident_id: int, status: str, note: str | None
) -> IncidentOut:
    incident = await one_or_404(db_session, Incident, "incident", caller=caller, id=incident_id)
    if incident.status != "open":
        raise InputError("status", f"the incident is {incident.status} already", status=409)
    incident.status, incident.closed_at, incident.closed_by, incident.note = status, utcnow(), caller.label, note
    if settings_of(state).push_incidents:
        await enqueue_event(
            db_session, "video_net.incident",
            {"incident_id": incident.id, "camera": incident.camera.code, "alert_type": incident.alert_type,
             "status": status, "closed_at": incident.closed_at.isoformat(), "case_id": incident.case_id},
            idempotency_key=f"video_net:incident:{incident.id}:{status}",
        )  # fmt: skip
    await db_session.flush()
    return incident_out(incident)


@post("/incidents/{incident_id:int}/close", summary="Close an incident", status_code=200,
      guards=[requires("video_net:manage")])  # fmt: skip
async def close_incident(
    db_session: DbSession, state: State, caller: Caller, incident_id: FromPath[int], data: JSONBody[ReviewIn]
) -> IncidentOut:
    """Close an open incident as a true alert (409 if it is not open); later alerts open a new one."""
    return await _review(db_session, state, caller, incident_id, "closed", data.note)


@post("/incidents/{incident_id:int}/false-positive", summary="Mark an incident a false positive", status_code=200,
      guards=[requires("video_net:manage")])  # fmt: skip
async def mark_false_positive(
    db_session: DbSession, state: State, caller: Caller, incident_id: FromPath[int], data: JSONBody[ReviewIn]
) -> IncidentOut:
    """Mark an open incident a false positive (409 if it is not open): it counts in the false-positive
    rates and the suggested thresholds."""
    return await _review(db_session, state, caller, incident_id, "false_positive", data.note)


# -- suppressions -----------------------------------------------------------------------------------


def _suppression_out(rule: Suppression) -> SuppressionOut:
    return SuppressionOut(
        id=rule.id, camera=rule.camera.code if rule.camera is not None else None, alert_type=rule.alert_type,
        starts_at=rule.starts_at, ends_at=rule.ends_at, reason=rule.reason, created_by=rule.created_by,
    )  # fmt: skip


@get("/suppressions", summary="List suppression windows", guards=[requires("video_net:read")])
async def list_suppressions(db_session: DbSession, page: Page) -> OffsetPagination[SuppressionOut]:
    """Suppression windows, latest first."""
    return await paginate(db_session, select(Suppression).order_by(Suppression.starts_at.desc()), page,
                          _suppression_out)  # fmt: skip


@post("/suppressions", summary="Suppress alerts for a while", guards=[requires("video_net:manage")])
async def create_suppression(
    db_session: DbSession, state: State, caller: Caller, data: JSONBody[SuppressionIn]
) -> SuppressionOut:
    """Alerts of the camera (or every camera) and type (or every type) inside [starts_at, ends_at) make no incident."""
    if data.starts_at.tzinfo is None or data.ends_at.tzinfo is None:
        raise InputError("starts_at" if data.starts_at.tzinfo is None else "ends_at", "expected a time with its offset")
    if data.ends_at <= data.starts_at:
        raise InputError("ends_at", "must be after starts_at")
    if data.alert_type is not None and data.alert_type not in alert_types_of(state):
        raise InputError("alert_type", f"unknown alert type {data.alert_type!r}")
    camera = await one_or_404(db_session, Camera, "camera", code=data.camera) if data.camera else None
    rule = Suppression(camera_id=camera.id if camera else None, alert_type=data.alert_type, starts_at=data.starts_at,
                       ends_at=data.ends_at, reason=data.reason, created_by=caller.label)  # fmt: skip
    db_session.add(rule)
    await db_session.flush()
    rule.camera = camera
    return _suppression_out(rule)


@delete("/suppressions/{suppression_id:int}", summary="Remove a suppression window",
        guards=[requires("video_net:manage")])  # fmt: skip
async def delete_suppression(db_session: DbSession, suppression_id: FromPath[int]) -> None:
    """Remove the window (alerts already stored keep their outcome)."""
    rule = await one_or_404(db_session, Suppression, "suppression", id=suppression_id)
    await db_session.delete(rule)


ROUTES = [
    report_alerts, list_alerts, list_alert_types, upload_snapshot, download_snapshot, list_incidents, get_incident,
    close_incident, mark_false_positive, list_suppressions, create_suppression, delete_suppression,
]  # fmt: skip
