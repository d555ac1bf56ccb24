"""Benchmark: monthly waste-sorting indicators from ~6 million deposits, beside DuckDB on the same SQLite file.

Generates 100,000 households in 10 communities and 100 grids, and 30 days (September 2026) of
deposits (about 6 million rows, ~2.9 bags on ~70% of household-days) with ~5% inspected, into a
migrated SQLite file. Then times the platform's monthly indicators **by community** and **by
community and day**:

- *cold*: no rollup yet: the nightly rollup of the 30 days from raw deposits, then both queries;
- *warm*: the rollup present: both queries again;
- *reference*: DuckDB (sqlite scanner, loaded from the PyPI wheel, no internet) computing the same
  figures straight from the same file.

It asserts that both give the same numbers (households, participants, deposits, inspected, correct,
weights) and prints peak memory (ru_maxrss).

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/waste_stats.py [--households 100000] [--days 30] [--keep DIR [--reuse]]

Last line: ``RESULT waste_stats ours=<s cold> warm=<s> reference=<s duckdb> ratio=<cold/reference>
warm_ratio=<warm/reference>``. Goals: ratio <= 3, warm_ratio <= 0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import random
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import migrator  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.db import Database  # noqa: E402
from core.logs import configure_logging  # noqa: E402
from core.plugins import load_plugins  # noqa: E402
from plugins.waste_sorting.metrics import indicators, local_midnight  # noqa: E402
from plugins.waste_sorting.models import CATEGORIES  # noqa: E402
from plugins.waste_sorting.rollup import rollup_days  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
FIRST = date(2026, 9, 1)
COMMUNITIES, GRIDS, POINTS = 10, 100, 200


def generate(path: Path, households: int, days: int, seed: int = 5) -> tuple[int, int]:
    """Fill the migrated file with households, deposits and inspections (raw sqlite3, WAL)."""
    rng = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    now = "2026-10-01 00:00:00.000000"
    con.executemany(
        "INSERT INTO waste_sorting_households (id, qr_code, community, community_id, grid_id, point_id, residents,"
        " active, source, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            (h, f"Q{h:07d}", f"community {1 + (h % GRIDS) // 10}", 1 + (h % GRIDS) // 10, 1 + h % GRIDS,
             1 + h % POINTS, 3, h % 50 != 0, "manual", now, now)
            for h in range(1, households + 1)
        ),
    )  # fmt: skip
    offset = timedelta(hours=8)
    deposits = inspected = 0
    event = 0
    for d in range(days):
        day = FIRST + timedelta(days=d)
        rate = 0.55 + 0.3 * d / max(days - 1, 1)
        rows = []
        for h in range(1, households + 1):
            if rng.random() > rate:
                continue
            grid = 1 + h % GRIDS
            point = 1 + h % POINTS
            minute = rng.randint(6 * 60, 21 * 60)
            local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=UTC)
            stamp = (local - offset).strftime("%Y-%m-%d %H:%M:%S.000000")
            in_window = 7 * 60 <= minute < 9 * 60 or 18 * 60 <= minute < 20 * 60
            for category in CATEGORIES[: rng.choice((2, 3, 3, 4))]:
                event += 1
                verdict = None
                if rng.random() < 0.05:
                    verdict = rng.random() < 0.8
                    inspected += 1
                rows.append((event, f"e{event}", h, point, category, round(rng.uniform(0.1, 3.0), 2), stamp,
                             day.isoformat(), 1 + (grid - 1) // 10, grid, in_window, verdict, now))  # fmt: skip
        con.executemany(
            "INSERT INTO waste_sorting_deposits (id, event_id, household_id, point_id, category, weight_kg,"
            " deposited_at, local_day, community_id, grid_id, in_window, inspected_correct, received_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        deposits += len(rows)
    con.execute(
        "INSERT INTO waste_sorting_inspections (deposit_id, correct, inspector, inspected_at)"
        " SELECT id, inspected_correct, 'bench', deposited_at FROM waste_sorting_deposits"
        " WHERE inspected_correct IS NOT NULL"
    )
    con.commit()
    con.execute("ANALYZE")
    con.close()
    return deposits, inspected


def generated(path: Path) -> bool:
    """Whether ``path`` already holds generated households and deposits (from a run with ``--keep``)."""
    if not path.exists():
        return False
    con = sqlite3.connect(path)
    try:
        households = con.execute("SELECT count(*) FROM waste_sorting_households").fetchone()[0]
        deposits = con.execute("SELECT EXISTS (SELECT 1 FROM waste_sorting_deposits)").fetchone()[0]
    except sqlite3.Error:
        return False
    finally:
        con.close()
    return bool(households and deposits)


def clear_rollup(path: Path) -> tuple[int, int]:
    """Empty the rollup tables of a reused file (so the cold run rolls up from raw); deposits and inspected."""
    con = sqlite3.connect(path)
    for table in ("waste_sorting_daily_stats", "waste_sorting_household_months", "waste_sorting_rollup_days"):
        con.execute(f"DELETE FROM {table}")
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    deposits, inspected = con.execute(
        "SELECT count(*), count(inspected_correct) FROM waste_sorting_deposits"
    ).fetchone()
    con.close()
    return deposits, inspected


async def ours(database: Database, days: int) -> tuple[float, float, dict[str, Any]]:
    """Cold (rollup from raw, then the queries) and warm (the queries on the rollup) seconds, and the figures."""
    start = local_midnight(FIRST, TZ)
    end = local_midnight(FIRST + timedelta(days=days), TZ)

    async def queries() -> dict[str, Any]:
        async with database.session() as session:
            by_community = await indicators(session, start, end, TZ, group_by="community")
            by_day = await indicators(session, start, end, TZ, group_by="community", bucket="day")
        return {"community": by_community, "day": by_day}

    began = time.perf_counter()
    async with database.session() as session:
        await rollup_days(session, [FIRST + timedelta(days=n) for n in range(days)], readers=database.engine)
    figures = await queries()
    cold = time.perf_counter() - began
    warm_times = []
    for _ in range(3):
        began = time.perf_counter()
        warm_figures = await queries()
        warm_times.append(time.perf_counter() - began)
    assert warm_figures == figures
    return cold, sorted(warm_times)[1], figures


def duckdb_figures(path: Path, days: int) -> tuple[float, dict[str, Any]]:
    """The same figures computed by DuckDB straight from the SQLite file (median of three runs)."""
    import duckdb
    import duckdb_extension_sqlite_scanner as ext

    extension = glob.glob(os.path.join(os.path.dirname(ext.__file__), "extensions", "*", "*.duckdb_extension"))[0]
    last = (FIRST + timedelta(days=days)).isoformat()
    first = FIRST.isoformat()
    deposits = f"""(SELECT * FROM sqlite_scan('{path}', 'waste_sorting_deposits')
                   WHERE local_day >= '{first}' AND local_day < '{last}')"""
    households = f"sqlite_scan('{path}', 'waste_sorting_households')"
    weights = ", ".join(f"sum(CASE WHEN category = '{c}' THEN weight_kg ELSE 0 END)" for c in CATEGORIES)
    sql_community = f"""
        WITH d AS {deposits},
        h AS (SELECT id, community_id FROM {households} WHERE active),
        q AS (SELECT community_id, count(*) n, count(inspected_correct) i,
                     sum(CASE WHEN inspected_correct THEN 1 ELSE 0 END) c, {weights} FROM d GROUP BY community_id),
        p AS (SELECT h.community_id, count(DISTINCT d.household_id) p FROM d JOIN h ON h.id = d.household_id
              GROUP BY 1),
        r AS (SELECT community_id, count(*) hh FROM h GROUP BY 1)
        SELECT r.community_id, r.hh, p.p, q.* EXCLUDE (community_id) FROM r LEFT JOIN p USING (community_id)
        LEFT JOIN q USING (community_id) ORDER BY 1"""
    sql_day = f"""
        WITH d AS {deposits},
        h AS (SELECT id, community_id FROM {households} WHERE active),
        q AS (SELECT community_id, local_day, count(*) n, count(inspected_correct) i,
                     sum(CASE WHEN inspected_correct THEN 1 ELSE 0 END) c FROM d GROUP BY 1, 2),
        p AS (SELECT h.community_id, d.local_day, count(DISTINCT d.household_id) p
              FROM d JOIN h ON h.id = d.household_id GROUP BY 1, 2)
        SELECT q.community_id, q.local_day, p.p, q.n, q.i, q.c FROM q LEFT JOIN p USING (community_id, local_day)
        ORDER BY 1, 2"""
    times, result = [], {}
    for _ in range(3):
        con = duckdb.connect()
        con.execute(f"LOAD '{extension}'")
        began = time.perf_counter()
        result = {"community": con.execute(sql_community).fetchall(), "day": con.execute(sql_day).fetchall()}
        times.append(time.perf_counter() - began)
        con.close()
    return sorted(times)[1], result


def compare(figures: dict[str, Any], reference: dict[str, Any]) -> None:
    """Assert that both sides give the same numbers."""
    ours_c = {r["group"]: r for r in figures["community"]}
    for cid, hh, p, n, i, c, *w in reference["community"]:
        row = ours_c[cid]
        assert (row["households"], row["participating"], row["deposits"], row["inspected"], row["correct"]) == (
            hh, p, n, i, c), (cid, row, (hh, p, n, i, c))  # fmt: skip
        for category, weight in zip(CATEGORIES, w, strict=True):
            assert abs(row[f"weight_{category}_kg"] - weight) < 1e-6 * max(1.0, weight), (cid, category)
    ours_d = {(r["group"], r["bucket"]): r for r in figures["day"]}
    for cid, day, p, n, i, c in reference["day"]:
        row = ours_d[(cid, str(day))]
        assert (row["participating"], row["deposits"], row["inspected"], row["correct"]) == (p, n, i, c), (cid, day)
    assert len(ours_c) == len(reference["community"])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--keep", help="a folder to keep the SQLite file in")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --keep: reuse the file generated there by an earlier run (same --households and --days);"
        " its rollup is cleared first so that the cold run starts from raw deposits",
    )
    args = parser.parse_args()
    configure_logging("WARNING", "console")
    folder = Path(args.keep or tempfile.mkdtemp(prefix="waste-stats-"))
    folder.mkdir(parents=True, exist_ok=True)
    settings = load_settings(data_dir=folder, plugins=["waste_sorting"], scheduler_enabled=False)
    plugins = load_plugins(settings)
    database = Database(settings.database_url)
    path = folder / "streetbrain.db"
    await migrator.upgrade(database, migrator.build_targets(plugins.ok_plugins(), plugins.records))
    if args.reuse and not args.keep:
        parser.error("--reuse needs --keep")
    began = time.perf_counter()
    if args.reuse and generated(path):
        deposits, inspected = clear_rollup(path)
        print(f"reusing {path}: rollup cleared; {deposits:,} deposits, {inspected:,} inspected")
    else:
        deposits, inspected = generate(path, args.households, args.days)
        print(f"generated {args.households:,} households, {deposits:,} deposits, {inspected:,} inspected "
              f"in {time.perf_counter() - began:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")  # fmt: skip
    reference_s, reference = duckdb_figures(path, args.days)
    cold, warm, figures = await ours(database, args.days)
    compare(figures, reference)
    await database.dispose()
    print("same numbers: yes (households, participants, deposits, inspected, correct, weights; by community and day)")
    print(f"ours cold (rollup from raw + queries)  {cold:8.3f} s")
    print(f"ours warm (queries on the rollup)      {warm:8.3f} s")
    print(f"DuckDB on the SQLite file (reference)  {reference_s:8.3f} s")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(
        f"RESULT waste_stats ours={cold:.3f} warm={warm:.3f} reference={reference_s:.3f} "
        f"ratio={cold / reference_s:.2f} warm_ratio={warm / reference_s:.3f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
