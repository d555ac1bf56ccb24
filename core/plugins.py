"""The plugin manager: discovery through entry points, enabling, load isolation and hook calls.

Built on pluggy (project ``streetbrain``). Each plugin's hook implementations are called one by
one, so that a plugin that raises is recorded as failed (at start-up) or logged (at run time)
while the core and the other plugins go on. A hook may be sync or async; :meth:`PluginManager.acall`
awaits what needs awaiting and :meth:`PluginManager.call` runs it to completion.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pluggy
from pydantic import BaseModel

from core import hookspecs
from core.config import ConfigError, Settings, plugin_settings
from core.contracts import JobSpec, PluginInfo
from core.db import mapped_tables
from core.logs import get_logger

ENTRY_POINT_GROUP = "streetbrain.plugins"

log = get_logger(__name__)

Status = Literal["ok", "failed", "disabled"]

# The start-up hooks, in the order they are called for each plugin.
SETUP_HOOKS: tuple[str, ...] = (
    "plugin_info",
    "register_settings",
    "register_models",
    "register_migrations",
    "register_routes",
    "register_jobs",
    "register_event_types",
    "register_citybrain_sources",
    "register_reports",
    "register_cli_commands",
    "register_demo_data",
)


class PluginLoadError(Exception):
    """A plugin cannot be loaded; the message says why."""


@dataclass
class PluginRecord:
    """One installed plugin: its status and everything its start-up hooks gave."""

    name: str
    status: Status
    version: str | None = None
    title: str | None = None
    description: str = ""
    error: str | None = None
    info: PluginInfo | None = None
    settings: BaseModel | None = None
    model_modules: list[ModuleType] = field(default_factory=list)
    tables: set[str] = field(default_factory=set)
    migrations_dir: Path | None = None
    routes: list[Any] = field(default_factory=list)
    jobs: list[JobSpec] = field(default_factory=list)
    event_types: list[Any] = field(default_factory=list)
    citybrain_sources: list[Any] = field(default_factory=list)
    reports: list[Any] = field(default_factory=list)
    cli_commands: list[Any] = field(default_factory=list)
    demo_loader: Any = None

    @property
    def url_prefix(self) -> str:
        """Where the plugin's routes are mounted."""
        return "/api/v1/" + self.name.replace("_", "-")

    def summary(self) -> dict[str, Any]:
        """Name, version, status and error, for ``/health`` and ``plugins list``."""
        out: dict[str, Any] = {"name": self.name, "version": self.version, "status": self.status}
        if self.title:
            out["title"] = self.title
        if self.error:
            out["error"] = self.error
        return out


