"""Deposit batches from smart bins: validate each record, store the good ones once, report the rest.

A batch of up to ``max_batch`` records is checked record by record: a record that is malformed,
names an unknown household QR code, bin or point, puts a category in a bin of another category,
or lies in the future (or before 2000) is returned with its index, field and reason; the good
records are stored in one statement. Each record carries the device's ``event_id``: a record whose id is stored
already is a replay and inserts nothing (``INSERT .. ON CONFLICT DO NOTHING`` guards a race), so
a batch sent twice writes nothing the second time and says so (``replay: true``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import utcnow
from core.errors import InputError
from plugins.waste_sorting.batch_times import BatchTimes
from plugins.waste_sorting.ingest_sql import CompiledInsert, HouseholdRef, households_by_qr, insert_deposits
from plugins.waste_sorting.models import CATEGORIES, Bin, CollectionPoint, RollupDay
from plugins.waste_sorting.schemas import BatchAnswer, DepositBatch, DepositIn, DepositRecords, RejectedRecord
from plugins.waste_sorting.windows import inside, seconds_windows, windows_of

FUTURE_TOLERANCE = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
"""Deposits before this are rejected: a smart bin whose clock was reset sends 1970, and a time near
year 1 cannot even be converted to UTC (it used to fail the whole batch with a 500)."""
_BATCH_DECODER = msgspec.json.Decoder(DepositRecords)
_RECORD_DECODER = msgspec.json.Decoder(DepositIn)


@dataclass(frozen=True)
class _PointRef:
    id: int
    categories: frozenset[str]
    windows: list[tuple[int, int]]


@dataclass(frozen=True)
class Batch:
    """A batch body: its records decoded when every one is well-formed (the usual case, one pass),
    else ``raw``, each record as sent, to be decoded one by one so that each bad one is named."""

    size: int
    records: list[DepositIn] | None = None
    raw: list[msgspec.Raw] | None = None


def decode_batch(body: bytes, max_batch: int) -> Batch:
    """The records of a batch body; :class:`InputError` naming ``records`` when the body is no batch."""
    try:
        records = _BATCH_DECODER.decode(body).records
    except msgspec.DecodeError:  # a malformed record (or body): keep the records raw, to say which
        pass
    else:
        _check_size(len(records), max_batch)
        return Batch(len(records), records=records)
    try:
        raw = msgspec.json.decode(body, type=DepositBatch).records
    except msgspec.DecodeError as exc:
        raise InputError("records", f'expected {{"records": [...]}}: {exc}') from None
    _check_size(len(raw), max_batch)
    return Batch(len(raw), raw=raw)


def _check_size(size: int, max_batch: int) -> None:
    if not size or size > max_batch:
        raise InputError("records", f"expected 1 to {max_batch} records, got {size}")


def _field_of(message: str) -> str:
    """The field a msgspec message names (``... - at `$.weight_kg` ``), else ``record``."""
    if "`$." in message:
        return message.split("`$.", 1)[1].split("`", 1)[0].split("[", 1)[0]
    if "field `" in message:
        return message.split("field `", 1)[1].split("`", 1)[0]
    return "record"


async def _points_and_bins(session: AsyncSession) -> tuple[dict[str, _PointRef], dict[int, _PointRef], dict[str, Any]]:
    points = list(await session.scalars(select(CollectionPoint)))
    by_code = {p.code: _PointRef(p.id, frozenset(p.categories), seconds_windows(windows_of(p))) for p in points}
    by_id = {ref.id: ref for ref in by_code.values()}
    bins = {code: (bid, point_id, category) for code, bid, point_id, category in await session.execute(
        select(Bin.code, Bin.id, Bin.point_id, Bin.category))}  # fmt: skip
    return by_code, by_id, bins


def _decode_records(batch: Batch) -> tuple[list[int] | None, list[DepositIn], list[RejectedRecord]]:
    """The records that decode, their indexes in the batch (None: all of them, in order), and the rejected ones."""
    if batch.records is not None:
        return None, batch.records, []
    indexes: list[int] = []
    records: list[DepositIn] = []
    rejected: list[RejectedRecord] = []
    for index, raw in enumerate(batch.raw or ()):
        try:
            records.append(_RECORD_DECODER.decode(raw))
            indexes.append(index)
        except msgspec.ValidationError as exc:
            rejected.append(RejectedRecord(index, _field_of(str(exc)), str(exc), _event_id_of(raw)))
    return indexes, records, rejected


async def ingest_deposits(session: AsyncSession, batch: Batch, tz: ZoneInfo) -> BatchAnswer:
    """Validate and store a batch of deposits in ``session``; the answer lists what was rejected and why."""
    indexes, records, rejected = _decode_records(batch)
    connection = await session.connection()
    households = await households_by_qr(connection, list({record.qr_code for record in records}))
    points, points_by_id, bins = await _points_and_bins(session)
    now = utcnow()
    insert = CompiledInsert.of(connection.dialect)
    as_day, as_flag = insert.processor("local_day"), insert.processor("in_window")
    times = BatchTimes(tz, insert.processor("deposited_at"))
    flags = {True: as_flag(True), False: as_flag(False)}
    received = insert.processor("received_at")(now)
    stored_days: dict[date, Any] = {}  # a batch spans a few days: convert each once
    rows: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    duplicates = 0
    for position, record in enumerate(records):
        problem = _problem(record, households, points, bins, now)
        if problem is not None:
            index = position if indexes is None else indexes[position]
            rejected.append(RejectedRecord(index, problem[0], problem[1], record.event_id))
            continue
        if record.event_id in seen:
            duplicates += 1
            continue
        seen.add(record.event_id)
        household_id, community_id, grid_id = households[record.qr_code]
        bin_ref = bins.get(record.bin) if record.bin else None
        point = points_by_id[bin_ref[1]] if bin_ref else points.get(record.point) if record.point else None
        stored_time, day, second = times.convert(record.deposited_at)
        stored_day = stored_days.get(day)
        if stored_day is None:
            stored_day = stored_days[day] = as_day(day)
        rows.append(  # in the order of COLUMNS
            (record.event_id, household_id, point.id if point else None, bin_ref[0] if bin_ref else None,
             record.category, record.weight_kg, stored_time, stored_day, community_id,
             grid_id, flags[inside(second, point.windows)] if point else None, None, received)
        )  # fmt: skip
    inserted = await insert_deposits(connection, rows)
    if inserted:
        await mark_dirty(session, stored_days)
    replayed = len(rows) - inserted + duplicates
    rejected.sort(key=lambda r: r.index)
    return BatchAnswer(
        received=batch.size,
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
    households: dict[str, HouseholdRef],
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
    if record.deposited_at < EARLIEST:
        return "deposited_at", f"is before {EARLIEST:%Y-%m-%d} (a device clock that was reset?)"
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


async def mark_dirty(session: AsyncSession, days: Iterable[date]) -> None:
    """Mark rolled-up days that received new data, so queries read raw data for them until the next rollup."""
    wanted = sorted(set(days))
    if wanted:
        await session.execute(update(RollupDay).where(RollupDay.day.in_(wanted)).values(dirty=True))
