"""The sorting indicators for any period [start, end) and grouping; the formulas are in README.md.

Two kinds of figures, attributed differently (on purpose):

- **households** (participation, per-household averages) are about the registry *as it is now*:
  a group's households are the active ones whose current community / grid / point / street is the
  group's, and a participating household is one of them with at least one deposit in the period;
- **deposits** (weights, accuracy, timed-deposit compliance) are about what was deposited: each
  deposit counts for the community and grid its household belonged to *when it deposited*, and
  the collection point it was deposited at.

Periods whose ends are local midnights and whose days are all rolled up (and not dirty since)
read the nightly rollup (:mod:`plugins.waste_sorting.rollup`); anything else reads raw deposits.
Both give the same numbers (tests and bench/waste_stats.py check it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Select, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.areas.models import Community, Grid, Street
from plugins.waste_sorting.models import (
    CATEGORIES,
    CollectionPoint,
    DailyStat,
    Deposit,
    Household,
    HouseholdMonth,
    RollupDay,
)

GroupBy = Literal["street", "community", "grid", "point"]
Bucket = Literal["day", "week", "month"]
GROUPINGS: tuple[str, ...] = ("street", "community", "grid", "point")
BUCKETS: tuple[str, ...] = ("day", "week", "month")


@dataclass
class Figures:
    """The additive figures of one group and bucket, from which the rates are computed."""

    households: int = 0
    participating: int = 0
    deposits: int = 0
    windowed: int = 0
    in_window: int = 0
    inspected: int = 0
    correct: int = 0
    weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0.0))

    def add_deposits(self, other: Iterable[Any]) -> None:
        """Add a row of (deposits, windowed, in_window, inspected, correct, *weights in CATEGORIES order)."""
        deposits, windowed, in_window, inspected, correct, *weights = other
        self.deposits += int(deposits or 0)
        self.windowed += int(windowed or 0)
        self.in_window += int(in_window or 0)
        self.inspected += int(inspected or 0)
        self.correct += int(correct or 0)
        for category, weight in zip(CATEGORIES, weights, strict=True):
            self.weights[category] += float(weight or 0.0)


def _rate(part: float, whole: float) -> float | None:
    return None if not whole else part / whole


def indicator_row(group: Any, label: str, bucket: date | None, f: Figures) -> dict[str, Any]:
    """One output row: the figures and every rate (None where the denominator is 0)."""
    total = sum(f.weights.values())
    row: dict[str, Any] = {
        "group": group,
        "label": label,
        "bucket": bucket.isoformat() if bucket else None,
        "households": f.households,
        "participating": f.participating,
        "participation_rate": _rate(f.participating, f.households),
        "deposits": f.deposits,
        "inspected": f.inspected,
        "correct": f.correct,
        "accuracy_rate": _rate(f.correct, f.inspected),
        "in_window": f.in_window,
        "timed_compliance": _rate(f.in_window, f.windowed),
        "weight_kg": round(total, 6),
    }
    for category in CATEGORIES:
        row[f"weight_{category}_kg"] = round(f.weights[category], 6)
        row[f"share_{category}"] = _rate(f.weights[category], total)
    row["weight_per_household_kg"] = _rate(total, f.households)
    row["weight_per_participant_kg"] = _rate(total, f.participating)
    row["deposits_per_participant"] = _rate(f.deposits, f.participating)
    return row


# -- periods and buckets ----------------------------------------------------------------------------


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The start of ``day`` in ``tz``, as an aware datetime."""
    return datetime.combine(day, time(), tzinfo=tz)


def bucket_of(day: date, bucket: str | None, first: date) -> date:
    """The bucket a local day falls in: itself, its ISO week's Monday, its month's first day, or ``first``."""
    if bucket == "day":
        return day
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return first


def local_days(start: datetime, end: datetime, tz: ZoneInfo) -> list[date]:
    """The local days that [start, end) touches."""
    first, last = start.astimezone(tz).date(), (end - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)] if end > start else []


def _month_start(day: date) -> date:
    return day.replace(day=1)


# -- grouping columns -------------------------------------------------------------------------------


def _household_key(group_by: str) -> Any:
    return {"street": Household.community_id, "community": Household.community_id, "grid": Household.grid_id,
            "point": Household.point_id}[group_by]  # fmt: skip


def _deposit_key(group_by: str, source: Any) -> Any:
    column = {"street": "community_id", "community": "community_id", "grid": "grid_id", "point": "point_id"}[group_by]
    return getattr(source, column)


async def _street_of(session: AsyncSession) -> dict[int, int]:
    return {cid: sid for cid, sid in await session.execute(select(Community.id, Community.street_id))}