def run_sync(value: Any) -> Any:
    """Return ``value``, or its result when it is awaitable (run on a fresh event loop)."""
    if not inspect.isawaitable(value):
        return value

    async def _await() -> Any:
        return await value

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:  # a loop is running here
        return pool.submit(asyncio.run, _await()).result()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class PluginManager:
    """Discovers, enables and loads plugins, and calls their hooks with failure isolation."""

    def __init__(
        self,
        settings: Settings,
        *,
        use_entry_points: bool = True,
        plugins: Mapping[str, object] | None = None,
        builtins: bool = True,
    ) -> None:
        """Prepare a manager; call :meth:`load` to import and set up the plugins.

        Args:
            settings: platform settings (``plugins`` selects what is enabled).
            use_entry_points: discover plugins in the ``streetbrain.plugins`` group (tests switch it off).
            plugins: extra plugin objects by name, registered as if installed (for tests and embedding).
            builtins: register the core's own features (``core.builtin``, always enabled) as plugin ``core``.
        """
        self.settings = settings
        self.use_entry_points = use_entry_points
        self.extra_plugins = dict(plugins or {})
        self.builtins = builtins
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.trace = settings.trace_hooks

    # -- discovery and loading -------------------------------------------------------------

    def installed(self) -> dict[str, EntryPoint | object]:
        """Every installed plugin by name: entry points, then the extra objects given."""
        found: dict[str, EntryPoint | object] = {}
        if self.builtins:
            from core import builtin

            found["core"] = builtin
        if self.use_entry_points:
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                found.setdefault(ep.name, ep)
        found.update(self.extra_plugins)
        return found

    def load(self) -> PluginManager:
        """Import and set up every enabled plugin; raise :class:`ConfigError` for an unknown name."""
        installed = self.installed()
        wanted = self.settings.plugins
        if wanted is not None:
            unknown = sorted(set(wanted) - set(installed) - {"core"})
            if unknown:
                raise ConfigError(
                    f"STREETBRAIN_PLUGINS: unknown plugin {', '.join(unknown)}; "
                    f"installed: {', '.join(sorted(installed)) or 'none'}"
                )
        for name in sorted(installed):
            source = installed[name]
            version = source.dist.version if isinstance(source, EntryPoint) and source.dist else None
            if wanted is not None and name not in wanted and name != "core":
                self.records[name] = PluginRecord(name=name, status="disabled", version=version)
                continue
            record = PluginRecord(name=name, status="ok", version=version)
            self.records[name] = record
            try:
                plugin = source.load() if isinstance(source, EntryPoint) else source
                self._register(name, plugin)
                self._set_up(record)
            except ConfigError:
                raise
            except Exception as exc:
                self._fail(record, exc)
        self.pm.check_pending()
        return self

    def _register(self, name: str, plugin: object) -> None:
        self.pm.register(plugin, name=name)
        unknown = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [] if caller.spec is None)
        if unknown:
            raise PluginLoadError(f"unknown hook(s) {', '.join(unknown)}: check the spelling against core/hookspecs.py")

    def _fail(self, record: PluginRecord, exc: BaseException, hook: str | None = None) -> None:
        record.status = "failed"
        record.error = (f"{hook}: " if hook else "") + _error_text(exc)
        if self.pm.has_plugin(record.name):
            self.pm.unregister(name=record.name)
        log.error("plugin_failed", plugin=record.name, hook=hook, error=record.error)

    def _set_up(self, record: PluginRecord) -> None:
        for hook in SETUP_HOOKS:
            try:
                kwargs = {"settings": self.settings, "plugin_settings": record.settings}
                result = self._call_plugin(record.name, hook, kwargs)
                self._apply(record, hook, result)
            except ConfigError:
                raise
            except Exception as exc:
                self._fail(record, exc, hook)
                return

    def _apply(self, record: PluginRecord, hook: str, result: Any) -> None:
        if hook == "plugin_info":
            if not isinstance(result, PluginInfo):
                raise PluginLoadError("plugin_info() must return a core.contracts.PluginInfo")
            if result.name != record.name:
                raise PluginLoadError(f"plugin_info().name is {result.name!r} but the entry point is {record.name!r}")
            record.info, record.version, record.title = result, result.version, result.title
            record.description = result.description
        elif hook == "register_settings":
            record.settings = plugin_settings(self.settings, record.name, result) if result else None
        elif hook == "register_models":
            record.model_modules = [import_module(m) if isinstance(m, str) else m for m in _as_list(result)]
            record.tables = self._tables_of(record)
        elif hook == "register_migrations":
            record.migrations_dir = Path(result) if result else None
            if record.migrations_dir and not record.migrations_dir.is_dir():
                raise PluginLoadError(f"migrations folder {record.migrations_dir} does not exist")
        elif hook == "register_demo_data":
            record.demo_loader = result
        else:
            items = _as_list(result)
            self._check_names(record.name, hook, items)
            setattr(record, hook.removeprefix("register_"), items)

    @staticmethod
    def _check_names(plugin: str, hook: str, items: list[Any]) -> None:
        """Enforce the naming rules: event types ``<plugin>.<kind>``, job and report ids without ``:``."""
        if hook == "register_event_types":
            bad = [item.type for item in items if not item.type.startswith(plugin + ".")]
            if bad:
                raise PluginLoadError(f"event type(s) {', '.join(bad)} must be named {plugin}.<kind>")
        elif hook in ("register_jobs", "register_reports"):
            names = [getattr(item, "id", None) or item.name for item in items]
            bad = [name for name in names if not name or ":" in name or "/" in name]
            if bad or len(set(names)) != len(names):
                raise PluginLoadError(f"{hook}: ids must be unique and contain no ':' or '/': {names}")

    def _tables_of(self, record: PluginRecord) -> set[str]:
        modules = {module.__name__ for module in record.model_modules}
        tables = mapped_tables(modules.__contains__)
        bad = sorted(t for t in tables if not t.startswith(record.name + "_"))
        if bad:
            raise PluginLoadError(f"table(s) {', '.join(bad)} must be named {record.name}_<name>")
        return tables

    # -- hook calls -----------------------------------------------------------------------

    def _call_plugin(self, name: str, hook: str, kwargs: Mapping[str, Any]) -> Any:
        impls = [impl for impl in getattr(self.pm.hook, hook).get_hookimpls() if impl.plugin_name == name]
        if not impls:
            return None
        impl = impls[0]
        started = time.perf_counter()
        try:
            return run_sync(impl.function(*[kwargs[arg] for arg in impl.argnames]))
        finally:
            self._trace(name, hook, started)

    def _trace(self, name: str, hook: str, started: float) -> None:
        if self.trace:
            log.info("hook_call", plugin=name, hook=hook, ms=round((time.perf_counter() - started) * 1000, 3))

    def ok_plugins(self) -> list[PluginRecord]:
        """The plugins that loaded, in name order."""
        return [record for record in self.records.values() if record.status == "ok"]

    def call(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call ``hook`` on every loaded plugin; return ``(plugin, result)`` pairs, skipping failures.

        Errors are logged with the plugin's name and do not stop the other plugins.
        """
        results = []
        for record in self.ok_plugins():
            try:
                results.append((record.name, self._call_plugin(record.name, hook, kwargs)))
            except Exception as exc:
                log.exception("hook_error", plugin=record.name, hook=hook, error=_error_text(exc))
        return results

    async def acall(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Like :meth:`call`, inside a running event loop: async implementations are awaited here."""
        results, _ = await self._acall(hook, kwargs)
        return results

    async def acall_checked(self, hook: str, **kwargs: Any) -> bool:
        """Call ``hook`` on every loaded plugin; True when none of them raised (errors are logged)."""
        _, failures = await self._acall(hook, kwargs)
        return failures == 0

    async def _acall(self, hook: str, kwargs: Mapping[str, Any]) -> tuple[list[tuple[str, Any]], int]:
        results, failures = [], 0
        for record in self.ok_plugins():
            for impl in getattr(self.pm.hook, hook).get_hookimpls():
                if impl.plugin_name != record.name:
                    continue
                started = time.perf_counter()
                try:
                    value = impl.function(*[kwargs[arg] for arg in impl.argnames])
                    if inspect.isawaitable(value):
                        value = await value
                    results.append((record.name, value))
                except Exception as exc:
                    failures += 1
                    log.exception("hook_error", plugin=record.name, hook=hook, error=_error_text(exc))
                finally:
                    self._trace(record.name, hook, started)
        return results, failures

    # -- views ----------------------------------------------------------------------------

    def get(self, name: str) -> PluginRecord:
        """The record of plugin ``name``; :class:`ConfigError` naming the installed ones if unknown."""
        try:
            return self.records[name]
        except KeyError:
            raise ConfigError(
                f"unknown plugin {name!r}; installed: {', '.join(sorted(self.records)) or 'none'}"
            ) from None

    def summaries(self) -> list[dict[str, Any]]:
        """Name, version, status (and error) of every installed plugin."""
        return [record.summary() for record in self.records.values()]


def load_plugins(settings: Settings, **kwargs: Any) -> PluginManager:
    """Create a :class:`PluginManager` and load the plugins the settings enable."""
    return PluginManager(settings, **kwargs).load()
