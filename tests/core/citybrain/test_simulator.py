"""The simulator: deterministic realistic datasets, run-time faults, pushes, and its command."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from core.citybrain.signing import signed_headers
from core.citybrain.simulator.app import DEFAULT_APP_KEY, DEFAULT_APP_SECRET
from core.citybrain.simulator.data import COMMUNITIES, generate
from core.citybrain.simulator.server import SimulatorServer, free_port


def test_datasets_are_the_same_for_the_same_seed_and_look_like_ningwei() -> None:
    assert generate("households", 50, seed=1).records == generate("households", 50, seed=1).records
    assert generate("households", 50, seed=1).records != generate("households", 50, seed=2).records
    communities = {name for _, name, _, _ in COMMUNITIES}
    for name in ("market_licenses", "households", "cameras", "grids"):
        records = generate(name, 40, seed=5).records
        assert len({r["id"] for r in records}) == 40
        assert all(120.2 < r["lon"] < 120.35 and 30.18 < r["lat"] < 30.27 for r in records)
        assert all(r["community"] in communities and r["name"] for r in records)
        keys = [(r["updated_at"], r["id"]) for r in records]
        assert keys == sorted(keys)
    cameras = generate("cameras", 40, seed=5).records
    assert all(len(c["id"]) == 20 and c["id"].isdigit() for c in cameras)


def _signed_post(url: str, path: str, body: bytes, key: str | None) -> httpx.Response:
    headers = signed_headers(DEFAULT_APP_KEY, DEFAULT_APP_SECRET.encode(), "POST", path, "", body)
    headers["Content-Type"] = "application/json"
    if key:
        headers["Idempotency-Key"] = key
    return httpx.post(url + path, content=body, headers=headers, timeout=5)


def test_pushes_are_stored_once_per_idempotency_key(simulator: SimulatorServer) -> None:
    url = simulator.url
    first = _signed_post(url, "/v1/metrics/waste_sorting_daily", b'{"period":"2026-11-28","values":{"x":1}}', "k1")
    again = _signed_post(url, "/v1/metrics/waste_sorting_daily", b'{"period":"2026-11-28","values":{"x":1}}', "k1")
    assert first.status_code == 202 and again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = _signed_post(url, "/v1/metrics/waste_sorting_daily", b'{"period":"2026-11-29","values":{"x":1}}', "k1")
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
    no_key = _signed_post(url, "/v1/events", b'{"type":"video_net.smoke"}', None)
    assert no_key.status_code == 400 and no_key.json()["errors"][0]["field"] == "Idempotency-Key"
    no_type = _signed_post(url, "/v1/events", b'{"kind":"smoke"}', "k2")
    assert no_type.status_code == 422 and no_type.json()["errors"][0]["field"] == "type"
    received = httpx.get(url + "/_sim/received").json()
    assert [item["idempotency_key"] for item in (i["answer"] for i in received["items"])] == ["k1"]
    assert (received["deliveries"], received["replays"]) == (3, 1)


def test_faults_switch_at_run_time_and_bad_values_name_the_field(simulator: SimulatorServer) -> None:
    assert simulator.set_faults(error_rate=0.25, latency=0.01)["error_rate"] == 0.25
    assert httpx.get(simulator.url + "/_sim/faults").json()["latency"] == 0.01
    for body, field in (
        ({"error_rate": 2}, "error_rate"),
        ({"nonsense": 1}, "nonsense"),
        ({"latency": "x"}, "latency"),
    ):
        response = httpx.put(simulator.url + "/_sim/faults", json=body)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == field
    assert httpx.get(simulator.url + "/_sim/faults").json()["error_rate"] == 0.25


def test_the_citybrain_sim_command_serves_signed_datasets(tmp_path: object) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREETBRAIN_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "citybrain-sim", "--port", str(port), "--seed", "5", "--size", "cameras=30"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        headers = signed_headers(DEFAULT_APP_KEY, DEFAULT_APP_SECRET.encode(), "GET", "/v1/datasets", "")
        listed = httpx.get(url + "/v1/datasets", headers=headers).json()["items"]
        assert {"name": "cameras", "records": 30} in listed
        assert {"name": "households", "records": 5000} in listed
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    assert f"City Brain simulator at http://127.0.0.1:{port} (seed 5;" in out
