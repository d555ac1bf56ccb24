"""Events (事件): what plugins, devices, City Brain and citizens report.

An event has a registered type (``<plugin>.<kind>``), a source, a time, maybe a location (and so
a grid), a severity and a JSON payload. Inside its type's dedup window, an event with the same
dedup key merges into the first one (count, first and last seen) instead of making a new one.
Each *new* event is routed (it may become a case, :mod:`core.cases.routing`) in the same
transaction, and handed to the plugins' ``on_event`` hooks after it is stored; hook delivery is
retried by a job until every plugin took it without error, so an event is never lost.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, Integer, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.contracts import EventType
from core.db import Base, Database, utcnow
from core.errors import InputError
from core.logs import get_logger
from core.plugins import PluginManager
from core.retries import record_attempt

log = get_logger(__name__)

SEVERITIES = ("low", "medium", "high", "critical")
RETRY_AFTER = timedelta(minutes=1)
MAX_HOOK_ATTEMPTS = 10

CORE_EVENT_TYPES: tuple[EventType, ...] = (
    EventType(
        type="core.report",
        title="Report by staff or a citizen (上报)",
        case_category="general",
        severity="medium",
        sla=timedelta(hours=24),
        dedup_window=timedelta(minutes=10),
    ),
)


class EventRecord(Base):
    """A stored event (after dedup: one row per distinct occurrence, with a count)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    source: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(300))
    severity: Mapped[str] = mapped_column(String(10))
    occurred_at: Mapped[datetime]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer, default=1)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    grid_id: Mapped[int | None] = mapped_column(index=True)
    payload: Mapped[dict[str, Any]]
    dedup_key: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[int | None] = mapped_column(index=True)
    hooks_done_at: Mapped[datetime | None] = mapped_column(index=True)
    hook_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = ({"comment": "events after dedup; hooks_done_at is set once every on_event hook took it"},)


@dataclass(frozen=True)
class Event:
    """An event as reported, and as plugins receive it in ``on_event`` (then with ``id`` and ``grid_id``)."""

    type: str
    source: str
    payload: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime = field(default_factory=utcnow)
    lon: float | None = None
    lat: float | None = None
    severity: str | None = None
    title: str | None = None
    dedup_key: str | None = None
    grid_id: int | None = None
    id: int | None = None


@dataclass(frozen=True)
class EmitResult:
    """What became of an emitted event: a new event (maybe with a case) or a merge into an earlier one."""

    event_id: int
    merged: bool
    count: int
    case_id: int | None


def default_dedup_key(event: Event) -> str:
    """Without a key from the sender: the source and the place (about 11 m), or the source alone."""
    place = f"{event.lon:.4f},{event.lat:.4f}" if event.lon is not None and event.lat is not None else "-"
    return hashlib.sha256(f"{event.source}|{place}".encode()).hexdigest()[:40]


GridLocator = Callable[[float, float], int | None]
CaseRouter = Callable[[AsyncSession, EventRecord, EventType], Awaitable[int | None]]


