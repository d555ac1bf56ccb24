"""The core's own features, registered through the same hooks as any plugin (as Datasette does):
the generic event type, the case reports and the core's jobs. Loaded under the name ``core``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.cases.indicators import METRICS, case_indicators
from core.cases.models import Case
from core.cases.workflow import OPEN_STATUSES
from core.contracts import EventType, JobContext, JobSpec, PluginInfo, ReportSpec
from core.db import utcnow
from core.errors import InputError
from core.events import CORE_EVENT_TYPES
from core.hookspecs import hookimpl
from core.version import VERSION

NAME = "core"


@hookimpl
def plugin_info() -> PluginInfo:
    """The core, listed among the plugins."""
    return PluginInfo(name=NAME, title="StreetBrain core", version=VERSION, description="Events, cases, jobs")


@hookimpl
def register_event_types() -> tuple[EventType, ...]:
    """Reports by staff and citizens."""
    return CORE_EVENT_TYPES


def _period(params: Mapping[str, str]) -> tuple[datetime, datetime]:
    try:
        end = datetime.fromisoformat(params["to"]) if params.get("to") else utcnow()
        start = datetime.fromisoformat(params["from"]) if params.get("from") else end - timedelta(days=30)
    except ValueError as exc:
        raise InputError("from", f"expected ISO dates or times with offsets ({exc})") from None
    if start.tzinfo is None or end.tzinfo is None:
        raise InputError("from", "expected times with their offset, e.g. 2026-11-01T00:00:00+08:00")
    if start >= end:
        raise InputError("to", "must be after from")
    return start, end


async def indicators_report(session: AsyncSession, params: Mapping[str, str]) -> pd.DataFrame:
    """Case indicators per group (``group_by``: grid, community, category, assignee) over ``from``/``to``."""
    start, end = _period(params)
    group_by = params.get("group_by") or "category"
    if group_by not in ("grid", "community", "category", "assignee"):
        raise InputError("group_by", "expected grid, community, category or assignee")
    result = await case_indicators(session, start, end, group_by, utcnow())  # type: ignore[arg-type]
    return pd.DataFrame(result["groups"], columns=["group", "label", *METRICS])


async def open_cases_report(session: AsyncSession, params: Mapping[str, str]) -> pd.DataFrame:
    """Every open case with its deadlines and whether it is overdue now."""
    now = utcnow()
    rows = await session.scalars(select(Case).where(Case.status.in_(OPEN_STATUSES)).order_by(Case.created_at))
    columns = ["number", "title", "category", "severity", "status", "grid_id", "assignee_id", "created_at",
               "accept_due_at", "resolve_due_at"]  # fmt: skip
    data: list[dict[str, Any]] = []
    for case in rows:
        due = case.accept_due_at if case.status == "reported" else case.resolve_due_at
        data.append({**{c: getattr(case, c) for c in columns}, "overdue": due is not None and now > due})
    return pd.DataFrame(data, columns=[*columns, "overdue"])


@hookimpl
def register_reports() -> list[ReportSpec]:
    """The command centre's case reports."""
    return [
        ReportSpec("case_indicators", "Case indicators per group", indicators_report,
                   {"from": "ISO time", "to": "ISO time", "group_by": "grid|community|category|assignee"},
                   permission="cases:read"),
        ReportSpec("open_cases", "Open cases and their deadlines", open_cases_report, permission="cases:read"),
    ]  # fmt: skip


async def escalate_overdue(ctx: JobContext) -> dict[str, Any]:
    """Raise overdue cases one severity step and notify supervisors and assignees."""
    return await ctx.services["cases"].escalate_overdue()  # type: ignore[no-any-return]


async def deliver_events(ctx: JobContext) -> dict[str, Any]:
    """Retry ``on_event`` delivery of events a plugin failed on (or a crash interrupted)."""
    return await ctx.services["events"].deliver()  # type: ignore[no-any-return]


async def deliver_notifications(ctx: JobContext) -> dict[str, Any]:
    """Hand new notifications to the plugins' channels (``deliver_notification``)."""
    return await ctx.services["notifications"].deliver()  # type: ignore[no-any-return]


@hookimpl
def register_jobs() -> list[JobSpec]:
    """Escalation of overdue cases and the retries of event and notification delivery."""
    return [
        JobSpec("escalate_overdue", escalate_overdue, "interval", {"minutes": 5}, "Escalate overdue cases", 120),
        JobSpec("deliver_events", deliver_events, "interval", {"minutes": 1}, "Retry on_event delivery", 60),
        JobSpec("deliver_notifications", deliver_notifications, "interval", {"seconds": 30},
                "Send notifications through plugin channels", 30),
    ]  # fmt: skip
