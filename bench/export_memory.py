"""Benchmark: peak memory of a 1,000,000-row CSV export (``GET /api/v1/cases?format=csv``), beside
plain ``sqlite3`` + ``csv.writer`` streaming the same rows from the same file.

The promise under test (docs/cases.md, "Exports"): CSV is streamed row by row from a database
cursor, in constant memory; a 1M-row export must stay under ``--limit-mb`` (300 MB) of peak
resident memory in the server.

1. A fresh data dir in a temporary folder; the schema by ``streetbrain db upgrade``; an admin by
   ``streetbrain users create --password-stdin``; then ``--rows`` realistic cases written straight
   into the SQLite file with ``sqlite3.executemany`` (timestamps in the format the app stores:
   naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff``, as advanced_alchemy's ``DateTimeUTC`` writes them).
2. ``streetbrain run --no-scheduler`` on core 0 (``taskset -c 0``); this process, the client, on
   core 1. After signing in and a warm-up request, the server's VmRSS; then each round resets the
   server's VmHWM (``echo 5 > /proc/<pid>/clear_refs``: the 64 MiB that argon2 takes for the
   sign-in would otherwise stand as the peak), downloads the whole CSV with a streaming httpx
   client that only counts bytes and lines, and reads VmHWM: the server's peak resident memory
   during the export. Every download must have ``rows + 1`` lines.
3. Reference, each round, in a process of its own on core 0 (the server is idle by then):
   ``bench/_csv_reference.py`` streams the same columns, newest first, with ``fetchmany(1000)``
   through ``csv.writer`` into a counting sink, and reports its own VmHWM.

Durations are medians over ``--rounds``; peaks are the highest seen. MB here are MiB (VmHWM / 1024).
1M rows took 9 minutes on a shared 2-core machine under a load average of ~5 (fill 72 s, each export
~190 s, each reference ~40 s); ``--max-seconds`` (900) bounds it. The server and the temporary
folder are removed on every exit, SIGTERM and Ctrl-C included.

    .venv/bin/python bench/export_memory.py [--rows 1000000] [--rounds 2] [--limit-mb 300]

Last line: ``RESULT export_memory ours=<server peak MB> reference=<raw peak MB> ratio=<ours/reference>
more=rows_per_s:<ours>/<raw>,growth_mb:<server peak - RSS before>,limit_mb:<limit>``; the exit status
is 1 when the server's peak is above the limit (2 when the run itself failed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path(__file__).resolve().parent / "_csv_reference.py"
USERNAME, PASSWORD = "bench", "bench-export-memory-1"
SERVER_CORE, CLIENT_CORE = 0, 1
FILL_BATCH = 50_000


# --------------------------------------------------------------------------------------------- helpers


def mib(kib: int) -> float:
    """KiB (as /proc reports them) in MiB."""
    return kib / 1024


def proc_kib(pid: int, field: str) -> int:
    """``VmRSS`` or ``VmHWM`` of a process, in KiB."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def pinned(command: list[str], core: int) -> list[str]:
    """``command`` under ``taskset -c <core>`` when there are two cores and taskset."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(core), *command]
    return command


def cli() -> list[str]:
    """The ``streetbrain`` command of this virtualenv (else ``python -m api.cli``)."""
    script = Path(sys.executable).parent / "streetbrain"
    return [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------------- data

PLACES = ["宁围街道", "市心北路", "金城路", "宁税路", "民和路", "利二村", "新华村", "盈丰路", "鸿达路", "平澜路",
          "振宁路", "丰二村", "合丰社区", "宁新村", "顺坝村", "湘湖路"]  # fmt: skip
PROBLEMS = {
    "street_vendor": ["流动摊贩占道经营", "出店经营", "夜间烧烤摊占道", "早餐摊点油污"],
    "waste_sorting": ["垃圾分类投放不规范", "垃圾桶满溢", "厨余垃圾混投", "建筑垃圾乱堆"],
    "municipal": ["井盖缺失", "路灯不亮", "人行道板松动", "道路坑洼积水"],
    "environment": ["河道漂浮物", "油烟扰民", "露天焚烧", "污水直排"],
    "traffic": ["机动车违停", "非机动车乱停放", "共享单车堆积", "占用消防通道"],
    "greening": ["绿化带枯死", "树木倒伏", "毁绿种菜"],
    "safety": ["电动车楼道充电", "飞线充电", "消防栓损坏", "广告牌松动"],
    "general": ["群众来电反映", "网格员巡查发现", "其他问题"],
}
CATEGORIES = list(PROBLEMS)
CATEGORY_P = [0.18, 0.16, 0.20, 0.10, 0.14, 0.06, 0.10, 0.06]
EVENT_TYPES = {
    "street_vendor": "street_vendors.vendor_detected",
    "waste_sorting": "waste_sorting.violation",
    "traffic": "video_net.illegal_parking",
    "safety": "video_net.fire_risk",
}
SEVERITIES = ["low", "medium", "high", "critical"]
SEVERITY_P = [0.30, 0.45, 0.20, 0.05]
STATUSES = ["closed", "in_progress", "dispatched", "accepted", "reported", "resolved", "rejected", "duplicate"]
STATUS_P = [0.55, 0.08, 0.07, 0.05, 0.10, 0.06, 0.05, 0.04]
REPORTERS = ["user:1:bench", "hotline:12345", "user:1:bench"]
DESCRIPTIONS = [
    "{place}{problem}，请尽快处理。",
    '市民来电：{place}附近"{problem}"已持续多日，影响通行, 希望尽快解决',
    "网格员巡查发现{problem}，位置：{place}，已拍照留存。",
    "12345热线转办：{place}{problem}，诉求人要求回电。",
]
US = 1_000_000
MINUTE, HOUR, DAY = 60 * US, 3600 * US, 86400 * US
START_US = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) * US
SPAN_US = 330 * DAY
LOCAL_US = 8 * HOUR  # Asia/Shanghai: the day in a case number is the local one

COLUMNS = ["id", "number", "title", "description", "category", "severity", "status", "event_type", "event_id",
           "grid_id", "community_id", "lon", "lat", "reporter", "assignee_id", "main_case_id", "created_at",
           "accepted_at", "dispatched_at", "first_resolved_at", "resolved_at", "closed_at", "accept_due_at",
           "resolve_due_at", "working_hours", "escalation_level", "rework_count", "updated_at"]  # fmt: skip


def stamps(micros: np.ndarray, present: np.ndarray | None = None) -> list[str | None]:
    """UTC microseconds as DateTimeUTC stores them in SQLite (naive ``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    text = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us").astype("S26")
    text.view(np.uint8).reshape(-1, 26)[:, 10] = ord(" ")
    joined = text.tobytes().decode("ascii")
    values: list[str | None] = [joined[i : i + 26] for i in range(0, len(joined), 26)]
    if present is not None:
        for i in np.flatnonzero(~present).tolist():
            values[i] = None
    return values


def maybe(values: np.ndarray, present: np.ndarray) -> list[Any]:
    """``values`` as Python objects, None where not ``present``."""
    out = values.astype(object)
    out[~present] = None
    return out.tolist()


def case_batch(rng: np.random.Generator, first: int, n: int, total: int, per_day: dict[int, int]) -> list[tuple]:
    """Cases ``first + 1 .. first + n`` of ``total``, oldest first over ~330 days from 2026-01-01,
    numbered ``SB-<local day>-<nnnn>`` per day like the app (``per_day`` carries the counters)."""
    index = np.arange(first, first + n, dtype=np.int64)
    ids = index + 1
    created = START_US + index * (SPAN_US // total) + rng.integers(1, US, n)
    days = (created + LOCAL_US) // DAY
    sequence = np.empty(n, dtype=np.int64)
    labels: list[str] = []
    uniques, starts, counts = np.unique(days, return_index=True, return_counts=True)
    for day, start, count in zip(uniques.tolist(), starts.tolist(), counts.tolist(), strict=True):
        sequence[start : start + count] = per_day.get(day, 0) + np.arange(1, count + 1)
        per_day[day] = per_day.get(day, 0) + count
        label = str(np.datetime64(day, "D")).replace("-", "")
        labels.extend([label] * count)
    numbers = [f"SB-{label}-{seq:04d}" for label, seq in zip(labels, sequence.tolist(), strict=True)]

    category = rng.choice(len(CATEGORIES), n, p=CATEGORY_P)
    status = rng.choice(len(STATUSES), n, p=STATUS_P)
    severity = rng.choice(len(SEVERITIES), n, p=SEVERITY_P)
    place = rng.integers(0, len(PLACES), n)
    pick = rng.integers(0, 1 << 20, n)
    template = rng.integers(0, len(DESCRIPTIONS), n)
    reporter = rng.integers(0, len(REPORTERS), n)
    has_event = np.array([c in EVENT_TYPES for c in CATEGORIES])[category]
    from_event = has_event & (rng.random(n) < 0.7)
    titles, descriptions, reporters, event_types = [], [], [], []
    for c, p, k, t, r, e in zip(category.tolist(), place.tolist(), pick.tolist(), template.tolist(),
                                reporter.tolist(), from_event.tolist(), strict=True):  # fmt: skip
        name = CATEGORIES[c]
        problems = PROBLEMS[name]
        titles.append(PLACES[p] + problems[k % len(problems)])
        if e:
            event_types.append(EVENT_TYPES[name])
            reporters.append("event:" + EVENT_TYPES[name].split(".")[0])
            descriptions.append(None)
        else:
            event_types.append(None)
            reporters.append(REPORTERS[r])
            descriptions.append(DESCRIPTIONS[t].format(place=PLACES[p], problem=problems[k % len(problems)]))

    def among(*names: str) -> np.ndarray:
        return np.isin(status, [STATUSES.index(name) for name in names])

    is_accepted = among("accepted", "dispatched", "in_progress", "resolved", "closed")
    is_dispatched = among("dispatched", "in_progress", "resolved", "closed")
    is_resolved = among("resolved", "closed")
    is_closed = among("closed")
    is_dropped = among("rejected", "duplicate")
    accepted = created + rng.integers(5, 180, n) * MINUTE
    dispatched = accepted + rng.integers(1, 60, n) * MINUTE
    resolved = dispatched + (rng.uniform(0.5, 30, n) * HOUR).astype(np.int64)
    closed = resolved + (rng.uniform(0.2, 12, n) * HOUR).astype(np.int64)
    dropped = created + rng.integers(5, 120, n) * MINUTE
    updated = np.select(
        [is_closed, is_resolved, is_dispatched, is_accepted, is_dropped],
        [closed, resolved, dispatched, accepted, dropped],
        created,
    )
    grid = rng.integers(1, 401, n)
    lon = np.round(120.20 + rng.random(n) * 0.08, 6)
    lat = np.round(30.20 + rng.random(n) * 0.06, 6)
    is_duplicate = among("duplicate") & (ids > 1)
    main_case = (rng.random(n) * (ids - 1)).astype(np.int64) + 1
    rework = among("in_progress", "resolved", "closed") & (rng.random(n) < 0.05)
    escalation = rng.choice(3, n, p=[0.67, 0.17, 0.16])
    columns = [
        ids.tolist(), numbers, titles, descriptions, [CATEGORIES[c] for c in category.tolist()],
        [SEVERITIES[s] for s in severity.tolist()], [STATUSES[s] for s in status.tolist()], event_types,
        maybe(ids, from_event), grid.tolist(), (grid // 20 + 1).tolist(), lon.tolist(), lat.tolist(), reporters,
        maybe(np.ones(n, dtype=np.int64), is_dispatched), maybe(main_case, is_duplicate), stamps(created),
        stamps(accepted, is_accepted), stamps(dispatched, is_dispatched), stamps(resolved, is_resolved),
        stamps(resolved, is_resolved), stamps(closed, is_closed), stamps(created + 2 * HOUR),
        stamps(accepted + 24 * HOUR, is_accepted), (rng.random(n) < 0.3).astype(np.int64).tolist(),
        escalation.tolist(), rework.astype(np.int64).tolist(), stamps(updated),
    ]  # fmt: skip
    return list(zip(*columns, strict=True))


def fill(db_path: Path, count: int, seed: int = 20261101) -> float:
    """Insert ``count`` cases with plain sqlite3 in one transaction; return the seconds it took.

    The secondary indexes are dropped first and made again afterwards from their own SQL (the same
    schema, built by a sort instead of 8 B-tree inserts per row)."""
    started = time.perf_counter()
    connection = sqlite3.connect(db_path, isolation_level=None)
    try:
        table_columns = [row[1] for row in connection.execute("PRAGMA table_info(cases)")]
        if sorted(table_columns) != sorted(COLUMNS):
            raise RuntimeError(f"the cases table changed; update bench/export_memory.py: {table_columns}")
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases' AND sql IS NOT NULL"
        ).fetchall()
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("BEGIN")
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        sql = f"INSERT INTO cases ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        rng = np.random.default_rng(seed)
        per_day: dict[int, int] = {}
        done, shown = 0, 0.0
        while done < count:
            n = min(FILL_BATCH, count - done)
            connection.executemany(sql, case_batch(rng, done, n, count, per_day))
            done += n
            now = time.perf_counter()
            if now - shown > 2 or done == count:
                shown = now
                rate = done / (now - started)
                print(f"  filling cases: {done:>9,} / {count:,}  ({rate:,.0f} rows/s)", flush=True)
        for name, index_sql in indexes:
            print(f"  index {name}", flush=True)
            connection.execute(index_sql)
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------- server


class Server:
    """``streetbrain run --no-scheduler`` on the server core, its log in the data dir."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "server.log"
        self.log = self.log_path.open("wb")
        command = pinned([*cli(), "run", "--no-scheduler", "--port", str(self.port)], SERVER_CORE)
        # taskset execs the command, so this pid is the server's own.
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer /health within {seconds:.0f} s:\n{self.tail()}")

    def kib(self, field: str) -> int:
        return proc_kib(self.process.pid, field)

    def reset_peak(self) -> bool:
        """Start VmHWM afresh from the current RSS (``clear_refs`` 5, Linux 4.0+); False when refused."""
        try:
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.log.close()


def download(server: Server, token: str, deadline: float) -> dict[str, Any]:
    """Stream the whole CSV, counting bytes and lines only; sample the server's RSS as it goes."""
    headers = {"Authorization": f"Bearer {token}"}
    received = lines = 0
    rss_max = 0
    started = time.perf_counter()
    first_byte = None
    next_sample = next_show = started
    timeout = httpx.Timeout(30, read=120)
    with (
        httpx.Client(base_url=server.url, timeout=timeout) as client,
        client.stream("GET", "/api/v1/cases", params={"format": "csv"}, headers=headers) as response,
    ):
        if response.status_code != 200:
            response.read()
            raise RuntimeError(f"export answered {response.status_code}: {response.text[:500]}")
        content_type = response.headers.get("content-type", "")
        for chunk in response.iter_raw(65536):
            if first_byte is None:
                first_byte = time.perf_counter() - started
            received += len(chunk)
            lines += chunk.count(b"\n")
            now = time.perf_counter()
            if now >= next_sample:
                next_sample = now + 0.25
                rss_max = max(rss_max, server.kib("VmRSS"))
                if now >= next_show:
                    next_show = now + 5
                    print(
                        f"    {lines - 1:>9,} rows  {received / 2**20:7.1f} MiB  {now - started:5.1f} s  "
                        f"server RSS {mib(server.kib('VmRSS')):6.1f} MiB",
                        flush=True,
                    )
            if now > deadline:
                raise RuntimeError("the download ran past the time limit (--max-seconds)")
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "bytes": received,
        "lines": lines,
        "first_byte": first_byte or seconds,
        "rss_sampled_max_kib": rss_max,
        "content_type": content_type,
    }


def reference(db_path: Path, timeout: float) -> dict[str, Any]:
    """The raw sqlite3 + csv.writer pass, in a process of its own on the server core."""
    command = pinned([sys.executable, str(REFERENCE), str(db_path)], SERVER_CORE)
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the reference failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------- main


def run(args: argparse.Namespace, folder: Path) -> int:
    data_dir = folder / "data"
    env = {
        **os.environ,
        "STREETBRAIN_DATA_DIR": str(data_dir),
        "STREETBRAIN_LOG_LEVEL": "WARNING",
        "STREETBRAIN_LOG_FORMAT": "json",
        "STREETBRAIN_SCHEDULER_ENABLED": "false",
    }
    env.pop("STREETBRAIN_DATABASE_URL", None)
    env.pop("STREETBRAIN_CONFIG_FILE", None)
    deadline = time.monotonic() + args.max_seconds

    print(f"data dir {data_dir}", flush=True)
    subprocess.run([*cli(), "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=180)
    subprocess.run(
        [*cli(), "users", "create", "--username", USERNAME, "--role", "admin", "--password-stdin"],
        cwd=ROOT, env=env, input=PASSWORD + "\n", text=True, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    db_path = data_dir / "streetbrain.db"
    fill_seconds = fill(db_path, args.rows)
    print(
        f"  {args.rows:,} cases in {fill_seconds:.1f} s; database {db_path.stat().st_size / 2**20:,.0f} MiB",
        flush=True,
    )

    server = Server(env, folder)
    try:
        server.wait_ready()
        hwm_ready = server.kib("VmHWM")
        token = (
            httpx.post(f"{server.url}/api/v1/auth/token", json={"username": USERNAME, "password": PASSWORD}, timeout=30)
            .raise_for_status()
            .json()["access_token"]
        )
        warm = (
            httpx.get(
                f"{server.url}/api/v1/cases",
                params={"limit": 50},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            .raise_for_status()
            .json()
        )
        if warm["total"] != args.rows:
            raise RuntimeError(f"the server sees {warm['total']:,} cases, expected {args.rows:,}")
        rss_before, hwm_startup = server.kib("VmRSS"), server.kib("VmHWM")
        print(
            f"server pid {server.process.pid} on core {SERVER_CORE}: RSS {mib(rss_before):.1f} MiB before the export "
            f"(peak after start-up {mib(hwm_ready):.1f} MiB, after signing in {mib(hwm_startup):.1f} MiB)",
            flush=True,
        )

        ours: list[dict[str, Any]] = []
        raws: list[dict[str, Any]] = []
        for round_no in range(1, args.rounds + 1):
            print(f"round {round_no}: GET /api/v1/cases?format=csv", flush=True)
            rss_start = server.kib("VmRSS")
            reset = server.reset_peak()
            result = download(server, token, deadline)
            result["hwm_kib"] = server.kib("VmHWM")
            result["rss_before_kib"], result["peak_reset"] = rss_start, reset
            result["rss_after_kib"] = server.kib("VmRSS")
            ours.append(result)
            print(
                f"  ours: {result['lines'] - 1:,} rows, {result['bytes'] / 2**20:,.1f} MiB "
                f"in {result['seconds']:.1f} s;"
                f" server peak {mib(result['hwm_kib']):.1f} MiB, RSS after {mib(result['rss_after_kib']):.1f} MiB",
                flush=True,
            )
            if result["lines"] != args.rows + 1:
                raise RuntimeError(f"the export had {result['lines']:,} lines, expected {args.rows + 1:,}")
            raw = reference(db_path, max(30.0, deadline - time.monotonic()))
            raws.append(raw)
            print(
                f"  reference: {raw['rows']:,} rows, {raw['bytes'] / 2**20:,.1f} MiB in {raw['seconds']:.1f} s;"
                f" peak {mib(raw['hwm_kib']):.1f} MiB",
                flush=True,
            )
            if raw["rows"] != args.rows or raw["lines"] != args.rows + 1:
                raise RuntimeError(f"the reference saw {raw['rows']:,} rows / {raw['lines']:,} lines")
    finally:
        server.stop()

    our_seconds = statistics.median(r["seconds"] for r in ours)
    raw_seconds = statistics.median(r["seconds"] for r in raws)
    our_rate, raw_rate = args.rows / our_seconds, args.rows / raw_seconds
    worst = max(ours, key=lambda r: r["hwm_kib"])
    our_peak = mib(worst["hwm_kib"])
    raw_peak = mib(max(r["hwm_kib"] for r in raws))
    growth = our_peak - mib(worst["rss_before_kib"])
    what = "during the export" if worst["peak_reset"] else "since start-up (VmHWM could not be reset)"
    our_bytes, raw_bytes = ours[-1]["bytes"], raws[-1]["bytes"]

    print()
    print(f"rows={args.rows:,} rounds={args.rounds} (durations: median; peaks: highest)  server core {SERVER_CORE}, "
          f"client core {CLIENT_CORE}, reference core {SERVER_CORE}")  # fmt: skip
    header = f"{'':32} {'ours (server)':>16} {'reference (raw)':>16} {'ratio':>8}"
    print(header)
    print("-" * len(header))
    table = [
        ("peak resident memory (MiB)", our_peak, raw_peak, "{:,.1f}"),
        ("  RSS before the export (MiB)", mib(worst["rss_before_kib"]), None, "{:,.1f}"),
        ("  growth: peak - before (MiB)", growth, None, "{:,.1f}"),
        ("  highest RSS sampled (MiB)", mib(max(r["rss_sampled_max_kib"] for r in ours)), None, "{:,.1f}"),
        ("  RSS at the end (MiB)", mib(ours[-1]["rss_after_kib"]), mib(raws[-1]["rss_kib"]), "{:,.1f}"),
        ("  peak after start-up (MiB)", mib(hwm_ready), None, "{:,.1f}"),
        ("  peak after signing in (MiB)", mib(hwm_startup), None, "{:,.1f}"),
        ("duration (s)", our_seconds, raw_seconds, "{:,.2f}"),
        ("rows/s", our_rate, raw_rate, "{:,.0f}"),
        ("CSV size (MiB)", our_bytes / 2**20, raw_bytes / 2**20, "{:,.1f}"),
        ("time to first byte (s)", statistics.median(r["first_byte"] for r in ours), None, "{:,.2f}"),
    ]
    for label, mine, theirs, fmt in table:
        ratio = f"{mine / theirs:8.2f}" if theirs else ""
        print(f"{label:32} {fmt.format(mine):>16} {fmt.format(theirs) if theirs is not None else '':>16} {ratio}")
    print(f"content-type of the export: {ours[-1]['content_type']!r}")
    verdict = "OK" if our_peak <= args.limit_mb else "OVER THE LIMIT"
    print(f"server peak {what}: {our_peak:,.1f} MiB against a limit of {args.limit_mb} MiB: {verdict}")
    print(
        f"RESULT export_memory ours={our_peak:.1f} reference={raw_peak:.1f} ratio={our_peak / raw_peak:.2f} "
        f"more=rows_per_s:{our_rate:.0f}/{raw_rate:.0f},growth_mb:{growth:.1f},limit_mb:{args.limit_mb}"
    )
    return 0 if our_peak <= args.limit_mb else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--limit-mb", type=int, default=300, help="the server's allowed peak (MiB)")
    parser.add_argument("--max-seconds", type=float, default=900, help="give up after this long")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (for a look afterwards)")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the server and the folder are always cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {CLIENT_CORE})
    folder = Path(tempfile.mkdtemp(prefix="sb-export-memory-"))
    try:
        status = run(args, folder)
    except (RuntimeError, subprocess.SubprocessError, httpx.HTTPError) as exc:
        detail = getattr(exc, "stderr", None)
        print(f"export_memory failed: {exc}" + (f"\n{detail}" if detail else ""), file=sys.stderr)
        status = 2
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
