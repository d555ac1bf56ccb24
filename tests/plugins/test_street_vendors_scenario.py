"""The street_vendors scenario end to end: the demo's patrol day, the ladder into cases, camera alerts,
hotspots and suggestions, permits and their reminders, the City Brain summary, bad input, grid scoping."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

import plugins.street_vendors as street_vendors
from core.areas.demo import demo_collection
from core.cases.models import Case
from core.citybrain.models import OutboxItem
from core.citybrain.simulator.app import SimulatorState
from core.citybrain.simulator.server import SimulatorServer
from core.contracts import EventType, PluginInfo
from core.db import utcnow
from core.demo import load_demo_data
from core.events import Event, EventRecord
from core.hookspecs import hookimpl
from plugins.street_vendors import demo
from plugins.street_vendors.cells import cell_of
from plugins.street_vendors.citybrain import licence_values
from plugins.street_vendors.models import MarketLicence, Sighting, Suggestion
from tests.conftest import Platform
from tests.core.citybrain.conftest import citybrain_overrides

SV = "/api/v1/street-vendors"
PlatformFactory = Callable[..., AbstractAsyncContextManager[Platform]]


async def with_areas(p: Platform) -> None:
    """The demo street's sixteen grids, so sightings and cases find their grid."""
    answer = await p.client.post("/api/v1/areas/import", json=demo_collection())
    assert answer.status_code == 200, answer.text
    await p.client.app.state.areas.refresh(force=True)


async def demo_vendor_ids(p: Platform) -> dict[str, int]:
    items = (await p.client.get(f"{SV}/vendors", params={"limit": 500})).json()["items"]
    return {item["phone"]: item["id"] for item in items}


@pytest.fixture
async def sv(platform: PlatformFactory, backend: dict[str, Any]) -> AsyncIterator[Platform]:
    """street_vendors alone, with the demo areas, on SQLite and on PostgreSQL."""
    async with platform(plugins=["street_vendors"], **backend) as p:
        await with_areas(p)
        yield p


async def test_demo_patrol_day_gives_the_documented_outcomes_and_a_penalise_case(sv: Platform) -> None:
    loaded = await load_demo_data(sv.database, sv.plugins.ok_plugins())
    assert loaded["street_vendors"]["vending_points"] == 5  # type: ignore[index]
    vendor_ids = await demo_vendor_ids(sv)
    rows = demo.script(utcnow(), vendor_ids)
    grid = sv.client.app.state.areas.grid_for(*demo.POINTS[2][4])  # the night market's grid
    worker = await sv.user("grid_worker", grid_ids=(grid,))
    cases_before = (await sv.client.get("/api/v1/cases")).json()["total"]

    answer = await sv.client.post(f"{SV}/sightings", json=[body for body, _, _ in rows])
    assert answer.status_code == 201, answer.text
    got = answer.json()
    assert [(s["outcome"], s["violation"] and s["violation"]["stage"]) for s in got] == [
        (outcome, stage) for _, outcome, stage in rows
    ]
    assert {outcome for _, outcome, _ in rows} == {
        "allowed", "outside_point", "outside_hours", "category_not_allowed", "unlicensed", "no_permit", "over_capacity"
    }  # fmt: skip

    # 王建国 (13800138001): educate, warn, then penalise; the penalise case is high and the night market's worker's
    his = [s for s in got if s["vendor_id"] == vendor_ids["13800138001"]]
    assert [s["violation"]["stage"] for s in his] == ["educate", "warn", "penalise"]
    assert [s["violation"]["rank"] for s in his] == [1, 2, 3]
    penalise_case = (await sv.client.get(f"/api/v1/cases/{his[-1]['violation']['case_id']}")).json()
    assert penalise_case["severity"] == "high" and penalise_case["category"] == "street_vendor"
    assert (penalise_case["assignee_id"], penalise_case["grid_id"]) == (worker.id, grid)
    educate_case = (await sv.client.get(f"/api/v1/cases/{his[0]['violation']['case_id']}")).json()
    assert educate_case["severity"] == "low"
    violations = [s for s in got if s["violation"]]
    assert all(s["violation"]["case_id"] for s in violations)  # unidentified vendors too
    cases_after = (await sv.client.get("/api/v1/cases")).json()["total"]
    assert cases_after - cases_before == len(violations)

    again = await sv.client.post(f"{SV}/sightings", json=[body for body, _, _ in rows])
    assert again.status_code == 200
    assert all(s["replay"] for s in again.json())
    assert [s["id"] for s in again.json()] == [s["id"] for s in got]
    assert (await sv.client.get("/api/v1/cases")).json()["total"] == cases_after

    offenders = (await sv.client.get(f"{SV}/repeat-offenders")).json()["items"]
    assert offenders[0]["vendor_id"] == vendor_ids["13800138001"] and offenders[0]["violations"] == 3
    assert offenders[0]["next_stage"] == "penalise"
    window_end = datetime.fromisoformat(rows[12][0]["observed_at"]) + timedelta(minutes=30)
    occupancy = (await sv.client.get(f"{SV}/occupancy", params={"at": window_end.isoformat()})).json()["items"]
    night = next(o for o in occupancy if o["code"] == "NW-VP-03")
    assert (night["open"], night["vendors"], night["capacity"]) == (True, 4, 3)  # three stalls, four vendors


