"""waste_sorting end to end on a small hand-built dataset whose answers are worked out by hand.

The street (tests.api.test_areas.areas): communities C1 (grids G00, G01, G10, G11) and C2 (G02, ...).
Point P1 in G00 takes every category, window 07:00-09:00. Day D is ten local days ago; the period is
[D 00:00, D+1 00:00) Asia/Shanghai.

| household | community (now) | active | deposits                                                             |
|-----------|-----------------|--------|----------------------------------------------------------------------|
| H1        | C1 / G00        | yes    | d1 recyclable 1.0 kg D 07:00 (inspected correct);                    |
|           |                 |        | d2 other 2.0 D 09:00 (inspected incorrect)                           |
| H2        | C1 / G00        | yes    | d3 perishable 3.0 D 00:00 (the period's first instant);              |
|           |                 |        | d7 other 1.0 D-1 20:00 (inspected, outside the period)               |
| H3        | C1 / G01        | yes    | none                                                                 |
| H4        | C2 / G02        | yes    | d4 other 4.0 at D+1 00:00 (the period's end: outside)                |
| H5        | C1 / G00        | no     | d5 hazardous 0.5 D 08:00                                             |
| H6        | C1 -> C2 (G02)  | yes    | d6 recyclable 1.5 D 08:30, made in C1, then the household moved      |
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from sqlalchemy import select, text

from core.citybrain.checks import RecordChecker, prepare_page
from core.contracts import JobContext
from core.logs import get_logger
from core.plugins import load_plugins
from plugins.waste_sorting.jobs import nightly_rollup
from plugins.waste_sorting.metrics import _days_counted, indicators, local_midnight, rollup_covers
from plugins.waste_sorting.models import Household, HouseholdMonth
from plugins.waste_sorting.rollup import rollup_days
from tests.api.test_areas import IMPORT, SIZE, areas
from tests.conftest import Platform

PlatformFactory = Callable[..., AbstractAsyncContextManager[Platform]]
API = "/api/v1/waste-sorting"
TZ = ZoneInfo("Asia/Shanghai")
D = datetime.now(TZ).date() - timedelta(days=10)
START, END = local_midnight(D, TZ), local_midnight(D + timedelta(days=1), TZ)
G00 = (120.26 + 0.5 * SIZE, 30.18 + 0.5 * SIZE)


def at(day_offset: int, hh: int, mm: int = 0) -> str:
    return datetime.combine(D + timedelta(days=day_offset), time(hh, mm), tzinfo=TZ).isoformat()


def deposit(event_id: str, qr: str, category: str, kg: float, when: str) -> dict[str, Any]:
    return {"event_id": event_id, "qr_code": qr, "category": category, "weight_kg": kg, "deposited_at": when,
            "point": "P1"}  # fmt: skip


DEPOSITS = [
    deposit("d1", "H1", "recyclable", 1.0, at(0, 7)),
    deposit("d2", "H1", "other", 2.0, at(0, 9)),
    deposit("d3", "H2", "perishable", 3.0, at(0, 0)),
    deposit("d4", "H4", "other", 4.0, at(1, 0)),
    deposit("d5", "H5", "hazardous", 0.5, at(0, 8)),
    deposit("d6", "H6", "recyclable", 1.5, at(0, 8, 30)),
    deposit("d7", "H2", "other", 1.0, at(-1, 20)),
]


async def grid_ids(p: Platform) -> dict[str, int]:
    grids = (await p.client.get("/api/v1/areas/grids", params={"limit": 500})).json()["items"]
    return {g["code"]: g["id"] for g in grids}


@pytest.fixture
async def street(platform: PlatformFactory, backend: dict[str, Any]) -> AsyncIterator[Platform]:
    """The dataset of the module docstring, before H6 moves."""
    async with platform(plugins=["waste_sorting"], **backend) as p:
        assert (await p.client.post(IMPORT, json=areas())).status_code == 200
        point = {"code": "P1", "name": "P1", "community": "C1", "lon": G00[0], "lat": G00[1],
                 "categories": ["recyclable", "hazardous", "perishable", "other"],
                 "deposit_opens": "07:00", "deposit_closes": "09:00"}  # fmt: skip
        assert (await p.client.post(f"{API}/collection-points", json=point)).status_code == 201
        for qr, grid, active in (("H1", "G00", True), ("H2", "G00", True), ("H3", "G01", True),
                                 ("H4", "G02", True), ("H5", "G00", False), ("H6", "G00", True)):  # fmt: skip
            body = {"qr_code": qr, "grid": grid, "active": active, "contact_phone": "13812345678"}
            response = await p.client.post(f"{API}/households", json=body)
            assert response.status_code == 201, response.text
        yield p


async def load(p: Platform) -> None:
    device = await p.api_key_headers("waste_sorting:ingest")
    response = await p.client.post(f"{API}/deposits", json={"records": DEPOSITS}, headers=device)
    assert response.status_code == 201, response.text
    assert (response.json()["inserted"], response.json()["rejected"]) == (len(DEPOSITS), [])
    for event_id, correct in (("d1", True), ("d2", False), ("d7", True)):
        body = {"deposit_event_id": event_id, "correct": correct}
        if not correct:
            body["wrong_category"] = "recyclable"
        assert (await p.client.post(f"{API}/inspections", json=body)).status_code == 201
    moved = await p.client.patch(f"{API}/households/H6", json={"grid": "G02"})
    assert moved.status_code == 200 and moved.json()["community"] == "community C2"


EXPECTED_C1 = {
    "households": 3, "participating": 2, "participation_rate": 2 / 3,
    "deposits": 5, "inspected": 2, "correct": 1, "accuracy_rate": 0.5,
    "in_window": 3, "timed_compliance": 0.6, "weight_kg": 8.0,
    "weight_recyclable_kg": 2.5, "weight_hazardous_kg": 0.5, "weight_perishable_kg": 3.0, "weight_other_kg": 2.0,
    "share_recyclable": 2.5 / 8, "share_hazardous": 0.5 / 8, "share_perishable": 3.0 / 8, "share_other": 2.0 / 8,
    "weight_per_household_kg": 8.0 / 3, "weight_per_participant_kg": 4.0, "deposits_per_participant": 2.5,
}  # fmt: skip
EXPECTED_C2 = {
    "households": 2, "participating": 1, "participation_rate": 0.5,
    "deposits": 0, "inspected": 0, "correct": 0, "accuracy_rate": None, "timed_compliance": None, "weight_kg": 0.0,
    "share_other": None, "weight_per_household_kg": 0.0, "weight_per_participant_kg": 0.0,
}  # fmt: skip


def by_label(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["label"]: row for row in rows}


def close(row: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        assert row[key] == pytest.approx(value) if value is not None else row[key] is None, (key, row[key], value)


async def test_indicators_of_the_hand_built_day(street: Platform) -> None:
    await load(street)
    response = await street.client.get(
        f"{API}/indicators", params={"from": START.isoformat(), "to": END.isoformat(), "group_by": "community"}
    )
    assert response.status_code == 200, response.text
    rows = by_label(response.json()["rows"])
    assert set(rows) == {"community C1", "community C2"}
    close(rows["community C1"], EXPECTED_C1)
    close(rows["community C2"], EXPECTED_C2)


async def test_rollup_gives_the_same_numbers_and_a_late_deposit_dirties_the_day(street: Platform) -> None:
    await load(street)
    async with street.database.session() as session:
        raw = await indicators(session, START - timedelta(days=1), END, TZ, bucket="day", use_rollup=False)
        await rollup_days(session, [D - timedelta(days=1), D])
    async with street.database.session() as session:
        rolled = await indicators(session, START - timedelta(days=1), END, TZ, bucket="day")
        assert await indicators(session, START, END, TZ, use_rollup=True) == await indicators(
            session, START, END, TZ, use_rollup=False
        )
    assert rolled == raw
    day_before = [r for r in rolled if r["bucket"] == (D - timedelta(days=1)).isoformat()]
    assert [(r["label"], r["inspected"], r["accuracy_rate"]) for r in day_before] == [
        ("community C1", 1, 1.0),
        ("community C2", 0, None),  # no inspection at all: accuracy is null, not 0
    ]

    device = await street.api_key_headers("waste_sorting:ingest")
    late = {"event_id": "d8", "qr_code": "H3", "category": "other", "weight_kg": 1.0, "deposited_at": at(0, 12)}
    assert (await street.client.post(f"{API}/deposits", json={"records": [late]}, headers=device)).status_code == 201
    async with street.database.session() as session:
        after = by_label(await indicators(session, START, END, TZ))
    assert after["community C1"]["participating"] == 3 and after["community C1"]["deposits"] == 6


async def test_rollup_read_on_parallel_connections_stores_the_same_rows(street: Platform) -> None:
    """The nightly job reads the per-day sums on connections of their own: same rows as in-session."""
    await load(street)
    days = [D - timedelta(days=1), D, D + timedelta(days=1)]
    tables = ("waste_sorting_daily_stats", "waste_sorting_household_months")

    async def rolled_up(**readers: Any) -> dict[str, list[Any]]:
        async with street.database.session() as session:
            counts = await rollup_days(session, days, **readers)
        async with street.database.session() as session:
            rows = {t: [tuple(r) for r in await session.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2, 3"))]
                    for t in tables}  # fmt: skip
        assert counts["stat_rows"] == len(rows["waste_sorting_daily_stats"])
        assert counts["household_months"] == len(rows["waste_sorting_household_months"])
        return rows

    in_session = await rolled_up()
    parallel = await rolled_up(readers=street.database.engine, parallel=3)

    def without_ids(rows: list[Any]) -> list[Any]:
        return sorted(row[1:] for row in rows)

    assert without_ids(parallel["waste_sorting_daily_stats"]) == without_ids(in_session["waste_sorting_daily_stats"])
    assert parallel["waste_sorting_household_months"] == in_session["waste_sorting_household_months"]
    assert len({row[1] for row in in_session["waste_sorting_daily_stats"]}) == len(days)  # each day has deposits
    async with street.database.session() as session:
        assert await indicators(session, START, END, TZ, use_rollup=True) == await indicators(
            session, START, END, TZ, use_rollup=False
        )


async def test_nightly_job_rolls_up_on_parallel_readers_to_the_raw_numbers(street: Platform) -> None:
    """The nightly job (which reads the days' sums on connections of its own) makes the rollup that
    later queries read, and it gives the raw deposits' numbers."""
    await load(street)
    scheduler = street.client.app.state.scheduler
    job_id = "waste_sorting:nightly_rollup"
    ctx = JobContext(job_id, street.database, street.settings, scheduler.get(job_id).owner_settings,
                     get_logger("test"), scheduler.services)  # fmt: skip
    summary = await nightly_rollup(ctx, now=END + timedelta(days=1))  # yesterday is D+1; 3 days back: D-1 .. D+1
    assert summary["days"] == 3 and summary["stat_rows"] > 0 and summary["household_months"] > 0
    period = (START - timedelta(days=1), END + timedelta(days=1))
    async with street.database.session() as session:
        assert await rollup_covers(session, *period, TZ)
        rolled = await indicators(session, *period, TZ, bucket="day")
        raw = await indicators(session, *period, TZ, bucket="day", use_rollup=False)
    assert rolled == raw and sum(row["deposits"] for row in rolled) == len(DEPOSITS)


async def test_per_day_participation_packed_in_lanes_equals_one_sum_per_day(street: Platform) -> None:
    """Groups small enough count four days per sum; larger ones one day per sum: same counts."""
    await load(street)
    async with street.database.session() as session:
        await rollup_days(session, [D - timedelta(days=1), D, D + timedelta(days=1)])
    base = (
        select(Household.community_id)
        .select_from(HouseholdMonth)
        .join(Household, Household.id == HouseholdMonth.household_id)
    )
    async with street.database.session() as session:
        laned = await _days_counted(session, base, largest=0)
        single = await _days_counted(session, base, largest=10**9)
    assert laned == single
    assert sum(sum(per_day) for _, _, per_day in laned) == 6  # H1, H2, H5, H6 on D; H2 on D-1; H4 on D+1


async def test_replayed_batch_inserts_nothing_and_bad_records_are_named(street: Platform) -> None:
    await load(street)
    device = await street.api_key_headers("waste_sorting:ingest")
    replay = await street.client.post(f"{API}/deposits", json={"records": DEPOSITS}, headers=device)
    assert replay.status_code == 200
    assert {k: replay.json()[k] for k in ("inserted", "replayed", "replay")} == {
        "inserted": 0, "replayed": len(DEPOSITS), "replay": True}  # fmt: skip

    good = {"event_id": "n1", "qr_code": "H3", "category": "other", "weight_kg": 1.0, "deposited_at": at(0, 10)}
    batch = [
        good,
        good | {"event_id": "n2", "qr_code": "NOPE"},
        good | {"event_id": "n3", "category": "glass"},
        {k: v for k, v in good.items() if k != "weight_kg"} | {"event_id": "n4"},
        good | {"event_id": "n5", "point": "P9"},
        good | {"event_id": "n6", "deposited_at": (datetime.now(TZ) + timedelta(days=1)).isoformat()},
        good,  # the same event id twice in one batch: stored once
        good | {"event_id": "n7", "deposited_at": "1970-01-01T00:00:00+00:00"},  # a device clock that was reset
        good | {"event_id": "n8", "deposited_at": "0001-01-01T00:00:00+14:00"},  # not even convertible to UTC
    ]
    answer = (await street.client.post(f"{API}/deposits", json={"records": batch}, headers=device)).json()
    assert (answer["inserted"], answer["replayed"], answer["replay"]) == (1, 1, False)
    assert [(r["index"], r["field"]) for r in answer["rejected"]] == [
        (1, "qr_code"), (2, "category"), (3, "weight_kg"), (4, "point"), (5, "deposited_at"), (7, "deposited_at"),
        (8, "deposited_at")]  # fmt: skip
    listed = (await street.client.get(f"{API}/deposits", params={"limit": 100})).json()
    assert listed["total"] == len(DEPOSITS) + 1

    for body in ({"records": []}, {"rows": []}, [1, 2]):
        response = await street.client.post(f"{API}/deposits", json=body, headers=device)
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "records"
    staff = await street.headers_for("viewer")
    assert (await street.client.post(f"{API}/deposits", json={"records": [good]}, headers=staff)).status_code == 403


async def test_lists_of_non_participating_and_low_accuracy_households(street: Platform) -> None:
    await load(street)
    idle = await street.client.get(f"{API}/lists/non-participating", params={"days": 1, "as_of": END.isoformat()})
    assert [h["qr_code"] for h in idle.json()["items"]] == ["H3", "H4"]
    poor = await street.client.get(
        f"{API}/lists/low-accuracy",
        params={"days": 2, "min_inspections": 2, "threshold": 0.6, "as_of": END.isoformat()},
    )
    assert [(i["household"]["qr_code"], i["accuracy_rate"]) for i in poor.json()["items"]] == [("H1", 0.5)]
    none = await street.client.get(
        f"{API}/lists/low-accuracy", params={"days": 2, "min_inspections": 3, "as_of": END.isoformat()}
    )
    assert none.json()["items"] == []


async def test_weekly_job_makes_cases_for_the_households_grid_worker(street: Platform) -> None:
    await load(street)
    grids = await grid_ids(street)
    worker = await street.user("grid_worker", grid_ids=(grids["G00"],))
    run = await street.client.app.state.scheduler.run("waste_sorting:weekly_lists", trigger="manual")
    assert run.status == "succeeded", run.error
    active = ["H1", "H2", "H3", "H4", "H6"]  # nobody deposited in the last 7 days
    assert (run.summary["non_participating"], run.summary["events"]) == (len(active), len(active))
    cases = (await street.client.get("/api/v1/cases", params={"limit": 100})).json()["items"]
    mine = [c for c in cases if c["assignee_id"] == worker.id]
    assert len(cases) == len(active) and len(mine) == 2  # H1 and H2 live in G00
    again = await street.client.app.state.scheduler.run("waste_sorting:weekly_lists", trigger="manual")
    assert again.summary["events"] == 0  # merged into this week's events
    await street.client.app.state.events.drain()  # deliveries started on this test's loop end on it


async def test_full_bin_becomes_a_case_and_readings_are_idempotent(street: Platform) -> None:
    bin_body = {"code": "B1", "point": "P1", "category": "other"}
    assert (await street.client.post(f"{API}/bins", json=bin_body)).status_code == 201
    device = await street.api_key_headers("waste_sorting:ingest")
    readings = [
        {"reading_id": "r1", "bin": "B1", "fill_percent": 50, "measured_at": at(9, 8)},
        {"reading_id": "r2", "bin": "B1", "fill_percent": 90, "measured_at": at(9, 9)},
    ]
    first = (await street.client.post(f"{API}/bins/readings", json=readings, headers=device)).json()
    second = (await street.client.post(f"{API}/bins/readings", json=readings, headers=device)).json()
    assert (first["stored"], len(first["events"]), second["stored"], second["replayed"]) == (2, 1, 0, 2)
    cases = (await street.client.get("/api/v1/cases")).json()["items"]
    assert len(cases) == 1 and cases[0]["grid_id"] == (await grid_ids(street))["G00"]
    assert (await street.client.get(f"{API}/bins")).json()["items"][0]["fill_percent"] == 90


async def test_household_import_reports_rows_and_stores_all_or_nothing(street: Platform) -> None:
    csv = "qr_code,grid,residents,contact_phone\nK1,G00,3,13900001111\nK2,G00,2,12345\nK3,G99,1,\n"
    files = {"data": ("households.csv", csv.encode("utf-8-sig"), "text/csv")}
    refused = await street.client.post(f"{API}/households/import", files=files)
    assert refused.status_code == 422
    assert [(e["row"], e["field"]) for e in refused.json()["errors"]] == [(3, "contact_phone"), (4, "grid")]
    assert (await street.client.get(f"{API}/households/K1")).status_code == 404
    partial = await street.client.post(f"{API}/households/import", files=files, params={"skip_invalid": True})
    assert (partial.json()["created"], len(partial.json()["errors"])) == (1, 2)

    book = Workbook()
    sheet = book.active
    sheet.append(["qr_code", "community", "residents", "active"])
    sheet.append(["X1", "C2", 4, "false"])
    sheet.append(["K1", "C2", 5, "true"])  # an update of the CSV's household
    buffer = io.BytesIO()
    book.save(buffer)
    files = {"data": ("households.xlsx", buffer.getvalue(), "application/octet-stream")}
    answer = (await street.client.post(f"{API}/households/import", files=files)).json()
    assert (answer["created"], answer["updated"]) == (1, 1)
    x1 = (await street.client.get(f"{API}/households/X1")).json()
    assert (x1["community"], x1["active"], x1["grid_id"], x1["residents"]) == ("community C2", False, None, 4)


async def test_contact_is_encrypted_and_masked(street: Platform) -> None:
    viewer = await street.headers_for("viewer")
    seen = (await street.client.get(f"{API}/households/H1", headers=viewer)).json()
    assert seen["contact_phone"] == "138****5678"
    assert (await street.client.get(f"{API}/households/H1")).json()["contact_phone"] == "13812345678"
    async with street.database.session() as session:
        stored = await session.scalar(text("SELECT contact_phone FROM waste_sorting_households WHERE qr_code = 'H1'"))
    assert stored and "13812345678" not in stored
    found = (await street.client.get(f"{API}/households", params={"phone": "138 1234 5678"})).json()
    assert found["total"] == 6


async def test_grid_worker_sees_only_their_grids(street: Platform) -> None:
    grids = await grid_ids(street)
    worker = await street.headers_for("grid_worker", grid_ids=(grids["G01"],))
    listed = (await street.client.get(f"{API}/households", headers=worker)).json()
    assert [h["qr_code"] for h in listed["items"]] == ["H3"]
    assert (await street.client.get(f"{API}/households/H1", headers=worker)).status_code == 404


async def test_reports_and_trend_chart(street: Platform) -> None:
    await load(street)
    params = {"from": D.isoformat(), "to": (D + timedelta(days=1)).isoformat(), "format": "csv"}
    report = await street.client.get("/api/v1/reports/waste_sorting/daily_statistics", params=params)
    assert report.status_code == 200 and "community C1" in report.text
    month = D.strftime("%Y-%m")
    ranking = (
        await street.client.get("/api/v1/reports/waste_sorting/community_ranking", params={"month": month})
    ).json()
    assert [row["rank"] for row in ranking["rows"]] == [1, 2]
    chart = await street.client.get(
        f"{API}/charts/trend.png", params={"from": START.isoformat(), "to": END.isoformat()}
    )
    assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")


def test_quarantine_keeps_no_name_in_the_clear(make_settings: Callable[..., Any]) -> None:
    import plugins.waste_sorting as plugin

    manager = load_plugins(make_settings(), use_entry_points=False, plugins={"waste_sorting": plugin})
    (source,) = next(r for r in manager.ok_plugins() if r.name == "waste_sorting").citybrain_sources
    bad = {"id": "HH1", "name": "王伟户", "qr_code": "AB12CD34", "community": "宁新村", "members": 3,
           "lon": "120.1", "lat": 30.2, "updated_at": "2026-11-01T00:00:00Z"}  # fmt: skip
    good = bad | {"id": "HH2", "qr_code": "EF56GH78", "lon": 120.1}
    page = prepare_page(source, RecordChecker(source), [bad, good])
    ((record, reason),) = page.bad.values()
    assert record["name"] == "王**" and "lon" in reason
    assert [row["contact_name"] for row in page.rows] == ["王伟户"]
