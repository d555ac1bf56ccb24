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
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import utcnow
from core.errors import InputError
from plugins.waste_sorting.models import CATEGORIES, Bin, CollectionPoint, Deposit, Household, RollupDay
from plugins.waste_sorting.schemas import BatchAnswer, DepositBatch, DepositIn, RejectedRecord
from plugins.waste_sorting.windows import in_windows, windows_of

LOOKUP_CHUNK = 2000
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class _HouseholdRef:
    id: int
    community_id: int | None
    grid_id: int | None


@dataclass(frozen=True)
class _PointRef:
    id: int
    categories: frozenset[str]
    windows: list[tuple[str, str]]


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
    by_code = {p.code: _PointRef(p.id, frozenset(p.categories), windows_of(p)) for p in points}
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
    for index, raw in enumerate(raw_records):
        try:
            good.append((index, msgspec.json.decode(raw, type=DepositIn)))
        except msgspec.ValidationError as exc:
            rejected.append(RejectedRecord(index, _field_of(str(exc)), str(exc), _event_id_of(raw)))
    households = await _households(session, (record.qr_code for _, record in good))
    points, points_by_id, bins = await _points_and_bins(session)
    now = utcnow()
    rows: list[dict[str, Any]] = []
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
        moment = record.deposited_at
        rows.append(
            {
                "event_id": record.event_id,
                "household_id": household.id,
                "point_id": point.id if point else None,
                "bin_id": bin_ref[0] if bin_ref else None,
                "category": record.category,
                "weight_kg": record.weight_kg,
                "deposited_at": moment,
                "local_day": moment.astimezone(tz).date(),
                "community_id": household.community_id,
                "grid_id": household.grid_id,
                "in_window": in_windows(moment, point.windows, tz) if point else None,
                "inspected_correct": None,
                "received_at": now,
            }
        )
    stored = await _stored_event_ids(session, [row["event_id"] for row in rows])
    new_rows = [row for row in rows if row["event_id"] not in stored]
    inserted = await _insert(session, new_rows)
    await mark_dirty(session, {row["local_day"] for row in new_rows})
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


async def _insert(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    table = Deposit.__table__
    dialect = session.get_bind().dialect.name
    insert = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)  # type: ignore[arg-type]
    result = await session.execute(insert.on_conflict_do_nothing(index_elements=["event_id"]), rows)
    count = result.rowcount  # type: ignore[attr-defined]
    return len(rows) if count is None or count < 0 else int(count)


async def mark_dirty(session: AsyncSession, days: Iterable[date]) -> None:
    """Mark rolled-up days that received new data, so queries read raw data for them until the next rollup."""
    wanted = sorted(set(days))
    if wanted:
        await session.execute(update(RollupDay).where(RollupDay.day.in_(wanted)).values(dirty=True))
