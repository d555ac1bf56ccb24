"""Where and when vendors gather: hotspots by grid and by metric cell and hour of week, suggested
vending points, current occupancy, violation trends and repeat offenders.

Every figure is computed from the sightings of a period ``[since, until)``; days and hours are local
(the platform's time zone, Asia/Shanghai by default).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shapely.geometry import box
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.areas.models import Grid
from plugins.street_vendors.cells import cell_bounds, cell_centre, cell_of, cell_polygon, hour_of_week
from plugins.street_vendors.hours import window_at
from plugins.street_vendors.models import Sighting, Violation
from plugins.street_vendors.rules import RuleBook, admitted_vendors

SUGGESTION_WEEKS = 4


@dataclass
class Tally:
    """The sightings of one place (grid or cell): count, distinct local days, hours of week and of day."""

    sightings: int = 0
    days: set[date] = field(default_factory=set)
    hours_of_week: Counter[int] = field(default_factory=Counter)
    hours: Counter[int] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    grids: Counter[int] = field(default_factory=Counter)

    def add(self, local: datetime, category: str | None, grid_id: int | None) -> None:
        """Count one sighting at the naive local time ``local``."""
        self.sightings += 1
        self.days.add(local.date())
        self.hours_of_week[hour_of_week(local)] += 1
        self.hours[local.hour] += 1
        if category:
            self.categories[category] += 1
        if grid_id is not None:
            self.grids[grid_id] += 1

    def summary(self) -> dict[str, Any]:
        """The tally as GeoJSON feature properties (hours of week as ``{"0": n, ...}``, busiest first)."""
        peak = self.hours_of_week.most_common(1)
        return {
            "sightings": self.sightings,
            "days": len(self.days),
            "peak_hour_of_week": peak[0][0] if peak else None,
            "hours_of_week": {str(h): n for h, n in sorted(self.hours_of_week.items())},
            "categories": dict(self.categories.most_common()),
        }


async def _rows(session: AsyncSession, since: datetime, until: datetime) -> list[Any]:
    query = (
        select(Sighting.observed_at, Sighting.lon, Sighting.lat, Sighting.grid_id, Sighting.category)
        .where(Sighting.observed_at >= since, Sighting.observed_at < until)
        .order_by(Sighting.observed_at)
    )
    return list((await session.execute(query)).all())


async def tallies_by_cell(
    session: AsyncSession, since: datetime, until: datetime, tz: ZoneInfo, size_m: float, hour: int | None = None
) -> dict[str, Tally]:
    """Sightings per metric cell (only those in ``hour`` of the week, 0-167, when given)."""
    tallies: dict[str, Tally] = defaultdict(Tally)
    for observed_at, lon, lat, grid_id, category in await _rows(session, since, until):
        local = observed_at.astimezone(tz).replace(tzinfo=None)
        if hour is None or hour_of_week(local) == hour:
            tallies[cell_of(lon, lat, size_m)].add(local, category, grid_id)
    return dict(tallies)


async def tallies_by_grid(
    session: AsyncSession, since: datetime, until: datetime, tz: ZoneInfo, hour: int | None = None
) -> tuple[dict[int, Tally], int]:
    """Sightings per grid, and how many lay in no grid."""
    tallies: dict[int, Tally] = defaultdict(Tally)
    outside = 0
    for observed_at, _lon, _lat, grid_id, category in await _rows(session, since, until):
        local = observed_at.astimezone(tz).replace(tzinfo=None)
        if hour is not None and hour_of_week(local) != hour:
            continue
        if grid_id is None:
            outside += 1
        else:
            tallies[grid_id].add(local, category, grid_id)
    return dict(tallies), outside


def cell_features(tallies: dict[str, Tally]) -> dict[str, Any]:
    """Cell hotspots as a GeoJSON FeatureCollection, busiest first."""
    ordered = sorted(tallies.items(), key=lambda kv: (-kv[1].sightings, kv[0]))
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"cell": cell, **tally.summary()}, "geometry": cell_polygon(cell)}
            for cell, tally in ordered
        ],
    }


async def grid_features(session: AsyncSession, tallies: dict[int, Tally], outside: int) -> dict[str, Any]:
    """Grid hotspots as a GeoJSON FeatureCollection with each grid's polygon, busiest first."""
    grids = {g.id: g for g in await session.scalars(select(Grid).where(Grid.id.in_(list(tallies))))} if tallies else {}
    ordered = sorted(tallies.items(), key=lambda kv: (-kv[1].sightings, kv[0]))
    features = []
    for grid_id, tally in ordered:
        grid = grids.get(grid_id)
        properties = {"grid_id": grid_id, "code": grid.code if grid else None, "name": grid.name if grid else None}
        features.append(
            {
                "type": "Feature",
                "properties": {**properties, **tally.summary()},
                "geometry": grid.geometry if grid else None,
            }
        )
    return {"type": "FeatureCollection", "outside_grids": outside, "features": features}


def proposed_window(hours: Counter[int], share: float) -> tuple[str, str]:
    """The shortest run of whole hours (may cross midnight) holding ``share`` of the sightings, as
    ``(opens, closes)``; among runs of that length, the one with most sightings, then the earliest."""
    total = sum(hours.values())
    for length in range(1, 24):
        runs = [(sum(hours[(start + k) % 24] for k in range(length)), -start) for start in range(24)]
        covered, neg_start = max(runs)
        if covered >= share * total - 1e-9:
            start = -neg_start
            return f"{start:02d}:00", f"{(start + length) % 24:02d}:00"
    return "00:00", "23:00"


