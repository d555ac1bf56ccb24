"""Key rotation for personal data: re-encrypt every personal-data value with the current key."""

from __future__ import annotations

from sqlalchemy import inspect, or_, select
from sqlalchemy.orm.attributes import flag_modified

from core.db import Base, Database
from core.logs import get_logger
from core.security.audit import acting_as
from core.security.pii import PersonalData

log = get_logger(__name__)

BATCH = 500


async def rotate_personal_data(database: Database) -> dict[str, int]:
    """Rewrite each row holding personal data, so it is encrypted (and hashed) with the current key.

    Returns rows rewritten per table. Rows are read with any key of the ring (the current and
    ``STREETBRAIN_PREVIOUS_SECRET_KEYS``); run it before dropping an old key.
    """
    counts: dict[str, int] = {}
    async with database.engine.connect() as conn:
        present = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    for mapper in list(Base.registry.mappers):
        model = mapper.class_
        table = model.__table__
        columns = [c for c in table.columns if isinstance(c.type, PersonalData)]
        if not columns or table.name not in present:  # a disabled plugin's table may not exist
            continue
        primary_key = list(table.primary_key.columns)
        done, last = 0, None
        while True:
            with acting_as("system:pii-rotation"):
                async with database.session() as session:
                    query = select(model).where(or_(*(c.isnot(None) for c in columns))).order_by(*primary_key)
                    if last is not None:
                        query = query.where(primary_key[0] > last)
                    rows = list(await session.scalars(query.limit(BATCH)))
                    for row in rows:
                        for column in columns:
                            flag_modified(row, column.key)
                    if rows:
                        last = getattr(rows[-1], primary_key[0].key)
            done += len(rows)
            if len(rows) < BATCH:
                break
        counts[table.name] = done
        log.info("pii_rotated", table=table.name, rows=done)
    return counts
