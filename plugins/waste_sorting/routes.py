"""waste_sorting API, mounted at /api/v1/waste-sorting: collection points and bins here; households,
deposits and indicators in the modules named after them."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from core.db import utcnow
from core.errors import InputError
from core.pagination import OffsetPagination, paginate
from core.web import Caller, DbSession, Page, one_or_404, reject_if_taken, requires, visible_to
from plugins.waste_sorting.models import CATEGORIES, Bin, BinReading, CollectionPoint
from plugins.waste_sorting.places import locate
from plugins.waste_sorting.schemas import BinIn, BinOut, BinReadingIn, CollectionPointIn, CollectionPointOut
from plugins.waste_sorting.settings import current_settings
from plugins.waste_sorting.work import emit_bin_full


def _out(point: CollectionPoint) -> CollectionPointOut:
    return msgspec.convert(point, CollectionPointOut, from_attributes=True)


@get("/collection-points", summary="List collection points", guards=[requires("waste_sorting:read")])
async def list_collection_points(
    db_session: DbSession, page: Page, community: FromQuery[str | None] = None
) -> OffsetPagination[CollectionPointOut]:
    """Collection points in code order, optionally of one community."""
    query = select(CollectionPoint).order_by(CollectionPoint.code)
    if community:
        query = query.where(CollectionPoint.community == community)
    return await paginate(db_session, query, page, _out)


@post("/collection-points", summary="Open a collection point", guards=[requires("waste_sorting:manage")])
async def create_collection_point(
    request: Request[Any, Any, Any], db_session: DbSession, data: JSONBody[CollectionPointIn]
) -> CollectionPointOut:
    """Open a collection point; it takes the grid and community its location lies in. 422 names a bad
    field, 409 a code already in use."""
    problems = data.problems()
    if problems:
        raise ValidationException(extra=problems)
    await reject_if_taken(db_session, CollectionPoint, "collection point", code=data.code)
    place = locate(request.app.state.get("areas"), data.lon, data.lat)
    point = CollectionPoint(**msgspec.structs.asdict(data), grid_id=place.grid_id, community_id=place.community_id)
    db_session.add(point)
    await db_session.flush()
    return _out(point)


@get("/collection-points/{code:str}", summary="One collection point", guards=[requires("waste_sorting:read")])
async def get_collection_point(db_session: DbSession, code: FromPath[str]) -> CollectionPointOut:
    """The collection point with this code."""
    return _out(await one_or_404(db_session, CollectionPoint, "collection point", code=code))


# -- bins --------------------------------------------------------------------------------------------


def _bin_out(row: Bin) -> BinOut:
    return msgspec.convert(row, BinOut, from_attributes=True)


@get("/bins", summary="List bins", guards=[requires("waste_sorting:read")])
async def list_bins(
    db_session: DbSession, caller: Caller, page: Page, min_fill: FromQuery[float | None] = None
) -> OffsetPagination[BinOut]:
    """Bins in code order (a grid worker's: those at points of their grids), optionally at least ``min_fill`` % full."""
    query = select(Bin).join(CollectionPoint, CollectionPoint.id == Bin.point_id).order_by(Bin.code)
    query = visible_to(query, CollectionPoint.grid_id, caller)
    if min_fill is not None:
        query = query.where(Bin.fill_percent >= min_fill)
    return await paginate(db_session, query, page, _bin_out)


@post("/bins", summary="Place a bin", guards=[requires("waste_sorting:manage")])
async def create_bin(db_session: DbSession, data: JSONBody[BinIn]) -> BinOut:
    """Place a bin of one category at a collection point that takes that category."""
    if data.category not in CATEGORIES:
        raise InputError("category", f"expected one of {', '.join(CATEGORIES)}")
    point = await db_session.scalar(select(CollectionPoint).where(CollectionPoint.code == data.point))
    if point is None:
        raise InputError("point", f"no collection point with code {data.point}")
    if data.category not in point.categories:
        raise InputError("category", f"collection point {point.code} takes no {data.category}")
    await reject_if_taken(db_session, Bin, "bin", code=data.code)
    row = Bin(code=data.code, point_id=point.id, category=data.category, capacity_litres=data.capacity_litres)
    db_session.add(row)
    await db_session.flush()
    return _bin_out(row)


@post("/bins/readings", summary="Record bin fill levels", status_code=200, guards=[requires("waste_sorting:ingest")])
async def record_bin_readings(
    db_session: DbSession, state: State, data: JSONBody[list[BinReadingIn]]
) -> dict[str, Any]:
    """Fill-level readings (up to 1,000, all stored or none), idempotent by ``reading_id``. A reading at or
    above ``bin_full_percent`` raises a ``waste_sorting.bin_full`` event, and so a case."""
    if not data or len(data) > 1000:
        raise InputError("readings", "expected 1 to 1000 readings")
    threshold = current_settings(state).bin_full_percent
    codes = sorted({reading.bin for reading in data})
    bins = {b.code: b for b in await db_session.scalars(select(Bin).where(Bin.code.in_(codes)))}
    for index, reading in enumerate(data):
        if reading.bin not in bins:
            raise InputError(f"[{index}].bin", f"no bin with code {reading.bin}")
        if reading.measured_at.tzinfo is None or reading.measured_at > utcnow():
            raise InputError(f"[{index}].measured_at", "expected a past time with its offset")
    known = set(
        await db_session.scalars(
            select(BinReading.reading_id).where(BinReading.reading_id.in_([r.reading_id for r in data]))
        )
    )
    stored, results = 0, []
    for reading in data:
        if reading.reading_id in known:
            continue
        known.add(reading.reading_id)
        row = bins[reading.bin]
        entry = BinReading(
            reading_id=reading.reading_id, bin_id=row.id, fill_percent=reading.fill_percent,
            measured_at=reading.measured_at,
        )  # fmt: skip
        if row.fill_measured_at is None or reading.measured_at >= row.fill_measured_at:
            row.fill_percent, row.fill_measured_at = reading.fill_percent, reading.measured_at
        if reading.fill_percent >= threshold:
            result = await emit_bin_full(db_session, state.events, row, reading.fill_percent, reading.measured_at)
            entry.event_id = result.event_id
            results.append(result)
        db_session.add(entry)
        stored += 1
    await db_session.commit()
    state.events.after_commit(results)
    return {"stored": stored, "replayed": len(data) - stored, "events": [r.event_id for r in results]}


from plugins.waste_sorting.routes_deposits import DEPOSIT_ROUTES  # noqa: E402
from plugins.waste_sorting.routes_households import HOUSEHOLD_ROUTES  # noqa: E402
from plugins.waste_sorting.routes_indicators import INDICATOR_ROUTES  # noqa: E402

ROUTES = [
    list_collection_points,
    create_collection_point,
    get_collection_point,
    list_bins,
    create_bin,
    record_bin_readings,
    *HOUSEHOLD_ROUTES,
    *DEPOSIT_ROUTES,
    *INDICATOR_ROUTES,
]
