"""Demo data: each plugin's ``register_demo_data`` loader, run in its own transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.db import Database
from core.logs import get_logger

log = get_logger(__name__)


async def load_demo_data(database: Database, plugins: Iterable[Any]) -> dict[str, dict[str, int] | str]:
    """Run every plugin's demo loader; return rows added per plugin, or the error of a loader that failed.

    A failing loader rolls back only its own rows; the other plugins still get theirs.
    """
    results: dict[str, dict[str, int] | str] = {}
    for record in plugins:
        if record.demo_loader is None:
            continue
        try:
            async with database.session() as session:
                counts = await record.demo_loader(session)
            results[record.name] = dict(counts or {})
            log.info("demo_data_loaded", plugin=record.name, rows=results[record.name])
        except Exception as exc:
            results[record.name] = f"{type(exc).__name__}: {exc}"
            log.exception("demo_data_failed", plugin=record.name)
    return results
