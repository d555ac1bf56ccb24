"""``streetbrain citybrain ...`` against the simulator, and the City Brain settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from core.citybrain.simulator.server import SimulatorServer
from core.config import ConfigError, env_name, load_settings
from tests.core.citybrain.conftest import citybrain_overrides


def _env(simulator: SimulatorServer, tmp_path: Path) -> dict[str, str]:
    env = {env_name(key): str(value) for key, value in citybrain_overrides(simulator.url).items()}
    return {**env, env_name("data_dir"): str(tmp_path / "var")}


def test_sync_status_outbox_and_deliver_commands(simulator: SimulatorServer, tmp_path: Path) -> None:
    simulator.set_faults(malformed_rate=0.1)
    good, bad = simulator.state.expected("cameras")
    env = _env(simulator, tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0

    result = runner.invoke(main, ["citybrain", "sync", "cameras"], env=env)
    assert result.exit_code == 0, result.output
    assert f"cameras: {len(good) + len(bad)} fetched, {len(good)} upserted, {len(bad)} quarantined" in result.output

    status = runner.invoke(main, ["citybrain", "status", "--json"], env=env)
    report = json.loads(status.output)
    assert report["datasets"][0]["last_run"]["upserted"] == len(good)
    assert report["outbox"] == {"stuck": 0}

    full = runner.invoke(main, ["citybrain", "sync", "cameras", "--full"], env=env)
    assert f"{len(good) + len(bad)} fetched" in full.output
    assert runner.invoke(main, ["citybrain", "outbox"], env=env).output.strip() == "nothing waiting"
    assert runner.invoke(main, ["citybrain", "deliver"], env=env).output.strip() == "delivered 0, failed 0, dead 0"


def test_commands_say_what_to_fix(simulator: SimulatorServer, tmp_path: Path) -> None:
    env = _env(simulator, tmp_path)
    runner = CliRunner()
    unknown = runner.invoke(main, ["citybrain", "sync", "parking"], env=env)
    assert unknown.exit_code == 2 and "no City Brain source for dataset 'parking'; known: cameras" in unknown.output
    bare = {env_name("data_dir"): str(tmp_path / "var")}
    off = runner.invoke(main, ["citybrain", "sync", "cameras"], env=bare)
    assert off.exit_code == 2 and env_name("citybrain_base_url") in off.output
    down = {**env, env_name("citybrain_base_url"): "http://127.0.0.1:9", env_name("citybrain_retry_attempts"): "2"}
    assert runner.invoke(main, ["db", "upgrade"], env=down).exit_code == 0
    failed = runner.invoke(main, ["citybrain", "sync", "cameras"], env=down)
    assert failed.exit_code == 2 and "did not answer" in failed.output and "resumes" in failed.output


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"citybrain_base_url": "ftp://citybrain"}, "STREETBRAIN_CITYBRAIN_BASE_URL"),
        ({"citybrain_base_url": "http://127.0.0.1:9100"}, "STREETBRAIN_CITYBRAIN_APP_KEY"),
        ({"citybrain_page_size": 0}, "STREETBRAIN_CITYBRAIN_PAGE_SIZE"),
        ({"citybrain_retry_attempts": 0}, "STREETBRAIN_CITYBRAIN_RETRY_ATTEMPTS"),
        ({"citybrain_read_timeout": 0}, "STREETBRAIN_CITYBRAIN_READ_TIMEOUT"),
        ({"citybrain_app_secret": "short"}, "STREETBRAIN_CITYBRAIN_APP_SECRET"),
    ],
)
def test_citybrain_settings_are_checked(overrides: dict[str, object], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable) as caught:
        load_settings(**overrides)
    assert "short" not in str(caught.value)  # a secret is never echoed
