"""The outbox: everything pushed up to City Brain is written here, in the caller's transaction.

Write an item in the same session (and so the same transaction) as the data it describes::

    async with database.session() as session:
        session.add(stats_row)
        await enqueue_metric(session, "waste_sorting_daily", {"households": 812}, period="2026-11-28",
                             idempotency_key="waste_sorting:daily:2026-11-28")

Either both are stored or neither. :func:`deliver_due` (the ``citybrain:deliver_outbox`` job)
sends due items with their idempotency key, marks each delivered, and reschedules a failed one
with exponential backoff and jitter; an item City Brain refuses (a 4xx other than 429), or one
that failed ``citybrain_outbox_max_attempts`` times, becomes ``dead`` and waits for an operator.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.citybrain.client import CityBrainClient, CityBrainError
from core.citybrain.models import OutboxItem
from core.config import Settings
from core.db import Database, utcnow
from core.logs import get_logger

log = get_logger(__name__)

DELIVERY_ATTEMPTS_PER_ROUND = 2
"""Tries inside one delivery round; the outbox's own backoff spaces out the rounds."""


async def enqueue(
    session: AsyncSession, kind: str, path: str, payload: Mapping[str, Any], *, idempotency_key: str
) -> bool:
    """Add an item to push ``payload`` to ``path``, in ``session``'s transaction.

    Returns False (and writes nothing) when an item with this ``idempotency_key`` exists already.
    """
    if not idempotency_key or len(idempotency_key) > 200:
        raise ValueError("idempotency_key: expected 1..200 characters")
    now = utcnow()
    values = {
        "idempotency_key": idempotency_key,
        "kind": kind,
        "path": path,
        "payload": dict(payload),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    table = OutboxItem.__table__
    dialect = session.get_bind().dialect.name
    insert = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)  # type: ignore[arg-type]
    result = await session.execute(insert.values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"]))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def enqueue_event(
    session: AsyncSession, event_type: str, payload: Mapping[str, Any], *, idempotency_key: str
) -> bool:
    """Queue an event (``POST /v1/events``); ``event_type`` is ``<plugin>.<kind>``."""
    return await enqueue(
        session, "event", "/v1/events", {"type": event_type, **payload}, idempotency_key=idempotency_key
    )


async def enqueue_metric(
    session: AsyncSession, name: str, values: Mapping[str, Any], *, period: str, idempotency_key: str
) -> bool:
    """Queue a statistic (``POST /v1/metrics/<name>``) for ``period`` (e.g. the day ``2026-11-28``)."""
    if not name.replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"name: expected letters, digits, '_' and '.', got {name!r}")
    return await enqueue(
        session,
        "metric",
        f"/v1/metrics/{name}",
        {"period": period, "values": dict(values)},
        idempotency_key=idempotency_key,
    )


def backoff(settings: Settings, attempts: int) -> timedelta:
    """The wait before delivery attempt ``attempts + 1``: exponential with jitter, capped."""
    base = settings.citybrain_retry_initial_wait * 2 ** max(0, attempts - 1)
    wait = min(settings.citybrain_retry_max_wait, base) + random.uniform(0, settings.citybrain_retry_initial_wait)
    return timedelta(seconds=wait)


def stuck_condition(older_than: timedelta, now: datetime | None = None) -> ColumnElement[bool]:
    """Items that need a look: dead ones, and pending ones that failed and are older than ``older_than``."""
    cutoff = (now or utcnow()) - older_than
    return or_(
        OutboxItem.status == "dead",
        and_(OutboxItem.status == "pending", OutboxItem.attempts > 0, OutboxItem.created_at <= cutoff),
    )


@dataclass
class DeliveryResult:
    """What one delivery round did."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0
    stopped_early: bool = False

    def summary(self) -> dict[str, Any]:
        """The counts, for the job's run history."""
        return asdict(self)


async def _mark(database: Database, item_id: int, **values: Any) -> None:
    async with database.session() as session:
        await session.execute(update(OutboxItem).where(OutboxItem.id == item_id).values(**values))


async def deliver_due(database: Database, client: CityBrainClient, *, limit: int = 200) -> DeliveryResult:
    """Send the due pending items, oldest first; stop early when City Brain does not answer at all."""
    settings = client.settings
    result = DeliveryResult()
    async with database.session() as session:
        items = (
            await session.scalars(
                select(OutboxItem)
                .where(OutboxItem.status == "pending", OutboxItem.next_attempt_at <= utcnow())
                .order_by(OutboxItem.id)
                .limit(limit)
            )
        ).all()
    for item in items:
        try:
            await client.push(item.path, item.payload, item.idempotency_key, attempts=DELIVERY_ATTEMPTS_PER_ROUND)
        except CityBrainError as exc:
            attempts = item.attempts + 1
            dead = not exc.retryable or attempts >= settings.citybrain_outbox_max_attempts
            await _mark(
                database,
                item.id,
                attempts=attempts,
                status="dead" if dead else "pending",
                last_error=str(exc)[:2000],
                next_attempt_at=utcnow() + backoff(settings, attempts),
            )
            result.dead += dead
            result.failed += not dead
            log.warning(
                "citybrain_outbox_failed",
                item=item.id,
                key=item.idempotency_key,
                attempts=attempts,
                dead=dead,
                error=str(exc),
            )
            if exc.status is None:  # no answer at all: City Brain is down, try the rest next round
                result.stopped_early = True
                break
            continue
        await _mark(
            database, item.id, attempts=item.attempts + 1, status="delivered", delivered_at=utcnow(), last_error=None
        )
        result.delivered += 1
    if items:
        log.info("citybrain_outbox_round", **result.summary())
    return result


async def requeue(session: AsyncSession, item_id: int) -> OutboxItem | None:
    """Put a dead (or pending) item back in line for delivery now; None when there is no such item."""
    item = await session.get(OutboxItem, item_id)
    if item is None:
        return None
    if item.status != "delivered":
        item.status, item.next_attempt_at = "pending", utcnow()
    return item
