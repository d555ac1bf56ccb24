"""Storage: the declarative Base every model shares, and the async engine and sessions.

SQLite (the embedded default) runs with WAL, ``synchronous=NORMAL``, foreign keys on, a busy
timeout, a 16 MiB page cache and a checkpoint every 4,000 WAL pages; PostgreSQL goes through
asyncpg. Plugin tables are named ``<plugin>_<name>``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, MetaData, Table, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

SQLITE_BUSY_TIMEOUT_MS = 5000
SQLITE_CACHE_KIB = 16 * 1024
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 4000
SQLITE_JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class JSONDocument(TypeDecorator[Any]):
    """A JSON document: JSONB on PostgreSQL, JSON (text) on SQLite."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """JSONB where the database has it."""
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())


class Base(DeclarativeBase):
    """The one declarative base of the platform and its plugins (shared metadata, naming convention).

    ``datetime`` columns are stored timezone-aware in UTC; ``dict`` and ``list`` columns are JSON
    (JSONB on PostgreSQL).
    """

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: DateTimeUTC(timezone=True),
        dict[str, Any]: JSONDocument(),
        list[str]: JSONDocument(),
    }


def mapped_tables(module_matches: Callable[[str], bool]) -> set[str]:
    """Names of the tables of the models whose defining module satisfies ``module_matches``."""
    return {
        cast(Table, mapper.local_table).name
        for mapper in Base.registry.mappers
        if module_matches(mapper.class_.__module__)
    }


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # A page cache of up to 16 MiB per connection (SQLite's default is 2 MiB), taken only as pages
    # are read: a batch of upserts into a table of ~100k rows touches more index pages than 2 MiB
    # hold, and each one evicted is read again from the OS.
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    # Checkpoint when the WAL reaches 4,000 pages (16 MiB with 4 KiB pages) instead of 1,000: each
    # checkpoint copies the changed pages into the database file and syncs both files, so a steady
    # writer pays for those syncs four times less often. Guarantees stay those of WAL with
    # synchronous=NORMAL: every commit is atomic and survives a crash of the process; on a power
    # loss the commits after the last sync may roll back (as before, now up to 16 MiB of them
    # rather than 4). A transaction that grew the WAL past 64 MiB leaves it cut back to that.
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={SQLITE_JOURNAL_SIZE_LIMIT_BYTES}")
    cursor.close()


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    """Create the async engine for ``database_url``; for SQLite, create its folder and set the pragmas."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """An engine and its session factory: what the app, jobs and commands share in one process."""

    def __init__(self, database_url: str, **engine_kwargs: Any) -> None:
        self.engine = create_engine(database_url, **engine_kwargs)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def ping(self) -> None:
        """Run ``SELECT 1``; raises when the database cannot be reached."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
