"""Demo data: each plugin's ``register_demo_data`` loader, run in its own transaction."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any

from shapely.geometry import shape
from sqlalchemy import func, select

from core.areas import demo as area_demo
from core.areas.models import Grid
from core.cases.models import Case
from core.db import Database, utcnow
from core.events import Event
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


DEMO_REPORTS: tuple[tuple[int, str, int], ...] = (
    (1, "宁新社区东门垃圾满溢 (overflowing bins at the east gate)", 30),
    (1, "人行道违停电动车 (e-bikes parked on the pavement)", 26),
    (2, "路灯不亮 (street lamp out)", 20),
    (2, "井盖松动 (loose manhole cover)", 8),
    (5, "占道经营 (stall blocking the road)", 6),
    (9, "小广告乱贴 (illegal flyers)", 4),
    (13, "绿化带垃圾 (litter in the green belt)", 2),
)


async def load_demo_cases(database: Database, emit: Callable[[Event], Awaitable[Any]]) -> int:
    """Reports at the centre of demo grids, as events (so routing makes the cases), unless there are cases.

    Grids 1 and 2 have the demo grid worker, whose cases are dispatched to them; the others wait
    in the command-centre queue. Returns the events emitted.
    """
    async with database.session() as session:
        if await session.scalar(select(func.count()).select_from(Case)):
            return 0
        grids = {grid.id: grid for grid in await session.scalars(select(Grid))}
    emitted = 0
    now = utcnow()
    for grid_id, title, hours_ago in DEMO_REPORTS:
        grid = grids.get(grid_id)
        if grid is None:
            continue
        centre = shape(grid.geometry).representative_point()
        await emit(
            Event(type="core.report", source="demo:12345-hotline", title=title, lon=centre.x, lat=centre.y,
                  occurred_at=now - timedelta(hours=hours_ago), payload={"channel": "12345 hotline"})
        )  # fmt: skip
        emitted += 1
    return emitted
