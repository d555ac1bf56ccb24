"""The ``streetbrain`` command, run as a real process: plugins, db, errors as one line, and run."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

STREETBRAIN = str(Path(sys.executable).parent / "streetbrain")


def cli(*args: str, cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``streetbrain ARGS`` with a clean STREETBRAIN_* environment plus ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREETBRAIN_")}
    clean.update(env)
    return subprocess.run(
        [STREETBRAIN, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=timeout, check=False
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_plugins_list_json_lists_the_built_ins_with_versions(tmp_path: Path) -> None:
    result = cli("plugins", "list", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {(r["name"], r["status"]) for r in rows} == {
        ("core", "ok"),
        ("street_vendors", "ok"),
        ("video_net", "ok"),
        ("waste_sorting", "ok"),
    }
    assert all(r["version"] for r in rows)


def test_broken_plugin_is_listed_as_failed(tmp_path: Path, install_plugin) -> None:  # type: ignore[no-untyped-def]
    site = install_plugin("broken", "raise RuntimeError('cannot start')\n")
    result = cli("plugins", "list", cwd=tmp_path, PYTHONPATH=str(site))
    assert result.returncode == 0
    line = next(line for line in result.stdout.splitlines() if line.startswith("broken"))
    assert "failed" in line and "RuntimeError: cannot start" in line


def test_db_upgrade_pending_and_check(tmp_path: Path) -> None:
    env = {"STREETBRAIN_DATA_DIR": str(tmp_path / "var")}
    pending = cli("db", "pending", "--json", cwd=tmp_path, **env)
    assert pending.returncode == 1
    todo = json.loads(pending.stdout)
    assert set(todo) == {"core", "street_vendors", "video_net", "waste_sorting"} and all(todo.values())

    only_video = cli("db", "upgrade", "--plugin", "video_net", cwd=tmp_path, **env)
    assert only_video.returncode == 0, only_video.stderr
    assert only_video.stdout.startswith("video_net: applied")

    upgrade = cli("db", "upgrade", cwd=tmp_path, **env)
    assert upgrade.returncode == 0, upgrade.stderr
    assert "core: applied" in upgrade.stdout and "video_net: up to date" in upgrade.stdout
    assert cli("db", "pending", cwd=tmp_path, **env).returncode == 0
    check = cli("db", "check", cwd=tmp_path, **env)
    assert check.returncode == 0 and check.stdout.count("in step") == 4


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["plugins", "list"], {"STREETBRAIN_DATABASE_URL": "oracle://x"}, "STREETBRAIN_DATABASE_URL"),
        (["plugins", "list"], {"STREETBRAIN_PLUGINS": "waste_sorting,parkingg"}, "unknown plugin parkingg"),
        (
            ["db", "upgrade"],
            {"STREETBRAIN_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
            "cannot use the database at postgresql+asyncpg://nobody@127.0.0.1:1/none",
        ),
        (["db", "upgrade", "--plugin", "parkingg"], {}, "unknown plugin 'parkingg'"),
        (["run"], {"STREETBRAIN_TIMEZONE": "Nowhere/City"}, "STREETBRAIN_TIMEZONE: expected an IANA time zone"),
    ],
)
def test_errors_are_one_line_saying_what_to_fix(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    result = cli(*args, cwd=tmp_path, STREETBRAIN_DATA_DIR=str(tmp_path / "var"), **env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr


def test_an_admin_creates_a_grid_worker_and_an_api_key_and_both_work_against_the_served_api(tmp_path: Path) -> None:
    env = {"STREETBRAIN_DATA_DIR": str(tmp_path / "var"), "STREETBRAIN_PLUGINS": "video_net"}
    assert cli("demo", cwd=tmp_path, **env).returncode == 0
    as_argument = cli("users", "create", "--username", "x", "--role", "viewer", "--password", "pw", cwd=tmp_path, **env)
    assert as_argument.returncode == 2 and "No such option" in as_argument.stderr  # never a password argument
    created = subprocess.run(
        [
            STREETBRAIN,
            "users",
            "create",
            "--username",
            "wang.fang",
            "--role",
            "grid_worker",
            "--grid",
            "2",
            "--password-stdin",
        ],
        input="Ningwei-2026\n",
        **_popen_args(tmp_path, env),
        check=False,
    )
    assert created.returncode == 0, created.stderr
    key = cli("apikeys", "create", "--name", "camera box 7", "--scope", "video_net:ingest", cwd=tmp_path, **env)
    assert key.returncode == 0, key.stderr
    api_key = key.stdout.strip()
    assert api_key.startswith("sbk_") and api_key not in key.stderr

    with serving(tmp_path, env) as url:
        token = httpx.post(f"{url}/api/v1/auth/token", json={"username": "wang.fang", "password": "Ningwei-2026"})
        assert token.status_code == 200, token.text
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        mine = httpx.get(f"{url}/api/v1/video-net/cameras", params={"limit": 500}, headers=bearer).json()
        assert mine["total"] > 0 and {camera["grid_id"] for camera in mine["items"]} == {2}
        code = mine["items"][0]["code"]
        beat = httpx.post(f"{url}/api/v1/video-net/cameras/{code}/heartbeat", headers={"X-API-Key": api_key})
        assert beat.status_code == 200 and beat.json()["status"] == "online"
        assert httpx.get(f"{url}/api/v1/video-net/cameras", headers={"X-API-Key": api_key}).status_code == 403
        assert httpx.get(f"{url}/api/v1/video-net/cameras").status_code == 401


def _popen_args(cwd: Path, env: dict[str, str]) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREETBRAIN_")}
    return {"cwd": cwd, "env": {**clean, **env}, "capture_output": True, "text": True, "timeout": 120}


@contextlib.contextmanager
def serving(cwd: Path, env: dict[str, str], *args: str) -> Iterator[str]:
    """``streetbrain run`` on a free port until the block ends; yields its URL."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREETBRAIN_")}
    server = subprocess.Popen(
        [STREETBRAIN, "run", "--port", str(port), *args],
        cwd=cwd,
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                httpx.get(f"{url}/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert f"serving at {url}" in output
    assert server.returncode in (0, -15), output  # uvicorn re-raises SIGTERM after a clean shutdown
    assert "Application shutdown complete" in output


def test_run_migrates_loads_demo_data_and_serves(tmp_path: Path) -> None:
    env = {"STREETBRAIN_DATA_DIR": str(tmp_path / "var")}
    with serving(tmp_path, env, "--demo") as url:
        health = httpx.get(f"{url}/health")
        assert health.status_code == 200
        assert {p["status"] for p in health.json()["plugins"]} == {"ok"}