class EventBus:
    """Registered event types, ``emit`` (store with dedup, route to a case) and ``on_event`` delivery."""

    def __init__(
        self,
        database: Database,
        plugins: PluginManager,
        types: Iterable[EventType],
        locate_grid: GridLocator | None = None,
        route_case: CaseRouter | None = None,
    ) -> None:
        """Build a bus over the given types; ``locate_grid`` finds a point's grid, ``route_case`` makes cases."""
        self.database = database
        self.plugins = plugins
        self.types: dict[str, EventType] = {t.type: t for t in types}
        self.locate_grid = locate_grid
        self.route_case = route_case
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending: set[asyncio.Task[Any]] = set()

    @classmethod
    def collect_types(cls, plugins: PluginManager) -> list[EventType]:
        """The core's event types and those of every loaded plugin."""
        return [*CORE_EVENT_TYPES, *(t for record in plugins.ok_plugins() for t in record.event_types)]

    def type_of(self, name: str, field_name: str = "type") -> EventType:
        """The registered type ``name``; :class:`InputError` naming ``field_name`` otherwise."""
        try:
            return self.types[name]
        except KeyError:
            raise InputError(field_name, f"unknown event type {name!r}; GET /api/v1/events/types lists them") from None

    def _validated(self, event: Event, prefix: str) -> tuple[Event, EventType]:
        event_type = self.type_of(event.type, f"{prefix}type")
        if event.severity is not None and event.severity not in SEVERITIES:
            raise InputError(f"{prefix}severity", f"expected one of {', '.join(SEVERITIES)}")
        if (event.lon is None) != (event.lat is None):
            raise InputError(
                f"{prefix}lat" if event.lat is None else f"{prefix}lon", "give both lon and lat, or neither"
            )
        if event.lon is not None and not (-180 <= event.lon <= 180 and -90 <= event.lat <= 90):  # type: ignore[operator]
            raise InputError(f"{prefix}lon", "expected WGS84 lon in [-180, 180] and lat in [-90, 90]")
        if event.occurred_at.tzinfo is None:
            raise InputError(f"{prefix}occurred_at", "expected a time with its offset, e.g. 2026-11-29T08:00:00+08:00")
        if event.occurred_at > utcnow() + timedelta(minutes=5):
            raise InputError(f"{prefix}occurred_at", "is in the future")
        grid_id = event.grid_id
        if grid_id is None and event.lon is not None and self.locate_grid is not None:
            grid_id = self.locate_grid(event.lon, event.lat)  # type: ignore[arg-type]
        return replace(event, grid_id=grid_id, dedup_key=event.dedup_key or default_dedup_key(event)), event_type

    def validate(self, event: Event, prefix: str = "") -> None:
        """Raise :class:`InputError` (naming ``prefix`` + the field) when ``event`` cannot be stored."""
        self._validated(event, prefix)

    async def emit(self, session: AsyncSession, event: Event, prefix: str = "") -> EmitResult:
        """Store ``event`` in ``session``'s transaction, merging a duplicate; route a new one to a case.

        The ``on_event`` hooks run after the caller commits: call :meth:`after_commit` then (the API
        and :meth:`emit_now` do), and the retry job picks up anything a crash left undelivered.
        """
        event, event_type = self._validated(event, prefix)
        assert event.dedup_key is not None
        lock = self._locks.setdefault(f"{event.type}|{event.dedup_key}", asyncio.Lock())
        async with lock:
            if session.bind.dialect.name == "postgresql":
                await session.execute(select(_advisory_lock(f"{event.type}|{event.dedup_key}")))
            window_start = event.occurred_at - event_type.dedup_window
            earlier = await session.scalar(
                select(EventRecord)
                .where(EventRecord.type == event.type, EventRecord.dedup_key == event.dedup_key)
                .where(
                    EventRecord.last_seen_at >= window_start,
                    EventRecord.first_seen_at <= event.occurred_at + event_type.dedup_window,
                )
                .order_by(EventRecord.id.desc())
                .limit(1)
            )
            if earlier is not None:
                earlier.count += 1
                earlier.last_seen_at = max(earlier.last_seen_at, event.occurred_at)
                earlier.first_seen_at = min(earlier.first_seen_at, event.occurred_at)
                await session.flush()
                return EmitResult(earlier.id, merged=True, count=earlier.count, case_id=earlier.case_id)
            record = EventRecord(
                type=event.type,
                source=event.source,
                title=event.title or event_type.title,
                severity=event.severity or event_type.severity,
                occurred_at=event.occurred_at,
                first_seen_at=event.occurred_at,
                last_seen_at=event.occurred_at,
                count=1,
                lon=event.lon,
                lat=event.lat,
                grid_id=event.grid_id,
                payload=dict(event.payload),
                dedup_key=event.dedup_key,
            )
            session.add(record)
            await session.flush()
            if self.route_case is not None and event_type.creates_case:
                record.case_id = await self.route_case(session, record, event_type)
                await session.flush()
            return EmitResult(record.id, merged=False, count=1, case_id=record.case_id)

    async def emit_now(self, event: Event) -> EmitResult:
        """Emit in a transaction of its own and deliver the hooks: the plugins' in-process API."""
        async with self.database.session() as session:
            result = await self.emit(session, event)
        self.after_commit([result])
        return result

    def after_commit(self, results: Iterable[EmitResult]) -> None:
        """Deliver the new events of ``results`` to ``on_event`` in the background."""
        new = [r.event_id for r in results if not r.merged]
        if new:
            task = asyncio.get_running_loop().create_task(self._deliver_in_background(new))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _deliver_in_background(self, event_ids: list[int]) -> None:
        try:
            await self.deliver(event_ids)
        except Exception as exc:  # the events stay undelivered in the table: the retry job hands them over
            log.warning("event_delivery_deferred", event_ids=event_ids[:20], count=len(event_ids), error=str(exc))

    async def drain(self) -> None:
        """Wait for background deliveries (at shutdown, and in tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def deliver(self, event_ids: Iterable[int] | None = None) -> dict[str, int]:
        """Hand undelivered events to every plugin's ``on_event``; an event is done when no hook raised.

        Without ``event_ids``, every event not done yet (the retry job). Returns counts.
        """
        async with self.database.session() as session:
            query = select(EventRecord).where(EventRecord.hooks_done_at.is_(None)).order_by(EventRecord.id).limit(500)
            if event_ids is not None:
                query = query.where(EventRecord.id.in_(list(event_ids)))
            else:  # leave the ones a request is delivering right now to it
                query = query.where(EventRecord.created_at < utcnow() - RETRY_AFTER)
            records = list(await session.scalars(query))
        done = failed = 0
        for record in records:
            event = Event(
                type=record.type, source=record.source, payload=record.payload, occurred_at=record.occurred_at,
                lon=record.lon, lat=record.lat, severity=record.severity, title=record.title,
                dedup_key=record.dedup_key, grid_id=record.grid_id, id=record.id,
            )  # fmt: skip
            took = await self.plugins.acall_checked("on_event", event=event, database=self.database, events=self)
            if await record_attempt(
                self.database, EventRecord, record.id, took, "hook_attempts", "hooks_done_at", MAX_HOOK_ATTEMPTS
            ):
                log.error("event_hooks_given_up", event_id=record.id, attempts=MAX_HOOK_ATTEMPTS)
            done, failed = done + took, failed + (not took)
        return {"delivered": done, "failed": failed}


def _advisory_lock(key: str) -> Any:
    """PostgreSQL: serialise the dedup of one (type, key) across processes until the transaction ends."""
    return func.pg_advisory_xact_lock(func.hashtext(key))