async def test_the_ladder_counts_thirty_days_back_boundary_included(platform: PlatformFactory) -> None:
    t0 = utcnow() - timedelta(days=80)
    async with platform(plugins=["street_vendors"]) as p:
        vendor = (await p.client.post(f"{SV}/vendors", json={"name": "王建国", "category": "food"})).json()["id"]

        async def violate(n: int, when: datetime) -> dict[str, Any]:
            body = {
                "client_id": f"v{n}",
                "observed_at": when.isoformat(),
                "lon": 120.26,
                "lat": 30.18,
                "vendor_id": vendor,
            }
            answer = await p.client.post(f"{SV}/sightings", json=body)
            assert answer.status_code == 201, answer.text
            return dict(answer.json()["violation"])

        first = await violate(1, t0)
        second = await violate(2, t0 + timedelta(days=30))  # exactly 30 days later: the first still counts
        third = await violate(3, t0 + timedelta(days=30, seconds=1))  # a second more: the first no longer counts
        fourth = await violate(4, t0 + timedelta(days=31))
        alone = await violate(5, t0 + timedelta(days=62))  # more than 30 days after the fourth
    assert [(v["stage"], v["rank"]) for v in (first, second, third, fourth, alone)] == [
        ("educate", 1), ("warn", 2), ("warn", 2), ("penalise", 3), ("educate", 1)
    ]  # fmt: skip


async def test_ladder_thresholds_are_configurable(platform: PlatformFactory) -> None:
    ladder = {"street_vendors": {"warn_from": 3, "penalise_from": 5}}
    async with platform(plugins=["street_vendors"], plugin_config=ladder) as p:
        vendor = (await p.client.post(f"{SV}/vendors", json={"name": "李秀英", "category": "produce"})).json()["id"]
        start = utcnow() - timedelta(days=2)
        bodies = [
            {"client_id": f"c{n}", "observed_at": (start + timedelta(hours=n)).isoformat(), "lon": 120.26,
             "lat": 30.18, "vendor_id": vendor}
            for n in range(6)
        ]  # fmt: skip
        got = (await p.client.post(f"{SV}/sightings", json=bodies)).json()
    assert [s["violation"]["stage"] for s in got] == ["educate", "educate", "warn", "warn", "penalise", "penalise"]


