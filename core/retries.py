"""Bookkeeping of at-least-once hand-overs (events to ``on_event``, notifications to channels)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, literal, update

from core.db import Database, utcnow


async def record_attempt(
    database: Database, model: type[Any], row_id: int, ok: bool, attempts: str, done_at: str, max_attempts: int
) -> bool:
    """Count one hand-over attempt of row ``row_id``; mark it done when it worked or ``max_attempts`` are spent.

    ``attempts`` and ``done_at`` name the row's counter and done-time columns. Returns True when the
    row was given up on (done without success). One UPDATE, not a read then a write: on SQLite a
    transaction that read first cannot take the write lock once another connection wrote meanwhile
    ("database is locked" at once, whatever the busy timeout).
    """
    counter, finished = getattr(model, attempts), getattr(model, done_at)
    spent = counter + 1 >= max_attempts
    statement = (
        update(model)
        .where(model.id == row_id)
        .values(
            {
                counter: counter + 1,
                finished: case((literal(ok) | spent, literal(utcnow(), finished.type)), else_=finished),
            }
        )
        .returning(counter)
        .execution_options(synchronize_session=False)
    )
    async with database.session() as session:
        tried = (await session.execute(statement)).scalar_one_or_none()
    return tried is not None and not ok and tried >= max_attempts
