"""Sync over real HTTP against the simulator, on SQLite and PostgreSQL: faults, quarantine, watermark, resume.

Also how a run stores its pages (each in one transaction, the next one checked meanwhile) and the
pieces that make it fast (the page checks, the upsert's parameters, the SQLite settings).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import Table, distinct, func, select
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import Dialect

from core.citybrain import checks
from core.citybrain import sync as sync_module
from core.citybrain.checks import RecordChecker, prepare_page
from core.citybrain.client import CityBrainClient, CityBrainError, DatasetPage
from core.citybrain.models import QuarantinedRecord, SyncRun, SyncState
from core.citybrain.simulator.app import decode_cursor
from core.citybrain.simulator.server import SimulatorServer
from core.citybrain.upsert import _compile_upsert, _parameters, upsert_rows
from core.config import env_name
from core.contracts import CityBrainSource
from core.db import SQLITE_CACHE_KIB, SQLITE_JOURNAL_SIZE_LIMIT_BYTES, SQLITE_WAL_AUTOCHECKPOINT_PAGES
from plugins.video_net.citybrain import camera_values
from plugins.video_net.models import Camera
from tests.core.citybrain.conftest import FAULTS_20_PERCENT, Street

CAMERAS = cast(Table, Camera.__table__)
FIELD_OF = {"missing_id": "id", "null_name": "name", "bad_lon": "lon", "lat_out_of_range": "lat"}


async def cameras_in_db(street: Street) -> dict[str, dict[str, Any]]:
    async with street.database.session() as session:
        rows = (await session.scalars(select(Camera))).all()
    return {
        row.code: {"code": row.code, "name": row.name, "owner": row.owner, "lon": row.lon, "lat": row.lat}
        for row in rows
    }


async def quarantined(street: Street) -> list[QuarantinedRecord]:
    async with street.database.session() as session:
        return list((await session.scalars(select(QuarantinedRecord).order_by(QuarantinedRecord.id))).all())


@pytest.mark.parametrize("commit_records", [1, 100], ids=["a-commit-per-page", "batches-of-pages"])
async def test_sync_with_faults_stores_every_good_record_once_and_quarantines_every_bad_one(
    street: Street, simulator: SimulatorServer, commit_records: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(street.settings, "citybrain_commit_records", commit_records)
    simulator.set_faults(**FAULTS_20_PERCENT)
    good, bad = simulator.state.expected("cameras")
    assert good and len(set(bad.values())) == 4  # every kind of malformation is served

    result = await street.service.sync("cameras", page_size=8)

    faults = simulator.state.counts
    assert sum(faults.values()) >= 3 and len(faults) >= 2, faults  # the seed gives several kinds of fault
    assert result.duplicates > 0
    assert await cameras_in_db(street) == {code: camera_values(record) for code, record in good.items()}
    rows = await quarantined(street)
    assert len(rows) == len(bad)
    assert sorted(row.record_key for row in rows if row.record_key) == sorted(
        code for code, kind in bad.items() if kind != "missing_id"
    )
    for row in rows:
        kind = "missing_id" if row.record_key is None else bad[row.record_key]
        assert row.reason.startswith(FIELD_OF[kind]), (kind, row.reason)
    async with street.database.session() as session:
        run = await session.get(SyncRun, result.run_id)
        state = await session.get(SyncState, "cameras")
    assert run is not None and state is not None
    assert (run.status, run.upserted, run.quarantined, run.pages) == (
        "succeeded",
        result.upserted,
        result.quarantined,
        result.pages,
    )
    newest = max(record["updated_at"] for record in good.values())
    assert state.cursor is None
    assert state.updated_since is not None and state.updated_since.isoformat().replace("+00:00", "Z") == newest

    # Again: only what changed at or after the watermark is fetched; nothing is stored twice.
    again = await street.service.sync("cameras")
    assert again.fetched < len(good) // 10
    assert len(await cameras_in_db(street)) == len(good)
    assert len(await quarantined(street)) == len(bad)


async def test_sync_after_changes_fetches_only_the_changed_records(street: Street, simulator: SimulatorServer) -> None:
    first = await street.service.sync("cameras")
    assert first.upserted == len(simulator.state.datasets["cameras"].records)
    records = simulator.state.datasets["cameras"].records
    newest = max(record["updated_at"] for record in records)
    at_watermark = {record["id"] for record in records if record["updated_at"] == newest}
    touched = httpx.post(f"{simulator.url}/_sim/datasets/cameras/touch", params={"count": 7}).json()["ids"]

    second = await street.service.sync("cameras")

    assert second.fetched == len(at_watermark | set(touched))  # the watermark is inclusive: ties are not lost
    cameras = await cameras_in_db(street)
    assert sorted(code for code, camera in cameras.items() if camera["name"].endswith("*")) == sorted(touched)
    assert len(cameras) == first.upserted


@pytest.mark.parametrize("pages_per_commit", [1, 5], ids=["a-commit-per-page", "five-pages-per-commit"])
async def test_a_killed_sync_resumes_from_its_watermark_without_duplicates(
    street: Street, simulator: SimulatorServer, pages_per_commit: int
) -> None:
    """Killed between two commits: what was committed is whole, the rest is fetched again, nothing twice."""
    simulator.set_faults(latency=0.05, malformed_rate=0.08, duplicate_rate=0.08)
    good, bad = simulator.state.expected("cameras")
    env = {
        **os.environ,
        env_name("database_url"): street.settings.database_url,
        env_name("data_dir"): str(street.settings.data_dir),
        env_name("citybrain_base_url"): simulator.url,
        env_name("citybrain_app_key"): street.settings.citybrain_app_key or "",
        env_name("citybrain_app_secret"): street.settings.citybrain_app_secret.get_secret_value(),  # type: ignore[union-attr]
        env_name("citybrain_page_size"): "10",
        env_name("citybrain_commit_records"): str(10 * pages_per_commit),
        env_name("citybrain_commit_seconds"): "60",  # batches end by their size only
        env_name("scheduler_enabled"): "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "citybrain", "sync", "cameras"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until a few pages are stored, then kill it mid-run
            if await street.count(SyncRun, SyncRun.pages >= 2 * pages_per_commit):
                break
            assert process.poll() is None, "the sync ended before it could be killed"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    async with street.database.session() as session:
        state = await session.get(SyncState, "cameras")
        (killed,) = (await session.scalars(select(SyncRun))).all()
    assert state is not None and state.cursor is not None and state.updated_since is None
    assert killed.status == "running" and 2 * pages_per_commit <= killed.pages < len(good) // 10
    assert killed.pages % pages_per_commit == 0  # only whole batches were committed
    # Stored: exactly the good records up to the cursor, which points after the last committed page.
    after = decode_cursor(state.cursor)
    stored = await cameras_in_db(street)
    assert stored == {
        code: camera_values(record) for code, record in good.items() if (record["updated_at"], record["id"]) <= after
    }
    stored_before = len(stored)
    assert 0 < stored_before < len(good)
    requests_before = len(simulator.state.requests)

    resumed = await street.service.sync("cameras")

    assert resumed.resumed
    assert simulator.state.requests[requests_before]["cursor"] == state.cursor
    assert resumed.fetched < len(good) + len(bad)
    assert await cameras_in_db(street) == {code: camera_values(record) for code, record in good.items()}
    assert len(await quarantined(street)) == len(bad)
    async with street.database.session() as session:
        refreshed = await session.get(SyncRun, killed.id)
    assert refreshed is not None and refreshed.status == "interrupted"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_failed_sync_is_recorded_and_the_next_run_goes_on(street: Street, simulator: SimulatorServer) -> None:
    simulator.set_faults(error_rate=1.0)
    with pytest.raises(Exception, match="HTTP 50"):
        await street.service.sync("cameras")
    async with street.database.session() as session:
        (run,) = (await session.scalars(select(SyncRun))).all()
    assert run.status == "failed" and "HTTP 50" in (run.error or "")
    simulator.set_faults(error_rate=0.0)
    result = await street.service.sync("cameras")
    assert result.upserted == len(simulator.state.datasets["cameras"].records)


@pytest.mark.parametrize("commit_records", [1, 75], ids=["a-commit-per-page", "three-pages-per-commit"])
async def test_a_sync_that_fails_midway_keeps_the_pages_it_stored_and_the_next_run_finishes(
    street: Street, simulator: SimulatorServer, commit_records: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages fetched before City Brain went down are stored, also those of a batch not yet due."""
    monkeypatch.setattr(street.settings, "citybrain_commit_records", commit_records)
    good, _bad = simulator.state.expected("cameras")
    stored_pages: list[int] = []

    def progress(records: int, _total: int | None) -> None:
        stored_pages.append(records)
        if len(stored_pages) == 3:  # City Brain goes down while later pages are fetched and written
            simulator.set_faults(error_rate=1.0)

    with pytest.raises(CityBrainError, match="HTTP 50"):
        await street.service.sync("cameras", progress=progress)

    async with street.database.session() as session:
        state = await session.get(SyncState, "cameras")
        (run,) = (await session.scalars(select(SyncRun))).all()
    pages = len(simulator.state.datasets["cameras"].records) // street.settings.citybrain_page_size
    assert run.status == "failed" and 3 <= run.pages < pages
    assert run.pages == len(stored_pages)  # a page that was being written when the fetch failed is counted
    assert state is not None and state.cursor is not None and state.updated_since is None
    assert len(await cameras_in_db(street)) == run.upserted == sum(stored_pages)

    simulator.set_faults(error_rate=0.0)
    resumed = await street.service.sync("cameras")

    assert resumed.resumed and resumed.fetched == len(good) - run.fetched
    assert await cameras_in_db(street) == {code: camera_values(record) for code, record in good.items()}