class FakeVideo:
    """Stands in for the video plugin: it only declares the alert types it emits (as the real one does)."""

    @hookimpl
    def plugin_info(self) -> PluginInfo:
        return PluginInfo(name="video_net", title="video stand-in", version="0")

    @hookimpl
    def register_event_types(self) -> list[EventType]:
        return [
            EventType("video_net.street_vendor", "Street vendor", "city_appearance"),
            EventType("video_net.road_occupation", "Road occupation", "city_appearance", creates_case=False),
            EventType("video_net.garbage_overflow", "Garbage overflow", "sanitation"),
        ]


async def test_on_event_turns_a_camera_vendor_alert_into_a_camera_sighting(platform: PlatformFactory) -> None:
    plugins = {"street_vendors": street_vendors, "video_net": FakeVideo()}
    async with platform(use_entry_points=False, extra_plugins=plugins) as p:
        await with_areas(p)
        bus = p.client.app.state.events
        seen = utcnow() - timedelta(minutes=3)
        alert = await bus.emit_now(
            Event(type="video_net.street_vendor", source="camera:33010952131000000007", occurred_at=seen,
                  lon=demo.METRO_EXIT[0], lat=demo.METRO_EXIT[1],
                  payload={"category": "food", "snapshot_url": "/media/snap/7.jpg", "confidence": 0.91})
        )  # fmt: skip
        occupied = await bus.emit_now(
            Event(type="video_net.road_occupation", source="camera:2", occurred_at=seen, lon=120.2601, lat=30.1700)
        )
        await bus.emit_now(Event(type="video_net.garbage_overflow", source="camera:3", lon=120.26, lat=30.18))
        await bus.emit_now(Event(type="video_net.street_vendor", source="camera:4", dedup_key="no-place"))
        await bus.drain()
        sightings = (await p.client.get(f"{SV}/sightings", params={"source": "camera"})).json()["items"]
        by_event = {s["event_id"]: s for s in sightings}
        assert set(by_event) == {alert.event_id, occupied.event_id}
        sighting = by_event[alert.event_id]
        assert (sighting["client_id"], sighting["category"], sighting["photo_url"]) == (
            f"event:{alert.event_id}",
            "food",
            "/media/snap/7.jpg",
        )
        assert sighting["outcome"] == "outside_point" and sighting["violation"]["stage"] == "unidentified"
        assert sighting["grid_id"] == p.client.app.state.areas.grid_for(*demo.METRO_EXIT)
        # the alert's own case is the one case of this vendor: the violation joins it
        assert alert.case_id is not None and sighting["violation"]["case_id"] == alert.case_id
        assert sighting["violation"]["event_id"] == alert.event_id
        # an alert type that opens no case of its own: the violation's event opens the street_vendor case
        road = by_event[occupied.event_id]
        assert occupied.case_id is None and road["violation"]["event_id"] != occupied.event_id
        case = (await p.client.get(f"/api/v1/cases/{road['violation']['case_id']}")).json()
        assert (case["category"], case["severity"]) == ("street_vendor", "medium")
        cases = (await p.client.get("/api/v1/cases", params={"limit": 500})).json()["items"]
        assert [c["id"] for c in cases if c["category"] == "street_vendor"] == [case["id"]]  # no second case

        stored = await _event(p, alert.event_id)
        await street_vendors.on_event(stored, p.database, bus)  # delivered again: nothing new
        async with p.database.session() as session:
            assert await session.scalar(select(func.count()).select_from(Sighting)) == 2


async def _event(p: Platform, event_id: int) -> Event:
    async with p.database.session() as session:
        r = await session.get(EventRecord, event_id)
        assert r is not None
        return Event(type=r.type, source=r.source, payload=r.payload, occurred_at=r.occurred_at, lon=r.lon,
                     lat=r.lat, grid_id=r.grid_id, id=r.id)  # fmt: skip


