"""Bookkeeping of at-least-once hand-overs (events to ``on_event``, notifications to channels)."""

from __future__ import annotations

from typing import Any

from core.db import Database, utcnow


async def record_attempt(
    database: Database, model: type[Any], row_id: int, ok: bool, attempts: str, done_at: str, max_attempts: int
) -> bool:
    """Count one hand-over attempt of row ``row_id``; mark it done when it worked or ``max_attempts`` are spent.

    ``attempts`` and ``done_at`` name the row's counter and done-time columns. Returns True when the
    row was given up on (done without success).
    """
    async with database.session() as session:
        row = await session.get(model, row_id)
        if row is None:
            return False
        setattr(row, attempts, getattr(row, attempts) + 1)
        if ok or getattr(row, attempts) >= max_attempts:
            setattr(row, done_at, utcnow())
            return not ok
    return False
