"""The statements of deposit ingestion: one per batch, with constant SQL, on SQLite and PostgreSQL.

A batch of 10,000 deposits names up to 10,000 QR codes and event ids. Rendered as ``IN (?, ?, ...)``,
SQLAlchemy renders and processes every value of such a list on every execution (about four times
the database's own time for the lookup). Here a list travels as one parameter instead
(:class:`core.keylists.KeyList`: ``json_each`` on SQLite, ``unnest`` on PostgreSQL), joined to the
unique index, so the statement text never changes and SQLAlchemy handles one value. Rows come back
as plain tuples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause

from core.keylists import KeyList
from plugins.waste_sorting.models import Deposit, Household

HouseholdRef = tuple[int, int | None, int | None]
"""A household as a deposit needs it: ``(id, community_id, grid_id)``."""


_KEYS = KeyList("k", {"value": "text"})
_STATEMENTS: dict[tuple[str, str], TextClause] = {}


def _statement(dialect_name: str, name: str) -> TextClause:
    key = (dialect_name, name)
    if key not in _STATEMENTS:
        keys = _KEYS.source(dialect_name)
        if name == "households":
            sql = f"SELECT h.qr_code, h.id, h.community_id, h.grid_id FROM {keys}"
            sql += f" JOIN {Household.__tablename__} AS h ON h.qr_code = k.value"
        else:
            sql = f"SELECT d.event_id FROM {keys} JOIN {Deposit.__tablename__} AS d ON d.event_id = k.value"
        _STATEMENTS[key] = text(sql)
    return _STATEMENTS[key]


async def households_by_qr(connection: AsyncConnection, codes: Sequence[str]) -> dict[str, HouseholdRef]:
    """The households of ``codes`` (distinct QR codes), by QR code; unknown codes are absent."""
    if not codes:
        return {}
    name = connection.dialect.name
    result = await connection.execute(_statement(name, "households"), _KEYS.parameters(name, codes))
    return {qr: (hid, cid, gid) for qr, hid, cid, gid in result.tuples()}


async def stored_event_ids(connection: AsyncConnection, event_ids: Sequence[str]) -> set[str]:
    """Those of ``event_ids`` that are stored already."""
    if not event_ids:
        return set()
    name = connection.dialect.name
    result = await connection.execute(_statement(name, "event_ids"), _KEYS.parameters(name, event_ids))
    return set(result.scalars())


COLUMNS = ("event_id", "household_id", "point_id", "bin_id", "category", "weight_kg", "deposited_at", "local_day",
           "community_id", "grid_id", "in_window", "inspected_correct", "received_at")  # fmt: skip
"""The columns of a deposit row, in the order :func:`insert_deposits` takes them."""


@dataclass(frozen=True)
class CompiledInsert:
    """``INSERT .. ON CONFLICT (event_id) DO NOTHING`` of the deposit columns, compiled once per dialect."""

    sql: str
    processors: dict[str, Any]

    @classmethod
    def of(cls, dialect: Any) -> CompiledInsert:
        """The statement for ``dialect`` (compiled on first use)."""
        if dialect.name not in _COMPILED:
            table = Deposit.__table__
            insert = pg_insert(table) if dialect.name == "postgresql" else sqlite_insert(table)  # type: ignore[arg-type]
            statement = insert.values({name: bindparam(name) for name in COLUMNS}).on_conflict_do_nothing(
                index_elements=["event_id"]
            )
            compiled = statement.compile(dialect=dialect)
            if tuple(compiled.positiontup or ()) != COLUMNS:
                raise RuntimeError("the deposit insert does not take its parameters in column order")
            processors = {name: table.c[name].type._cached_bind_processor(dialect) for name in COLUMNS}
            _COMPILED[dialect.name] = cls(str(compiled), processors)
        return _COMPILED[dialect.name]

    def processor(self, name: str) -> Any:
        """The driver-level conversion of a column's values (identity when the driver takes them as they are)."""
        return self.processors[name] or (lambda value: value)


_COMPILED: dict[str, CompiledInsert] = {}


async def insert_deposits(connection: AsyncConnection, rows: list[tuple[Any, ...]]) -> int:
    """Insert ``rows`` (tuples in :data:`COLUMNS` order, values already converted) skipping stored event ids.

    One driver-level ``executemany``; returns how many rows were inserted. SQLite counts the rows
    it inserted; on PostgreSQL, whose driver does not, the stored ids are looked up first (the
    ``ON CONFLICT`` clause still guards a concurrent batch with the same ids).
    """
    if not rows:
        return 0
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        stored = await stored_event_ids(connection, [row[0] for row in rows])
        rows = [row for row in rows if row[0] not in stored]
        if not rows:
            return 0
    result = await connection.exec_driver_sql(CompiledInsert.of(connection.dialect).sql, rows)
    return len(rows) if postgres else int(result.rowcount)