async def test_suggestions_propose_the_metro_exit_cell_with_an_evening_window(sv: Platform) -> None:
    await load_demo_data(sv.database, sv.plugins.ok_plugins())
    metro = cell_of(*demo.METRO_EXIT, 100.0)

    features = (await sv.client.get(f"{SV}/suggestions")).json()["features"]
    assert features, "the demo's four weeks must give a suggestion"
    top = features[0]["properties"]
    assert (top["rank"], top["cell"], top["opens"], top["closes"]) == (1, metro, "18:00", "21:00")
    assert top["days"] == demo.HOTSPOT_EVENINGS and "food" in top["categories"]
    assert features[0]["geometry"]["type"] == "Polygon"
    assert all(f["properties"]["days"] >= 8 for f in features)

    run = await sv.client.app.state.scheduler.run("street_vendors:hotspots", trigger="manual")
    assert run.status == "succeeded", run.error
    async with sv.database.session() as session:
        stored = list(await session.scalars(select(Suggestion).order_by(Suggestion.rank)))
    assert (stored[0].cell, stored[0].opens, stored[0].closes) == (metro, "18:00", "21:00")

    cells = (await sv.client.get(f"{SV}/hotspots", params={"by": "cell"})).json()
    assert cells["features"][0]["properties"]["cell"] == metro
    evening = (await sv.client.get(f"{SV}/hotspots", params={"by": "cell", "hour_of_week": 24 * 6 + 3})).json()
    assert all(int(h) == 147 for f in evening["features"] for h in f["properties"]["hours_of_week"])
    grids = (await sv.client.get(f"{SV}/hotspots", params={"by": "grid"})).json()
    busiest = grids["features"][0]["properties"]
    assert busiest["grid_id"] == sv.client.app.state.areas.grid_for(*demo.METRO_EXIT)
    assert grids["features"][0]["geometry"]["type"] == "Polygon"

    trend = (await sv.client.get(f"{SV}/violations/trend", params={"days": 40})).json()
    assert trend["total"] >= demo.HOTSPOT_EVENINGS
    csv = await sv.client.get("/api/v1/reports/street_vendors/violations_by_day", params={"format": "csv"})
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("day,violations,outside_point")
    xlsx = await sv.client.get("/api/v1/reports/street_vendors/hotspots_by_grid", params={"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert next(sheet.iter_rows(values_only=True))[:2] == ("grid_id", "sightings")


async def test_permits_and_their_expiry_reminders(platform: PlatformFactory) -> None:
    async with platform(plugins=["street_vendors"]) as p:
        await load_demo_data(p.database, p.plugins.ok_plugins())
        ids = await demo_vendor_ids(p)
        period = {"valid_from": "2026-11-01", "valid_to": "2026-11-30"}
        bad = [
            ({"vendor_id": 999999, "point": "NW-VP-02", **period}, "vendor_id"),
            ({"vendor_id": ids["13800138005"], "point": "NW-VP-02", **period}, "point"),  # food at a produce point
            ({"vendor_id": ids["13800138002"], "point": "NW-VP-02", "valid_from": "2026-11-30",
              "valid_to": "2026-11-01"}, "valid_to"),
            ({"vendor_id": ids["13800138002"], "point": "NW-VP-99", **period}, "point"),
        ]  # fmt: skip
        before = (await p.client.get(f"{SV}/permits")).json()["total"]
        for body, field in bad:
            answer = await p.client.post(f"{SV}/permits", json=body)
            assert answer.status_code == 422 and [e["field"] for e in answer.json()["errors"]] == [field], answer.text
        assert (await p.client.get(f"{SV}/permits")).json()["total"] == before

        run = await p.client.app.state.scheduler.run("street_vendors:permit_reminders", trigger="manual")
        assert run.status == "succeeded", run.error
        assert run.summary["reminded"] == 1  # 黄娟's permit ends in five days
        await p.client.app.state.events.drain()  # the job's on_event deliveries run on this test's loop
        again = await p.client.app.state.scheduler.run("street_vendors:permit_reminders", trigger="manual")
        assert again.summary["reminded"] == 0
        events = (await p.client.get("/api/v1/events", params={"type": "street_vendors.permit_expiring"})).json()
        (reminder,) = events["items"]
        assert reminder["payload"]["vendor_id"] == ids[demo.EXPIRING] and reminder["payload"]["days_left"] == 5
        assert reminder["case_id"] is None

        permit = (await p.client.get(f"{SV}/permits", params={"vendor_id": ids[demo.EXPIRING]})).json()["items"][0]
        renewed = await p.client.patch(
            f"{SV}/permits/{permit['id']}", json={"valid_to": permit["valid_to"][:4] + "-12-31"}
        )
        assert renewed.status_code == 200 and renewed.json()["valid_to"].endswith("-12-31")
        revoked = await p.client.patch(f"{SV}/permits/{permit['id']}", json={"status": "revoked"})
        assert revoked.json()["status"] == "revoked"
        today = utcnow().date().isoformat()
        valid = (await p.client.get(f"{SV}/permits", params={"valid_on": today, "limit": 500})).json()
        assert permit["id"] not in [item["id"] for item in valid["items"]]


async def test_violation_summary_is_queued_for_city_brain_once_a_day(platform: PlatformFactory) -> None:
    async with platform(plugins=["street_vendors"]) as p:
        yesterday = (utcnow().astimezone(p.settings.tz) - timedelta(days=1)).replace(hour=12, minute=0)
        bodies = [
            {"client_id": f"y{n}", "observed_at": yesterday.isoformat(), "lon": 120.26 + n / 1000, "lat": 30.18}
            for n in range(3)
        ]
        assert (await p.client.post(f"{SV}/sightings", json=bodies)).status_code == 201
        run = await p.client.app.state.scheduler.run("street_vendors:violation_summary", trigger="manual")
        assert run.status == "succeeded", run.error
        assert (run.summary["queued"], run.summary["violations"]) == (True, 3)
        assert run.summary["stages"] == {"unidentified": 3}
        rerun = await p.client.app.state.scheduler.run("street_vendors:violation_summary", trigger="manual")
        assert rerun.summary["queued"] is False
        async with p.database.session() as session:
            (item,) = list(await session.scalars(select(OutboxItem)))
        assert item.path == "/v1/metrics/street_vendors_violations"
        assert item.payload["period"] == yesterday.date().isoformat()
        assert item.payload["values"]["outcomes"] == {"outside_point": 3}


def test_market_licence_records_map_onto_licences() -> None:
    record = {"id": "JY33010901200000042", "name": "杭州市萧山区市心北路王伟小吃店", "holder": "王伟",
              "category": "food", "address": "宁新村市心北路12号", "issued_on": "2021-03-01",
              "expires_on": "2026-02-28", "lon": 120.26, "lat": 30.21,
              "updated_at": "2026-11-01T00:00:00Z"}  # fmt: skip
    values = licence_values(record)
    assert values["licence_number"] == record["id"] and values["expires_on"].isoformat() == "2026-02-28"
    for broken in ({"expires_on": "28/02/2026"}, {"lon": "120.26"}, {"id": None}):
        with pytest.raises((ValueError, KeyError, TypeError)):
            licence_values(record | broken)


async def test_bad_sightings_are_422_naming_the_item_and_field_and_write_nothing(platform: PlatformFactory) -> None:
    async with platform(plugins=["street_vendors"]) as p:
        good = {"client_id": "a", "observed_at": utcnow().isoformat(), "lon": 120.26, "lat": 30.18}
        cases = [
            ([good, {**good, "client_id": "b", "vendor_id": 999999}], "[1].vendor_id"),
            ([good, {**good, "client_id": "b", "observed_at": "2026-11-01T10:00:00"}], "[1].observed_at"),
            ([good, {**good, "client_id": "b", "category": "fireworks"}], "[1].category"),
            ([good, {**good, "client_id": "b", "source": "rumour"}], "[1].source"),
            ([good, {**good, "client_id": "b", "lat": 95}], "[1].lat"),
            ({**good, "observed_at": (utcnow() + timedelta(hours=1)).isoformat()}, "observed_at"),
            ([], "sightings"),
        ]
        for body, field in cases:
            answer = await p.client.post(f"{SV}/sightings", json=body)
            assert answer.status_code == 422, (field, answer.text)
            assert field in [e["field"] for e in answer.json()["errors"]], answer.text
        assert (await p.client.get(f"{SV}/sightings")).json()["total"] == 0
        async with p.database.session() as session:
            assert await session.scalar(select(func.count()).select_from(Case)) == 0
        gcj = await p.client.post(f"{SV}/sightings", json={**good, "crs": "gcj02", "lon": 120.2647, "lat": 30.1838})
        assert gcj.status_code == 201 and abs(gcj.json()["lon"] - 120.2647) > 0.003  # shifted back to WGS84


async def test_a_grid_worker_sees_only_the_sightings_of_their_grids(platform: PlatformFactory) -> None:
    async with platform(plugins=["street_vendors"]) as p:
        await with_areas(p)
        areas = p.client.app.state.areas
        here, there = (120.2500, 30.1990), (120.2800, 30.1750)
        grid = areas.grid_for(*here)
        assert grid is not None and areas.grid_for(*there) not in (None, grid)
        worker = await p.headers_for("grid_worker", grid_ids=(grid,))
        for n, (lon, lat) in enumerate((here, there)):
            body = {"client_id": f"g{n}", "observed_at": utcnow().isoformat(), "lon": lon, "lat": lat}
            assert (await p.client.post(f"{SV}/sightings", json=body, headers=worker)).status_code == 201
        mine = (await p.client.get(f"{SV}/sightings", headers=worker)).json()["items"]
        assert [s["client_id"] for s in mine] == ["g0"]
        other = (await p.client.get(f"{SV}/sightings", params={"limit": 5})).json()["items"]
        theirs = next(s for s in other if s["client_id"] == "g1")
        assert (await p.client.get(f"{SV}/sightings/{theirs['id']}", headers=worker)).status_code == 404
        violations = (await p.client.get(f"{SV}/violations", headers=worker)).json()["items"]
        assert [v["grid_id"] for v in violations] == [grid]
        trend = (await p.client.get(f"{SV}/violations/trend", headers=worker)).json()["items"]
        assert sum(day["violations"] for day in trend) == 1
        everyone = (await p.client.get(f"{SV}/violations/trend")).json()["items"]
        assert sum(day["violations"] for day in everyone) == 2
        viewer = await p.headers_for("viewer")
        assert (
            await p.client.post(f"{SV}/sightings", json={**body, "client_id": "v"}, headers=viewer)
        ).status_code == 403


async def test_points_take_polygons_in_gcj02_and_weekly_windows_and_can_be_changed(platform: PlatformFactory) -> None:
    ring = [[120.2660, 30.1880], [120.2670, 30.1880], [120.2670, 30.1888], [120.2660, 30.1888], [120.2660, 30.1880]]
    point = {"code": "NW-VP-10", "name": "新点", "capacity": 5, "categories": ["food"], "lon": 120.2665, "lat": 30.1884,
             "opens": "18:00", "closes": "22:00", "crs": "gcj02", "polygon": {"type": "Polygon", "coordinates": [ring]},
             "windows": [{"days": [6, 7], "opens": "21:00", "closes": "02:00"}]}  # fmt: skip
    async with platform(plugins=["street_vendors"]) as p:
        created = await p.client.post(f"{SV}/vending-points", json=point)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["polygon_derived"] is False and body["windows"] == point["windows"]
        assert body["polygon"]["coordinates"][0][0][0] < 120.2660 - 0.003  # converted to WGS84
        bad = [
            ({"polygon": {"type": "Point", "coordinates": [120.26, 30.18]}}, "polygon.type"),
            ({"polygon": {"type": "Polygon", "coordinates": [ring[:-1]]}}, "polygon.coordinates[0]"),
            ({"windows": [{"days": [0], "opens": "21:00", "closes": "02:00"}]}, "windows[0].days"),
            ({"windows": [{"days": [1], "opens": "21:00", "closes": "21:00"}]}, "windows[0].closes"),
        ]
        for change, field in bad:
            answer = await p.client.post(f"{SV}/vending-points", json=point | {"code": "NW-VP-11"} | change)
            assert answer.status_code == 422 and field in [e["field"] for e in answer.json()["errors"]], answer.text
        changed = await p.client.patch(f"{SV}/vending-points/NW-VP-10", json={"windows": None, "capacity": 7})
        assert (changed.json()["windows"], changed.json()["capacity"]) == (None, 7)
        assert (await p.client.patch(f"{SV}/vending-points/NW-VP-10", json={"opens": "22:00"})).status_code == 422
        legacy = await p.client.post(
            f"{SV}/vending-points",
            json={k: v for k, v in point.items() if k not in ("polygon", "windows", "crs")} | {"code": "NW-VP-12"},
        )
        assert legacy.json()["polygon_derived"] is True and legacy.json()["polygon"]["type"] == "Polygon"
        vendor = (await p.client.post(f"{SV}/vendors", json={"name": "陈强", "category": "food"})).json()
        patched = await p.client.patch(
            f"{SV}/vendors/{vendor['id']}", json={"licence_number": "JY9", "status": "inactive"}
        )
        assert (patched.json()["licence_number"], patched.json()["status"]) == ("JY9", "inactive")
        assert (await p.client.patch(f"{SV}/vendors/{vendor['id']}", json={"category": "weapons"})).status_code == 422


@pytest.fixture
def city_brain() -> Iterator[SimulatorServer]:
    """The City Brain simulator with 80 market licences, on a free port."""
    with SimulatorServer(SimulatorState(seed=11, sizes={"market_licenses": 80})) as server:
        yield server


async def test_market_licences_sync_from_city_brain_and_decide_the_licence_row(
    platform: PlatformFactory, city_brain: SimulatorServer
) -> None:
    async with platform(plugins=["street_vendors"], **citybrain_overrides(city_brain.url)) as p:
        run = await p.client.app.state.scheduler.run("citybrain:sync_market_licenses", trigger="manual")
        assert run.status == "succeeded", run.error
        today = utcnow().astimezone(p.settings.tz).date()
        async with p.database.session() as session:
            licences = list(await session.scalars(select(MarketLicence)))
        assert len(licences) == run.summary["upserted"] > 0
        assert all(licence.holder for licence in licences)  # decrypted on the way out
        expired = next(licence for licence in licences if licence.expires_on and licence.expires_on < today)
        valid = next(licence for licence in licences if licence.expires_on and licence.expires_on >= today)
        point = {"code": "NW-VP-01", "name": "点", "capacity": 5, "categories": ["food"], "lon": 120.26, "lat": 30.18,
                 "opens": "00:00", "closes": "23:59"}  # fmt: skip
        assert (await p.client.post(f"{SV}/vending-points", json=point)).status_code == 201
        outcomes = []
        for n, licence in enumerate((expired, valid)):
            body = {"name": "王伟", "category": "food", "licence_number": licence.licence_number}
            vendor = (await p.client.post(f"{SV}/vendors", json=body)).json()["id"]
            permit = {"vendor_id": vendor, "point": "NW-VP-01", "valid_from": "2026-01-01", "valid_to": "2030-12-31"}
            assert (await p.client.post(f"{SV}/permits", json=permit)).status_code == 201
            when = datetime.combine(today, datetime.min.time(), tzinfo=p.settings.tz) + timedelta(minutes=10 + n)
            sighting = {"client_id": f"lic{n}", "observed_at": when.isoformat(), "lon": 120.26, "lat": 30.18,
                        "vendor_id": vendor}  # fmt: skip
            outcomes.append((await p.client.post(f"{SV}/sightings", json=sighting)).json()["outcome"])
    assert outcomes == ["unlicensed", "allowed"]
