"""Several SQLite statements in one trip to aiosqlite's thread, in the session's transaction.

aiosqlite runs every DBAPI call (cursor, execute, fetchall, close, commit) as a job on the
connection's own thread and wakes the event loop with each answer: through SQLAlchemy a SELECT
costs four such hops and an executemany three, each with SQLAlchemy's statement overhead on top.
``AsyncConnection.run_sync`` does not change that with aiosqlite: the adapted connection still
awaits the thread once per DBAPI call. The alert writer's hot path instead runs a group's reads,
and then its writes, as one function on that thread over the raw ``sqlite3`` connection (the one
the session's transaction is on, so the work stays in that transaction and commits with it).

The statements are compiled once by SQLAlchemy for the dialect, and values go through the columns'
own type processors both ways, so the database holds the same text as when SQLAlchemy writes it
(times as ``2026-11-29 00:15:00.000000`` in UTC, JSON as SQLAlchemy serialises it).

This leans on two internals of aiosqlite that SQLAlchemy's own aiosqlite dialect uses too: the
connection's job queue (``Connection._execute``) and its ``sqlite3`` connection (``_conn``).
:func:`driver_of` answers ``None`` when they are missing (another driver, or another aiosqlite)
and callers then run their statements the ordinary way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

T = TypeVar("T")
Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class Prepared:
    """A statement compiled for SQLite (qmark parameters) with its parameter and result converters."""

    sql: str
    names: tuple[str, ...]
    """The parameter names, in the order of the ``?`` marks."""
    binds: tuple[Processor, ...]
    results: tuple[Processor, ...]
    """One converter per result column (``None``: the value as sqlite3 returns it)."""

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The positional parameters for ``values`` (by name), converted for the database."""
        return tuple(
            value if bind is None else bind(value)
            for bind, value in zip(self.binds, (values[name] for name in self.names), strict=True)
        )

    def rows(self, rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """``rows`` as SQLAlchemy would return them (times as aware datetimes, booleans as bool)."""
        results = self.results
        if not any(results):
            return [tuple(row) for row in rows]
        return [
            tuple(value if convert is None else convert(value) for convert, value in zip(results, row, strict=True))
            for row in rows
        ]


def _bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    return type_.dialect_impl(dialect).bind_processor(dialect)


def prepare(
    statement: ClauseElement,
    dialect: Dialect,
    result_types: Sequence[TypeEngine[Any]] = (),
    column_keys: Sequence[str] | None = None,
) -> Prepared:
    """Compile ``statement`` for ``dialect`` (a SQLite one); ``result_types`` are its result columns' types.

    ``column_keys`` names the columns an INSERT or UPDATE sets (as in ``Connection.execute``).
    """
    compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
    assert isinstance(compiled, SQLCompiler)
    names = tuple(compiled.positiontup or ())
    binds = tuple(_bind_processor(compiled.binds[name].type, dialect) for name in names)
    results = tuple(t.dialect_impl(dialect).result_processor(dialect, None) for t in result_types)
    return Prepared(compiled.string, names, binds, results)


async def driver_of(session: AsyncSession) -> Any | None:
    """The aiosqlite connection under ``session``'s (beginning its transaction), or ``None`` if there is none."""
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        return None
    driver = (await connection.get_raw_connection()).driver_connection
    if not callable(getattr(driver, "_execute", None)) or not hasattr(type(driver), "_conn"):
        return None
    return driver


async def run(driver: Any, work: Callable[[sqlite3.Connection], T]) -> T:
    """``work(raw sqlite3 connection)`` on ``driver``'s thread, in one hop; SQLite errors come back as
    SQLAlchemy's (``OperationalError`` for a busy database, ``IntegrityError`` for a broken constraint)."""
    try:
        result: T = await driver._execute(lambda: work(driver._conn))
    except sqlite3.Error as exc:
        raise DBAPIError.instance(None, None, exc, sqlite3.Error) from exc
    return result
