"""The at-least-once bookkeeping: attempts counted, done when it worked or the attempts are spent."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import select

from core.db import utcnow
from core.events import EventRecord
from core.retries import record_attempt
from tests.conftest import Platform


def _record(text: str) -> EventRecord:
    now = utcnow()
    return EventRecord(type="core.report", source="test", title=text, severity="low", occurred_at=now,
                       first_seen_at=now, last_seen_at=now, count=1, payload={}, dedup_key=text)  # fmt: skip


async def test_record_attempt_counts_and_gives_up_after_the_last_attempt(
    platform: Callable[..., AbstractAsyncContextManager[Platform]], backend: dict[str, Any]
) -> None:
    async with platform(plugins="none", **backend) as p:
        async with p.database.session() as session:
            failing, working = _record("failing"), _record("working")
            session.add_all([failing, working])
        args = ("hook_attempts", "hooks_done_at", 3)
        attempts = [await record_attempt(p.database, EventRecord, failing.id, False, *args) for _ in range(2)]
        async with p.database.session() as session:
            before_last = await session.scalar(select(EventRecord.hooks_done_at).where(EventRecord.id == failing.id))
        attempts.append(await record_attempt(p.database, EventRecord, failing.id, False, *args))
        worked = await record_attempt(p.database, EventRecord, working.id, True, *args)
        missing = await record_attempt(p.database, EventRecord, 10**9, False, *args)
        async with p.database.session() as session:
            rows = {e.id: (e.hook_attempts, e.hooks_done_at) for e in await session.scalars(select(EventRecord))}
    assert attempts == [False, False, True] and worked is False and missing is False
    assert before_last is None  # two failures of three: not done, to be retried
    assert rows[failing.id][0] == 3 and rows[failing.id][1] is not None  # the budget spent: done, given up
    assert rows[working.id][0] == 1 and abs(rows[working.id][1] - utcnow()).total_seconds() < 60