async def _labels(session: AsyncSession, group_by: str) -> dict[Any, str]:
    model: Any = {"street": Street, "community": Community, "grid": Grid}.get(group_by)
    if model is not None:
        return {key: name for key, name in await session.execute(select(model.id, model.name))}
    return {key: code for key, code in await session.execute(select(CollectionPoint.id, CollectionPoint.code))}


# -- the indicators ---------------------------------------------------------------------------------


async def rollup_covers(session: AsyncSession, start: datetime, end: datetime, tz: ZoneInfo) -> bool:
    """Whether [start, end) is whole local days that are all rolled up and clean."""
    days = local_days(start, end, tz)
    if not days or local_midnight(days[0], tz) != start or local_midnight(days[-1] + timedelta(days=1), tz) != end:
        return False
    clean = await session.scalar(
        select(func.count())
        .select_from(RollupDay)
        .where(RollupDay.day >= days[0], RollupDay.day <= days[-1], RollupDay.dirty.is_(False))
    )
    return clean == len(days)


async def indicators(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    group_by: str = "community",
    bucket: str | None = None,
    grid_ids: Iterable[int] | None = None,
    use_rollup: bool | None = None,
) -> list[dict[str, Any]]:
    """The indicator rows of [start, end) per group (and per bucket of local days), in group order.

    ``grid_ids`` limits everything to those grids (a grid worker's view). ``use_rollup`` None reads
    the rollup when it covers the period; False forces raw deposits; True requires the rollup.
    """
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by: expected one of {', '.join(GROUPINGS)}")
    if bucket is not None and bucket not in BUCKETS:
        raise ValueError(f"bucket: expected one of {', '.join(BUCKETS)}")
    grids = None if grid_ids is None else sorted(grid_ids)
    days = local_days(start, end, tz)
    if not days:
        return []
    first = days[0]
    buckets = sorted({bucket_of(day, bucket, first) for day in days})
    rolled = await rollup_covers(session, start, end, tz) if use_rollup is None else use_rollup
    street_of = await _street_of(session) if group_by == "street" else {}

    def regroup(key: Any) -> Any:
        return street_of.get(key) if group_by == "street" else key

    table: dict[tuple[Any, date], Figures] = defaultdict(Figures)
    # households registered now, per group
    registered = select(_household_key(group_by), func.count()).where(Household.active.is_(True))
    if grids is not None:
        registered = registered.where(Household.grid_id.in_(grids))
    per_group: dict[Any, int] = defaultdict(int)
    largest = 0  # the most households of one key (before street regrouping)
    for key, count in await session.execute(registered.group_by(_household_key(group_by))):
        per_group[regroup(key)] += count
        largest = max(largest, count)
    for key, count in per_group.items():
        for b in buckets:
            table[(key, b)].households = count
    # deposits
    source = DailyStat if rolled else Deposit
    for key, day, *sums in await session.execute(_deposit_sums(source, group_by, start, end, days, grids)):
        table[(regroup(key), bucket_of(day, bucket, first))].add_deposits(sums)
    # participating households
    if rolled:
        counts = await _participation_from_rollup(session, group_by, days, bucket, first, grids, largest)
    else:
        counts = await _participation_from_deposits(session, group_by, start, end, tz, days, bucket, first, grids)
    for (key, b), count in counts.items():
        table[(regroup(key), b)].participating += count
    labels = await _labels(session, group_by)
    return [
        indicator_row(key, labels.get(key, "-" if key is None else str(key)), b if bucket else None, figures)
        for (key, b), figures in sorted(table.items(), key=lambda item: (_sortable(item[0][0]), item[0][1]))
    ]


def _sortable(key: Any) -> tuple[int, Any]:
    return (1, 0) if key is None else (0, key)


def _deposit_sums(
    source: Any, group_by: str, start: datetime, end: datetime, days: list[date], grids: list[int] | None
) -> Select[Any]:
    key = _deposit_key(group_by, source)
    if source is DailyStat:
        day = DailyStat.day
        measures = [
            func.sum(DailyStat.deposits),
            func.sum(DailyStat.windowed),
            func.sum(DailyStat.in_window),
            func.sum(DailyStat.inspected),
            func.sum(DailyStat.correct),
            *(func.sum(getattr(DailyStat, f"weight_{c}")) for c in CATEGORIES),
        ]
        where = and_(DailyStat.day >= days[0], DailyStat.day <= days[-1])
    else:
        day = Deposit.local_day
        measures = deposit_measures()
        where = and_(Deposit.deposited_at >= start, Deposit.deposited_at < end)
    statement = select(key, day, *measures).where(where)
    if grids is not None:
        statement = statement.where(source.grid_id.in_(grids))
    return statement.group_by(key, day)


