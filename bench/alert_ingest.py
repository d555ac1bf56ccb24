"""Benchmark: camera alert ingestion over HTTP, against the same server's bare endpoint and raw DBAPI.

A real StreetBrain server (uvicorn, SQLite in WAL mode, video_net enabled, scheduler off) runs on
core 0 (``taskset -c 0``); wrk runs on core 1 with 32 connections and a Lua script that makes every
alert unique (camera, type and the sender's alert id vary; the time is fixed, so after the first
alert of each camera and type the rest merge into its incident). Measured in the same run:

- **ours, single**: ``POST /api/v1/video-net/alerts`` with one alert and an API key scoped
  ``video_net:ingest``: authenticate, decode and validate, check the replay, dedup into the open
  incident (or open one: a core event and a case), insert, commit; alerts/s;
- **ours, batch**: the same endpoint with 100 alerts per request; alerts/s;
- **bare**: ``POST /bench/bare`` on the same server: msgspec decode of the same body and a small JSON
  answer, no authentication and no database (the ceiling of the framework here); requests/s;
- **raw DBAPI**: ``sqlite3`` in this process, ``INSERT`` of one alert row + ``COMMIT`` per alert into a
  table with the same unique key, same pragmas; rows/s.

The server has one core, so each figure is per server core. Each HTTP figure is the median of
``--rounds`` runs of ``--seconds`` after a warm-up. On a shared machine other processes take turns on
core 0 too; the single-alert figure divided by the server's own CPU time (``per_cpu_second``) shows
what one fully available core does.

    .venv/bin/python bench/alert_ingest.py [--seconds 8] [--rounds 2] [--connections 32]

Last line: ``RESULT alert_ingest ours=<alerts/s per core> reference=2000 ratio=<ours/2000> batch=<alerts/s>``
(2,000 single-attribute updates per second per core is FIWARE Orion's published figure).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
STREETBRAIN = ROOT / ".venv" / "bin" / "streetbrain"
CAMERAS = 100
REFERENCE = 2000.0

LUA = r"""
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
local types = {"street_vendor", "road_occupation", "garbage_overflow", "illegal_parking",
               "crowd_gathering", "smoke_fire", "non_motor_parking", "illegal_advertising"}
function init(args)
  counter = 0
  run, at, per = args[1], args[2], tonumber(args[3])
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-API-Key"] = args[4]
end
local function one()
  counter = counter + 1
  local n = counter * 7 + tid
  return string.format('{"camera":"33010900001310%06d","alert_id":"%s-%d-%d","type":"%s",'
    .. '"confidence":0.9,"occurred_at":"%s"}', n % 100, run, tid, counter, types[math.floor(n / 100) % 8 + 1], at)
end
function request()
  if per == 1 then return wrk.format("POST", nil, nil, one()) end
  local items = {}
  for i = 1, per do items[i] = one() end
  return wrk.format("POST", nil, nil, "[" .. table.concat(items, ",") .. "]")
end
function done(summary, latency, requests)
  local e = summary.errors
  local bad = e.status + e.connect + e.read + e.write + e.timeout
  io.write(string.format("BENCH requests=%d seconds=%.3f errors=%d\n", summary.requests, summary.duration / 1e6, bad))
end
"""

AUTH_LUA = r"""
function init(args) wrk.headers["X-API-Key"] = args[4] end
function done(summary, latency, requests)
  io.write(string.format("BENCH requests=%d seconds=%.3f errors=0\n", summary.requests, summary.duration / 1e6))
end
"""

SERVER = r"""
import sys, uvicorn, msgspec
sys.path.insert(0, {root!r})
if {switch!r}:
    sys.setswitchinterval({switch!r})
from litestar import post
from api.app import create_app
from core.config import load_settings
from core.db import Database
from core.plugins import load_plugins
from core.security import crypto
from plugins.video_net.schemas import AlertBody

@post("/bench/bare", opt={{"exclude_from_auth": True}}, status_code=200)
async def bare(data: AlertBody | list[AlertBody]) -> dict[str, object]:
    return {{"outcome": "bare", "count": len(data) if isinstance(data, list) else 1}}

