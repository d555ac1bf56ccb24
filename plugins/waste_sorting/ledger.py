"""The points ledger (积分): what a household earns per day, by the earning rules in the settings.

For each local day: ``points_per_deposit_day`` for depositing at all, ``points_per_correct`` per
deposit inspected correct and ``points_per_incorrect`` (zero or negative) per deposit inspected
incorrect. One ledger line per household, day and reason; writing a day again replaces its lines,
so late inspections are counted when the day is rolled up again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from plugins.waste_sorting.models import Deposit, PointsEntry
from plugins.waste_sorting.settings import WasteSortingSettings


async def award_points(session: AsyncSession, days: Iterable[date], rules: WasteSortingSettings) -> int:
    """Write the ledger lines of ``days``; returns how many lines were written."""
    wanted = sorted(set(days))
    if not wanted:
        return 0
    correct = func.sum(case((Deposit.inspected_correct.is_(True), 1), else_=0))
    incorrect = func.sum(case((Deposit.inspected_correct.is_(False), 1), else_=0))
    grouped = (
        select(Deposit.household_id, Deposit.local_day, correct, incorrect)
        .where(Deposit.local_day.in_(wanted))
        .group_by(Deposit.household_id, Deposit.local_day)
    )
    lines: list[dict[str, Any]] = []
    for household_id, day, n_correct, n_incorrect in await session.execute(grouped):
        for reason, points in (
            ("deposit_day", rules.points_per_deposit_day),
            ("correct", rules.points_per_correct * int(n_correct or 0)),
            ("incorrect", rules.points_per_incorrect * int(n_incorrect or 0)),
        ):
            if points:
                lines.append({"household_id": household_id, "day": day, "reason": reason, "points": points})
    if not lines:
        return 0
    table = PointsEntry.__table__
    insert = (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)  # type: ignore[operator,arg-type]
    statement = insert.on_conflict_do_update(
        index_elements=["household_id", "day", "reason"], set_={"points": insert.excluded.points}
    )
    for start in range(0, len(lines), 5000):
        await session.execute(statement, lines[start : start + 5000])
    return len(lines)


async def balance(session: AsyncSession, household_id: int) -> int:
    """A household's points so far."""
    total = await session.scalar(select(func.sum(PointsEntry.points)).where(PointsEntry.household_id == household_id))
    return int(total or 0)
