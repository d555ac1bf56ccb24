"""Benchmark: sync 100,000 City Brain records into SQLite, beside a raw httpx loop over the same pages.

The simulator runs in its own process on core 0 (``taskset -c 0``); this process (both the
reference loop and our sync) runs on core 1. The reference fetches and decodes every page, signed,
following the cursor, and stores nothing; ours is the real sync (map, check, de-duplicate, upsert
in batches of pages, store the cursor with each batch) of the ``cameras`` dataset into ``video_net_cameras``.
Each side runs ``--rounds`` times, alternating, after a warm-up; the medians are reported.

    .venv/bin/python bench/citybrain_sync.py [--records 100000] [--page-size 1000] [--rounds 3]

Last line: ``RESULT citybrain_sync ours=<records/s> reference=<records/s> ratio=<ours/reference>``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import migrator  # noqa: E402
from core.citybrain.jobs import CityBrainService  # noqa: E402
from core.citybrain.signing import signed_headers  # noqa: E402
from core.citybrain.simulator.app import DEFAULT_APP_KEY, DEFAULT_APP_SECRET  # noqa: E402
from core.citybrain.simulator.server import free_port  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.db import Database  # noqa: E402
from core.logs import configure_logging  # noqa: E402
from core.plugins import load_plugins  # noqa: E402

DATASET = "cameras"


def start_simulator(port: int, records: int) -> subprocess.Popen[bytes]:
    """The simulator on core 0, in its own process."""
    command = [sys.executable, "-m", "api.cli", "citybrain-sim", "--port", str(port), "--seed", "1"]
    command += ["--size", f"{DATASET}={records}"]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    env = {**os.environ, "STREETBRAIN_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the simulator did not start")


async def reference(url: str, page_size: int) -> int:
    """Fetch and decode every page with a bare signed httpx loop; return the records seen."""
    seen = 0
    cursor: str | None = None
    secret = DEFAULT_APP_SECRET.encode()
    path = f"/v1/datasets/{DATASET}"
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while True:
            params = {"limit": str(page_size), **({"cursor": cursor} if cursor else {})}
            query = str(httpx.QueryParams(params))
            headers = signed_headers(DEFAULT_APP_KEY, secret, "GET", path, query)
            body = (await client.get(f"{path}?{query}", headers=headers)).raise_for_status().json()
            seen += len(body["items"])
            cursor = body.get("next_cursor")
            if not cursor:
                return seen


async def ours(url: str, page_size: int, folder: Path) -> int:
    """The real sync into a fresh, migrated SQLite database; return the records stored."""
    settings = load_settings(
        data_dir=folder,
        citybrain_base_url=url,
        citybrain_app_key=DEFAULT_APP_KEY,
        citybrain_app_secret=DEFAULT_APP_SECRET,
        citybrain_page_size=page_size,
        scheduler_enabled=False,
    )
    plugins = load_plugins(settings)
    database = Database(settings.database_url)
    await migrator.upgrade(database, migrator.build_targets(plugins.ok_plugins(), plugins.records))
    service = CityBrainService(settings, database, plugins.ok_plugins())
    try:
        started = time.perf_counter()
        result = await service.sync(DATASET, trigger="bench")
        ours.elapsed = time.perf_counter() - started  # type: ignore[attr-defined]
        return result.upserted
    finally:
        await service.aclose()
        await database.dispose()


def main() -> None:
    """Run both sides, alternating, and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    configure_logging("WARNING", "console")
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_simulator(port, args.records)
    ref_rates: list[float] = []
    our_rates: list[float] = []
    try:
        asyncio.run(reference(url, args.page_size))  # warm-up
        for round_no in range(1, args.rounds + 1):
            started = time.perf_counter()
            fetched = asyncio.run(reference(url, args.page_size))
            ref_rates.append(fetched / (time.perf_counter() - started))
            with tempfile.TemporaryDirectory(prefix="sb-bench-") as folder:
                stored = asyncio.run(ours(url, args.page_size, Path(folder)))
            our_rates.append(stored / ours.elapsed)  # type: ignore[attr-defined]
            assert fetched == stored == args.records, (fetched, stored)
            print(
                f"round {round_no}: reference {ref_rates[-1]:,.0f} records/s, ours {our_rates[-1]:,.0f} records/s "
                f"({stored:,} records stored in SQLite)",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
    ref, our = statistics.median(ref_rates), statistics.median(our_rates)
    print(
        f"records={args.records} page_size={args.page_size} rounds={args.rounds} (median; server core 0, client core 1)"
    )
    print(f"RESULT citybrain_sync ours={our:.0f} reference={ref:.0f} ratio={our / ref:.2f}")


if __name__ == "__main__":
    main()
