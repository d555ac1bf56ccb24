"""Events under /api/v1/events: report one or a batch (idempotent), list them, list their types."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromQuery, JSONBody
from sqlalchemy import select

from core import idempotency
from core.areas.geo import gcj02_to_wgs84
from core.db import utcnow
from core.errors import InputError
from core.events import EmitResult, Event, EventBus, EventRecord
from core.pagination import OffsetPagination, paginate
from core.web import Caller, DbSession, Page, requires, visible_to

MAX_BATCH = 1000


class EventIn(msgspec.Struct, forbid_unknown_fields=True):
    """An event to report. ``lon``/``lat`` are WGS84 unless ``crs`` is ``gcj02`` (Amap and other Chinese maps)."""

    type: Annotated[str, msgspec.Meta(min_length=3, max_length=100, examples=["video_net.garbage_overflow"])]
    source: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    occurred_at: datetime | None = None
    lon: float | None = None
    lat: float | None = None
    crs: Literal["wgs84", "gcj02"] = "wgs84"
    severity: str | None = None
    title: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    payload: dict[str, Any] = {}
    dedup_key: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class EventOut(msgspec.Struct):
    """A stored event."""

    id: int
    type: str
    source: str
    title: str | None
    severity: str
    occurred_at: datetime
    first_seen_at: datetime
    last_seen_at: datetime
    count: int
    lon: float | None
    lat: float | None
    grid_id: int | None
    payload: dict[str, Any]
    case_id: int | None


def _event(item: EventIn, caller: Caller) -> Event:
    lon, lat = item.lon, item.lat
    if item.crs == "gcj02" and lon is not None and lat is not None:
        lon, lat = gcj02_to_wgs84(lon, lat)
    return Event(
        type=item.type,
        source=item.source or caller.label,
        payload=item.payload,
        occurred_at=item.occurred_at or utcnow(),
        lon=lon,
        lat=lat,
        severity=item.severity,
        title=item.title,
        dedup_key=item.dedup_key,
    )


def _result(result: EmitResult) -> dict[str, Any]:
    return msgspec.to_builtins(result)  # type: ignore[no-any-return]


@post("/api/v1/events", tags=["events"], summary="Report events", guards=[requires("events:report")])
async def report_events(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    state: State,
    caller: Caller,
    data: JSONBody[EventIn | list[EventIn]],
) -> Response[dict[str, Any]]:
    """One event, or a list of up to 1,000 (all stored or none). Inside its type's window a duplicate
    merges into the first event (``merged``: true). With an ``Idempotency-Key`` header a replay gets
    the first answer and writes nothing."""
    bus: EventBus = state.events
    key = request.headers.get(idempotency.HEADER)
    body = await request.body()
    if key is not None:
        earlier = await idempotency.replay(db_session, caller.label, key, body)
        if earlier is not None:
            return Response(earlier.response, status_code=earlier.status_code, headers={"Idempotent-Replay": "true"})
    items = data if isinstance(data, list) else [data]
    if not items or len(items) > MAX_BATCH:
        raise InputError("events", f"expected 1 to {MAX_BATCH} events")
    prefix = (lambda i: f"[{i}].") if isinstance(data, list) else (lambda i: "")
    events = [_event(item, caller) for item in items]
    for index, event in enumerate(events):
        bus.validate(event, prefix(index))
    results = [await bus.emit(db_session, event, prefix(index)) for index, event in enumerate(events)]
    answer = {"results": [_result(r) for r in results]} if isinstance(data, list) else _result(results[0])
    status = 201 if any(not r.merged for r in results) else 200
    if key is not None:
        idempotency.remember(db_session, caller.label, key, body, status, answer)
    await db_session.commit()
    bus.after_commit(results)
    return Response(answer, status_code=status)


@get("/api/v1/events", tags=["events"], summary="List events", guards=[requires("events:read")])
async def list_events(
    db_session: DbSession,
    caller: Caller,
    page: Page,
    type: FromQuery[str | None] = None,
    grid_id: FromQuery[int | None] = None,
    since: FromQuery[datetime | None] = None,
) -> OffsetPagination[EventOut]:
    """Events, newest first (a grid worker's: of their grids), optionally of one type and grid, since a time."""
    query = visible_to(select(EventRecord).order_by(EventRecord.id.desc()), EventRecord.grid_id, caller)
    if type:
        query = query.where(EventRecord.type == type)
    if grid_id is not None:
        query = query.where(EventRecord.grid_id == grid_id)
    if since is not None:
        query = query.where(EventRecord.last_seen_at >= since)
    return await paginate(db_session, query, page, lambda r: msgspec.convert(r, EventOut, from_attributes=True))


@get("/api/v1/events/types", tags=["events"], summary="Event types", guards=[requires("events:read")])
async def list_event_types(state: State) -> list[dict[str, Any]]:
    """Every registered event type with its default case category, severity, SLA and dedup window."""
    return [
        {
            "type": t.type,
            "title": t.title,
            "case_category": t.case_category,
            "severity": t.severity,
            "accept_sla_hours": t.accept_sla.total_seconds() / 3600,
            "resolve_sla_hours": t.sla.total_seconds() / 3600,
            "working_hours": t.working_hours,
            "dedup_window_minutes": t.dedup_window.total_seconds() / 60,
            "creates_case": t.creates_case,
        }
        for t in sorted(state.events.types.values(), key=lambda t: t.type)
    ]


EVENT_ROUTES = [report_events, list_events, list_event_types]
