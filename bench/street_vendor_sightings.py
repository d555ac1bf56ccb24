"""Benchmark: recording street-vendor sightings (rules, ladder, events and cases) beside a bare insert,
and the four-week suggestion computation beside DuckDB aggregating the same SQLite file.

The world is the demo's five vending points plus ``--vendors`` licensed vendors with permits; the
sightings spread over twenty days, half at the points (in and out of hours), half anywhere in the
street, seven in ten by an identified vendor, so every outcome occurs and most violations become
cases. Each round starts from a fresh copy of the seeded database file.

- ours (ingest): ``record_sightings`` with the app's event bus, in batches of 500, one transaction per
  batch — what ``POST /sightings`` does without HTTP: judge each sighting (polygons, windows, permit,
  licence, capacity), rank the violations on the ladder, emit their events and route their cases;
- for context: the same without the bus (the rules and ladder alone, violations but no events or cases);
- reference (ingest): ``sqlite3.executemany`` of the same rows (with a unique ``client_id``) into a
  table of the same columns, one commit per 500 rows (WAL, synchronous=NORMAL): storage alone;
- ours (suggestions): ``hotspots.suggestions`` over the stored sightings (SQL read + Python tally);
- reference (suggestions): DuckDB scanning the SQLite file for the same per-cell distinct days.

    .venv/bin/python bench/street_vendor_sightings.py [--sightings 5000] [--vendors 500] [--rounds 2]

Last line: ``RESULT street_vendor_sightings ours=<sightings/s> reference=<rows/s> ratio=<ours/reference> ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from api.app import create_app  # noqa: E402
from core import migrator  # noqa: E402
from core.cases.models import Case  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.db import Database, utcnow  # noqa: E402
from core.plugins import load_plugins  # noqa: E402
from core.security import crypto  # noqa: E402
from plugins.street_vendors import demo, hotspots  # noqa: E402
from plugins.street_vendors.models import Permit, VendingPoint, Vendor  # noqa: E402
from plugins.street_vendors.rules import RuleBook  # noqa: E402
from plugins.street_vendors.settings import StreetVendorsSettings  # noqa: E402
from plugins.street_vendors.sightings import SightingInput, record_sightings  # noqa: E402

BATCH = 500
COLUMNS = ("client_id", "observed_at", "lon", "lat", "source", "vendor_id", "category", "reported_by")


def _settings(folder: Path) -> Any:
    return load_settings(data_dir=folder, plugins=["street_vendors"], scheduler_enabled=False, log_level="WARNING")


async def seed(folder: Path, vendors: int) -> None:
    """A migrated database with the demo points and ``vendors`` licensed vendors with permits."""
    settings = _settings(folder)
    crypto.configure(settings.secret_key_bytes())
    plugins = load_plugins(settings)
    database = Database(settings.database_url)
    await migrator.upgrade(database, migrator.build_targets(plugins.ok_plugins(), plugins.records))
    async with database.session() as session:
        await demo.load_places(session, utcnow())
        points = list(await session.scalars(select(VendingPoint)))
        rng = random.Random(3)
        rows = []
        for n in range(vendors):
            point = rng.choice(points)
            rows.append(
                (Vendor(name=f"摊主{n}", category=rng.choice(point.categories), licence_number=f"JY{n:09d}"), point)
            )
        session.add_all(v for v, _ in rows)
        await session.flush()
        today = utcnow().date()
        session.add_all(
            Permit(
                vendor_id=v.id,
                point_id=p.id,
                valid_from=today - timedelta(days=60),
                valid_to=today + timedelta(days=60),
            )
            for v, p in rows
        )
    await database.dispose()


async def sighting_inputs(database: Database, count: int) -> list[SightingInput]:
    """The sightings to record (the same every round)."""
    async with database.session() as session:
        points = list(await session.scalars(select(VendingPoint)))
        vendor_ids = list(await session.scalars(select(Vendor.id)))
    rng = random.Random(11)
    start = utcnow() - timedelta(days=21)
    out = []
    for n in range(count):
        when = start + timedelta(seconds=rng.randrange(20 * 86400))
        if rng.random() < 0.5:
            point = rng.choice(points)
            lon, lat = point.lon + rng.uniform(-1e-4, 1e-4), point.lat + rng.uniform(-1e-4, 1e-4)
        else:
            lon, lat = 120.2555 + rng.uniform(0, 0.02), 30.1785 + rng.uniform(0, 0.015)
        vendor = rng.choice(vendor_ids) if rng.random() < 0.7 else None
        out.append(SightingInput(client_id=f"b{n:07d}", observed_at=when, lon=lon, lat=lat, source="patrol",
                                 reported_by="bench", vendor_id=vendor))  # fmt: skip
    out.sort(key=lambda item: item.observed_at)
    return out


async def ours_ingest(folder: Path, count: int, with_bus: bool = True) -> tuple[float, int, int]:
    """Seconds to record ``count`` sightings through the rules (and the bus); violations and cases made."""
    settings = _settings(folder)
    plugins = load_plugins(settings)
    database = Database(settings.database_url)
    app = create_app(settings, plugins=plugins, database=database)
    bus = app.state.events
    items = await sighting_inputs(database, count)
    own = StreetVendorsSettings()
    violations = 0
    started = time.perf_counter()
    for offset in range(0, len(items), BATCH):
        async with database.session() as session:
            done = await record_sightings(
                session, bus if with_bus else None, items[offset : offset + BATCH], own, settings.tz
            )
        violations += sum(1 for r in done.recorded if r.violation is not None)
    elapsed = time.perf_counter() - started
    async with database.session() as session:
        cases = int(await session.scalar(select(func.count()).select_from(Case)) or 0)
    await database.dispose()
    return elapsed, violations, cases


def reference_ingest(folder: Path, items: list[SightingInput]) -> float:
    """Seconds to executemany the same rows into a bare table of the same columns."""
    con = sqlite3.connect(folder / "reference.db")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(
        "CREATE TABLE sightings (id INTEGER PRIMARY KEY, client_id TEXT UNIQUE, observed_at TEXT, lon REAL, lat REAL,"
        " source TEXT, vendor_id INTEGER, category TEXT, reported_by TEXT)"
    )
    rows = [(i.client_id, i.observed_at.isoformat(), i.lon, i.lat, i.source, i.vendor_id, i.category, i.reported_by)
            for i in items]  # fmt: skip
    started = time.perf_counter()
    for offset in range(0, len(rows), BATCH):
        con.executemany(f"INSERT INTO sightings ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        rows[offset : offset + BATCH])  # fmt: skip
        con.commit()
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


async def ours_suggestions(folder: Path) -> tuple[float, int]:
    """Seconds for ``hotspots.suggestions`` over four weeks, and how many cells it proposed."""
    settings = _settings(folder)
    database = Database(settings.database_url)
    own = StreetVendorsSettings(suggestion_min_days=3)
    started = time.perf_counter()
    async with database.session() as session:
        book = await RuleBook.load(session, settings.tz, own)
        found = await hotspots.suggestions(session, book, utcnow(), own)
    elapsed = time.perf_counter() - started
    await database.dispose()
    return elapsed, len(found)


def reference_suggestions(folder: Path) -> float:
    """Seconds for DuckDB to compute distinct local days per 100 m cell over the same SQLite table."""
    import duckdb
    import duckdb_extension_sqlite_scanner as ext

    path = glob.glob(os.path.join(os.path.dirname(ext.__file__), "extensions", "*", "*.duckdb_extension"))[0]
    con = duckdb.connect()
    con.execute(f"LOAD '{path}'")
    dlat = 100 / 111_320.0
    since = (utcnow() - timedelta(weeks=4)).isoformat()
    started = time.perf_counter()
    con.execute(
        f"""
        WITH s AS (SELECT lon, lat, CAST(observed_at AS TIMESTAMPTZ) AS t
                   FROM sqlite_scan('{folder / "streetbrain.db"}', 'street_vendors_sightings')
                   WHERE CAST(observed_at AS TIMESTAMPTZ) >= TIMESTAMPTZ '{since}'),
             c AS (SELECT floor(lat / {dlat}) AS row_, lon, t FROM s)
        SELECT row_, floor(lon / ({dlat} / cos(radians((row_ + 0.5) * {dlat})))) AS col,
               count(DISTINCT CAST(t AT TIME ZONE 'Asia/Shanghai' AS DATE)) AS days, count(*) AS n
        FROM c GROUP BY 1, 2 HAVING count(DISTINCT CAST(t AT TIME ZONE 'Asia/Shanghai' AS DATE)) >= 3
        """
    ).fetchall()
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def main() -> None:
    """Seed once, then time each side ``--rounds`` times on fresh copies; print medians and the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sightings", type=int, default=5000)
    parser.add_argument("--vendors", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sb-bench-sv-"))
    seeded = base / "seeded"
    os.environ["STREETBRAIN_SECRET_KEY"] = "bench-secret-key-of-at-least-32-characters"
    asyncio.run(seed(seeded, args.vendors))
    ours, rules_only, refs, ours_s, refs_s = [], [], [], [], []
    violations = cases = proposed = 0
    for round_ in range(args.rounds):
        folder = base / f"round{round_}"
        shutil.copytree(seeded, folder)
        elapsed, violations, cases = asyncio.run(ours_ingest(folder, args.sightings))
        ours.append(args.sightings / elapsed)
        shutil.copytree(seeded, base / f"rules{round_}")
        rules_only.append(args.sightings / asyncio.run(ours_ingest(base / f"rules{round_}", args.sightings, False))[0])
        items = asyncio.run(_items(folder, args.sightings))
        refs.append(args.sightings / reference_ingest(folder, items))
        seconds, proposed = asyncio.run(ours_suggestions(folder))
        ours_s.append(seconds)
        refs_s.append(reference_suggestions(folder))
    shutil.rmtree(base, ignore_errors=True)
    ours_rate, ref_rate = statistics.median(ours), statistics.median(refs)
    s_ours, s_ref = statistics.median(ours_s), statistics.median(refs_s)
    print(f"sightings {args.sightings}, vendors {args.vendors}, rounds {args.rounds}; violations {violations}")
    print(f"ingest  ours: {ours_rate:,.0f} sightings/s (rules, ladder, events, {cases} cases)")
    print(f"        the rules and ladder alone, no events or cases: {statistics.median(rules_only):,.0f} sightings/s")
    print(f"        reference: {ref_rate:,.0f} rows/s (sqlite3 executemany of the same rows)")
    print(f"suggest ours: {s_ours * 1000:,.0f} ms ({proposed} cells)")
    print(f"        reference: DuckDB on the SQLite file {s_ref * 1000:,.0f} ms")
    print(
        f"RESULT street_vendor_sightings ours={ours_rate:.0f} reference={ref_rate:.0f} ratio={ours_rate / ref_rate:.4f}"
        f" suggestions_ms={s_ours * 1000:.0f} duckdb_ms={s_ref * 1000:.0f}"
        f" suggestions_ratio={s_ours / s_ref:.2f} cases={cases} rules_only={statistics.median(rules_only):.0f}"
    )


async def _items(folder: Path, count: int) -> list[SightingInput]:
    settings = _settings(folder)
    database = Database(settings.database_url)
    try:
        return await sighting_inputs(database, count)
    finally:
        await database.dispose()


if __name__ == "__main__":
    main()
