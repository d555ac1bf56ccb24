"""Leader election through a lease row, so that one process runs the scheduled jobs.

APScheduler 3 must never share a job store between schedulers; instead every process that may
schedule keeps its own in-memory scheduler, paused, and contends for the lease. The holder
renews it every third of its lifetime; when the holder dies, another process takes the lease
once it has expired, within one lease period. The database's row lock decides races.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from core.db import Database, utcnow
from core.logs import get_logger
from core.models import SchedulerLease

log = get_logger(__name__)

LEASE_NAME = "scheduler"


def process_identity() -> str:
    """``host:pid:random`` naming this process as a lease holder and job runner."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def try_acquire(database: Database, holder: str, ttl: timedelta, name: str = LEASE_NAME) -> bool:
    """Take or renew the lease for ``ttl``; True when ``holder`` holds it afterwards."""
    now = utcnow()
    async with database.session() as session:
        result = await session.execute(
            update(SchedulerLease)
            .where(SchedulerLease.name == name)
            .where((SchedulerLease.holder == holder) | (SchedulerLease.expires_at < now))
            .values(holder=holder, expires_at=now + ttl)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            return True
        if await session.scalar(select(SchedulerLease.name).where(SchedulerLease.name == name)) is not None:
            return False
    try:
        async with database.session() as session:
            await session.execute(
                insert(SchedulerLease).values(name=name, holder=holder, expires_at=now + ttl, acquired_at=now)
            )
        return True
    except IntegrityError:  # another process inserted it first
        return False


async def release(database: Database, holder: str, name: str = LEASE_NAME) -> None:
    """Give the lease up at once (on a clean shutdown), so a standby need not wait for it to expire."""
    async with database.session() as session:
        await session.execute(
            update(SchedulerLease)
            .where(SchedulerLease.name == name, SchedulerLease.holder == holder)
            .values(expires_at=utcnow() - timedelta(seconds=1))
            .execution_options(synchronize_session=False)
        )


class LeaderElector:
    """Keeps trying for the lease and calls ``on_elected`` / ``on_deposed`` as leadership changes."""

    def __init__(
        self,
        database: Database,
        ttl: timedelta,
        on_elected: Callable[[], Awaitable[None] | None],
        on_deposed: Callable[[], Awaitable[None] | None],
        holder: str | None = None,
    ) -> None:
        """Prepare an elector; :meth:`start` runs it in the background."""
        self.database = database
        self.ttl = ttl
        self.holder = holder or process_identity()
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.is_leader = False
        self._task: asyncio.Task[None] | None = None

    async def _set(self, leader: bool) -> None:
        if leader == self.is_leader:
            return
        self.is_leader = leader
        log.info("scheduler_leadership", holder=self.holder, leader=leader)
        outcome = (self.on_elected if leader else self.on_deposed)()
        if outcome is not None:
            await outcome

    async def step(self) -> bool:
        """One attempt to take or renew the lease; a database error counts as losing it."""
        try:
            held = await try_acquire(self.database, self.holder, self.ttl)
        except Exception as exc:
            log.warning("lease_error", holder=self.holder, error=f"{type(exc).__name__}: {exc}")
            held = False
        await self._set(held)
        return held

    async def _loop(self) -> None:
        interval = self.ttl.total_seconds() / 3
        while True:
            await self.step()
            await asyncio.sleep(interval)

    def start(self) -> None:
        """Contend for the lease in the background."""
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="scheduler-lease")

    async def stop(self) -> None:
        """Stop contending and release the lease if held."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.is_leader:
            await self._set(False)
            try:
                await release(self.database, self.holder)
            except Exception as exc:
                log.warning("lease_release_failed", holder=self.holder, error=str(exc))
