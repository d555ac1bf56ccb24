"""Hotspots (GeoJSON), suggested vending points, occupancy, violation trends and repeat offenders."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from litestar import get
from litestar.datastructures import State
from litestar.params import FromQuery, QueryParameter

from core.db import utcnow
from core.errors import InputError
from core.pagination import OffsetPagination, rows_response
from core.security.principal import Principal
from core.web import Caller, DbSession, Page, PlatformSettings, requires
from plugins.street_vendors import hotspots
from plugins.street_vendors.routes import plugin_settings
from plugins.street_vendors.rules import RuleBook

Days = Annotated[int, QueryParameter(ge=1, le=366, description="The period: this many days up to now")]
HourOfWeek = Annotated[int | None, QueryParameter(ge=0, le=167, description="0 = Monday 00:00-01:00 (local)")]


def _period(days: int, until: datetime | None) -> tuple[datetime, datetime]:
    end = until or utcnow()
    if end.tzinfo is None:
        raise InputError("until", "expected a time with its offset")
    return end - timedelta(days=days), end


def _only_own_grids(features: dict[str, Any], caller: Principal, key: str = "grid_id") -> dict[str, Any]:
    if caller.grid_ids is None:
        return features
    return {**features, "features": [f for f in features["features"] if f["properties"].get(key) in caller.grid_ids]}


@get("/hotspots", summary="Hotspots as GeoJSON", guards=[requires("street_vendors:read")])
async def get_hotspots(
    db_session: DbSession,
    state: State,
    settings: PlatformSettings,
    caller: Caller,
    by: FromQuery[Literal["grid", "cell"]] = "cell",
    days: Days = 28,
    hour_of_week: HourOfWeek = None,
    until: FromQuery[datetime | None] = None,
) -> dict[str, Any]:
    """Sightings of the last ``days`` by grid or by ~100 m cell (optionally in one hour of the week):
    a FeatureCollection, busiest first, each with its sightings, distinct days and hours of the week."""
    since, end = _period(days, until)
    if by == "grid":
        tallies, outside = await hotspots.tallies_by_grid(db_session, since, end, settings.tz, hour_of_week)
        if caller.grid_ids is not None:
            tallies = {g: t for g, t in tallies.items() if g in caller.grid_ids}
            outside = 0
        return await hotspots.grid_features(db_session, tallies, outside)
    size = plugin_settings(state).cell_size_m
    cells = await hotspots.tallies_by_cell(db_session, since, end, settings.tz, size, hour_of_week)
    if caller.grid_ids is not None:  # a grid worker sees the cells whose sightings lie mostly in their grids
        cells = {c: t for c, t in cells.items() if t.grids and t.grids.most_common(1)[0][0] in caller.grid_ids}
    return hotspots.cell_features(cells)


@get("/suggestions", summary="Suggested vending points (GeoJSON)", guards=[requires("street_vendors:read")])
async def get_suggestions(
    db_session: DbSession,
    state: State,
    settings: PlatformSettings,
    caller: Caller,
    as_of: FromQuery[datetime | None] = None,
) -> dict[str, Any]:
    """Cells outside every vending point where vendors came on at least N distinct days of the four weeks
    before ``as_of`` (default now), ranked, each with a proposed window from its hours."""
    own = plugin_settings(state)
    end = as_of or utcnow()
    if end.tzinfo is None:
        raise InputError("as_of", "expected a time with its offset")
    book = await RuleBook.load(db_session, settings.tz, own)
    items = await hotspots.suggestions(db_session, book, end, own, state.events.locate_grid)
    return _only_own_grids(hotspots.suggestion_features(items), caller)


@get("/occupancy", summary="Vending point occupancy now", guards=[requires("street_vendors:read")])
async def get_occupancy(
    db_session: DbSession, state: State, settings: PlatformSettings, page: Page, at: FromQuery[datetime | None] = None
) -> Any:
    """Per active point: open or not at ``at`` (default now), vendors admitted in its current window, capacity."""
    moment = at or utcnow()
    if moment.tzinfo is None:
        raise InputError("at", "expected a time with its offset")
    book = await RuleBook.load(db_session, settings.tz, plugin_settings(state))
    rows = await hotspots.occupancy(db_session, book, moment)
    return _page(rows, page, "occupancy")


@get("/violations/trend", summary="Violations per day", guards=[requires("street_vendors:read")])
async def get_violation_trend(
    db_session: DbSession,
    settings: PlatformSettings,
    caller: Caller,
    page: Page,
    days: Days = 30,
    until: FromQuery[datetime | None] = None,
) -> Any:
    """Violations per local day of the last ``days`` (a grid worker's: of their grids): total, by outcome
    and by ladder stage."""
    since, end = _period(days, until)
    grids = frozenset(caller.grid_ids) if caller.grid_ids is not None else None
    return _page(await hotspots.violation_trend(db_session, since, end, settings.tz, grids), page, "violation_trend")


@get("/repeat-offenders", summary="Repeat offenders", guards=[requires("street_vendors:read")])
async def get_repeat_offenders(db_session: DbSession, state: State, page: Page, minimum: FromQuery[int] = 2) -> Any:
    """Vendors with at least ``minimum`` violations in the ladder window (30 days), most first."""
    if minimum < 1:
        raise InputError("minimum", "expected 1 or more")
    rows = await hotspots.repeat_offenders(db_session, utcnow(), plugin_settings(state), minimum)
    return _page(rows, page, "repeat_offenders")


def _page(rows: list[dict[str, Any]], page: Any, name: str) -> Any:
    if page.format != "json":
        return rows_response(rows, page.format, name)
    return OffsetPagination(
        items=rows[page.offset : page.offset + page.limit], limit=page.limit, offset=page.offset, total=len(rows)
    )


ROUTES = [get_hotspots, get_suggestions, get_occupancy, get_violation_trend, get_repeat_offenders]