async def test_a_page_that_cannot_be_stored_leaves_nothing_of_itself(
    street: Street, simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, _bad = simulator.state.expected("cameras")
    quarantine, calls = sync_module.quarantine, 0

    async def failing_quarantine(*args: Any) -> None:  # runs after the page's upsert, in its transaction
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("disk full")
        await quarantine(*args)

    monkeypatch.setattr(sync_module, "quarantine", failing_quarantine)
    with pytest.raises(RuntimeError, match="disk full"):
        await street.service.sync("cameras")

    async with street.database.session() as session:
        state = await session.get(SyncState, "cameras")
        (run,) = (await session.scalars(select(SyncRun))).all()
    page_size = street.settings.citybrain_page_size
    assert (run.status, run.pages, run.upserted) == ("failed", 2, 2 * page_size)
    assert len(await cameras_in_db(street)) == 2 * page_size  # the third page's upsert was rolled back
    assert state is not None and state.cursor == simulator.state.requests[2]["cursor"]  # where page 3 begins

    monkeypatch.setattr(sync_module, "quarantine", quarantine)
    requests_before = len(simulator.state.requests)
    resumed = await street.service.sync("cameras")

    assert resumed.resumed and simulator.state.requests[requests_before]["cursor"] == state.cursor
    assert await cameras_in_db(street) == {code: camera_values(record) for code, record in good.items()}


def count_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pages of each batch the sync stores (the real ``_store_batch`` does the storing)."""
    sizes: list[int] = []
    store_batch = sync_module._store_batch

    async def counting_store_batch(connection: Any, source: Any, run_id: int, batch: Any) -> None:
        sizes.append(len(batch.pages))
        await store_batch(connection, source, run_id, batch)

    monkeypatch.setattr(sync_module, "_store_batch", counting_store_batch)
    return sizes


async def test_a_batch_is_committed_once_it_holds_enough_records(
    street: Street, simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, _bad = simulator.state.expected("cameras")
    batches = count_batches(monkeypatch)
    monkeypatch.setattr(street.settings, "citybrain_commit_records", 60)  # pages of 25: three make a batch
    monkeypatch.setattr(street.settings, "citybrain_commit_seconds", 60.0)

    result = await street.service.sync("cameras")

    assert batches == [3, 3, 3, 1]  # 240 records: ten pages, the last one alone
    assert result.pages == 10 and result.upserted == len(good)
    assert await cameras_in_db(street) == {code: camera_values(record) for code, record in good.items()}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_next_page_is_requested_before_this_one_is_checked(
    street: Street, simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """City Brain works on page k+1 while the run checks page k: its request leaves first."""
    events: list[str] = []
    get_page = CityBrainClient.get_page

    async def logged_get_page(
        self: CityBrainClient, dataset: str, *, on_sent: Callable[[], None] | None = None, **kwargs: Any
    ) -> DatasetPage:
        def sent() -> None:
            events.append("sent")
            if on_sent is not None:
                on_sent()

        return await get_page(self, dataset, on_sent=sent, **kwargs)

    prepare_page = sync_module.prepare_page

    def logged_prepare_page(*args: Any) -> Any:
        events.append("check")
        return prepare_page(*args)

    monkeypatch.setattr(CityBrainClient, "get_page", logged_get_page)
    monkeypatch.setattr(sync_module, "prepare_page", logged_prepare_page)

    result = await street.service.sync("cameras")

    assert result.pages == 10
    assert events == ["sent", *["sent", "check"] * 9, "check"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_batch_is_committed_once_its_first_page_is_old_enough(
    street: Street, simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow City Brain does not keep fetched pages unstored for long: at most ``commit_seconds``."""
    simulator.set_faults(latency=0.2)
    batches = count_batches(monkeypatch)
    monkeypatch.setattr(street.settings, "citybrain_commit_records", 10_000)
    monkeypatch.setattr(street.settings, "citybrain_commit_seconds", 0.3)

    result = await street.service.sync("cameras")

    assert sum(batches) == result.pages == 10
    assert len(batches) >= 4 and max(batches) <= 3, batches  # a page takes 0.2 s: a batch spans two or so


async def test_a_fetch_that_fails_stores_the_pages_of_the_batch_being_filled(
    street: Street, simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, _bad = simulator.state.expected("cameras")
    batches = count_batches(monkeypatch)
    monkeypatch.setattr(street.settings, "citybrain_commit_records", 10_000)
    monkeypatch.setattr(street.settings, "citybrain_commit_seconds", 60.0)
    client = street.service.client()
    get_page, received = client.get_page, 0

    async def get_page_then_city_brain_goes_down(*args: Any, **kwargs: Any) -> Any:
        nonlocal received
        page = await get_page(*args, **kwargs)
        received += 1
        if received == 4:
            simulator.set_faults(error_rate=1.0)
        return page

    monkeypatch.setattr(client, "get_page", get_page_then_city_brain_goes_down)
    with pytest.raises(CityBrainError, match="HTTP 50"):
        await street.service.sync("cameras")

    async with street.database.session() as session:
        state = await session.get(SyncState, "cameras")
        (run,) = (await session.scalars(select(SyncRun))).all()
    assert batches == [4] and (run.status, run.pages, run.upserted) == ("failed", 4, 100)
    assert state is not None and state.cursor is not None and state.updated_since is None
    assert len(await cameras_in_db(street)) == 100

    simulator.set_faults(error_rate=0.0)
    resumed = await street.service.sync("cameras")

    assert resumed.resumed and resumed.fetched == len(good) - 100
    assert await cameras_in_db(street) == {code: camera_values(record) for code, record in good.items()}


def camera_source() -> CityBrainSource:
    return CityBrainSource(dataset="cameras", natural_key=("code",), model=Camera, map_record=camera_values)


def camera_record(code: str, name: str = "camera", updated_at: str = "2026-11-01T08:00:00Z") -> dict[str, Any]:
    return {"id": code, "name": name, "owner": "community", "lon": 120.27, "lat": 30.22, "updated_at": updated_at}


def test_a_page_is_checked_de_duplicated_and_sorted_by_key() -> None:
    source = camera_source()
    records = [
        camera_record("33010952134000000003", updated_at="2026-11-01T08:00:03Z"),
        camera_record("33010952134000000001", name="first", updated_at="2026-11-01T08:00:09Z"),
        {**camera_record("33010952134000000002"), "lat": 91.0},
        camera_record("33010952134000000001", name="again"),
        ["not", "an", "object"],
    ]

    page = prepare_page(source, RecordChecker(source), records)

    assert [(row["code"], row["name"]) for row in page.rows] == [
        ("33010952134000000001", "again"),  # the last of the duplicates wins
        ("33010952134000000003", "camera"),
    ]
    assert page.duplicates == 1 and page.newest is not None and page.newest.isoformat() == "2026-11-01T08:00:09+00:00"
    assert sorted(reason for _record, reason in page.bad.values()) == [
        "expected a JSON object, got list",
        "lat: 91.0 is outside -90..90",
    ]


@pytest.mark.parametrize(
    ("lon", "expected"),
    [
        (120.27, 120.27),
        (120, 120.0),  # an integer becomes a float
        (180.5, "lon: 180.5 is outside -180..180"),
        (float("nan"), "lon: nan is outside -180..180"),
        (True, "lon: expected a number, got True"),
        ("120.27", "lon: expected a number, got '120.27'"),
    ],
)
def test_camera_coordinates_are_numbers_in_range(lon: Any, expected: float | str) -> None:
    record = {**camera_record("33010952134000000001"), "lon": lon}
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=re.escape(expected)):
            camera_values(record)
    else:
        values = camera_values(record)
        assert values["lon"] == expected and type(values["lon"]) is float and values["lat"] == 30.22


def test_a_clean_page_is_prepared_a_step_at_a_time_with_the_record_by_record_result() -> None:
    source = camera_source()
    checker = RecordChecker(source)
    clean = [
        camera_record(f"3301095213400000{i:04d}", name=f"camera {i}", updated_at=f"2026-11-01T08:{i:02d}:00Z")
        for i in range(50)
    ]
    clean.append(camera_record("33010952134000000007", name="again"))  # a key seen before: the last wins
    clean.append(camera_record("33010952134000000060", updated_at="2026-11-01T09:30:00"))  # no zone: UTC
    with_a_bad_one = [*clean, {**camera_record("33010952134000000099"), "lon": "east"}]

    page = checks._prepare_clean_page(source, checker, clean)

    assert page is not None and page == checks._prepare_records(source, checker, clean)
    assert page.duplicates == 1 and len(page.rows) == 51 and page.newest is not None
    assert page.newest.isoformat() == "2026-11-01T09:30:00+00:00"
    assert page.rows[7]["name"] == "again" and page.keys == sorted(page.keys)
    # One bad record: the whole page goes record by record, which names the bad one.
    assert checks._prepare_clean_page(source, checker, with_a_bad_one) is None
    mixed = prepare_page(source, checker, with_a_bad_one)
    assert mixed == checks._prepare_records(source, checker, with_a_bad_one)
    assert [reason for _record, reason in mixed.bad.values()] == ["lon: expected a number, got 'east'"]
    assert mixed.rows == page.rows


async def test_upsert_rows_stores_many_rows_once_and_updates_them_in_place(street: Street) -> None:
    """On SQLite several hundred rows go in one statement: 1,234 rows are two statements of 500, then 234 rows."""
    source = camera_source()
    rows = [camera_values(camera_record(f"3301095213401{i:07d}", name=f"camera {i}")) for i in range(1234)]
    sqlite_upsert = _compile_upsert(SQLiteDialect_aiosqlite(), source, CAMERAS, tuple(rows[0]))
    assert sqlite_upsert is not None and sqlite_upsert.rows_per_statement == 500
    assert sqlite_upsert.multi_columns == tuple(rows[0])  # the defaults are bound once per statement

    async with street.database.engine.begin() as connection:
        await upsert_rows(connection, source, rows)
    async with street.database.engine.begin() as connection:
        ids = dict((await connection.execute(select(Camera.code, Camera.id))).tuples().all())
    changed = [
        {**row, "name": f"{row['name']} renamed", "lat": 30.5} if i % 3 == 0 else row for i, row in enumerate(rows)
    ]
    async with street.database.engine.begin() as connection:
        await upsert_rows(connection, source, changed)

    assert await street.count(Camera) == 1234
    defaults = (Camera.status == "unknown", Camera.enabled.is_(True), Camera.camera_type == "other")
    assert await street.count(Camera, *defaults, Camera.is_key.is_(False), Camera.created_at.is_not(None)) == 1234
    async with street.database.engine.begin() as connection:  # evaluated once per call, leftover rows too
        assert (await connection.execute(select(func.count(distinct(Camera.created_at))))).scalar_one() == 1
    assert await cameras_in_db(street) == {row["code"]: row for row in changed}
    async with street.database.engine.begin() as connection:
        assert (
            dict((await connection.execute(select(Camera.code, Camera.id))).tuples().all()) == ids
        )  # updated in place


@pytest.mark.parametrize("dialect", [SQLiteDialect_aiosqlite(), PGDialect_asyncpg()], ids=["sqlite", "postgresql"])
def test_upsert_parameters_are_in_the_statement_order_with_each_default_evaluated_once(dialect: Dialect) -> None:
    source = camera_source()
    rows = [camera_values(camera_record(f"3301095213400000000{i}", name=f"camera {i}")) for i in range(3)]
    upsert = _compile_upsert(dialect, source, CAMERAS, tuple(rows[0]))
    assert upsert is not None

    params = _parameters(upsert, rows)

    assert len(params) == len(rows)
    for row, values in zip(rows, params, strict=True):
        by_name = dict(zip(upsert.order, values, strict=True))
        assert {name: by_name[name] for name in row} == row  # floats stay floats, text stays text
        assert by_name["status"] == "unknown" and by_name["enabled"] in (True, 1)
    assert len({values[upsert.order.index("created_at")] for values in params}) == 1  # once per batch


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_connections_have_a_larger_page_cache_and_fewer_checkpoints(street: Street) -> None:
    """core/db.py sets them for every SQLite connection; the sync's batches of upserts rely on them."""
    async with street.database.engine.connect() as connection:
        values = [
            (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
            for name in ("cache_size", "wal_autocheckpoint", "journal_size_limit")
        ]
    assert values == [-SQLITE_CACHE_KIB, SQLITE_WAL_AUTOCHECKPOINT_PAGES, SQLITE_JOURNAL_SIZE_LIMIT_BYTES]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_stored_cursor_city_brain_refuses_starts_the_run_over_from_the_watermark(
    street: Street, simulator: SimulatorServer
) -> None:
    async with street.database.session() as session:
        session.add(SyncState(dataset="cameras", cursor="not-a-cursor-of-the-simulator"))

    result = await street.service.sync("cameras")

    assert not result.resumed
    assert result.upserted == len(simulator.state.datasets["cameras"].records) == await street.count(Camera)
    async with street.database.session() as session:
        state = await session.get(SyncState, "cameras")
    assert state is not None and state.cursor is None and state.updated_since is not None
