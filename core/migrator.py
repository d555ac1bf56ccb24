"""Schema migrations: Alembic, with one version folder and one version table per owner.

The core owns the tables of models defined under ``core``; each plugin owns the tables of the
model modules it registers (all named ``<plugin>_...``). ``upgrade`` migrates the core first,
then every loaded plugin, each in its own history (version table ``alembic_version`` for the
core, ``alembic_version_<plugin>`` for a plugin), as CKAN and Indico do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData

from core.db import Base, Database, mapped_tables
from core.logs import get_logger

log = get_logger(__name__)

CORE = "core"
ENV_DIR = Path(__file__).parent / "migrations"
CORE_VERSIONS_DIR = ENV_DIR / "versions"


@dataclass(frozen=True)
class MigrationTarget:
    """One migration history: the core or one plugin, with the tables it owns."""

    name: str
    versions_dir: Path
    tables: frozenset[str]
    other_prefixes: tuple[str, ...] = ()
    metadata: MetaData = field(default=Base.metadata, compare=False)

    @property
    def version_table(self) -> str:
        """The table that records which of this target's revisions are applied."""
        return "alembic_version" if self.name == CORE else f"alembic_version_{self.name}"

    def owns(self, table: str) -> bool:
        """Whether ``table`` belongs to this target (tables only in the database go by name prefix)."""
        if table in self.tables:
            return True
        if table in self.metadata.tables or table.startswith("alembic_version"):
            return False
        if self.name == CORE:
            return not any(table.startswith(prefix + "_") for prefix in self.other_prefixes)
        return table.startswith(self.name + "_")

    def include_object(self, obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        """Alembic's ``include_object`` hook: keep autogenerate to this target's tables."""
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table is None or self.owns(table)


def core_tables() -> frozenset[str]:
    """Tables of the models defined in the core's own modules."""
    return frozenset(mapped_tables(lambda module: module.split(".")[0] == CORE))


def build_targets(plugins: Iterable[Any], installed: Iterable[str]) -> list[MigrationTarget]:
    """The core target, then one per plugin record that has migrations.

    Args:
        plugins: loaded :class:`core.plugins.PluginRecord` objects.
        installed: names of every installed plugin (their tables are never the core's).
    """
    import core.models  # noqa: F401  (the core's models must be on the metadata)

    targets = [MigrationTarget(CORE, CORE_VERSIONS_DIR, core_tables(), tuple(sorted(installed)))]
    for record in plugins:
        if record.migrations_dir is not None:
            targets.append(MigrationTarget(record.name, record.migrations_dir, frozenset(record.tables)))
    return targets


def _config(target: MigrationTarget, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ENV_DIR))
    config.set_main_option("version_locations", str(target.versions_dir))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    config.attributes["target"] = target
    config.attributes["connection"] = connection
    return config


def _current(connection: Connection, target: MigrationTarget) -> tuple[str, ...]:
    context = MigrationContext.configure(connection, opts={"version_table": target.version_table})
    return context.get_current_heads()


def _pending(connection: Connection, target: MigrationTarget) -> list[tuple[str, str]]:
    script = ScriptDirectory.from_config(_config(target))
    current = _current(connection, target)
    revisions = script.iterate_revisions("heads", current or "base")
    return [(rev.revision, rev.doc or "") for rev in reversed(list(revisions))]


async def pending(database: Database, targets: Iterable[MigrationTarget]) -> dict[str, list[tuple[str, str]]]:
    """Revisions not yet applied, per target, oldest first: ``{"core": [(rev, message), ...]}``."""
    out: dict[str, list[tuple[str, str]]] = {}
    async with database.engine.connect() as conn:
        for target in targets:
            out[target.name] = await conn.run_sync(_pending, target)
    return out


def _upgrade_to_heads(connection: Connection, target: MigrationTarget) -> None:
    command.upgrade(_config(target, connection), "heads")


async def upgrade(database: Database, targets: Iterable[MigrationTarget]) -> dict[str, list[str]]:
    """Apply every pending revision, target by target (the core first); return what was applied."""
    applied: dict[str, list[str]] = {}
    for target in targets:
        async with database.engine.begin() as conn:
            todo = await conn.run_sync(_pending, target)
            if todo:
                log.info("migrating", target=target.name, revisions=[rev for rev, _ in todo])
                await conn.run_sync(_upgrade_to_heads, target)
            applied[target.name] = [rev for rev, _ in todo]
    return applied


async def revision(database: Database, target: MigrationTarget, message: str) -> list[Path]:
    """Autogenerate a revision for ``target`` from the difference between its models and the database."""
    target.versions_dir.mkdir(parents=True, exist_ok=True)

    def _revise(sync_conn: Connection) -> Any:
        return command.revision(_config(target, sync_conn), message=message, autogenerate=True)

    async with database.engine.begin() as conn:
        written = await conn.run_sync(_revise)
    scripts = written if isinstance(written, list) else [written]
    return [Path(script.path) for script in scripts if script is not None]


async def differences(database: Database, targets: Iterable[MigrationTarget]) -> dict[str, list[Any]]:
    """What autogenerate would change, per target: empty lists mean models and schema agree."""

    def _compare(sync_conn: Connection, target: MigrationTarget) -> list[Any]:
        context = MigrationContext.configure(
            sync_conn,
            opts={
                "include_object": target.include_object,
                "compare_type": True,
                "target_metadata": target.metadata,
            },
        )
        return list(compare_metadata(context, target.metadata))

    out: dict[str, list[Any]] = {}
    async with database.engine.connect() as conn:
        for target in targets:
            out[target.name] = await conn.run_sync(_compare, target)
    return out
