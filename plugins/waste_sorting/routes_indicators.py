"""Indicators, rankings, the grid workers' lists and the trend chart (formulas in README.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from litestar import get
from litestar.datastructures import State
from litestar.params import FromQuery, QueryParameter
from litestar.response import Response

from core.errors import InputError
from core.pagination import OffsetPagination, paginate, rows_response
from core.web import Caller, DbSession, Page, PlatformSettings, requires
from plugins.waste_sorting.metrics import indicators, low_accuracy, non_participating, ranked
from plugins.waste_sorting.reports import trend_png
from plugins.waste_sorting.routes_households import household_out
from plugins.waste_sorting.schemas import HouseholdOut
from plugins.waste_sorting.settings import current_settings


def _period(start: datetime, end: datetime) -> None:
    for name, moment in (("from", start), ("to", end)):
        if moment.tzinfo is None:
            raise InputError(name, "expected a time with its offset, e.g. 2026-11-01T00:00:00+08:00")
    if end <= start:
        raise InputError("to", "must be after from")
    if end - start > timedelta(days=3660):
        raise InputError("to", "at most ten years")


@get("/indicators", summary="Sorting indicators", guards=[requires("waste_sorting:read")])
async def get_indicators(
    db_session: DbSession,
    caller: Caller,
    settings: PlatformSettings,
    start: Annotated[datetime, QueryParameter(name="from", description="Start of the period (ISO, with offset)")],
    end: Annotated[datetime, QueryParameter(name="to", description="End of the period, exclusive")],
    group_by: FromQuery[Literal["street", "community", "grid", "point"]] = "community",
    bucket: FromQuery[Literal["day", "week", "month", "none"]] = "none",
    format: FromQuery[Literal["json", "csv", "xlsx"]] = "json",
) -> Any:
    """Participation, accuracy (null when nothing was inspected), weights and shares, per-household
    averages and timed-deposit compliance for [from, to), per group and bucket of local days."""
    _period(start, end)
    rows = await indicators(
        db_session, start, end, settings.tz, group_by=group_by, bucket=None if bucket == "none" else bucket,
        grid_ids=caller.grid_ids,
    )  # fmt: skip
    if format != "json":
        return rows_response(rows, format, f"waste-sorting-indicators-{group_by}")
    return {"from": start.isoformat(), "to": end.isoformat(), "group_by": group_by, "rows": rows}


@get("/rankings", summary="Community ranking", guards=[requires("waste_sorting:read")])
async def get_rankings(
    db_session: DbSession,
    caller: Caller,
    settings: PlatformSettings,
    start: Annotated[datetime, QueryParameter(name="from", description="Start of the period (ISO, with offset)")],
    end: Annotated[datetime, QueryParameter(name="to", description="End of the period, exclusive")],
    format: FromQuery[Literal["json", "csv", "xlsx"]] = "json",
) -> Any:
    """Communities of [from, to) ranked by participation, then accuracy, then weight per household."""
    _period(start, end)
    rows = ranked(await indicators(db_session, start, end, settings.tz, grid_ids=caller.grid_ids))
    if format != "json":
        return rows_response(rows, format, "waste-sorting-ranking")
    return {"from": start.isoformat(), "to": end.isoformat(), "rows": rows}


@get("/lists/non-participating", summary="Households not depositing", guards=[requires("waste_sorting:read")])
async def list_non_participating(
    db_session: DbSession,
    caller: Caller,
    state: State,
    page: Page,
    days: FromQuery[int | None] = None,
    as_of: FromQuery[datetime | None] = None,
) -> OffsetPagination[HouseholdOut]:
    """Active households with no deposit in the ``days`` (default ``non_participation_days``) before ``as_of`` (now)."""
    n = days if days is not None else current_settings(state).non_participation_days
    if not 1 <= n <= 365:
        raise InputError("days", "expected 1 to 365")
    moment = as_of or datetime.now().astimezone()
    if moment.tzinfo is None:
        raise InputError("as_of", "expected a time with its offset")
    query = non_participating(moment, n, caller.grid_ids)
    return await paginate(db_session, query, page, lambda h: household_out(h, caller))


@get("/lists/low-accuracy", summary="Households sorting badly", guards=[requires("waste_sorting:read")])
async def list_low_accuracy(
    db_session: DbSession,
    caller: Caller,
    state: State,
    days: FromQuery[int | None] = None,
    min_inspections: FromQuery[int | None] = None,
    threshold: FromQuery[float | None] = None,
    as_of: FromQuery[datetime | None] = None,
) -> dict[str, Any]:
    """Active households with at least M inspected deposits in the last N days whose accuracy is below the threshold."""
    rules = current_settings(state)
    n = days if days is not None else rules.low_accuracy_days
    m = min_inspections if min_inspections is not None else rules.low_accuracy_min_inspections
    limit = threshold if threshold is not None else rules.low_accuracy_threshold
    if not 0 < limit <= 1:
        raise InputError("threshold", "expected more than 0 and at most 1")
    if m < 1:
        raise InputError("min_inspections", "expected at least 1")
    moment = as_of or datetime.now().astimezone()
    found = await low_accuracy(db_session, moment, n, m, limit, caller.grid_ids)
    return {
        "days": n, "min_inspections": m, "threshold": limit,
        "items": [{"household": household_out(item["household"], caller), "inspected": item["inspected"],
                   "correct": item["correct"], "accuracy_rate": item["accuracy_rate"]} for item in found],
    }  # fmt: skip


@get("/charts/trend.png", summary="Trend chart (PNG)", guards=[requires("waste_sorting:read")], media_type="image/png")
async def trend_chart(
    db_session: DbSession,
    caller: Caller,
    settings: PlatformSettings,
    start: Annotated[datetime, QueryParameter(name="from", description="Start of the period (ISO, with offset)")],
    end: Annotated[datetime, QueryParameter(name="to", description="End of the period, exclusive")],
) -> Response[bytes]:
    """Participation and accuracy per community and day, as a PNG line chart."""
    _period(start, end)
    rows = await indicators(db_session, start, end, settings.tz, bucket="day", grid_ids=caller.grid_ids)
    title = f"{start.astimezone(settings.tz):%Y-%m-%d} - {end.astimezone(settings.tz):%Y-%m-%d}"
    return Response(trend_png(rows, title), media_type="image/png")


INDICATOR_ROUTES = [get_indicators, get_rankings, list_non_participating, list_low_accuracy, trend_chart]
