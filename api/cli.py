"""The ``streetbrain`` command line: run, db, plugins, demo, version, and the plugins' own commands.

A setting that is wrong, a database that cannot be reached or an unknown plugin name ends the
command with one line saying what to fix (exit status 2), never with a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import click
from alembic.util.exc import CommandError
from sqlalchemy.exc import DBAPIError

from core import migrator
from core.areas.index import load_area_index
from core.config import ConfigError, Settings, load_settings
from core.db import Database
from core.demo import load_demo_accounts, load_demo_areas, load_demo_cases, load_demo_data
from core.logs import configure_logging
from core.plugins import PluginManager, load_plugins
from core.security.permissions import Authorizer
from core.security.setup import set_up_security
from core.version import VERSION

T = TypeVar("T")


class UserError(click.ClickException):
    """An error the operator can fix; printed as one line."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        """Print ``error: <message>`` to stderr."""
        click.echo(f"error: {self.format_message()}", err=True)


@dataclass
class Runtime:
    """What a command needs, created on first use: settings, plugins and the database."""

    @cached_property
    def settings(self) -> Settings:
        """Validated settings; the first access configures logging."""
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
        return settings

    @cached_property
    def plugins(self) -> PluginManager:
        """The loaded plugin manager."""
        return load_plugins(self.settings)

    @cached_property
    def authorizer(self) -> Authorizer:
        """Roles and permissions; also installs the key ring for personal data."""
        return set_up_security(self.settings, self.plugins.ok_plugins())

    @cached_property
    def database(self) -> Database:
        """The database of the settings (with the key ring for personal data installed)."""
        assert self.authorizer is not None
        return Database(self.settings.database_url)

    def targets(self, plugin: str | None = None) -> list[migrator.MigrationTarget]:
        """Migration targets: the core and every loaded plugin, or one of them by name."""
        targets = migrator.build_targets(self.plugins.ok_plugins(), self.plugins.records)
        if plugin is None:
            return targets
        chosen = [t for t in targets if t.name == plugin]
        if not chosen:
            record = self.plugins.get(plugin)  # raises for a name that is not installed
            reason = record.error or record.status if record.status != "ok" else "it has no migrations"
            raise UserError(f"plugin {plugin!r} cannot be migrated: {reason}")
        return chosen

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a database coroutine; turn connection failures into one line that says what to do."""

        async def _with_dispose() -> T:
            try:
                return await coro
            finally:
                await self.database.dispose()

        try:
            return asyncio.run(_with_dispose())
        except (DBAPIError, OSError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
                raise UserError(f"the database schema is behind ({reason}); run `streetbrain db upgrade`") from None
            raise UserError(
                f"cannot use the database at {self.settings.safe_database_url()}: {reason}. "
                "Check STREETBRAIN_DATABASE_URL and that the database server is running."
            ) from None
        except CommandError as exc:
            raise UserError(f"{exc}. Run `streetbrain db upgrade` first if the schema is behind.") from None


pass_runtime = click.make_pass_decorator(Runtime, ensure=True)


class StreetBrainGroup(click.Group):
    """The root group: adds each plugin's commands and turns configuration errors into one line."""

    def _plugin_groups(self, ctx: click.Context) -> dict[str, click.Command]:
        runtime = ctx.ensure_object(Runtime)
        groups: dict[str, click.Command] = {}
        for record in runtime.plugins.ok_plugins():
            if record.cli_commands:
                group = click.Group(record.name, help=f"{record.title or record.name} commands.")
                for command in record.cli_commands:
                    group.add_command(command)
                groups[record.name] = group
        return groups

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Core commands, then plugin groups (when the settings and plugins load)."""
        names = list(super().list_commands(ctx))
        with contextlib.suppress(ConfigError):
            names += sorted(self._plugin_groups(ctx))
        return names

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A core command, else a plugin's group of that name."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        try:
            return self._plugin_groups(ctx).get(cmd_name)
        except ConfigError as exc:
            raise UserError(str(exc)) from None

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a configuration error ends it with one line."""
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise UserError(str(exc)) from None


@click.group(cls=StreetBrainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="streetbrain")
def main() -> None:
    """StreetBrain: smart-street governance platform.

    Settings come from STREETBRAIN_* environment variables and an optional streetbrain.toml.
    """


@main.command()
def version() -> None:
    """Print the StreetBrain version."""
    click.echo(VERSION)


# -- plugins ------------------------------------------------------------------------------


@main.group()
def plugins() -> None:
    """Inspect installed plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_runtime
def plugins_list(runtime: Runtime, as_json: bool) -> None:
    """List installed plugins with their version and status (ok, failed, disabled)."""
    rows = runtime.plugins.summaries()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        line = f"{row['name']:<20} {row['version'] or '-':<10} {row['status']}"
        click.echo(line + (f"  ({row['error']})" if row.get("error") else ""))


# -- db -----------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Migrate the database schema (the core first, then each plugin)."""


@db.command("upgrade")
@click.option("--plugin", "plugin", metavar="NAME", help="Migrate only this plugin (or 'core').")
@pass_runtime
def db_upgrade(runtime: Runtime, plugin: str | None) -> None:
    """Apply every pending migration."""
    targets = runtime.targets(plugin)
    applied = runtime.run(migrator.upgrade(runtime.database, targets))
    for name, revisions in applied.items():
        click.echo(f"{name}: {'applied ' + ', '.join(revisions) if revisions else 'up to date'}")


@db.command("pending")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_runtime
def db_pending(runtime: Runtime, as_json: bool) -> None:
    """List migrations not yet applied, per target; exit status 1 when there are any."""
    todo = runtime.run(migrator.pending(runtime.database, runtime.targets()))
    if as_json:
        click.echo(json.dumps({name: [{"revision": r, "message": m} for r, m in revs] for name, revs in todo.items()}))
    else:
        for name, revisions in todo.items():
            click.echo(f"{name}: {len(revisions)} pending")
            for rev, message in revisions:
                click.echo(f"  {rev}  {message}")
    if any(todo.values()):
        sys.exit(1)


@db.command("revision")
@click.option("--plugin", "plugin", metavar="NAME", default="core", show_default=True, help="Whose migration.")
@click.option("-m", "--message", required=True, help="What the revision changes.")
@pass_runtime
def db_revision(runtime: Runtime, plugin: str, message: str) -> None:
    """Autogenerate a revision from the difference between the models and the database."""
    (target,) = runtime.targets(plugin)
    paths = runtime.run(migrator.revision(runtime.database, target, message))
    for path in paths:
        click.echo(f"wrote {path}")


@db.command("check")
@pass_runtime
def db_check(runtime: Runtime) -> None:
    """Exit 1 when the models and the applied migrations differ (run after ``db upgrade``)."""
    diffs = runtime.run(migrator.differences(runtime.database, runtime.targets()))
    for name, changes in diffs.items():
        click.echo(f"{name}: {'in step' if not changes else f'{len(changes)} difference(s)'}")
        for change in changes:
            click.echo(f"  {change}")
    if any(diffs.values()):
        sys.exit(1)


# -- demo and run -------------------------------------------------------------------------


def upgrade_schema(runtime: Runtime, demo: bool = False) -> None:
    """Apply pending migrations (the core, then every plugin); with ``demo``, load the demo data too."""

    async def _go() -> None:
        await migrator.upgrade(runtime.database, runtime.targets())
        if demo:
            areas = await load_demo_areas(runtime.database)  # before the plugins' data, which names grids
            click.echo(f"demo areas: {areas or 'already loaded'}")
            results = await load_demo_data(runtime.database, runtime.plugins.ok_plugins())
            for name, outcome in results.items():
                click.echo(f"demo {name}: {outcome or 'already loaded'}")
            accounts, password = await load_demo_accounts(runtime.database, runtime.authorizer)
            if accounts:
                click.echo(f"demo accounts {', '.join(accounts)} with the password {password} (shown only now;")
                click.echo("  `streetbrain users password NAME` sets another). Sign in: POST /api/v1/auth/token")
            reports = await _load_demo_cases(runtime)
            click.echo(f"demo cases: {reports or 'already there'}")

    runtime.run(_go())


async def _load_demo_cases(runtime: Runtime) -> int:
    """Hotline reports that routing turns into cases (after the accounts, so grids have their worker)."""
    from api.app import build_services

    index = await load_area_index(runtime.database)
    services = build_services(runtime.settings, runtime.plugins, runtime.database, runtime.authorizer, lambda: index)
    emitted = await load_demo_cases(runtime.database, services.events.emit_now)
    await services.events.drain()
    await services.citybrain.aclose()
    return emitted


@main.command()
@pass_runtime
def demo(runtime: Runtime) -> None:
    """Bring the schema up to date and load every plugin's demo data (safe to repeat)."""
    upgrade_schema(runtime, demo=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port.")
@click.option("--demo", "with_demo", is_flag=True, help="Load demo data before serving.")
@click.option("--no-scheduler", is_flag=True, help="Serve the API only; run no scheduled jobs.")
@pass_runtime
def run(runtime: Runtime, host: str, port: int, with_demo: bool, no_scheduler: bool) -> None:
    """Bring the schema up to date, then serve the API (and run the scheduler)."""
    import uvicorn

    from api.app import create_app

    upgrade_schema(runtime, demo=with_demo)
    settings = runtime.settings.model_copy(
        update={"scheduler_enabled": runtime.settings.scheduler_enabled and not no_scheduler}
    )
    app = create_app(settings, plugins=runtime.plugins, database=runtime.database)
    shown = "127.0.0.1" if host == "0.0.0.0" else host
    click.echo(f"StreetBrain {VERSION} is serving at http://{shown}:{port}  (API docs: http://{shown}:{port}/schema)")
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


from api import cli_jobs, cli_security  # noqa: E402,F401  (register jobs, scheduler, users, apikeys, pii)
from api.cli_citybrain import citybrain, citybrain_sim  # noqa: E402  (City Brain commands)

main.add_command(citybrain)
main.add_command(citybrain_sim)

if __name__ == "__main__":  # pragma: no cover
    main()