def deposit_measures() -> list[Any]:
    """The sums over raw deposits, in the order of :meth:`Figures.add_deposits` (the rollup stores the same)."""
    # count(column) and count(CASE .. THEN 1 END) rather than sums of CASE .. ELSE 0: the same
    # numbers, ~11% less time for a day of the rollup (bench/waste_stats.py)
    return [
        func.count(),
        func.count(Deposit.in_window),
        func.count(case((Deposit.in_window.is_(True), 1))),
        func.count(Deposit.inspected_correct),
        func.count(case((Deposit.inspected_correct.is_(True), 1))),
        *(func.sum(case((Deposit.category == c, Deposit.weight_kg), else_=0.0)) for c in CATEGORIES),
    ]


async def _participation_from_deposits(
    session: AsyncSession,
    group_by: str,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    days: list[date],
    bucket: str | None,
    first: date,
    grids: list[int] | None,
) -> dict[tuple[Any, date], int]:
    key = _household_key(group_by)
    spans: dict[date, list[date]] = defaultdict(list)
    for day in days:
        spans[bucket_of(day, bucket, first)].append(day)
    counts: dict[tuple[Any, date], int] = {}
    for b, members in spans.items():
        lo = max(start, local_midnight(members[0], tz))
        hi = min(end, local_midnight(members[-1] + timedelta(days=1), tz))
        statement = (
            select(key, func.count(Deposit.household_id.distinct()))
            .select_from(Deposit)
            .join(Household, Household.id == Deposit.household_id)
            .where(Household.active.is_(True), Deposit.deposited_at >= lo, Deposit.deposited_at < hi)
            .group_by(key)
        )
        if grids is not None:
            statement = statement.where(Household.grid_id.in_(grids))
        for group, count in await session.execute(statement):
            counts[(group, b)] = count
    return counts