settings = load_settings(scheduler_enabled=False)
plugins = load_plugins(settings)
app = create_app(settings, plugins=plugins, database=Database(settings.database_url))
app.register(bare)
uvicorn.run(app, host="127.0.0.1", port={port}, log_config=None, access_log=False, log_level="warning")
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(data_dir: Path, env: dict[str, str]) -> str:
    """Migrate, make an ingest key, register the cameras; returns the key."""
    subprocess.run([str(STREETBRAIN), "db", "upgrade"], env=env, check=True, capture_output=True)
    key = subprocess.run(
        [str(STREETBRAIN), "apikeys", "create", "--name", "bench", "--scope", "video_net:ingest"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    with sqlite3.connect(data_dir / "streetbrain.db") as db:
        now = datetime.now(UTC).isoformat()
        db.executemany(
            "INSERT INTO video_net_cameras (code, name, owner, lon, lat, enabled, status, created_at)"
            " VALUES (?, ?, 'community', 120.26, 30.18, 1, 'online', ?)",
            [(f"33010900001310{n:06d}", f"Bench camera {n}", now) for n in range(CAMERAS)],
        )
    return key


def wrk(url: str, seconds: float, connections: int, script: Path, *args: str) -> tuple[float, int]:
    """Requests/s and errors of one wrk run on core 1."""
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", "--timeout", "10s", f"-c{connections}", f"-d{max(1, round(seconds))}s",
         "-s", str(script), url, "--", *args],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    match = re.search(r"BENCH requests=(\d+) seconds=([\d.]+) errors=(\d+)", out)
    if not match:
        raise RuntimeError(f"wrk said: {out}")
    return int(match[1]) / float(match[2]), int(match[3])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` and its threads so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prime(url: str, key: str, at: str) -> None:
    """Open the incident of every camera and type (the steady state of a network is mostly merges)."""
    import json
    import urllib.request

    types = re.findall(r'"(\w+)"', LUA.split("local types = {")[1].split("}")[0])
    for kind in types:
        body = [{"camera": f"33010900001310{n:06d}", "alert_id": f"prime-{kind}-{n}", "type": kind, "confidence": 0.9,
                 "occurred_at": at} for n in range(CAMERAS)]  # fmt: skip
        request = urllib.request.Request(url, json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "X-API-Key": key})  # fmt: skip
        urllib.request.urlopen(request, timeout=120).read()


def raw_dbapi(path: Path, rows: int) -> float:
    """Rows/s of sqlite3 INSERT + COMMIT per alert (WAL, synchronous=NORMAL), with a unique sender key."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE alerts (id INTEGER PRIMARY KEY, camera TEXT, alert_id TEXT, type TEXT, confidence REAL,"
        " occurred_at TEXT, UNIQUE (camera, alert_id))"
    )
    at = datetime.now(UTC).isoformat()
    start = time.perf_counter()
    for n in range(rows):
        db.execute("BEGIN")
        db.execute(
            "INSERT INTO alerts (camera, alert_id, type, confidence, occurred_at) VALUES (?, ?, ?, ?, ?)",
            (f"33010900001310{n % 100:06d}", f"raw-{n}", "street_vendor", 0.9, at),
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return rows / elapsed


def main() -> None:
    """Run the benchmark and print the figures and the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--switch-interval", type=float, default=0.0,
                        help="sys.setswitchinterval in the server (0: Python's default, 5 ms)")  # fmt: skip
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    data_dir = Path(tempfile.mkdtemp(prefix="sb-alert-bench-"))
    env = {**os.environ, "STREETBRAIN_DATA_DIR": str(data_dir), "STREETBRAIN_PLUGINS": "video_net",
           "STREETBRAIN_LOG_LEVEL": "WARNING", "STREETBRAIN_SECRET_KEY": "alert-bench-" + "k" * 32}  # fmt: skip
    env = {k: v for k, v in env.items() if k != "STREETBRAIN_DATABASE_URL"}
    key = prepare(data_dir, env)
    script = data_dir / "alerts.lua"
    script.write_text(LUA)
    auth_script = data_dir / "auth.lua"
    auth_script.write_text(AUTH_LUA)
    port = free_port()
    source = SERVER.format(root=str(ROOT), port=port, switch=args.switch_interval)
    server = subprocess.Popen(
        ["taskset", "-c", "0", str(PYTHON), "-c", source],
        env=env, stdout=subprocess.DEVNULL, stderr=(data_dir / "server.log").open("w"),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                import urllib.request

                urllib.request.urlopen(f"{base}/health", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError((data_dir / "server.log").read_text()) from None
                time.sleep(0.2)
        at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        alerts, bare = f"{base}/api/v1/video-net/alerts", f"{base}/bench/bare"
        print(f"server on core 0 (pid {server.pid}), wrk on core 1, {args.connections} connections, {args.seconds:g} s")
        prime(f"{base}/api/v1/video-net/alerts", key, at)
        wrk(bare, 2, args.connections, script, "warm", at, "1", key)
        wrk(alerts, 2, args.connections, script, "warm", at, "1", key)
        single, batch, bare_rates, auth_rates, per_cpu = [], [], [], [], []
        for round_ in range(args.rounds):
            rate, errors = wrk(bare, args.seconds, args.connections, script, f"b{round_}", at, "1", key)
            bare_rates.append(rate)
            # the platform's API-key authentication alone: a device key asking for a read route gets 403
            rate, _ = wrk(f"{base}/api/v1/video-net/alert-types", args.seconds, args.connections, auth_script,
                          "a", at, "1", key)  # fmt: skip
            auth_rates.append(rate)
            cpu_before, wall_before = cpu_seconds(server.pid), time.monotonic()
            rate, errors = wrk(alerts, args.seconds, args.connections, script, f"s{round_}", at, "1", key)
            used = cpu_seconds(server.pid) - cpu_before
            per_cpu.append(rate * (time.monotonic() - wall_before) / used)
            failed = errors
            single.append(rate)
            rate, errors = wrk(alerts, args.seconds, args.connections, script, f"m{round_}", at, str(args.batch), key)
            failed += errors
            batch.append(rate * args.batch)
            print(f"round {round_ + 1}: bare {bare_rates[-1]:,.0f} req/s, single {single[-1]:,.0f} alerts/s, "
                  f"batch of {args.batch} {batch[-1]:,.0f} alerts/s, {failed} failed requests")  # fmt: skip
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    with sqlite3.connect(data_dir / "streetbrain.db") as db:
        stored = db.execute("SELECT count(*) FROM video_net_alerts").fetchone()[0]
        incidents = db.execute("SELECT count(*), sum(alert_count) FROM video_net_incidents").fetchone()
    raw = raw_dbapi(data_dir / "raw.db", 20_000)
    ours, batched, bare_rate = statistics.median(single), statistics.median(batch), statistics.median(bare_rates)
    print(f"stored {stored:,} alerts in {incidents[0]:,} incidents ({incidents[1]:,} merged alerts counted)")
    print(f"{'what':<44}{'per second':>14}")
    print(f"{'bare endpoint, same server (requests)':<44}{bare_rate:>14,.0f}")
    print(f"{'API-key authentication alone (requests)':<44}{statistics.median(auth_rates):>14,.0f}")
    print(f"{'raw sqlite3 INSERT + COMMIT per alert (rows)':<44}{raw:>14,.0f}")
    print(f"{'ours, one alert per POST (alerts)':<44}{ours:>14,.0f}")
    print(f"{'  the same per server CPU-second (alerts)':<44}{statistics.median(per_cpu):>14,.0f}")
    print(f"{'ours, ' + str(args.batch) + ' alerts per POST (alerts)':<44}{batched:>14,.0f}")
    print(f"{'FIWARE Orion, published (updates)':<44}{REFERENCE:>14,.0f}")
    print(f"ours / bare endpoint = {ours / bare_rate:.2f}; ours / raw DBAPI = {ours / raw:.3f}")
    if "Traceback" in (data_dir / "server.log").read_text():
        print(f"the server logged errors: {data_dir / 'server.log'}")
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
    ratio = ours / REFERENCE
    print(f"RESULT alert_ingest ours={ours:.0f} reference={REFERENCE:.0f} ratio={ratio:.2f} batch={batched:.0f}"
          f" per_cpu_second={statistics.median(per_cpu):.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
