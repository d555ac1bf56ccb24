"""Recording sightings: idempotent by the sender's ``client_id``, each judged by the rules, each
violation put on the ladder and emitted as a core event (and so a case) in the same transaction.

The API, the camera hook (``on_event``) and the demo loader all come through :func:`record_sightings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import utcnow
from core.errors import InputError
from core.events import EmitResult, Event, EventBus
from plugins.street_vendors.ladder import rank_of, stage_for
from plugins.street_vendors.models import CATEGORIES, SOURCES, Sighting, Vendor, Violation
from plugins.street_vendors.rules import RuleBook


@dataclass(frozen=True)
class SightingInput:
    """A sighting to record; ``lon``/``lat`` already WGS84; ``grid_id`` None to locate it."""

    client_id: str
    observed_at: datetime
    lon: float
    lat: float
    source: str
    reported_by: str
    vendor_id: int | None = None
    category: str | None = None
    photo_url: str | None = None
    event_id: int | None = None
    grid_id: int | None = None
    case_id: int | None = None
    """The case the source event already became (a camera alert's): a violation joins it instead of
    opening a second case for the same sighting."""


@dataclass
class Recorded:
    """What became of one input: its sighting, its violation if any, and whether it was a replay."""

    sighting: Sighting
    violation: Violation | None
    replay: bool


@dataclass
class Outcome:
    """Everything :func:`record_sightings` did; ``emitted`` goes to ``EventBus.after_commit`` after commit."""

    recorded: list[Recorded] = field(default_factory=list)
    emitted: list[EmitResult] = field(default_factory=list)


def check(item: SightingInput, prefix: str = "") -> None:
    """Raise :class:`InputError` naming ``prefix`` + the field when ``item`` cannot be recorded."""
    if not item.client_id or len(item.client_id) > 100:
        raise InputError(f"{prefix}client_id", "expected 1 to 100 characters")
    if item.observed_at.tzinfo is None:
        raise InputError(f"{prefix}observed_at", "expected a time with its offset, e.g. 2026-11-29T19:30:00+08:00")
    if item.observed_at > utcnow() + timedelta(minutes=5):
        raise InputError(f"{prefix}observed_at", "is in the future")
    if not (-180 <= item.lon <= 180):
        raise InputError(f"{prefix}lon", "expected a WGS84 longitude in [-180, 180]")
    if not (-90 <= item.lat <= 90):
        raise InputError(f"{prefix}lat", "expected a WGS84 latitude in [-90, 90]")
    if item.source not in SOURCES:
        raise InputError(f"{prefix}source", f"expected one of {', '.join(SOURCES)}")
    if item.category is not None and item.category not in CATEGORIES:
        raise InputError(f"{prefix}category", f"expected one of {', '.join(CATEGORIES)}")


async def record_sightings(
    session: AsyncSession,
    bus: EventBus | None,
    items: Sequence[SightingInput],
    settings: Any,
    tz: ZoneInfo,
    prefixes: Sequence[str] | None = None,
) -> Outcome:
    """Record ``items`` in ``session``'s transaction, in order of observation; answer in input order.

    A ``client_id`` already stored (or earlier in ``items``) is a replay: its first sighting is
    answered and nothing is written. Every item is checked before anything is written (an
    :class:`InputError` names ``prefixes[i]`` + the field). Without ``bus`` (the demo loader)
    violations are recorded but not emitted.
    """
    prefixes = prefixes or [""] * len(items)
    for item, prefix in zip(items, prefixes, strict=True):
        check(item, prefix)
    wanted = {item.vendor_id for item in items if item.vendor_id is not None}
    vendors = {v.id: v for v in await session.scalars(select(Vendor).where(Vendor.id.in_(wanted)))} if wanted else {}
    for item, prefix in zip(items, prefixes, strict=True):
        if item.vendor_id is not None and item.vendor_id not in vendors:
            raise InputError(f"{prefix}vendor_id", f"no vendor with id {item.vendor_id}")
    if bus is not None:
        for item, prefix in zip(items, prefixes, strict=True):
            bus.validate(Event(type="street_vendors.educate", source="check", occurred_at=item.observed_at,
                               lon=item.lon, lat=item.lat), prefix)  # fmt: skip
    ids = list({item.client_id for item in items})
    stored = {s.client_id: s for s in await session.scalars(select(Sighting).where(Sighting.client_id.in_(ids)))}
    book = await RuleBook.load(session, tz, settings)
    await book.prime(session, vendors.values())
    outcome = Outcome()
    done: dict[str, Recorded] = {}
    order = sorted(range(len(items)), key=lambda i: items[i].observed_at)
    for index in order:
        item = items[index]
        if item.client_id in stored:
            earlier = stored[item.client_id]
            violation = await session.scalar(select(Violation).where(Violation.sighting_id == earlier.id))
            done.setdefault(item.client_id, Recorded(earlier, violation, replay=True))
            continue
        if item.client_id in done:
            continue
        recorded = await _record_one(session, bus, book, item, vendors.get(item.vendor_id or -1), settings, outcome)
        done[item.client_id] = recorded
    for item in items:
        first = done[item.client_id]
        fresh = not first.replay and first not in outcome.recorded
        outcome.recorded.append(first if fresh else Recorded(first.sighting, first.violation, replay=True))
    return outcome


async def _record_one(
    session: AsyncSession,
    bus: EventBus | None,
    book: RuleBook,
    item: SightingInput,
    vendor: Vendor | None,
    settings: Any,
    outcome: Outcome,
) -> Recorded:
    verdict = await book.evaluate(session, item.observed_at, item.lon, item.lat, vendor, item.category)
    grid_id = item.grid_id
    if grid_id is None and bus is not None and bus.locate_grid is not None:
        grid_id = bus.locate_grid(item.lon, item.lat)
    sighting = Sighting(
        client_id=item.client_id,
        observed_at=item.observed_at,
        lon=item.lon,
        lat=item.lat,
        grid_id=grid_id,
        source=item.source,
        vendor_id=item.vendor_id,
        category=item.category or (vendor.category if vendor else None),
        photo_url=item.photo_url,
        event_id=item.event_id,
        point_id=verdict.point.id if verdict.point else None,
        outcome=verdict.outcome,
        reported_by=item.reported_by,
    )
    session.add(sighting)
    await session.flush()
    if verdict.outcome == "allowed":
        return Recorded(sighting, None, replay=False)
    rank = await rank_of(session, vendor.id, item.observed_at, settings) if vendor else None
    stage = stage_for(rank, settings) if rank is not None else "unidentified"
    violation = Violation(
        sighting_id=sighting.id,
        vendor_id=sighting.vendor_id,
        observed_at=item.observed_at,
        grid_id=grid_id,
        outcome=verdict.outcome,
        stage=stage,
        rank=rank,
    )
    session.add(violation)
    await session.flush()
    if item.case_id is not None:
        violation.event_id, violation.case_id = item.event_id, item.case_id
    elif bus is not None:
        result = await bus.emit(
            session, violation_event(sighting, violation, verdict.point.code if verdict.point else None)
        )
        violation.event_id, violation.case_id = result.event_id, result.case_id
        outcome.emitted.append(result)
        await session.flush()
    return Recorded(sighting, violation, replay=False)


def violation_event(sighting: Sighting, violation: Violation, point_code: str | None) -> Event:
    """The core event of a violation: type ``street_vendors.<stage>``, one per sighting, no personal data."""
    return Event(
        type=f"street_vendors.{violation.stage}",
        source=f"street_vendors:{sighting.source}",
        occurred_at=sighting.observed_at,
        lon=sighting.lon,
        lat=sighting.lat,
        grid_id=sighting.grid_id,
        dedup_key=f"street_vendors:sighting:{sighting.id}",
        payload={
            "sighting_id": sighting.id,
            "violation_id": violation.id,
            "outcome": violation.outcome,
            "stage": violation.stage,
            "rank": violation.rank,
            "vendor_id": violation.vendor_id,
            "point": point_code,
            "category": sighting.category,
            "photo_url": sighting.photo_url,
        },
    )
