"""Case indicators for a period [from, to), grouped by grid, community, category or assignee.

Definitions (also in docs/cases.md). The *cohort* of a period is the cases accepted (立案) in it;
everything is measured as of ``min(to, now)``:

- ``reported``: cases created in the period (accepted or not); ``rejected``: of those, rejected.
- ``registered``: the cohort's size.
- closure rate (结案率) = cohort cases closed by the as-of time / registered.
- on-time closure rate (按期结案率) = cohort cases closed by the as-of time and no later than their
  resolve deadline / registered.
- rework rate (返工率) = cohort cases returned for rework at least once by the as-of time / cohort
  cases resolved at least once by then.
- mean hours to accept = mean(accepted - created) over the cohort; mean hours to resolve =
  mean(first resolved - accepted) over cohort cases resolved by the as-of time.
- overdue = cohort cases not resolved by the as-of time whose resolve deadline had passed by then.

A rate whose denominator is 0 is null, not 0.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pandas as pd
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.cases.models import Case, CaseTransition
from core.security.models import User

GroupBy = Literal["grid", "community", "category", "assignee"]
GROUP_COLUMNS: dict[str, Any] = {
    "grid": Case.grid_id,
    "community": Case.community_id,
    "category": Case.category,
    "assignee": Case.assignee_id,
}
METRICS = (
    "reported", "rejected", "registered", "closed", "closure_rate", "on_time_closed", "on_time_closure_rate",
    "resolved", "reworked", "rework_rate", "mean_hours_to_accept", "mean_hours_to_resolve", "overdue",
)  # fmt: skip


def _rate(numerator: float, denominator: float) -> float | None:
    return None if not denominator else round(numerator / denominator, 4)


def _hours(series: pd.Series) -> float | None:
    values = series.dropna()
    return None if values.empty else round(float(values.dt.total_seconds().mean()) / 3600, 2)


def _summary(reported: pd.DataFrame, cohort: pd.DataFrame) -> dict[str, Any]:
    closed = int(cohort["closed"].sum())
    on_time = int(cohort["on_time"].sum())
    resolved = int(cohort["resolved"].sum())
    reworked = int(cohort["reworked"].sum())
    registered = len(cohort)
    return {
        "reported": len(reported),
        "rejected": int((reported["status"] == "rejected").sum()),
        "registered": registered,
        "closed": closed,
        "closure_rate": _rate(closed, registered),
        "on_time_closed": on_time,
        "on_time_closure_rate": _rate(on_time, registered),
        "resolved": resolved,
        "reworked": reworked,
        "rework_rate": _rate(reworked, resolved),
        "mean_hours_to_accept": _hours(cohort["accepted_at"] - cohort["created_at"]),
        "mean_hours_to_resolve": _hours((cohort["first_resolved_at"] - cohort["accepted_at"])[cohort["resolved"]]),
        "overdue": int(cohort["overdue"].sum()),
    }


async def case_indicators(
    session: AsyncSession, start: datetime, end: datetime, group_by: GroupBy | None, now: datetime
) -> dict[str, Any]:
    """The indicators of [start, end) as of ``min(end, now)``, in total and per group."""
    as_of = min(end, now)
    key = GROUP_COLUMNS[group_by] if group_by else Case.category
    columns = [Case.id, key.label("group"), Case.status, Case.created_at, Case.accepted_at,
               Case.first_resolved_at, Case.closed_at, Case.resolve_due_at]  # fmt: skip
    reported_rows = (
        await session.execute(select(*columns).where(Case.created_at >= start, Case.created_at < end))
    ).all()
    cohort_rows = (
        await session.execute(select(*columns).where(Case.accepted_at >= start, Case.accepted_at < end))
    ).all()
    names = ["id", "group", "status", "created_at", "accepted_at", "first_resolved_at", "closed_at", "resolve_due_at"]
    reported = pd.DataFrame(reported_rows, columns=names)
    cohort = pd.DataFrame(cohort_rows, columns=names)
    for frame in (reported, cohort):
        for column in names[3:]:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    returned: set[int] = set()
    if not cohort.empty:
        returned = set(
            await session.scalars(
                select(CaseTransition.case_id).where(
                    CaseTransition.action == "return",
                    CaseTransition.at < as_of,
                    CaseTransition.case_id.in_([int(i) for i in cohort["id"]]),
                )
            )
        )
    cutoff = pd.Timestamp(as_of)
    cohort["closed"] = cohort["closed_at"].notna() & (cohort["closed_at"] < cutoff)
    cohort["on_time"] = cohort["closed"] & (cohort["closed_at"] <= cohort["resolve_due_at"])
    cohort["resolved"] = cohort["first_resolved_at"].notna() & (cohort["first_resolved_at"] < cutoff)
    cohort["reworked"] = cohort["id"].isin(returned) & cohort["resolved"]
    cohort["overdue"] = ~cohort["resolved"] & cohort["resolve_due_at"].notna() & (cohort["resolve_due_at"] < cutoff)

    groups: list[dict[str, Any]] = []
    if group_by:
        labels = await _labels(session, group_by, set(reported["group"].dropna()) | set(cohort["group"].dropna()))
        for value in sorted(set(reported["group"].dropna()) | set(cohort["group"].dropna()), key=str):
            row = {"group": value, "label": labels.get(value, str(value))}
            row.update(_summary(reported[reported["group"] == value], cohort[cohort["group"] == value]))
            groups.append(row)
        if reported["group"].isna().any() or cohort["group"].isna().any():
            row = {"group": None, "label": "(none)"}
            row.update(_summary(reported[reported["group"].isna()], cohort[cohort["group"].isna()]))
            groups.append(row)
    return {
        "from": start,
        "to": end,
        "as_of": as_of,
        "group_by": group_by,
        "total": _summary(reported, cohort),
        "groups": groups,
    }


async def _labels(session: AsyncSession, group_by: str, values: set[Any]) -> dict[Any, str]:
    if group_by == "assignee" and values:
        users = await session.execute(select(User.id, User.username).where(User.id.in_([int(v) for v in values])))
        return {user_id: name for user_id, name in users}
    return {}
