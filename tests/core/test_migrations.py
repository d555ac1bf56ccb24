"""Migrations on SQLite and PostgreSQL: core first then each plugin, one history per owner,
and models that agree with the migrations (autogenerate finds nothing to do)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text

from core import migrator
from core.db import Database
from core.plugins import PluginManager, load_plugins
from tests.fake_plugins.parking import ParkingPlugin


def targets(manager: PluginManager) -> list[migrator.MigrationTarget]:
    return migrator.build_targets(manager.ok_plugins(), manager.records)


async def table_names(database: Database) -> set[str]:
    async with database.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_upgrade_runs_core_then_every_plugin_and_models_match(
    make_settings: Callable[..., Any], database_url: str
) -> None:
    manager = load_plugins(make_settings(database_url=database_url))
    database = Database(database_url)
    try:
        plan = targets(manager)
        assert [t.name for t in plan] == ["core", "street_vendors", "video_net", "waste_sorting"]
        before = await migrator.pending(database, plan)
        assert all(before.values()), before

        applied = await migrator.upgrade(database, plan)
        assert list(applied) == [t.name for t in plan]
        assert {name: [rev for rev, _ in revs] for name, revs in before.items()} == applied

        tables = await table_names(database)
        for target in plan:
            assert target.tables <= tables
            assert target.version_table in tables
        assert await migrator.pending(database, plan) == {t.name: [] for t in plan}
        assert await migrator.differences(database, plan) == {t.name: [] for t in plan}
        assert await migrator.upgrade(database, plan) == {t.name: [] for t in plan}
    finally:
        await database.dispose()


async def test_one_plugin_can_be_migrated_alone(make_settings: Callable[..., Any], database_url: str) -> None:
    manager = load_plugins(make_settings(database_url=database_url))
    database = Database(database_url)
    try:
        plan = targets(manager)
        core, video = (next(t for t in plan if t.name == name) for name in ("core", "video_net"))
        await migrator.upgrade(database, [core, video])
        tables = await table_names(database)
        assert "video_net_cameras" in tables
        assert not any(t.startswith(("waste_sorting_", "street_vendors_")) for t in tables)
        still = await migrator.pending(database, plan)
        assert still["core"] == still["video_net"] == []
        assert still["waste_sorting"] and still["street_vendors"]
    finally:
        await database.dispose()


async def test_disabled_plugin_tables_are_left_alone_by_the_core(
    make_settings: Callable[..., Any], database_url: str
) -> None:
    database = Database(database_url)
    try:
        await migrator.upgrade(database, targets(load_plugins(make_settings(database_url=database_url))))
        only_video = load_plugins(make_settings(database_url=database_url, plugins="video_net"))
        diffs = await migrator.differences(database, targets(only_video))
        assert diffs == {"core": [], "video_net": []}
    finally:
        await database.dispose()


async def test_revision_autogenerates_a_plugin_migration_that_upgrade_applies(
    make_settings: Callable[..., Any], database_url: str, tmp_path: Path
) -> None:
    versions = tmp_path / "parking_versions"
    versions.mkdir()
    manager = load_plugins(
        make_settings(database_url=database_url),
        use_entry_points=False,
        plugins={"parking": ParkingPlugin(versions)},
    )
    database = Database(database_url)
    try:
        plan = targets(manager)
        await migrator.upgrade(database, plan)
        parking = next(t for t in plan if t.name == "parking")
        missing = (await migrator.differences(database, [parking]))["parking"]
        assert [change[0] for change in missing] == ["add_table", "add_index"]

        (path,) = await migrator.revision(database, parking, "parking spaces")
        assert path.parent == versions
        source = path.read_text()
        assert "create_table('parking_spaces'" in source and "alembic_version" not in source

        applied = await migrator.upgrade(database, plan)
        assert len(applied["parking"]) == 1
        assert "parking_spaces" in await table_names(database)
        assert await migrator.differences(database, plan) == {"core": [], "parking": []}
        async with database.engine.connect() as conn:
            stored = (await conn.execute(text("SELECT version_num FROM alembic_version_parking"))).scalar_one()
        assert stored == applied["parking"][0]
    finally:
        await database.dispose()


async def test_sqlite_runs_with_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}")
    try:
        async with database.engine.connect() as conn:
            values = [
                (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            ]
        assert values == ["wal", 1, 1, 5000]  # synchronous=1 is NORMAL
    finally:
        await database.dispose()
