"""Benchmark: deposit batches through the HTTP endpoint of a real server, beside raw sqlite3.executemany.

A real ``streetbrain run`` (uvicorn, SQLite file, WAL) serves on 127.0.0.1, pinned to core 0; this
process, the load generator, runs on core 1. After a warm-up batch it posts ``--batches`` batches of
10,000 deposits (``POST /api/v1/waste-sorting/deposits`` with an API key scoped
``waste_sorting:ingest``: per-record validation, household lookup, replay check by device event id,
one ``INSERT .. ON CONFLICT DO NOTHING``), one after another, and checks that each inserted all its
records. The last batch is sent again and must insert nothing (idempotency on).

The reference inserts the same rows with raw ``sqlite3.executemany`` (one transaction per batch of
10,000) into the same table, with the same indexes and the platform's SQLite settings (WAL,
synchronous=NORMAL, page cache, checkpoint interval), in a second migrated file. Each side runs twice;
the medians are reported.

    .venv/bin/python bench/deposit_ingest.py [--batches 20] [--households 20000]

Last line: ``RESULT deposit_ingest ours=<rows/s> reference=<rows/s> ratio=<ours/reference>``. Goal: >= 0.5.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.db import SQLITE_CACHE_KIB, SQLITE_WAL_AUTOCHECKPOINT_PAGES  # noqa: E402

BATCH = 10_000
STREETBRAIN = str(Path(sys.executable).parent / "streetbrain")
CATEGORIES = ("recyclable", "hazardous", "perishable", "other")


def cli(data_dir: Path, *args: str) -> str:
    """Run the streetbrain command against ``data_dir`` and return its output."""
    env = {**os.environ, "STREETBRAIN_DATA_DIR": str(data_dir), "STREETBRAIN_PLUGINS": "waste_sorting",
           "STREETBRAIN_LOG_LEVEL": "WARNING"}  # fmt: skip
    return subprocess.run([STREETBRAIN, *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout


def prepare(data_dir: Path, households: int) -> None:
    """Migrate, and register the households and one collection point (raw SQL, it is set-up)."""
    cli(data_dir, "db", "upgrade")
    con = sqlite3.connect(data_dir / "streetbrain.db")
    now = "2026-10-01 00:00:00.000000"
    con.executemany(
        "INSERT INTO waste_sorting_households (qr_code, community, residents, active, source, created_at, updated_at)"
        " VALUES (?, 'bench', 3, 1, 'manual', ?, ?)",
        ((f"Q{h:07d}", now, now) for h in range(households)),
    )
    con.execute(
        "INSERT INTO waste_sorting_collection_points (code, name, community, lon, lat, categories, deposit_opens,"
        " deposit_closes, active, created_at) VALUES ('P1', 'P1', 'bench', 120.26, 30.18,"
        ' \'["recyclable","hazardous","perishable","other"]\', \'07:00\', \'09:00\', 1, ?)',
        (now,),
    )
    con.commit()
    con.close()


def batches(count: int, households: int, seed: int = 3) -> list[list[dict[str, Any]]]:
    """``count`` batches of deposit records with unique event ids, all in the past."""
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    out = []
    for b in range(count):
        out.append(
            [
                {"event_id": f"bin{b:03d}-{n:06d}", "qr_code": f"Q{rng.randrange(households):07d}",
                 "category": rng.choice(CATEGORIES), "weight_kg": round(rng.uniform(0.1, 3.0), 2),
                 "deposited_at": (start + timedelta(seconds=b * BATCH + n)).isoformat(), "point": "P1"}
                for n in range(BATCH)
            ]
        )  # fmt: skip
    return out


def serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """``streetbrain run`` on core 0."""
    env = {**os.environ, "STREETBRAIN_DATA_DIR": str(data_dir), "STREETBRAIN_PLUGINS": "waste_sorting",
           "STREETBRAIN_LOG_LEVEL": "WARNING", "STREETBRAIN_MAX_REQUEST_BYTES": str(32 * 1024 * 1024)}  # fmt: skip
    command = [STREETBRAIN, "run", "--port", str(port), "--no-scheduler"]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


def run_ours(data_dir: Path, port: int, key: str, work: list[list[dict[str, Any]]]) -> float:
    """Rows per second through HTTP for ``work`` (after one warm-up batch); checks every answer."""
    url = f"http://127.0.0.1:{port}/api/v1/waste-sorting/deposits"
    with httpx.Client(headers={"X-API-Key": key}, timeout=120) as client:
        warm, *timed = work
        assert client.post(url, json={"records": warm}).json()["inserted"] == BATCH
        bodies = [httpx.Request("POST", url, json={"records": batch}).content for batch in timed]
        began = time.perf_counter()
        for body in bodies:
            answer = client.post(url, content=body, headers={"Content-Type": "application/json"}).json()
            assert answer["inserted"] == BATCH and not answer["rejected"], answer
        elapsed = time.perf_counter() - began
        replay = client.post(url, content=bodies[-1], headers={"Content-Type": "application/json"}).json()
        assert (replay["inserted"], replay["replay"]) == (0, True), replay
    return len(timed) * BATCH / elapsed


def run_reference(data_dir: Path, work: list[list[dict[str, Any]]], households: int) -> float:
    """Rows per second of raw executemany of the same rows into the same table and indexes."""
    con = sqlite3.connect(data_dir / "streetbrain.db", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    # The page cache and checkpoint interval the platform's own connections use (core/db.py): without
    # them the reference ran with SQLite's 2 MiB cache and paid for re-reading evicted index pages,
    # which flattered our side.
    con.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    con.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
    ids = {qr: n + 1 for n, qr in enumerate(f"Q{h:07d}" for h in range(households))}
    now = "2026-11-29 00:00:00.000000"
    rows = [
        [
            (r["event_id"], ids[r["qr_code"]], 1, r["category"], r["weight_kg"],
             r["deposited_at"].replace("T", " ").replace("+00:00", ".000000"), r["deposited_at"][:10], None, None,
             False, None, now)
            for r in batch
        ]
        for batch in work[1:]
    ]  # fmt: skip
    sql = (
        "INSERT INTO waste_sorting_deposits (event_id, household_id, point_id, category, weight_kg, deposited_at,"
        " local_day, community_id, grid_id, in_window, inspected_correct, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    began = time.perf_counter()
    for batch in rows:
        con.execute("BEGIN")
        con.executemany(sql, batch)
        con.execute("COMMIT")
    elapsed = time.perf_counter() - began
    con.close()
    return len(rows) * BATCH / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    if shutil.which("taskset"):
        os.sched_setaffinity(0, {1})
    ours_rates, reference_rates = [], []
    for round_no in range(2):
        work = batches(args.batches + 1, args.households, seed=round_no)
        ours_dir, reference_dir = (
            Path(tempfile.mkdtemp(prefix="ingest-ours-")),
            Path(tempfile.mkdtemp(prefix="ingest-ref-")),
        )
        prepare(ours_dir, args.households)
        prepare(reference_dir, args.households)
        key = cli(ours_dir, "apikeys", "create", "--name", "bench", "--scope", "waste_sorting:ingest").split()[-1]
        server = serve(ours_dir, args.port)
        try:
            ours_rates.append(run_ours(ours_dir, args.port, key, work))
        finally:
            server.terminate()
            server.wait(10)
        reference_rates.append(run_reference(reference_dir, work, args.households))
        print(f"round {round_no + 1}: ours {ours_rates[-1]:,.0f} rows/s, reference {reference_rates[-1]:,.0f} rows/s")
        shutil.rmtree(ours_dir, ignore_errors=True)
        shutil.rmtree(reference_dir, ignore_errors=True)
    ours, reference = statistics.median(ours_rates), statistics.median(reference_rates)
    print(f"ours: HTTP batches of {BATCH:,} (validation, lookups, replay check, insert), server on core 0")
    print("reference: sqlite3.executemany of the same rows, same table and indexes, one commit per batch")
    print(f"RESULT deposit_ingest ours={ours:.0f} reference={reference:.0f} ratio={ours / reference:.3f}")


if __name__ == "__main__":
    main()
