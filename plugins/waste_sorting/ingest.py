"""Deposit batches from smart bins: validate each record, store the good ones once, report the rest.

A batch of up to ``max_batch`` records is checked record by record: a record that is malformed,
names an unknown household QR code, bin or point, puts a category in a bin of another category,
or lies in the future is returned with its index, field and reason; the good records are stored
in one statement. Each record carries the device's ``event_id``: a record whose id is stored
already is a replay and inserts nothing (``INSERT .. ON CONFLICT DO NOTHING`` guards a race), so
a batch sent twice writes nothing the second time and says so (``replay: true``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import utcnow
from core.errors import InputError
from plugins.waste_sorting.models import CATEGORIES, Bin, CollectionPoint, Deposit, Household, RollupDay
from plugins.waste_sorting.schemas import BatchAnswer, DepositBatch, DepositIn, RejectedRecord
from plugins.waste_sorting.windows import inside, seconds_windows, windows_of

LOOKUP_CHUNK = 10_000
FUTURE_TOLERANCE = timedelta(minutes=5)
_BATCH_DECODER = msgspec.json.Decoder(list[DepositIn])
_RECORD_DECODER = msgspec.json.Decoder(DepositIn)


@dataclass(frozen=True)
class _HouseholdRef:
    id: int
    community_id: int | None
    grid_id: int | None


@dataclass(frozen=True)
class _PointRef:
    id: int
    categories: frozenset[str]
    windows: list[tuple[int, int]]


def decode_batch(body: bytes, max_batch: int) -> list[msgspec.Raw]:
    """The raw records of a batch body; :class:`InputError` naming ``records`` when the body is no batch."""
    try:
        batch = msgspec.json.decode(body, type=DepositBatch)
    except msgspec.DecodeError as exc:
        raise InputError("records", f'expected {{"records": [...]}}: {exc}') from None
    if not batch.records or len(batch.records) > max_batch:
        raise InputError("records", f"expected 1 to {max_batch} records, got {len(batch.records)}")
    return batch.records


def _field_of(message: str) -> str:
    """The field a msgspec message names (``... - at `$.weight_kg` ``), else ``record``."""
    if "`$." in message:
        return message.split("`$.", 1)[1].split("`", 1)[0].split("[", 1)[0]
    if "field `" in message:
        return message.split("field `", 1)[1].split("`", 1)[0]
    return "record"


async def _in_chunks(session: AsyncSession, statement_for: Any, values: Sequence[Any]) -> list[Any]:
    rows: list[Any] = []
    for start in range(0, len(values), LOOKUP_CHUNK):
        rows.extend((await session.execute(statement_for(values[start : start + LOOKUP_CHUNK]))).all())
    return rows


async def _households(session: AsyncSession, codes: Iterable[str]) -> dict[str, _HouseholdRef]:
    wanted = sorted(set(codes))
    rows = await _in_chunks(
        session,
        lambda chunk: select(Household.qr_code, Household.id, Household.community_id, Household.grid_id).where(
            Household.qr_code.in_(chunk)
        ),
        wanted,
    )
    return {qr: _HouseholdRef(hid, cid, gid) for qr, hid, cid, gid in rows}


async def _points_and_bins(session: AsyncSession) -> tuple[dict[str, _PointRef], dict[int, _PointRef], dict[str, Any]]:
    points = list(await session.scalars(select(CollectionPoint)))
    by_code = {p.code: _PointRef(p.id, frozenset(p.categories), seconds_windows(windows_of(p))) for p in points}
    by_id = {ref.id: ref for ref in by_code.values()}
    bins = {code: (bid, point_id, category) for code, bid, point_id, category in await session.execute(
        select(Bin.code, Bin.id, Bin.point_id, Bin.category))}  # fmt: skip
    return by_code, by_id, bins


async def _stored_event_ids(session: AsyncSession, event_ids: Sequence[str]) -> set[str]:
    rows = await _in_chunks(
        session, lambda chunk: select(Deposit.event_id).where(Deposit.event_id.in_(chunk)), list(event_ids)
    )
    return {row[0] for row in rows}


async def ingest_deposits(session: AsyncSession, raw_records: list[msgspec.Raw], tz: ZoneInfo) -> BatchAnswer:
    """Validate and store a batch of deposits in ``session``; the answer lists what was rejected and why."""
    rejected: list[RejectedRecord] = []
    good: list[tuple[int, DepositIn]] = []
    try:  # the usual case, a batch without a malformed record, decodes in one call
        good = list(enumerate(_BATCH_DECODER.decode(b"[" + b",".join(raw_records) + b"]")))
    except msgspec.ValidationError:
        for index, raw in enumerate(raw_records):
            try:
                good.append((index, _RECORD_DECODER.decode(raw)))
            except msgspec.ValidationError as exc:
                rejected.append(RejectedRecord(index, _field_of(str(exc)), str(exc), _event_id_of(raw)))
    households = await _households(session, (record.qr_code for _, record in good))
    points, points_by_id, bins = await _points_and_bins(session)
    now = utcnow()
    connection = await session.connection()
    insert = _CompiledInsert.of(connection.dialect)
    as_time, as_day, as_flag = (
        insert.processor("deposited_at"),
        insert.processor("local_day"),
        insert.processor("in_window"),
    )
    received = insert.processor("received_at")(now)
    rows: list[tuple[Any, ...]] = []
    days: set[date] = set()
    seen: set[str] = set()
    duplicates = 0
    for index, record in good:
        problem = _problem(record, households, points, bins, now)
        if problem is not None:
            rejected.append(RejectedRecord(index, problem[0], problem[1], record.event_id))
            continue
        if record.event_id in seen:
            duplicates += 1
            continue
        seen.add(record.event_id)
        household = households[record.qr_code]
        bin_ref = bins.get(record.bin) if record.bin else None
        point = points_by_id[bin_ref[1]] if bin_ref else points.get(record.point) if record.point else None
        local = record.deposited_at.astimezone(tz)
        day = local.date()
        days.add(day)
        rows.append(  # in the order of _COLUMNS
            (record.event_id, household.id, point.id if point else None, bin_ref[0] if bin_ref else None,
             record.category, record.weight_kg, as_time(record.deposited_at), as_day(day), household.community_id,
             household.grid_id, as_flag(inside(local, point.windows)) if point else None, None, received)
        )  # fmt: skip
    inserted = await _insert(session, insert, rows)
    if inserted:
        await mark_dirty(session, days)
    replayed = len(rows) - inserted + duplicates
    rejected.sort(key=lambda r: r.index)
    return BatchAnswer(
        received=len(raw_records),
        inserted=inserted,
        replayed=replayed,
        rejected=rejected,
        replay=inserted == 0 and replayed > 0,
    )


def _event_id_of(raw: msgspec.Raw) -> str | None:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    event_id = value.get("event_id") if isinstance(value, dict) else None
    return event_id if isinstance(event_id, str) else None


def _problem(
    record: DepositIn,
    households: dict[str, _HouseholdRef],
    points: dict[str, _PointRef],
    bins: dict[str, Any],
    now: datetime,
) -> tuple[str, str] | None:
    """The field and reason a decoded record cannot be stored, or None."""
    if record.category not in CATEGORIES:
        return "category", f"expected one of {', '.join(CATEGORIES)}"
    if record.deposited_at.tzinfo is None:
        return "deposited_at", "expected a time with its offset, e.g. 2026-11-29T07:30:00+08:00"
    if record.deposited_at > now + FUTURE_TOLERANCE:
        return "deposited_at", "is in the future"
    if record.qr_code not in households:
        return "qr_code", f"no household with QR code {record.qr_code}"
    if record.bin is not None:
        if record.bin not in bins:
            return "bin", f"no bin with code {record.bin}"
        if bins[record.bin][2] != record.category:
            return "category", f"bin {record.bin} takes {bins[record.bin][2]}, not {record.category}"
    elif record.point is not None:
        point = points.get(record.point)
        if point is None:
            return "point", f"no collection point with code {record.point}"
        if record.category not in point.categories:
            return "category", f"collection point {record.point} takes no {record.category}"
    return None


_COLUMNS = ("event_id", "household_id", "point_id", "bin_id", "category", "weight_kg", "deposited_at", "local_day",
            "community_id", "grid_id", "in_window", "inspected_correct", "received_at")  # fmt: skip


@dataclass(frozen=True)
class _CompiledInsert:
    """``INSERT .. ON CONFLICT (event_id) DO NOTHING`` of the deposit columns, compiled once per dialect."""

    sql: str
    processors: dict[str, Any]

    @classmethod
    def of(cls, dialect: Any) -> _CompiledInsert:
        if dialect.name not in _COMPILED:
            table = Deposit.__table__
            insert = pg_insert(table) if dialect.name == "postgresql" else sqlite_insert(table)  # type: ignore[arg-type]
            statement = insert.values({name: bindparam(name) for name in _COLUMNS}).on_conflict_do_nothing(
                index_elements=["event_id"]
            )
            compiled = statement.compile(dialect=dialect)
            if tuple(compiled.positiontup or ()) != _COLUMNS:
                raise RuntimeError("the deposit insert does not take its parameters in column order")
            processors = {name: table.c[name].type._cached_bind_processor(dialect) for name in _COLUMNS}
            _COMPILED[dialect.name] = cls(str(compiled), processors)
        return _COMPILED[dialect.name]

    def processor(self, name: str) -> Any:
        """The driver-level conversion of a column's values (identity when the driver takes them as they are)."""
        return self.processors[name] or (lambda value: value)


_COMPILED: dict[str, _CompiledInsert] = {}


async def _insert(session: AsyncSession, insert: _CompiledInsert, rows: list[tuple[Any, ...]]) -> int:
    """Insert ``rows`` (tuples in ``_COLUMNS`` order) skipping stored event ids; returns how many were inserted.

    One driver-level ``executemany``. SQLite counts the rows it inserted; on PostgreSQL, whose
    driver does not, the stored ids are looked up first.
    """
    if not rows:
        return 0
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        stored = await _stored_event_ids(session, [row[0] for row in rows])
        rows = [row for row in rows if row[0] not in stored]
        if not rows:
            return 0
    result = await connection.exec_driver_sql(insert.sql, rows)
    if connection.dialect.name == "postgresql":
        return len(rows)
    return int(result.rowcount)


async def mark_dirty(session: AsyncSession, days: Iterable[date]) -> None:
    """Mark rolled-up days that received new data, so queries read raw data for them until the next rollup."""
    wanted = sorted(set(days))
    if wanted:
        await session.execute(update(RollupDay).where(RollupDay.day.in_(wanted)).values(dirty=True))
