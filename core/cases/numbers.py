"""Human-readable case numbers ``SB-<yyyymmdd>-<nnnn>``, unique under concurrent creation.

A counter row per local day is incremented with ``UPDATE ... RETURNING`` inside the creating
transaction: the row lock (PostgreSQL) or the write lock (SQLite) serialises concurrent creators.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.cases.models import CaseNumberCounter

PREFIX = "SB"


async def next_case_number(session: AsyncSession, now: datetime, tz: ZoneInfo) -> str:
    """The next number of the local day of ``now``."""
    day = now.astimezone(tz).strftime("%Y%m%d")
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(insert(CaseNumberCounter).values(day=day, last=0).on_conflict_do_nothing())
    number = await session.scalar(
        update(CaseNumberCounter)
        .where(CaseNumberCounter.day == day)
        .values(last=CaseNumberCounter.last + 1)
        .returning(CaseNumberCounter.last)
    )
    return f"{PREFIX}-{day}-{number:04d}"
