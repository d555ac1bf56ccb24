"""City Brain fixtures: the simulator on a free port of 127.0.0.1, settings pointing at it, a migrated database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.pool import NullPool

from core.citybrain.jobs import CityBrainService
from core.citybrain.simulator.app import DEFAULT_APP_KEY, DEFAULT_APP_SECRET, SimulatorState
from core.citybrain.simulator.server import SimulatorServer
from core.config import Settings
from core.db import Database
from core.plugins import PluginManager, load_plugins
from core.security.setup import set_up_security
from tests.conftest import migrate

SIZES = {"cameras": 240, "households": 120, "market_licenses": 80, "grids": 24}

FAULTS_20_PERCENT = {
    "error_rate": 0.10,
    "throttle_rate": 0.05,
    "timeout_rate": 0.05,
    "hang_seconds": 0.6,
    "retry_after": 0,
    "malformed_rate": 0.08,
    "duplicate_rate": 0.08,
}
"""One request in five fails (500/503, 429, a hang past the read timeout); some records broken or doubled."""


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    """The City Brain simulator (seed 11, small datasets) on a free port; stopped after the test."""
    with SimulatorServer(SimulatorState(seed=11, sizes=dict(SIZES))) as server:
        yield server


def citybrain_overrides(url: str) -> dict[str, Any]:
    """Settings of a client of the simulator at ``url`` with short waits (retries stay real)."""
    return {
        "citybrain_base_url": url,
        "citybrain_app_key": DEFAULT_APP_KEY,
        "citybrain_app_secret": DEFAULT_APP_SECRET,
        "citybrain_read_timeout": 0.3,
        "citybrain_connect_timeout": 0.5,
        "citybrain_retry_attempts": 12,
        "citybrain_retry_initial_wait": 0.01,
        "citybrain_retry_max_wait": 0.05,
        "citybrain_page_size": 25,
        "citybrain_commit_records": 1,  # a transaction per page, unless a test says otherwise
    }


@dataclass
class Street:
    """A migrated platform (all built-in plugins) wired to the simulator."""

    settings: Settings
    plugins: PluginManager
    database: Database
    service: CityBrainService

    async def count(self, model: type[Any], *where: Any) -> int:
        """Rows of ``model`` (matching ``where``)."""
        async with self.database.session() as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
async def street(
    simulator: SimulatorServer, make_settings: Callable[..., Settings], database_url: str
) -> AsyncIterator[Street]:
    """The platform on SQLite and on PostgreSQL, migrated, with a City Brain service for the simulator."""
    settings = make_settings(database_url=database_url, **citybrain_overrides(simulator.url))
    plugins = load_plugins(settings)
    set_up_security(settings, plugins.ok_plugins())  # plugin sources write encrypted personal data
    database = Database(settings.database_url, **({} if settings.is_sqlite else {"poolclass": NullPool}))
    await migrate(settings, plugins, database)
    service = CityBrainService(settings, database, plugins.ok_plugins())
    try:
        yield Street(settings, plugins, database, service)
    finally:
        await service.aclose()
        await database.dispose()
