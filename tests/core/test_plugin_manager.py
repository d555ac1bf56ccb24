"""The plugin manager: discovery through entry points, enabling, failure isolation, sync/async, tracing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog

from core.config import ConfigError
from core.contracts import PluginInfo
from core.hookspecs import hookimpl
from core.plugins import load_plugins

BUILT_INS = {"core", "street_vendors", "video_net", "waste_sorting"}


def test_built_in_plugins_are_discovered_through_the_entry_point_group(make_settings: Callable[..., Any]) -> None:
    manager = load_plugins(make_settings())
    assert {r.name for r in manager.ok_plugins()} == BUILT_INS
    for record in manager.ok_plugins():
        assert record.version and record.title
        assert record.url_prefix == "/api/v1/" + record.name.replace("_", "-")
    assert manager.get("core").jobs and manager.get("core").reports  # the core's own features, through the hooks


def test_entry_points_can_be_switched_off(make_settings: Callable[..., Any]) -> None:
    assert set(load_plugins(make_settings(), use_entry_points=False).records) == {"core"}
    assert load_plugins(make_settings(), use_entry_points=False, builtins=False).records == {}


def test_plugins_setting_enables_a_subset_and_reports_the_rest_disabled(make_settings: Callable[..., Any]) -> None:
    manager = load_plugins(make_settings(plugins="waste_sorting"))
    status = {record.name: record.status for record in manager.records.values()}
    assert status == {"core": "ok", "waste_sorting": "ok", "video_net": "disabled", "street_vendors": "disabled"}
    assert not manager.pm.has_plugin("video_net")


def test_unknown_plugin_name_is_a_config_error_listing_installed_ones(make_settings: Callable[..., Any]) -> None:
    with pytest.raises(
        ConfigError, match=r"STREETBRAIN_PLUGINS: unknown plugin parkingg; installed: core, street_vendors"
    ):
        load_plugins(make_settings(plugins="parkingg,video_net"))


def test_plugin_that_fails_to_import_is_failed_and_the_others_load(
    make_settings: Callable[..., Any], install_plugin: Callable[..., Path]
) -> None:
    install_plugin("broken", "raise ImportError('needs the libfoo package')\n")
    manager = load_plugins(make_settings())
    broken = manager.get("broken")
    assert (broken.status, broken.version) == ("failed", "0.0.1")
    assert broken.error == "ImportError: needs the libfoo package"
    assert {r.name for r in manager.ok_plugins()} == BUILT_INS


def test_plugin_that_raises_in_a_hook_is_failed_and_unregistered(make_settings: Callable[..., Any]) -> None:
    class Flaky:
        @hookimpl
        def plugin_info(self) -> PluginInfo:
            return PluginInfo(name="flaky", title="Flaky", version="1.0")

        @hookimpl
        def register_routes(self) -> list[Any]:
            raise KeyError("route table")

    manager = load_plugins(make_settings(), plugins={"flaky": Flaky()})
    flaky = manager.get("flaky")
    assert (flaky.status, flaky.version) == ("failed", "1.0")
    assert flaky.error == "register_routes: KeyError: 'route table'"
    assert not manager.pm.has_plugin("flaky")
    assert {r.name for r in manager.ok_plugins()} == BUILT_INS


def test_misspelled_hook_fails_that_plugin_only(make_settings: Callable[..., Any]) -> None:
    class Typo:
        @hookimpl
        def plugin_info(self) -> PluginInfo:
            return PluginInfo(name="typo", title="Typo", version="1")

        @hookimpl
        def register_route(self) -> list[Any]:
            return []

    manager = load_plugins(make_settings(), use_entry_points=False, plugins={"typo": Typo()})
    assert manager.get("typo").status == "failed"
    assert "unknown hook(s) register_route" in (manager.get("typo").error or "")


def test_hook_argument_not_in_the_spec_is_rejected(make_settings: Callable[..., Any]) -> None:
    class WrongArgs:
        @hookimpl
        def plugin_info(self, app: Any) -> PluginInfo:
            return PluginInfo(name="wrongargs", title="x", version="1")

    record = load_plugins(make_settings(), use_entry_points=False, plugins={"wrongargs": WrongArgs()}).get("wrongargs")
    assert record.status == "failed"
    assert "PluginValidationError" in (record.error or "")


def test_plugin_without_plugin_info_is_failed(make_settings: Callable[..., Any]) -> None:
    class Anonymous:
        @hookimpl
        def register_models(self) -> list[Any]:
            return []

    record = load_plugins(make_settings(), use_entry_points=False, plugins={"anon": Anonymous()}).get("anon")
    assert record.status == "failed"
    assert "plugin_info" in (record.error or "")


def test_sync_and_async_implementations_are_both_accepted(make_settings: Callable[..., Any]) -> None:
    class Mixed:
        @hookimpl
        async def plugin_info(self) -> PluginInfo:
            return PluginInfo(name="mixed", title="Mixed", version="2.0")

        @hookimpl
        async def register_event_types(self) -> list[Any]:
            return []

        @hookimpl
        def register_cli_commands(self) -> list[Any]:
            return []

    record = load_plugins(make_settings(), use_entry_points=False, plugins={"mixed": Mixed()}).get("mixed")
    assert (record.status, record.version) == ("ok", "2.0")


async def test_async_implementations_load_inside_a_running_event_loop(make_settings: Callable[..., Any]) -> None:
    class Async:
        @hookimpl
        async def plugin_info(self) -> PluginInfo:
            return PluginInfo(name="asyncy", title="Async", version="3.0")

    record = load_plugins(make_settings(), use_entry_points=False, plugins={"asyncy": Async()}).get("asyncy")
    assert (record.status, record.version) == ("ok", "3.0")


def test_tracing_logs_every_hook_call(make_settings: Callable[..., Any]) -> None:
    with structlog.testing.capture_logs() as logs:
        load_plugins(make_settings(trace_hooks=True, plugins="video_net"))
    calls = [(entry["plugin"], entry["hook"]) for entry in logs if entry["event"] == "hook_call"]
    assert ("video_net", "plugin_info") in calls
    assert ("video_net", "register_routes") in calls
    assert all(entry["ms"] >= 0 for entry in logs if entry["event"] == "hook_call")
    with structlog.testing.capture_logs() as quiet:
        load_plugins(make_settings(plugins="video_net"))
    assert not [entry for entry in quiet if entry["event"] == "hook_call"]


def test_tracing_switch_comes_from_the_environment(
    make_settings: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREETBRAIN_TRACE_HOOKS", "1")
    assert make_settings().trace_hooks is True