async def _participation_from_rollup(
    session: AsyncSession,
    group_by: str,
    days: list[date],
    bucket: str | None,
    first: date,
    grids: list[int] | None,
    largest: int,
) -> dict[tuple[Any, date], int]:
    key = _household_key(group_by)
    months = sorted({_month_start(day) for day in days})
    base = (
        select(key)
        .select_from(HouseholdMonth)
        # ``+ 0`` keeps SQLite from probing household months per household (it would, to skip the
        # GROUP BY sort, once ANALYZE has run): reading the months in key order and looking each
        # household up is ~45% less (bench/waste_stats.py); PostgreSQL plans it as before
        .join(Household, Household.id == HouseholdMonth.household_id + 0)
        .where(Household.active.is_(True), HouseholdMonth.month.in_(months))
    )
    if grids is not None:
        base = base.where(Household.grid_id.in_(grids))
    counts: dict[tuple[Any, date], int] = defaultdict(int)
    if bucket == "day":  # one row per household and month: per-day counts are sums of single bits
        wanted = set(days)
        for group, month, per_day in await _days_counted(session, base, largest):
            for n, count in enumerate(per_day):
                if count:
                    try:
                        day = month.replace(day=n + 1)
                    except ValueError:
                        continue
                    if day in wanted:
                        counts[(group, day)] += count
        return counts
    spans: dict[date, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for day in days:
        spans[bucket_of(day, bucket, first)][_month_start(day)] |= 1 << (day.day - 1)
    for b, masks in spans.items():
        condition = or_(
            *(
                and_(HouseholdMonth.month == month, HouseholdMonth.days.op("&")(mask) != literal(0))
                for month, mask in masks.items()
            )
        )
        # one row per household and month, so within a single month count(*) is the distinct count
        # (and skips count(DISTINCT)'s temporary B-tree)
        counted = func.count() if len(masks) == 1 else func.count(HouseholdMonth.household_id.distinct())
        statement = base.add_columns(counted).where(condition)
        for group, count in await session.execute(statement.group_by(key)):
            counts[(group, b)] += count
    return counts


# Per-day participation counts a bit of ``days`` per day. Four days share one sum where they fit:
# ((days >> k) & 0b1111) * _SPREAD & _LANES moves day k+j's bit to bit 16j, so one sum counts four
# days in 16-bit lanes: 8 sums per row instead of 31 (~25% of the statement, bench/waste_stats.py).
# A lane holds 65,535 and the top one must stay below the sign bit (32,767), so lanes are used only
# when every group has fewer than 16,384 active households, room for households added meanwhile.
_LANE_BITS = 16
_DAYS_PER_SUM = 4
_SPREAD = sum(1 << ((_LANE_BITS - 1) * j) for j in range(_DAYS_PER_SUM))
_LANES = sum(1 << (_LANE_BITS * j) for j in range(_DAYS_PER_SUM))
_LANED_GROUPS_BELOW = 1 << (_LANE_BITS - 2)


async def _days_counted(session: AsyncSession, base: Select[Any], largest: int) -> list[tuple[Any, date, list[int]]]:
    """Per group and month of ``base`` (which selects the group key), the participants of each day 1..31."""
    days = HouseholdMonth.days
    unpack: Callable[[list[Any]], list[int]]
    if largest < _LANED_GROUPS_BELOW:
        nibble, spread, lanes = (1 << _DAYS_PER_SUM) - 1, literal(_SPREAD, BigInteger), literal(_LANES, BigInteger)
        sums = [
            func.sum((days.op(">>")(k).op("&")(nibble) * spread).op("&")(lanes)) for k in range(0, 31, _DAYS_PER_SUM)
        ]
        lane = (1 << _LANE_BITS) - 1

        def unpack(packed: list[Any]) -> list[int]:
            return [(int(v or 0) >> (_LANE_BITS * j)) & lane for v in packed for j in range(_DAYS_PER_SUM)][:31]
    else:  # sum(days & 2^n) >> n rather than sum((days >> n) & 1): one operator less per household and day
        sums = [func.sum(days.op("&")(1 << n)) for n in range(31)]

        def unpack(packed: list[Any]) -> list[int]:
            return [int(v or 0) >> n for n, v in enumerate(packed)]

    statement = base.add_columns(HouseholdMonth.month, *sums).group_by(base.selected_columns[0], HouseholdMonth.month)
    return [(group, month, unpack(packed)) for group, month, *packed in await session.execute(statement)]


# -- rankings and lists -----------------------------------------------------------------------------


def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows ranked by participation, then accuracy (no inspections last), then weight per household."""

    def order(row: dict[str, Any]) -> tuple[float, float, float]:
        return (
            -(row["participation_rate"] or 0.0),
            -(row["accuracy_rate"] if row["accuracy_rate"] is not None else -1.0),
            -(row["weight_per_household_kg"] or 0.0),
        )

    out = sorted((row for row in rows if row["group"] is not None), key=order)
    return [{"rank": n, **row} for n, row in enumerate(out, start=1)]


def non_participating(as_of: datetime, days: int, grid_ids: Iterable[int] | None = None) -> Select[Any]:
    """Active households with no deposit in the ``days`` days before ``as_of`` (a query of households)."""
    since = as_of - timedelta(days=days)
    recent = (
        select(literal(1))
        .where(Deposit.household_id == Household.id, Deposit.deposited_at >= since, Deposit.deposited_at < as_of)
        .exists()
    )
    statement = select(Household).where(Household.active.is_(True), ~recent).order_by(Household.id)
    if grid_ids is not None:
        statement = statement.where(Household.grid_id.in_(sorted(grid_ids)))
    return statement


async def low_accuracy(
    session: AsyncSession,
    as_of: datetime,
    days: int,
    min_inspections: int,
    threshold: float,
    grid_ids: Iterable[int] | None = None,
) -> list[dict[str, Any]]:
    """Active households with at least ``min_inspections`` inspected deposits in the ``days`` days before
    ``as_of`` whose accuracy (correct / inspected) is below ``threshold``; worst first."""
    since = as_of - timedelta(days=days)
    inspected = func.sum(case((Deposit.inspected_correct.is_not(None), 1), else_=0))
    correct = func.sum(case((Deposit.inspected_correct.is_(True), 1), else_=0))
    statement = (
        select(Household, inspected, correct)
        .join(Deposit, Deposit.household_id == Household.id)
        .where(Household.active.is_(True), Deposit.deposited_at >= since, Deposit.deposited_at < as_of)
        .group_by(Household.id)
        .having(inspected >= min_inspections)
    )
    if grid_ids is not None:
        statement = statement.where(Household.grid_id.in_(sorted(grid_ids)))
    found = []
    for household, n_inspected, n_correct in await session.execute(statement):
        accuracy = n_correct / n_inspected
        if accuracy < threshold:
            found.append({"household": household, "inspected": int(n_inspected), "correct": int(n_correct),
                          "accuracy_rate": accuracy})  # fmt: skip
    found.sort(key=lambda item: (item["accuracy_rate"], item["household"].id))
    return found
