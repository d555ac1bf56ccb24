"""Group commit of alerts: one writer task per process stores the alerts of every request waiting
at that moment in one transaction, then answers each request.

Concurrent requests thus share the queries and the commit (a burst of single-alert POSTs costs about
what one batch does), nothing is acknowledged before it is committed, and the writer being alone
in the process serialises dedup without locks (PostgreSQL advisory locks still order writers of
several processes, see :func:`plugins.video_net.dedup.dedup_locks`). A request whose alerts are bad
(an unknown camera, type or snapshot) fails alone; if the group's transaction fails, each request
of it is retried in a transaction of its own, so one cannot sink the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import OperationalError

from core.db import Database, utcnow
from core.errors import InputError
from core.events import EmitResult, EventBus
from core.logs import get_logger
from core.security.audit import AuditContext, audit_context
from plugins.video_net.alert_types import AlertType
from plugins.video_net.dedup import (
    AlertIn,
    AlertOutcome,
    dedup_locks,
    ingest,
    known_snapshots,
    read_group,
    validate,
)

log = get_logger(__name__)

MAX_GROUP = 5000
"""Alerts written in one transaction at most."""


@dataclass
class _Pending:
    items: Sequence[AlertIn]
    prefix: Callable[[int], str]
    future: asyncio.Future[list[AlertOutcome]] = field(repr=False)
    audit: AuditContext | None = None
    """Who sent these alerts: the incidents they open are audited as theirs, not as the writer's."""


class AlertWriter:
    """The process's alert writer: :meth:`submit` waits until the alerts are committed."""

    def __init__(self, database: Database, bus: EventBus, types: Mapping[str, AlertType], push: bool) -> None:
        """A writer over ``database``; new incidents emit on ``bus``; ``push`` queues them for City Brain."""
        self.database, self.bus, self.types, self.push = database, bus, types, push
        self.queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def submit(self, items: Sequence[AlertIn], prefix: Callable[[int], str]) -> list[AlertOutcome]:
        """Store ``items`` with dedup (together with other requests' alerts) and return their outcomes."""
        if self.task is None or self.task.done():  # in a context of its own, not the first caller's
            self.task = asyncio.get_running_loop().create_task(
                self._run(), name="video_net alert writer", context=contextvars.Context()
            )
        future: asyncio.Future[list[AlertOutcome]] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Pending(items, prefix, future, audit_context.get()))
        return await future

    async def close(self) -> None:
        """Stop the writer task (at shutdown)."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        while True:
            group = [await self.queue.get()]
            size = len(group[0].items)
            while size < MAX_GROUP and not self.queue.empty():
                pending = self.queue.get_nowait()
                group.append(pending)
                size += len(pending.items)
            try:
                await self._write_retrying(group)
            except Exception as exc:  # a bug must not stop the writer: fail the requests, keep serving
                log.exception("video_net_writer_failed")
                for pending in group:
                    if not pending.future.done():
                        pending.future.set_exception(exc)

    async def _write_retrying(self, group: list[_Pending]) -> None:
        """Write the group; a SQLite write lock held too long by another writer of the process (event
        delivery, a job) rolls the group back and it is tried again, up to three times."""
        for attempt in range(3):
            try:
                await self._write(group, last_try=attempt == 2)
                return
            except OperationalError:
                group = [pending for pending in group if not pending.future.done()]
                await asyncio.sleep(0.05 * (attempt + 1))

    async def _write(self, group: list[_Pending], last_try: bool = True) -> None:
        emitted: list[EmitResult] = []
        answers: list[tuple[_Pending, list[AlertOutcome]]] = []
        try:
            keys = {(item.camera, item.type) for pending in group for item in pending.items}
            async with self.database.session() as session, dedup_locks(session, keys):
                # one read for the whole group (on SQLite one hop to the database thread), before validation
                reads = await read_group(session, [item for p in group for item in p.items], self.types)
                cameras = reads.cameras
                now = utcnow()
                good: list[_Pending] = []
                for pending in group:
                    try:
                        validate(pending.items, self.types, cameras, pending.prefix, now)
                        await known_snapshots(session, pending.items, pending.prefix)
                        good.append(pending)
                    except InputError as exc:
                        pending.future.set_exception(exc)
                if good:
                    items = [item for pending in good for item in pending.items]
                    senders = [pending.audit for pending in good for _ in pending.items]
                    result = await ingest(
                        session, self.bus, self.types, items, cameras, push=self.push, senders=senders, reads=reads
                    )
                    emitted = result.emitted
                    start = 0
                    for pending in good:
                        answers.append((pending, result.outcomes[start : start + len(pending.items)]))
                        start += len(pending.items)
        except OperationalError as exc:
            if not last_try:
                raise
            for pending in group:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        except Exception as exc:
            waiting = [pending for pending in group if not pending.future.done()]
            if len(waiting) <= 1:
                for pending in waiting:
                    pending.future.set_exception(exc)
                return
            for pending in waiting:  # one request's trouble must not fail the others
                await self._write([pending])
            return
        self.bus.after_commit(emitted)
        for pending, outcomes in answers:
            if not pending.future.done():
                pending.future.set_result(outcomes)


def writer_of(state: Any, types: Mapping[str, AlertType], push: bool) -> AlertWriter:
    """The app's alert writer, made on first use (``state.video_net_writer``)."""
    writer = state.get("video_net_writer")
    if writer is None:
        writer = AlertWriter(state.database, state.events, types, push)
        state.video_net_writer = writer
    return writer  # type: ignore[no-any-return]
