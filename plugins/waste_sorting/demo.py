"""waste_sorting demo data: Ningwei street's collection points, and three communities' households with
60 days of deposits and inspections.

Participation climbs from about 50% to about 95% over the 60 days (as it did at Ningwei's 利一家园),
more on weekends, mostly in the morning and evening windows; about 3% of households never take
part and about 3% sort badly (the weekly lists find them). The last 60 days are rolled up.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.areas.models import Community, Grid
from plugins.waste_sorting.ledger import award_points
from plugins.waste_sorting.models import CATEGORIES, CollectionPoint, Deposit, Household, Inspection
from plugins.waste_sorting.rollup import rollup_days
from plugins.waste_sorting.settings import WasteSortingSettings

# Community name -> (lon, lat) of its centre, in the quadrants of the core's demo street (WGS84).
COMMUNITIES = {
    "宁新社区": (120.2555, 30.1935),
    "宁税社区": (120.2755, 30.1935),
    "振宁社区": (120.2555, 30.1785),
    "合丰社区": (120.2755, 30.1785),
}
HOUSEHOLD_COMMUNITIES = ("宁新社区", "宁税社区", "振宁社区")
HOUSEHOLDS_PER_COMMUNITY = 1000
DAYS = 60
# Morning and evening deposit windows (定时定点), as Hangzhou's residential compounds run them.
WINDOWS = (("07:00", "09:00"), ("06:30", "08:30"), ("07:00", "09:30"))
SITES = ("东门", "北门", "中心广场")
TZ = ZoneInfo("Asia/Shanghai")
# kg per deposit, and how likely a household-day brings each category besides perishable
WEIGHTS = {"perishable": (0.6, 1.6), "other": (0.3, 1.2), "recyclable": (0.4, 2.5), "hazardous": (0.05, 0.3)}
EXTRA = {"other": 0.35, "recyclable": 0.12, "hazardous": 0.01}


async def _grids(session: AsyncSession) -> dict[str, list[Grid]]:
    """The demo street's grids per community name (empty when the core's demo areas are not loaded)."""
    found: dict[str, list[Grid]] = {}
    for grid in await session.scalars(select(Grid).join(Community).order_by(Grid.id)):
        found.setdefault(grid.community.name, []).append(grid)
    return found


async def load(session: AsyncSession) -> dict[str, int]:
    """Twelve collection points, then ~3,000 households with 60 days of deposits and inspections."""
    if await session.scalar(select(func.count()).select_from(CollectionPoint)):
        return {}
    rng = random.Random(6)
    grids = await _grids(session)
    points = _points(grids)
    session.add_all(points)
    await session.flush()
    households = _households(rng, grids, points)
    session.add_all(households)
    await session.flush()
    today = datetime.now(TZ).date()
    deposits, inspections = await _deposits(session, rng, households, points, today)
    days = [today - timedelta(days=n) for n in range(1, DAYS + 1)]
    await rollup_days(session, days)
    await award_points(session, days, WasteSortingSettings())
    return {"collection_points": len(points), "households": len(households), "deposits": deposits,
            "inspections": inspections}  # fmt: skip


def _points(grids: dict[str, list[Grid]]) -> list[CollectionPoint]:
    points = []
    number = 0
    for community, (lon, lat) in COMMUNITIES.items():
        own = grids.get(community, [])
        for site_no, site in enumerate(SITES):
            number += 1
            opens, closes = WINDOWS[site_no]
            grid = own[site_no] if site_no < len(own) else None
            points.append(
                CollectionPoint(
                    code=f"NW-CP-{number:03d}",
                    name=f"{community}{site}垃圾分类投放点",
                    community=community,
                    lon=round(lon + 0.0012 * (site_no - 1), 6),
                    lat=round(lat + 0.0008 * (site_no % 2), 6),
                    categories=[c for c in CATEGORIES if site_no < 2 or c != "hazardous"],
                    deposit_opens=opens,
                    deposit_closes=closes,
                    evening_opens="18:00",
                    evening_closes="20:00",
                    active=number != 7,
                    grid_id=grid.id if grid else None,
                    community_id=grid.community_id if grid else None,
                )
            )
    return points


def _households(rng: random.Random, grids: dict[str, list[Grid]], points: list[CollectionPoint]) -> list[Household]:
    households = []
    for c_no, community in enumerate(HOUSEHOLD_COMMUNITIES):
        own_points = [p for p in points if p.community == community and p.active]
        own_grids = grids.get(community, [])
        for n in range(HOUSEHOLDS_PER_COMMUNITY):
            grid = own_grids[n % len(own_grids)] if own_grids else None
            point = own_points[n % len(own_points)]
            building, unit, room = 1 + n // 24, 1 + (n // 6) % 4, 101 + (n % 6) + 100 * rng.randint(0, 17)
            lon = rng.uniform(grid.min_lon, grid.max_lon) if grid else None
            lat = rng.uniform(grid.min_lat, grid.max_lat) if grid else None
            households.append(
                Household(
                    qr_code=f"NW{c_no + 1}{n:05d}",
                    community=community,
                    community_id=grid.community_id if grid else None,
                    grid_id=grid.id if grid else None,
                    point_id=point.id,
                    building=str(building),
                    unit=str(unit),
                    room=str(room),
                    residents=rng.choice((1, 2, 2, 3, 3, 3, 4, 4, 5)),
                    contact_phone=f"13{rng.randint(5, 9)}{rng.randint(0, 99_999_999):08d}" if n % 3 == 0 else None,
                    lon=lon,
                    lat=lat,
                    active=n % 97 != 0,
                    source="manual",
                )
            )
    return households


async def _deposits(
    session: AsyncSession,
    rng: random.Random,
    households: list[Household],
    points: list[CollectionPoint],
    today: date,
) -> tuple[int, int]:
    point_of = {p.id: p for p in points}
    never = {h.id for h in households if rng.random() < 0.03}
    sloppy = {h.id for h in households if rng.random() < 0.03}
    keen = {h.id: rng.random() for h in households}
    rows: list[dict[str, Any]] = []
    count = inspections = 0
    for back in range(DAYS, 0, -1):
        day = today - timedelta(days=back)
        progress = (DAYS - back) / (DAYS - 1)
        rate = 0.50 + 0.45 * progress + (0.03 if day.weekday() >= 5 else 0.0)
        for household in households:
            if household.id in never or keen[household.id] > rate:
                continue
            point = point_of[household.point_id] if household.point_id else points[0]
            morning = rng.random() < 0.7
            base = time(7, 0) if morning else time(18, 0)
            minute = int(rng.gauss(55, 40)) if rng.random() < 0.9 else rng.randint(-240, 300)
            moment = datetime.combine(day, base, tzinfo=TZ) + timedelta(minutes=minute)
            in_window = any(
                f"{o}:00" <= moment.strftime("%H:%M:%S") < f"{c}:00"
                for o, c in ((point.deposit_opens, point.deposit_closes), (point.evening_opens, point.evening_closes))
                if o and c
            )
            categories = ["perishable", *(c for c, p in EXTRA.items() if rng.random() < p and c in point.categories)]
            for category in categories:
                count += 1
                low, high = WEIGHTS[category]
                inspected = rng.random() < 0.06
                accuracy = 0.45 if household.id in sloppy else 0.70 + 0.25 * progress
                rows.append(
                    {
                        "event_id": f"demo-{count:07d}", "household_id": household.id, "point_id": point.id,
                        "bin_id": None, "category": category, "weight_kg": round(rng.uniform(low, high), 2),
                        "deposited_at": moment + timedelta(seconds=count % 50), "local_day": day,
                        "community_id": household.community_id, "grid_id": household.grid_id,
                        "in_window": in_window,
                        "inspected_correct": (rng.random() < accuracy) if inspected else None,
                    }
                )  # fmt: skip
                inspections += inspected
            if len(rows) >= 20_000:
                await session.execute(insert(Deposit), rows)
                rows = []
    if rows:
        await session.execute(insert(Deposit), rows)
    verdicts = select(Deposit.id, Deposit.inspected_correct, literal("demo:督导员"), Deposit.deposited_at).where(
        Deposit.inspected_correct.is_not(None)
    )
    await session.execute(
        insert(Inspection).from_select(["deposit_id", "correct", "inspector", "inspected_at"], verdicts)
    )
    return count, inspections
