"""Deposit ingestion from smart bins, the deposit list, and supervisors' inspections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromQuery, JSONBody
from litestar.response import Response
from sqlalchemy import select

from core.errors import InputError
from core.pagination import OffsetPagination, paginate
from core.web import Caller, DbSession, Page, PlatformSettings, one_or_404, requires, visible_to
from plugins.waste_sorting.ingest import decode_batch, ingest_deposits, mark_dirty
from plugins.waste_sorting.models import CATEGORIES, Deposit, Inspection
from plugins.waste_sorting.schemas import BatchAnswer, InspectionIn, InspectionOut
from plugins.waste_sorting.settings import current_settings


class DepositOut(msgspec.Struct):
    """A stored deposit."""

    id: int
    event_id: str
    household_id: int
    point_id: int | None
    bin_id: int | None
    category: str
    weight_kg: float
    deposited_at: datetime
    community_id: int | None
    grid_id: int | None
    in_window: bool | None
    inspected_correct: bool | None


@post(
    "/deposits",
    summary="Ingest a batch of deposits",
    guards=[requires("waste_sorting:ingest")],
)
async def ingest(
    request: Request[Any, Any, Any], db_session: DbSession, state: State, settings: PlatformSettings
) -> Response[BatchAnswer]:
    """``{"records": [...]}``: up to ``max_batch`` (10,000) deposits. Good records are stored, bad ones
    come back with their index, field and reason; records whose ``event_id`` is stored already are
    replays and insert nothing (201 when anything was inserted, else 200)."""
    batch = decode_batch(await request.body(), current_settings(state).max_batch)
    answer = await ingest_deposits(db_session, batch, settings.tz)
    return Response(answer, status_code=201 if answer.inserted else 200)


@get("/deposits", summary="List deposits", guards=[requires("waste_sorting:read")])
async def list_deposits(
    db_session: DbSession,
    caller: Caller,
    page: Page,
    household_id: FromQuery[int | None] = None,
    since: FromQuery[datetime | None] = None,
    until: FromQuery[datetime | None] = None,
) -> OffsetPagination[DepositOut]:
    """Deposits, newest first (a grid worker's: of their grids), optionally of one household, in [since, until)."""
    query = visible_to(
        select(Deposit).order_by(Deposit.deposited_at.desc(), Deposit.id.desc()), Deposit.grid_id, caller
    )
    if household_id is not None:
        query = query.where(Deposit.household_id == household_id)
    if since is not None:
        query = query.where(Deposit.deposited_at >= since)
    if until is not None:
        query = query.where(Deposit.deposited_at < until)
    return await paginate(db_session, query, page, lambda d: msgspec.convert(d, DepositOut, from_attributes=True))


def _inspection_out(row: Inspection) -> InspectionOut:
    return msgspec.convert(row, InspectionOut, from_attributes=True)


@post("/inspections", summary="Record an inspection", guards=[requires("waste_sorting:inspect")])
async def inspect(db_session: DbSession, caller: Caller, data: JSONBody[InspectionIn]) -> InspectionOut:
    """A supervisor's verdict on one deposit (named by its device event id); once per deposit (409 after).
    An incorrect verdict may name the category actually found."""
    deposit = await one_or_404(db_session, Deposit, "deposit", caller=caller, event_id=data.deposit_event_id)
    if data.wrong_category is not None:
        if data.correct:
            raise InputError("wrong_category", "only for an incorrect deposit")
        if data.wrong_category not in CATEGORIES:
            raise InputError("wrong_category", f"expected one of {', '.join(CATEGORIES)}")
    if deposit.inspected_correct is not None:
        raise InputError("deposit_event_id", "this deposit was inspected already", status=409)
    row = Inspection(
        deposit_id=deposit.id, correct=data.correct, wrong_category=data.wrong_category,
        photo_url=data.photo_url, inspector=caller.label,
    )  # fmt: skip
    deposit.inspected_correct = data.correct
    db_session.add(row)
    await mark_dirty(db_session, [deposit.local_day])
    await db_session.flush()
    return _inspection_out(row)


@get("/inspections", summary="List inspections", guards=[requires("waste_sorting:read")])
async def list_inspections(
    db_session: DbSession, caller: Caller, page: Page, correct: FromQuery[bool | None] = None
) -> OffsetPagination[InspectionOut]:
    """Inspections, newest first (a grid worker's: of deposits in their grids), optionally only (in)correct ones."""
    query = select(Inspection).join(Deposit, Deposit.id == Inspection.deposit_id).order_by(Inspection.id.desc())
    query = visible_to(query, Deposit.grid_id, caller)
    if correct is not None:
        query = query.where(Inspection.correct.is_(correct))
    return await paginate(db_session, query, page, _inspection_out)


DEPOSIT_ROUTES = [ingest, list_deposits, inspect, list_inspections]
