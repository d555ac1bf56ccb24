"""Alert ingestion and dedup into incidents, in the manner of Frigate's review items.

An alert of a camera and type merges into that camera's open incident of the type when it comes
within the type's cooldown of the incident (its last alert minus the cooldown up to its first alert
plus the cooldown; the boundary counts as inside): the incident's count and last-seen time grow,
and its snapshot becomes the alert's when the alert's confidence is the best so far. Otherwise the
alert opens a new incident, which emits exactly one core event (``video_net.<type>``, and so at
most one case) and is queued for City Brain. Alerts below the type's confidence threshold, inside a
suppression window, or of a disabled camera are stored with that outcome and make no incident.

Alerts are idempotent by (camera, the sender's alert id): a replay stores nothing and gets the
outcome of the first. Concurrent requests for the same camera and type are serialised by a lock
held until the caller commits (an asyncio lock in the process, plus an advisory lock on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import TextualSelect

from core.citybrain.outbox import enqueue_event
from core.db import utcnow
from core.errors import InputError
from core.events import EmitResult, Event, EventBus
from core.keylists import KeyList
from core.security.audit import AuditContext, audit_context
from plugins.video_net import onehop
from plugins.video_net.alert_types import AlertType
from plugins.video_net.models import Alert, Camera, Incident, Snapshot, Suppression

FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class AlertIn:
    """One alert as the sender reported it (``prefix`` names it in error messages, e.g. ``[3].``)."""

    camera: str
    alert_id: str
    type: str
    confidence: float
    occurred_at: datetime
    snapshot: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertOutcome:
    """What became of one alert."""

    alert_id: str
    outcome: str
    incident_id: int | None
    replay: bool
    case_id: int | None = None


@dataclass
class IngestResult:
    """The outcomes in input order, and the core events emitted (to deliver after the commit)."""

    outcomes: list[AlertOutcome]
    emitted: list[EmitResult]


_locks: dict[tuple[str, str], asyncio.Lock] = {}
_sqlite_writer = asyncio.Lock()
"""SQLite has one writer at a time: queueing this process's alert writers here, instead of in SQLite's
busy handler (which sleeps up to 100 ms between tries), keeps the throughput of a burst."""


_INCIDENTS, _ALERTS = cast(Table, Incident.__table__), cast(Table, Alert.__table__)
_CAMERAS, _SUPPRESSION_TABLE = cast(Table, Camera.__table__), cast(Table, Suppression.__table__)
_CODES = KeyList("k", {"code": "text"})
_PAIRS = KeyList("k", {"camera_id": "bigint", "alert_id": "text"})
_KINDS = KeyList("k", {"camera_id": "bigint", "alert_type": "text"})


@functools.cache
def _statement(dialect: str, name: str) -> TextualSelect:
    """The lookups of a group of alerts, each a join of a key list to an index (constant SQL)."""
    if name == "cameras":
        names: tuple[str, ...] = ("id", "code", "name", "owner", "lon", "lat", "grid_id", "enabled")
        sql = f"SELECT {', '.join('c.' + n for n in names)} FROM {_CODES.source(dialect)}"
        sql += f" JOIN {_CAMERAS.name} AS c ON c.code = k.code"
        return text(sql).columns(*(_CAMERAS.c[n] for n in names))
    if name == "earlier":
        names = ("camera_id", "alert_id", "outcome", "incident_id")
        sql = f"SELECT {', '.join('a.' + n for n in names)} FROM {_PAIRS.source(dialect)}"
        sql += f" JOIN {_ALERTS.name} AS a ON a.camera_id = k.camera_id AND a.alert_id = k.alert_id"
        return text(sql).columns(*(_ALERTS.c[n] for n in names))
    names = ("camera_id", "alert_type", "id", "first_seen_at", "last_seen_at", "alert_count", "best_confidence",
             "best_snapshot")  # fmt: skip
    sql = f"SELECT {', '.join('i.' + n for n in names)} FROM {_KINDS.source(dialect)}"
    sql += f" JOIN {_INCIDENTS.name} AS i ON i.camera_id = k.camera_id AND i.alert_type = k.alert_type"
    sql += " AND i.status = 'open' AND i.last_seen_at >= :since ORDER BY i.last_seen_at, i.id"
    since = bindparam("since", type_=_INCIDENTS.c.last_seen_at.type)
    return text(sql).bindparams(since).columns(*(_INCIDENTS.c[n] for n in names))


_RULE_COLUMNS = ("camera_id", "alert_type", "starts_at", "ends_at")
_SUPPRESSIONS = select(*(_SUPPRESSION_TABLE.c[n] for n in _RULE_COLUMNS)).where(
    _SUPPRESSION_TABLE.c.starts_at <= bindparam("end"), _SUPPRESSION_TABLE.c.ends_at > bindparam("start")
)


def _lock_number(camera: str, alert_type: str) -> int:
    digest = hashlib.sha256(f"video_net|{camera}|{alert_type}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@asynccontextmanager
async def dedup_locks(session: AsyncSession, keys: Iterable[tuple[str, str]]) -> AsyncIterator[None]:
    """Hold the locks of these (camera code, type) pairs, in a fixed order, until the block ends.

    Take them before the session's first query (a request waiting for a lock then holds no pooled
    connection) and commit inside the block. On PostgreSQL a transaction-level advisory lock also
    serialises other processes (it is released by that commit).
    """
    ordered = sorted(set(keys))
    taken: list[asyncio.Lock] = []
    try:
        for key in ordered:
            lock = _locks.setdefault(key, asyncio.Lock())
            await lock.acquire()
            taken.append(lock)
        if session.bind.dialect.name == "sqlite":
            await _sqlite_writer.acquire()
            taken.append(_sqlite_writer)
        elif session.bind.dialect.name == "postgresql" and ordered:  # all in one statement, in a fixed order
            numbers = sorted({_lock_number(camera, alert_type) for camera, alert_type in ordered})
            await session.execute(
                text(
                    "SELECT count(pg_advisory_xact_lock(k))"
                    " FROM (SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) AS ordered"
                ),
                {"keys": numbers},
            )
        yield
    finally:
        for lock in reversed(taken):
            lock.release()


async def cameras_by_code(session: AsyncSession, codes: Iterable[str]) -> dict[str, Camera]:
    """The registered cameras among ``codes`` (ORM objects, to change them)."""
    wanted = sorted(set(codes))
    rows = await session.scalars(select(Camera).where(Camera.code.in_(wanted)))
    return {camera.code: camera for camera in rows}


@dataclass(frozen=True)
class CameraRef:
    """What alert ingestion needs of a camera: read as plain columns, without an ORM object (whose
    stream URL would be decrypted on load)."""

    id: int
    code: str
    name: str
    owner: str
    lon: float
    lat: float
    grid_id: int | None
    enabled: bool


async def camera_refs(session: AsyncSession, codes: Iterable[str]) -> dict[str, CameraRef]:
    """The registered cameras among ``codes``, for :func:`validate` and :func:`ingest`."""
    connection = await session.connection()
    dialect = connection.dialect.name
    rows = await connection.execute(_statement(dialect, "cameras"), _CODES.parameters(dialect, sorted(set(codes))))
    return {row.code: CameraRef(*row) for row in rows}


def validate(
    items: Sequence[AlertIn],
    types: Mapping[str, AlertType],
    cameras: Mapping[str, CameraRef],
    prefix: Any,
    now: datetime,
) -> None:
    """:class:`InputError` naming the first bad field (``[i].field`` in a batch)."""
    for index, item in enumerate(items):
        where = prefix(index)
        if item.type not in types:
            raise InputError(f"{where}type", f"unknown alert type {item.type!r}; known: {', '.join(sorted(types))}")
        if item.camera not in cameras:
            raise InputError(f"{where}camera", f"no camera with code {item.camera}")
        if item.occurred_at.tzinfo is None:
            raise InputError(f"{where}occurred_at", "expected a time with its offset, e.g. 2026-11-29T08:00:00+08:00")
        if item.occurred_at > now + FUTURE_TOLERANCE:
            raise InputError(f"{where}occurred_at", "is in the future")


async def known_snapshots(session: AsyncSession, items: Sequence[AlertIn], prefix: Any) -> None:
    """:class:`InputError` naming the first alert whose ``snapshot`` was never uploaded."""
    wanted = {item.snapshot for item in items if item.snapshot}
    if not wanted:
        return
    found = set(await session.scalars(select(Snapshot.sha256).where(Snapshot.sha256.in_(sorted(wanted)))))
    for index, item in enumerate(items):
        if item.snapshot and item.snapshot not in found:
            raise InputError(f"{prefix(index)}snapshot", "no snapshot with this SHA-256; upload it to /snapshots first")


@dataclass(frozen=True)
class _Rule:
    """A suppression window, as :func:`_suppressed` needs it."""

    camera_id: int | None
    alert_type: str | None
    starts_at: datetime
    ends_at: datetime


def _suppressed(rules: Sequence[_Rule], camera_id: int, alert_type: str, at: datetime) -> bool:
    return any(
        (rule.camera_id is None or rule.camera_id == camera_id)
        and (rule.alert_type is None or rule.alert_type == alert_type)
        and rule.starts_at <= at < rule.ends_at
        for rule in rules
    )


@dataclass
class _OpenIncident:
    """The dedup state of an open incident; merges change it, and :func:`ingest` writes the changed ones
    back in one statement (these columns are ``Incident.__audit_ignore__``, so no audit entry is lost)."""

    id: int
    first_seen_at: datetime
    last_seen_at: datetime
    alert_count: int
    best_confidence: float
    best_snapshot: str | None
    changed: bool = False


@dataclass
class GroupReads:
    """What dedup reads before it decides: read for a whole group of alerts at once (:func:`read_group`)."""

    cameras: dict[str, CameraRef]
    earlier: dict[tuple[int, str], tuple[str, int | None]]
    """(outcome, incident id) of the alerts stored before, by (camera id, sender's id)."""
    rules: list[_Rule]
    """The suppression windows overlapping the alerts' times."""
    open_incidents: dict[tuple[int, str], _OpenIncident]
    """The latest open incident of each (camera id, type) that an alert may merge into."""


@dataclass(frozen=True)
class _Wanted:
    """The keys a group's reads look up, from its alerts that can be stored (known type and camera, aware time)."""

    pairs: list[tuple[int, str]]
    kinds: list[tuple[int, str]]
    since: datetime
    start: datetime
    end: datetime


def _wanted(
    items: Sequence[AlertIn], types: Mapping[str, AlertType], cameras: Mapping[str, CameraRef]
) -> _Wanted | None:
    usable = [i for i in items if i.type in types and i.camera in cameras and i.occurred_at.tzinfo is not None]
    if not usable:
        return None
    times = [item.occurred_at for item in usable]
    longest = max(types[item.type].cooldown for item in usable)
    return _Wanted(
        pairs=sorted({(cameras[i.camera].id, i.alert_id) for i in usable}),
        kinds=sorted({(cameras[i.camera].id, i.type) for i in usable}),
        since=min(times) - longest,
        start=min(times),
        end=max(times),
    )


async def read_group(
    session: AsyncSession,
    items: Sequence[AlertIn],
    types: Mapping[str, AlertType],
    cameras: Mapping[str, CameraRef] | None = None,
) -> GroupReads:
    """Everything :func:`ingest` reads for ``items`` (and :func:`validate` for their cameras, unless
    ``cameras`` are given): on SQLite in one hop to the database thread, elsewhere statement by statement.

    Reading for alerts that then fail validation only widens the lookups: the outcome of the others
    is the same (an open incident found only thanks to an earlier alert's cooldown is outside every
    remaining alert's cooldown).
    """
    driver = await onehop.driver_of(session)
    connection = await session.connection()
    dialect = connection.dialect
    if driver is not None:
        prepared = _prepared(dialect)

        def on_thread(db: sqlite3.Connection) -> GroupReads:
            def query(name: str, values: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
                statement = prepared[name]
                return statement.rows(db.execute(statement.sql, statement.parameters(values)).fetchall())

            return _read(query, "sqlite", items, types, cameras)

        return await onehop.run(driver, on_thread)

    def through_sqlalchemy(sync: Connection) -> GroupReads:
        def query(name: str, values: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
            statement = _SUPPRESSIONS if name == "suppressions" else _statement(dialect.name, name)
            return sync.execute(statement, values).all()

        return _read(query, dialect.name, items, types, cameras)

    return await connection.run_sync(through_sqlalchemy)


def _read(
    query: Callable[[str, Mapping[str, Any]], Sequence[Sequence[Any]]],
    dialect: str,
    items: Sequence[AlertIn],
    types: Mapping[str, AlertType],
    cameras: Mapping[str, CameraRef] | None,
) -> GroupReads:
    """:func:`read_group` without awaiting: ``query(name, values)`` runs the lookup ``name``
    (``cameras``, ``earlier``, ``suppressions``, ``open``) and answers its rows."""
    if cameras is None:
        codes = sorted({item.camera for item in items})
        cameras = {row[1]: CameraRef(*row) for row in query("cameras", _CODES.parameters(dialect, codes))}
    wanted = _wanted(items, types, cameras)
    if wanted is None:
        return GroupReads(dict(cameras), {}, [], {})
    earlier = {
        (c, a): (outcome, incident)
        for c, a, outcome, incident in query("earlier", _PAIRS.parameters(dialect, wanted.pairs))
    }
    rules = [_Rule(*row) for row in query("suppressions", {"start": wanted.start, "end": wanted.end})]
    found: dict[tuple[int, str], _OpenIncident] = {}
    for camera_id, alert_type, *state in query(
        "open", {**_KINDS.parameters(dialect, wanted.kinds), "since": wanted.since}
    ):
        found[(camera_id, alert_type)] = _OpenIncident(*state)  # ordered by last alert: the latest wins
    return GroupReads(dict(cameras), earlier, rules, found)


_INSERT_ALERT = insert(_ALERTS)
_ALERT_COLUMNS = ("camera_id", "alert_id", "alert_type", "confidence", "occurred_at", "received_at", "outcome",
                  "incident_id", "snapshot", "payload")  # fmt: skip
_UPDATE_MERGED = (
    update(_INCIDENTS)
    .where(_INCIDENTS.c.id == bindparam("b_id"))
    .values(
        first_seen_at=bindparam("b_first"),
        last_seen_at=bindparam("b_last"),
        alert_count=bindparam("b_count"),
        best_confidence=bindparam("b_confidence"),
        best_snapshot=bindparam("b_snapshot"),
    )
)


_PREPARED: dict[type[Dialect], dict[str, onehop.Prepared]] = {}


def _prepared(dialect: Dialect) -> dict[str, onehop.Prepared]:
    """The statements of :func:`read_group` and :func:`_store`, compiled once for a SQLite dialect."""
    if type(dialect) not in _PREPARED:
        _PREPARED[type(dialect)] = _prepare(dialect)
    return _PREPARED[type(dialect)]


def _prepare(dialect: Dialect) -> dict[str, onehop.Prepared]:

    def columns(table: Table, statement: Any) -> list[Any]:
        return [table.c[column.name].type for column in statement.selected_columns]

    statements = {name: _statement("sqlite", name) for name in ("cameras", "earlier", "open")}
    tables = {"cameras": _CAMERAS, "earlier": _ALERTS, "open": _INCIDENTS}
    prepared = {name: onehop.prepare(s, dialect, columns(tables[name], s)) for name, s in statements.items()}
    prepared["suppressions"] = onehop.prepare(_SUPPRESSIONS, dialect, columns(_SUPPRESSION_TABLE, _SUPPRESSIONS))
    prepared["insert"] = onehop.prepare(_INSERT_ALERT, dialect, column_keys=_ALERT_COLUMNS)
    prepared["update"] = onehop.prepare(_UPDATE_MERGED, dialect)
    return prepared


async def _store(
    session: AsyncSession, incidents: Iterable[_OpenIncident | None], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Store the merges into open incidents (one UPDATE executed for each changed one) and the alert rows
    (one INSERT executed for each): on SQLite in one hop to the database thread."""
    unique = {i.id: i for i in incidents if i is not None and i.changed}
    changed = [
        {"b_id": i.id, "b_first": i.first_seen_at, "b_last": i.last_seen_at, "b_count": i.alert_count,
         "b_confidence": i.best_confidence, "b_snapshot": i.best_snapshot}
        for i in unique.values()
    ]  # fmt: skip
    if not changed and not rows:
        return
    driver = await onehop.driver_of(session)
    if driver is None:
        connection = await session.connection()
        if changed:
            await connection.execute(_UPDATE_MERGED, changed)
        if rows:  # one executemany through the Core: alerts need no ORM identity
            await connection.execute(_INSERT_ALERT, list(rows))
        return
    prepared = _prepared((await session.connection()).dialect)
    update_, insert_ = prepared["update"], prepared["insert"]

    def write(db: sqlite3.Connection) -> None:
        if changed:
            db.executemany(update_.sql, [update_.parameters(values) for values in changed])
        if rows:
            db.executemany(insert_.sql, [insert_.parameters(values) for values in rows])

    await onehop.run(driver, write)


def _within_cooldown(incident: _OpenIncident, at: datetime, cooldown: timedelta) -> bool:
    return incident.first_seen_at - cooldown <= at <= incident.last_seen_at + cooldown


def _merge(incident: _OpenIncident, item: AlertIn) -> None:
    incident.changed = True
    incident.alert_count += 1
    incident.last_seen_at = max(incident.last_seen_at, item.occurred_at)
    incident.first_seen_at = min(incident.first_seen_at, item.occurred_at)
    if item.confidence > incident.best_confidence or (item.snapshot and incident.best_snapshot is None):
        if item.confidence > incident.best_confidence:
            incident.best_confidence = item.confidence
        if item.snapshot:
            incident.best_snapshot = item.snapshot


def incident_payload(incident: Incident, camera: CameraRef) -> dict[str, Any]:
    """The payload of an incident's core event and of its City Brain push."""
    return {
        "incident_id": incident.id,
        "camera": camera.code,
        "camera_name": camera.name,
        "owner": camera.owner,
        "alert_type": incident.alert_type,
        "confidence": incident.best_confidence,
        "snapshot": incident.best_snapshot,
        "first_seen_at": incident.first_seen_at.isoformat(),
        "lon": camera.lon,
        "lat": camera.lat,
    }


async def _open_new(
    session: AsyncSession, bus: EventBus, camera: CameraRef, kind: AlertType, item: AlertIn, push: bool
) -> tuple[_OpenIncident, EmitResult]:
    incident = Incident(
        camera_id=camera.id, alert_type=kind.key, grid_id=camera.grid_id, status="open",
        first_seen_at=item.occurred_at, last_seen_at=item.occurred_at, alert_count=1,
        best_confidence=item.confidence, best_snapshot=item.snapshot, severity=kind.severity,
    )  # fmt: skip
    session.add(incident)
    await session.flush()
    payload = incident_payload(incident, camera)
    emitted = await bus.emit(
        session,
        Event(
            type=kind.event_type, source=f"camera:{camera.code}", payload=payload, occurred_at=item.occurred_at,
            lon=camera.lon, lat=camera.lat, severity=kind.severity, grid_id=camera.grid_id,
            title=f"{kind.title} at {camera.name}"[:300], dedup_key=f"video_net:incident:{incident.id}",
        ),
    )  # fmt: skip
    incident.event_id, incident.case_id = emitted.event_id, emitted.case_id
    if push:
        await enqueue_event(
            session, "video_net.incident", {**payload, "status": "open", "case_id": emitted.case_id},
            idempotency_key=f"video_net:incident:{incident.id}:open",
        )  # fmt: skip
    await session.flush()  # now, while the audit context is the sender's
    state = _OpenIncident(incident.id, item.occurred_at, item.occurred_at, 1, item.confidence, item.snapshot)
    return state, emitted


async def ingest(
    session: AsyncSession,
    bus: EventBus,
    types: Mapping[str, AlertType],
    items: Sequence[AlertIn],
    cameras: Mapping[str, CameraRef],
    *,
    push: bool = True,
    prefix: Any = lambda index: "",
    senders: Sequence[AuditContext | None] | None = None,
    reads: GroupReads | None = None,
) -> IngestResult:
    """Store ``items`` (already checked by :func:`validate` and :func:`known_snapshots`) with dedup into incidents.

    Call it inside :func:`dedup_locks` for the items' (camera code, type) pairs and commit there.
    ``senders`` (one per item) attributes the incidents an item opens in the audit log (default:
    the current audit context). ``reads`` are :func:`read_group`'s for these items (or more) inside
    the same locks; by default they are read here.
    """
    if reads is None:
        reads = await read_group(session, items, types, cameras)
    earlier, rules = reads.earlier, reads.rules
    outcomes: list[AlertOutcome | None] = [None] * len(items)
    emitted: list[EmitResult] = []
    open_incidents: dict[tuple[int, str], _OpenIncident | None] = dict(reads.open_incidents)
    opened: list[_OpenIncident] = []
    seen: dict[tuple[int, str], tuple[str, int | None]] = {}
    rows: list[dict[str, Any]] = []
    order = sorted(range(len(items)), key=lambda i: (items[i].occurred_at, i))
    received = utcnow()
    for index in order:
        item = items[index]
        camera, kind = cameras[item.camera], types[item.type]
        identity = (camera.id, item.alert_id)
        first = earlier.get(identity) or seen.get(identity)
        if first is not None:
            outcomes[index] = AlertOutcome(item.alert_id, first[0], first[1], replay=True)
            continue
        incident: _OpenIncident | None = None
        case_id: int | None = None
        if not camera.enabled:
            outcome = "camera_disabled"
        elif item.confidence < kind.min_confidence:
            outcome = "below_threshold"
        elif _suppressed(rules, camera.id, kind.key, item.occurred_at):
            outcome = "suppressed"
        else:
            key = (camera.id, kind.key)
            current = open_incidents.get(key)
            if current is not None and _within_cooldown(current, item.occurred_at, kind.cooldown):
                _merge(current, item)
                incident, outcome = current, "merged"
            else:
                token = audit_context.set(senders[index]) if senders is not None else None
                try:
                    incident, result = await _open_new(session, bus, camera, kind, item, push)
                finally:
                    if token is not None:
                        audit_context.reset(token)
                emitted.append(result)
                open_incidents[key], outcome, case_id = incident, "new_incident", result.case_id
                opened.append(incident)  # a later one may replace it in open_incidents; its merges still count
        incident_id = incident.id if incident is not None else None
        rows.append({
            "camera_id": camera.id, "alert_id": item.alert_id, "alert_type": kind.key, "confidence": item.confidence,
            "occurred_at": item.occurred_at, "received_at": received, "outcome": outcome, "incident_id": incident_id,
            "snapshot": item.snapshot, "payload": dict(item.payload),
        })  # fmt: skip
        seen[identity] = (outcome, incident_id)
        outcomes[index] = AlertOutcome(item.alert_id, outcome, incident_id, replay=False, case_id=case_id)
    await _store(session, [*open_incidents.values(), *opened], rows)
    return IngestResult([o for o in outcomes if o is not None], emitted)
