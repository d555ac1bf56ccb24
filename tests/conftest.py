"""Shared fixtures: settings on a temporary SQLite file, migrated apps, and PostgreSQL databases.

PostgreSQL tests get a database of their own on the local server (127.0.0.1:5432, user
postgres or root, trust auth) and skip with the reason when none is reachable; under CI
(``CI=true``) an unreachable server fails them instead, so they cannot silently not run.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.pool import NullPool

from api.app import create_app
from core import migrator
from core.config import Settings, load_settings
from core.db import Database
from core.plugins import PluginManager, load_plugins
from core.security.accounts import create_api_key, create_user
from core.security.models import User
from core.security.permissions import Authorizer
from core.security.tokens import issue

PG_HOST = os.environ.get("STREETBRAIN_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("STREETBRAIN_TEST_PG_PORT", "5432"))
PG_USERS = ("postgres", "root")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No STREETBRAIN_* variable or streetbrain.toml of the developer's leaks into a test."""
    for key in list(os.environ):
        if key.startswith("STREETBRAIN_") and not key.startswith("STREETBRAIN_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings on a SQLite file under the test's folder, scheduler off; keyword overrides apply."""

    def _make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": tmp_path / "var", "scheduler_enabled": False}
        values.update(overrides)
        return load_settings(**values)

    return _make


PASSWORD = "correct-horse-9"


@dataclass
class Platform:
    """A migrated database, its plugins and a client of the app built on them, signed in as an admin."""

    settings: Settings
    plugins: PluginManager
    database: Database
    client: AsyncTestClient[Any]

    @property
    def authorizer(self) -> Authorizer:
        """The app's roles and permissions."""
        return self.client.app.state.authorizer  # type: ignore[no-any-return]

    async def user(self, role: str, grid_ids: tuple[int, ...] = (), **fields: Any) -> User:
        """A new account of ``role`` (password :data:`PASSWORD`)."""
        fields.setdefault("username", f"{role}_{uuid.uuid4().hex[:8]}")
        async with self.database.session() as session:
            return await create_user(
                session, self.authorizer, password=PASSWORD, role=role, grid_ids=grid_ids, **fields
            )

    async def headers_for(self, role: str, grid_ids: tuple[int, ...] = ()) -> dict[str, str]:
        """``Authorization`` headers of a new account of ``role``."""
        user = await self.user(role, grid_ids)
        return {"Authorization": f"Bearer {issue(user.id, user.token_version, 'access', timedelta(minutes=10))}"}

    async def api_key_headers(self, *scopes: str) -> dict[str, str]:
        """``X-API-Key`` headers of a new key with ``scopes``."""
        async with self.database.session() as session:
            _, key = await create_api_key(
                session, self.authorizer, name="test device", scopes=scopes, created_by="test"
            )
        return {"X-API-Key": key}


async def migrate(settings: Settings, plugins: PluginManager, database: Database) -> dict[str, list[str]]:
    """Upgrade the core and every loaded plugin."""
    return await migrator.upgrade(database, migrator.build_targets(plugins.ok_plugins(), plugins.records))


@pytest.fixture
def platform(make_settings: Callable[..., Settings]) -> Callable[..., AbstractAsyncContextManager[Platform]]:
    """Factory: ``async with platform(plugins=[...]) as p`` gives a migrated app and its client.

    Keyword arguments: settings overrides, plus ``use_entry_points`` and ``extra_plugins`` for the manager.
    """

    @asynccontextmanager
    async def _platform(
        *, use_entry_points: bool = True, extra_plugins: dict[str, object] | None = None, **overrides: Any
    ) -> AsyncIterator[Platform]:
        settings = make_settings(**overrides)
        plugins = load_plugins(settings, use_entry_points=use_entry_points, plugins=extra_plugins)
        # Litestar's AsyncTestClient runs the app's lifespan on a loop of its own: asyncpg
        # connections must not be pooled across loops, so PostgreSQL tests use no pool.
        database = Database(settings.database_url, **({} if settings.is_sqlite else {"poolclass": NullPool}))
        await migrate(settings, plugins, database)
        app = create_app(settings, plugins=plugins, database=database)
        async with AsyncTestClient(app) as client:
            platform = Platform(settings, plugins, database, client)
            client.headers.update(await platform.headers_for("admin"))
            yield platform

    return _platform


# -- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test twice: on a SQLite file, then on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'streetbrain-test.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def backend(database_url: str) -> dict[str, Any]:
    """Settings overrides for :func:`database_url`: ``platform(**backend)`` or ``make_settings(**backend)``."""
    return {"database_url": database_url}


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL tests must run in CI: {reason}")
    pytest.skip(reason)


async def _admin_connection() -> asyncpg.Connection:
    errors = []
    for user in PG_USERS:
        try:
            return await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=user, database="postgres", timeout=3)
        except Exception as exc:
            errors.append(f"{user}: {type(exc).__name__}: {exc}")
    raise ConnectionError("; ".join(errors))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test (dropped afterwards), as an asyncpg URL."""
    name = f"sb_test_{uuid.uuid4().hex[:12]}"

    async def _create() -> str:
        conn = await _admin_connection()
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
            return str(conn._params.user)  # type: ignore[attr-defined]
        finally:
            await conn.close()

    async def _drop() -> None:
        conn = await _admin_connection()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    try:
        user = asyncio.run(_create())
    except Exception as exc:
        _skip_or_fail(f"no PostgreSQL server reachable at {PG_HOST}:{PG_PORT} ({exc})")
        return
    yield f"postgresql+asyncpg://{user}@{PG_HOST}:{PG_PORT}/{name}"
    asyncio.run(_drop())


# -- temporary plugins --------------------------------------------------------------------------


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Path]]:
    """Install a plugin for this test only, through the real entry-point group.

    ``install_plugin("parking", source)`` writes ``parking_plugin.py`` with ``source`` and a
    ``.dist-info`` declaring it in ``streetbrain.plugins``, on a folder put first on ``sys.path``.
    ``attr`` names an object in the module to register instead of the module itself.
    Returns that folder (give it to subprocesses as PYTHONPATH).
    """
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    monkeypatch.syspath_prepend(str(site))
    installed: list[str] = []

    def _install(name: str, source: str, attr: str | None = None) -> Path:
        module = f"{name}_plugin"
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        dist = site / f"sb_test_{name}-0.0.1.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: sb-test-{name}\nVersion: 0.0.1\n")
        target = f"{module}:{attr}" if attr else module
        (dist / "entry_points.txt").write_text(f"[streetbrain.plugins]\n{name} = {target}\n")
        installed.append(module)
        importlib.invalidate_caches()
        return site

    yield _install
    for module in installed:
        sys.modules.pop(module, None)
