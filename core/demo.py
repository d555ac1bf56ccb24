"""Demo data: each plugin's ``register_demo_data`` loader, run in its own transaction."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from core.areas import demo as area_demo
from core.db import Database
from core.logs import get_logger
from core.security.accounts import create_user
from core.security.models import User
from core.security.permissions import Authorizer

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


async def load_demo_areas(database: Database) -> dict[str, int]:
    """Ningwei street, four communities and sixteen grids (ids 1-16 on a fresh database), unless already there."""
    async with database.session() as session:
        counts = await area_demo.load(session)
    log.info("demo_areas_loaded", rows=counts)
    return counts


DEMO_ACCOUNTS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("admin", "admin", ()),
    ("commander", "commander", ()),
    ("supervisor", "supervisor", ()),
    ("grid_worker", "grid_worker", (1, 2)),
    ("inspector", "inspector", ()),
    ("viewer", "viewer", ()),
)


async def load_demo_accounts(database: Database, authorizer: Authorizer) -> tuple[list[str], str]:
    """One account per role, sharing a fresh random password, unless there are accounts already.

    Returns the usernames created (none when the platform already has users) and the password.
    """
    password = "demo-" + secrets.token_urlsafe(9)
    async with database.session() as session:
        if await session.scalar(select(func.count()).select_from(User)):
            return [], ""
        for username, role, grids in DEMO_ACCOUNTS:
            await create_user(session, authorizer, username=username, password=password, role=role, grid_ids=grids)
    return [name for name, _, _ in DEMO_ACCOUNTS], password
