"""waste_sorting jobs: the daily summary, the nightly rollup (with points and the City Brain push), the weekly lists."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from core.areas import load_area_index
from core.citybrain.outbox import enqueue_metric
from core.contracts import JobContext
from plugins.waste_sorting.ledger import award_points
from plugins.waste_sorting.metrics import indicators, local_midnight
from plugins.waste_sorting.models import CollectionPoint, Household
from plugins.waste_sorting.rollup import dirty_days, rollup_days
from plugins.waste_sorting.settings import WasteSortingSettings
from plugins.waste_sorting.work import emit_weekly_lists

DAILY_METRIC = "waste_sorting_daily"


async def daily_summary(ctx: JobContext) -> dict[str, Any]:
    """Count the active collection points of each community (kept in the job's run history)."""
    async with ctx.database.session() as session:
        rows = await session.execute(
            select(CollectionPoint.community, func.count())
            .where(CollectionPoint.active.is_(True))
            .group_by(CollectionPoint.community)
            .order_by(CollectionPoint.community)
        )
        per_community = {community: count for community, count in rows}
    return {
        "communities": len(per_community),
        "active_points": sum(per_community.values()),
        "per_community": per_community,
    }


async def place_households(ctx: JobContext) -> int:
    """Give located households (e.g. from City Brain) the grid and community their point lies in; returns changes."""
    index = await load_area_index(ctx.database)
    changed = 0
    async with ctx.database.session() as session:
        rows = (
            await session.execute(
                select(Household.id, Household.lon, Household.lat, Household.grid_id).where(
                    Household.lon.is_not(None), Household.lat.is_not(None)
                )
            )
        ).all()
        grids = index.grids_for([r[1] for r in rows], [r[2] for r in rows]) if rows else []
        for (household_id, _lon, _lat, old), grid_id in zip(rows, grids, strict=True):
            if grid_id is not None and grid_id != old:
                await session.execute(
                    update(Household)
                    .where(Household.id == household_id)
                    .values(grid_id=grid_id, community_id=index.community_for_grid(grid_id))
                )
                changed += 1
    return changed


async def nightly_rollup(ctx: JobContext, now: datetime | None = None) -> dict[str, Any]:
    """Roll up the last days (and any dirty day), award their points, and queue yesterday's statistics
    for City Brain in the same transaction."""
    rules: WasteSortingSettings = ctx.plugin_settings
    tz = ctx.settings.tz
    today = (now or datetime.now(tz)).astimezone(tz).date()
    yesterday = today - timedelta(days=1)
    placed = await place_households(ctx)
    async with ctx.database.session() as session:
        days = {yesterday - timedelta(days=n) for n in range(rules.rollup_days_back)}
        days |= {day for day in await dirty_days(session) if day < today}
        counts = await rollup_days(session, days, readers=ctx.database.engine)
        points = await award_points(session, days, rules)
        await session.flush()
        rows = await indicators(
            session, local_midnight(yesterday, tz), local_midnight(today, tz), tz, group_by="community"
        )
        pushed = await enqueue_metric(
            session,
            DAILY_METRIC,
            {"communities": rows},
            period=yesterday.isoformat(),
            idempotency_key=f"waste_sorting:daily:{yesterday.isoformat()}",
        )
    return {**counts, "households_placed": placed, "ledger_lines": points, "pushed": pushed}


async def weekly_lists(ctx: JobContext, now: datetime | None = None) -> dict[str, Any]:
    """Turn the non-participating and low-accuracy lists into events (and so cases for grid workers)."""
    rules: WasteSortingSettings = ctx.plugin_settings
    tz = ctx.settings.tz
    as_of = local_midnight((now or datetime.now(tz)).astimezone(tz).date(), tz)
    bus = ctx.services["events"]
    async with ctx.database.session() as session:
        results, counts = await emit_weekly_lists(
            session,
            bus,
            as_of,
            idle_days=rules.non_participation_days,
            accuracy_days=rules.low_accuracy_days,
            min_inspections=rules.low_accuracy_min_inspections,
            threshold=rules.low_accuracy_threshold,
        )
    bus.after_commit(results)
    new = [r for r in results if not r.merged]
    return {**counts, "events": len(new), "cases": sum(1 for r in new if r.case_id is not None)}
