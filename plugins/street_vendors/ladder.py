"""The repeat-offender ladder (教育 → 警告 → 处罚) and the event types a violation becomes.

An identified vendor's n-th violation within ``ladder_window_days`` (30; the boundary included,
the violation itself counted) is educate for n below ``warn_from`` (2), warn below
``penalise_from`` (3), and penalise from there on. A violation by nobody known is ``unidentified``.
Each stage is its own event type, so each violation becomes a case for the grid worker; the higher
the stage, the higher the case's severity and the shorter its SLA.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.contracts import EventType
from plugins.street_vendors.models import Violation

CASE_CATEGORY = "street_vendor"

EVENT_TYPES: tuple[EventType, ...] = (
    EventType("street_vendors.educate", "流动摊贩: 教育 (first violation)", CASE_CATEGORY, "low", timedelta(hours=24)),
    EventType("street_vendors.warn", "流动摊贩: 警告 (repeat violation)", CASE_CATEGORY, "medium", timedelta(hours=12)),
    EventType("street_vendors.penalise", "流动摊贩: 处罚 (repeat offender)", CASE_CATEGORY, "high", timedelta(hours=4)),
    EventType("street_vendors.unidentified", "流动摊贩: 身份不明", CASE_CATEGORY, "medium", timedelta(hours=12)),
    EventType(
        "street_vendors.permit_expiring",
        "Vending permit expires soon (许可即将到期)",
        CASE_CATEGORY,
        "low",
        dedup_window=timedelta(days=1),
        creates_case=False,
    ),
)


def stage_for(rank: int, settings: Any) -> str:
    """The ladder stage of a vendor's ``rank``-th violation in the window."""
    if rank >= settings.penalise_from:
        return "penalise"
    if rank >= settings.warn_from:
        return "warn"
    return "educate"


async def rank_of(session: AsyncSession, vendor_id: int, observed_at: datetime, settings: Any) -> int:
    """Which violation of the vendor within the window ending at ``observed_at`` this one is (1 = first)."""
    since = observed_at - timedelta(days=settings.ladder_window_days)
    earlier = await session.scalar(
        select(func.count())
        .select_from(Violation)
        .where(Violation.vendor_id == vendor_id, Violation.observed_at >= since, Violation.observed_at <= observed_at)
    )
    return int(earlier or 0) + 1