async def suggestions(
    session: AsyncSession, book: RuleBook, as_of: datetime, settings: Any, locate_grid: Any = None
) -> list[dict[str, Any]]:
    """Cells outside every active vending point with sightings on at least ``suggestion_min_days`` distinct
    local days of the four weeks before ``as_of``, ranked by days then sightings, each with a proposed window."""
    since = as_of - timedelta(weeks=SUGGESTION_WEEKS)
    tallies = await tallies_by_cell(session, since, as_of, book.tz, settings.cell_size_m)
    found: list[dict[str, Any]] = []
    for cell, tally in tallies.items():
        if len(tally.days) < settings.suggestion_min_days:
            continue
        area = box(*cell_bounds(cell))
        if any(area.intersects(shape) for shape in book.shapes):
            continue
        opens, closes = proposed_window(tally.hours, settings.suggestion_window_share)
        lon, lat = cell_centre(cell)
        grid = tally.grids.most_common(1)
        found.append(
            {
                "cell": cell,
                "lon": lon,
                "lat": lat,
                "grid_id": grid[0][0] if grid else (locate_grid(lon, lat) if locate_grid else None),
                "days": len(tally.days),
                "sightings": tally.sightings,
                "opens": opens,
                "closes": closes,
                "categories": [c for c, _ in tally.categories.most_common()],
                "hours": {str(h): n for h, n in sorted(tally.hours.items())},
            }
        )
    found.sort(key=lambda s: (-s["days"], -s["sightings"], s["cell"]))
    return [{"rank": rank, **item} for rank, item in enumerate(found, start=1)]


def suggestion_features(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Suggestions as a GeoJSON FeatureCollection of their cells, in rank order."""
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": item, "geometry": cell_polygon(item["cell"])} for item in items],
    }


async def occupancy(session: AsyncSession, book: RuleBook, now: datetime) -> list[dict[str, Any]]:
    """Per active point: open now or not, its current window, vendors admitted in it, and unidentified sightings."""
    out = []
    for point in book.points:
        window = window_at(point, book.local(now))
        vendors = unidentified = 0
        if window is not None:
            opened = window[0].replace(tzinfo=book.tz)
            vendors = len(await admitted_vendors(session, point.id, opened, now))
            unidentified = int(
                await session.scalar(
                    select(func.count())
                    .select_from(Sighting)
                    .where(Sighting.point_id == point.id, Sighting.vendor_id.is_(None))
                    .where(Sighting.observed_at >= opened, Sighting.observed_at <= now)
                )
                or 0
            )
        out.append(
            {
                "code": point.code,
                "name": point.name,
                "capacity": point.capacity,
                "open": window is not None,
                "window_opened": window[0].isoformat() if window else None,
                "window_closes": window[1].isoformat() if window else None,
                "vendors": vendors,
                "unidentified_sightings": unidentified,
                "occupancy": round(vendors / point.capacity, 3),
            }
        )
    return out


async def violation_trend(
    session: AsyncSession, since: datetime, until: datetime, tz: ZoneInfo, grid_ids: frozenset[int] | None = None
) -> list[dict[str, Any]]:
    """Violations per local day in ``[since, until)`` (of ``grid_ids`` only, when given): total, by outcome
    and by ladder stage."""
    query = select(Violation.observed_at, Violation.outcome, Violation.stage).where(
        Violation.observed_at >= since, Violation.observed_at < until
    )
    if grid_ids is not None:
        query = query.where(Violation.grid_id.in_(sorted(grid_ids)))
    rows = await session.execute(query)
    days: dict[date, dict[str, Any]] = {}
    for observed_at, outcome, stage in rows:
        day = observed_at.astimezone(tz).date()
        entry = days.setdefault(
            day, {"day": day.isoformat(), "violations": 0, "outcomes": Counter(), "stages": Counter()}
        )
        entry["violations"] += 1
        entry["outcomes"][outcome] += 1
        entry["stages"][stage] += 1
    return [
        {**entry, "outcomes": dict(entry["outcomes"]), "stages": dict(entry["stages"])}
        for _, entry in sorted(days.items())
    ]


async def repeat_offenders(
    session: AsyncSession, now: datetime, settings: Any, minimum: int = 2
) -> list[dict[str, Any]]:
    """Vendors with at least ``minimum`` violations in the ladder window before ``now``, most first,
    with the stage their next violation would get."""
    from plugins.street_vendors.ladder import stage_for

    since = now - timedelta(days=settings.ladder_window_days)
    rows = await session.execute(
        select(Violation.vendor_id, func.count(), func.max(Violation.observed_at))
        .where(Violation.vendor_id.is_not(None), Violation.observed_at >= since, Violation.observed_at <= now)
        .group_by(Violation.vendor_id)
        .having(func.count() >= minimum)
        .order_by(func.count().desc(), Violation.vendor_id)
    )
    return [
        {
            "vendor_id": vendor_id,
            "violations": count,
            "last_violation_at": last,
            "stage_reached": stage_for(count, settings),
            "next_stage": stage_for(count + 1, settings),
        }
        for vendor_id, count, last in rows
    ]
