"""Work for grid workers: the event types this plugin raises, and the events of the weekly lists and full bins.

Each event names the household's (or the bin's point's) grid, so the core routes it as a case to
that grid's worker (docs/cases.md). Payloads carry the QR code and address, never the contact.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.contracts import EventType
from core.events import EmitResult, Event, EventBus
from plugins.waste_sorting.metrics import low_accuracy, non_participating
from plugins.waste_sorting.models import Bin, CollectionPoint, Household

NON_PARTICIPATION = "waste_sorting.non_participation"
LOW_ACCURACY = "waste_sorting.low_accuracy"
BIN_FULL = "waste_sorting.bin_full"

EVENT_TYPES = [
    EventType(type=NON_PARTICIPATION, title="Household not sorting (未参与垃圾分类)", case_category="waste_sorting",
              severity="low", sla=timedelta(days=7), accept_sla=timedelta(days=1), dedup_window=timedelta(days=6)),
    EventType(type=LOW_ACCURACY, title="Household sorting badly (分类准确率低)", case_category="waste_sorting",
              severity="low", sla=timedelta(days=7), accept_sla=timedelta(days=1), dedup_window=timedelta(days=6)),
    EventType(type=BIN_FULL, title="Bin nearly full (垃圾桶满溢)", case_category="waste_sorting", severity="medium",
              sla=timedelta(hours=4), accept_sla=timedelta(minutes=30), dedup_window=timedelta(hours=6)),
]  # fmt: skip


def _household_payload(household: Household, **extra: Any) -> dict[str, Any]:
    return {
        "household_id": household.id,
        "qr_code": household.qr_code,
        "community": household.community,
        "address": "-".join(part for part in (household.building, household.unit, household.room) if part),
        **extra,
    }


async def emit_weekly_lists(
    session: AsyncSession,
    bus: EventBus,
    as_of: datetime,
    *,
    idle_days: int,
    accuracy_days: int,
    min_inspections: int,
    threshold: float,
) -> tuple[list[EmitResult], dict[str, int]]:
    """Emit one event per non-participating and per low-accuracy household (deduplicated per household and week)."""
    results: list[EmitResult] = []
    idle = list(await session.scalars(non_participating(as_of, idle_days)))
    for household in idle:
        results.append(
            await bus.emit(
                session,
                Event(type=NON_PARTICIPATION, source="waste_sorting:weekly_lists", occurred_at=as_of,
                      grid_id=household.grid_id, dedup_key=f"household:{household.id}",
                      title=f"{household.community} {household.qr_code}: no deposit in {idle_days} days",
                      payload=_household_payload(household, days=idle_days)),
            )
        )  # fmt: skip
    poor = await low_accuracy(session, as_of, accuracy_days, min_inspections, threshold)
    for item in poor:
        household = item["household"]
        results.append(
            await bus.emit(
                session,
                Event(type=LOW_ACCURACY, source="waste_sorting:weekly_lists", occurred_at=as_of,
                      grid_id=household.grid_id, dedup_key=f"household:{household.id}",
                      title=f"{household.community} {household.qr_code}: accuracy {item['accuracy_rate']:.0%}",
                      payload=_household_payload(household, inspected=item["inspected"], correct=item["correct"],
                                                 accuracy_rate=item["accuracy_rate"])),
            )
        )  # fmt: skip
    return results, {"non_participating": len(idle), "low_accuracy": len(poor)}


async def emit_bin_full(session: AsyncSession, bus: EventBus, bin_row: Bin, fill: float, at: datetime) -> EmitResult:
    """Emit the full-bin event of a reading at or above the threshold (merged per bin inside 6 hours)."""
    point = await session.get(CollectionPoint, bin_row.point_id)
    return await bus.emit(
        session,
        Event(type=BIN_FULL, source=f"bin:{bin_row.code}", occurred_at=at, dedup_key=f"bin:{bin_row.code}",
              lon=point.lon if point else None, lat=point.lat if point else None,
              grid_id=point.grid_id if point else None,
              title=f"{bin_row.code} ({bin_row.category}) {fill:.0f}% full",
              payload={"bin": bin_row.code, "category": bin_row.category, "fill_percent": fill,
                       "point": point.code if point else None}),
    )  # fmt: skip
