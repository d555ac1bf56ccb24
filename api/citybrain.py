"""City Brain routes under ``/api/v1/citybrain``: sync state, quarantined records and the outbox."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar import get, post
from litestar.params import FromPath, FromQuery, QueryParameter
from sqlalchemy import select

from core.citybrain.models import OutboxItem, QuarantinedRecord, SyncRun, SyncState
from core.citybrain.outbox import requeue, stuck_condition
from core.pagination import OffsetPagination, paginate
from core.web import DbSession, Page, PlatformSettings, one_or_404, requires

PREFIX = "/api/v1/citybrain"
TAGS = ["citybrain"]


class QuarantinedOut(msgspec.Struct):
    """A record City Brain sent that was not stored, and why."""

    id: int
    dataset: str
    record_key: str | None
    reason: str
    record: dict[str, Any]
    seen_count: int
    first_seen_at: datetime
    last_seen_at: datetime
    run_id: int | None

    @classmethod
    def of(cls, row: QuarantinedRecord) -> QuarantinedOut:
        """The response item of a quarantine row."""
        return cls(
            row.id,
            row.dataset,
            row.record_key,
            row.reason,
            row.record,
            row.seen_count,
            row.first_seen_at,
            row.last_seen_at,
            row.run_id,
        )


class OutboxOut(msgspec.Struct):
    """One item to push up to City Brain, and how its delivery goes."""

    id: int
    idempotency_key: str
    kind: str
    path: str
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: OutboxItem) -> OutboxOut:
        """The response item of an outbox row."""
        return cls(
            row.id,
            row.idempotency_key,
            row.kind,
            row.path,
            row.status,
            row.attempts,
            row.next_attempt_at,
            row.created_at,
            row.delivered_at,
            row.last_error,
            row.payload,
        )


class SyncOut(msgspec.Struct):
    """A dataset's watermark and its latest run."""

    dataset: str
    updated_since: datetime | None
    resumes_from_cursor: bool
    last_run_id: int | None
    last_run_status: str | None
    last_run_started_at: datetime | None
    last_run_counts: dict[str, int] | None
    last_run_error: str | None


@get(f"{PREFIX}/quarantine", tags=TAGS, summary="Quarantined records", guards=[requires("citybrain:read")])
async def list_quarantine(
    db_session: DbSession,
    page: Page,
    dataset: Annotated[str | None, QueryParameter(max_length=100, description="Only this dataset")] = None,
) -> OffsetPagination[QuarantinedOut]:
    """Records that could not be stored, newest first, with the reason."""
    query = select(QuarantinedRecord).order_by(QuarantinedRecord.last_seen_at.desc(), QuarantinedRecord.id.desc())
    if dataset:
        query = query.where(QuarantinedRecord.dataset == dataset)
    return await paginate(db_session, query, page, QuarantinedOut.of)


@get(f"{PREFIX}/outbox", tags=TAGS, summary="Outbox items", guards=[requires("citybrain:read")])
async def list_outbox(
    db_session: DbSession,
    page: Page,
    status: FromQuery[Literal["pending", "delivered", "dead"] | None] = None,
) -> OffsetPagination[OutboxOut]:
    """Everything pushed (or to push) up to City Brain, oldest first."""
    query = select(OutboxItem).order_by(OutboxItem.id)
    if status:
        query = query.where(OutboxItem.status == status)
    return await paginate(db_session, query, page, OutboxOut.of)


@get(f"{PREFIX}/outbox/stuck", tags=TAGS, summary="Stuck outbox items", guards=[requires("citybrain:read")])
async def list_stuck(
    db_session: DbSession,
    page: Page,
    settings: PlatformSettings,
    older_than_minutes: Annotated[
        int | None,
        QueryParameter(ge=0, le=7 * 24 * 60, description="Default: STREETBRAIN_CITYBRAIN_OUTBOX_STUCK_MINUTES"),
    ] = None,
) -> OffsetPagination[OutboxOut]:
    """Items that need a look: dead ones, and pending ones that failed and are older than the threshold."""
    minutes = settings.citybrain_outbox_stuck_minutes if older_than_minutes is None else older_than_minutes
    query = select(OutboxItem).where(stuck_condition(timedelta(minutes=minutes))).order_by(OutboxItem.id)
    return await paginate(db_session, query, page, OutboxOut.of)


@post(
    f"{PREFIX}/outbox/{{item_id:int}}/retry",
    tags=TAGS,
    summary="Deliver an outbox item again",
    guards=[requires("citybrain:sync")],
    status_code=200,
)
async def retry_outbox_item(db_session: DbSession, item_id: FromPath[int]) -> OutboxOut:
    """Put a dead item back in line; the next delivery round sends it (a delivered item is left as it is)."""
    await one_or_404(db_session, OutboxItem, "outbox item", id=item_id)
    item = await requeue(db_session, item_id)
    assert item is not None
    await db_session.flush()
    return OutboxOut.of(item)


@get(f"{PREFIX}/sync", tags=TAGS, summary="Dataset sync state", guards=[requires("citybrain:read")])
async def list_sync_state(db_session: DbSession, page: Page) -> OffsetPagination[SyncOut]:
    """Each dataset's watermark, whether a run will resume from a cursor, and its latest run."""

    async def _rows() -> OffsetPagination[SyncState]:
        return await paginate(db_session, select(SyncState).order_by(SyncState.dataset), page)

    states = await _rows()
    run_ids = [state.last_run_id for state in states.items if state.last_run_id]
    runs = {run.id: run for run in (await db_session.scalars(select(SyncRun).where(SyncRun.id.in_(run_ids)))).all()}
    items = []
    for state in states.items:
        run = runs.get(state.last_run_id or -1)
        counts = (
            None
            if run is None
            else {
                "pages": run.pages,
                "fetched": run.fetched,
                "upserted": run.upserted,
                "quarantined": run.quarantined,
                "duplicates": run.duplicates,
            }
        )
        items.append(
            SyncOut(
                state.dataset,
                state.updated_since,
                state.cursor is not None,
                state.last_run_id,
                run.status if run else None,
                run.started_at if run else None,
                counts,
                run.error if run else None,
            )
        )
    return OffsetPagination(items=items, total=states.total, limit=states.limit, offset=states.offset)


ROUTES = [list_quarantine, list_outbox, list_stuck, retry_outbox_item, list_sync_state]
