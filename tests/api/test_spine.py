"""The governance spine through the API: an event becomes a case for the grid's worker, who walks it
to resolved; a supervisor closes it; indicators and exports see it. Dedup, idempotency, escalation."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import func, select

from core.cases.models import Case, Notification
from core.db import utcnow
from core.events import EventRecord
from tests.api.test_areas import IMPORT, SIZE, areas
from tests.conftest import Platform
from tests.fake_plugins.parking import ParkingPlugin

PlatformFactory = Callable[..., AbstractAsyncContextManager[Platform]]
EVENTS = "/api/v1/events"
G01 = (120.26 + 1.5 * SIZE, 30.18 + 0.5 * SIZE)  # the middle of grid G01 of tests.api.test_areas.areas()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def overstay(**extra: Any) -> dict[str, Any]:
    return {"type": "parking.overstay", "source": "camera:33010900001310000007", "lon": G01[0], "lat": G01[1],
            "payload": {"plate": "浙A·12345"}, **extra}  # fmt: skip


async def grid_id(p: Platform, code: str) -> int:
    grids = (await p.client.get("/api/v1/areas/grids", params={"limit": 500})).json()["items"]
    return int(next(g["id"] for g in grids if g["code"] == code))


async def test_an_event_becomes_a_case_that_goes_round_the_loop_into_the_indicators(platform: PlatformFactory) -> None:
    async with platform(use_entry_points=False, extra_plugins={"parking": ParkingPlugin()}) as p:
        assert (await p.client.post(IMPORT, json=areas())).status_code == 200
        grid = await grid_id(p, "G01")
        worker = await p.user("grid_worker", grid_ids=(grid,))
        bystander = await p.headers_for("grid_worker", grid_ids=(grid + 1,))
        supervisor = await p.user("supervisor")
        device = await p.api_key_headers("events:report")
        as_worker = await _headers_of(p, worker.username)
        as_supervisor = await _headers_of(p, supervisor.username)

        reported = await p.client.post(EVENTS, json=overstay(), headers=device)
        assert reported.status_code == 201, reported.text
        case_id = reported.json()["case_id"]
        case = (await p.client.get(f"/api/v1/cases/{case_id}")).json()
        assert (case["status"], case["assignee_id"], case["grid_id"]) == ("dispatched", worker.id, grid)
        assert case["category"] == "traffic" and case["number"].startswith("SB-")
        assert case["resolve_due_at"] and case["next_actions"] == ["dispatch", "start"]
        assert (await p.client.get(f"/api/v1/cases/{case_id}", headers=bystander)).status_code == 404

        listed = (await p.client.get("/api/v1/cases", headers=as_worker)).json()
        assert [c["id"] for c in listed["items"]] == [case_id]
        inbox = (await p.client.get("/api/v1/notifications", headers=as_worker)).json()
        assert [n["kind"] for n in inbox["items"]] == ["case_dispatched"]

        step = f"/api/v1/cases/{case_id}/transitions"
        too_early = await p.client.post(step, json={"action": "close"}, headers=as_supervisor)
        started = await p.client.post(step, json={"action": "start"}, headers=as_worker)
        photo = await p.client.post(
            f"/api/v1/cases/{case_id}/attachments", files={"data": ("after.png", PNG, "image/png")}, headers=as_worker
        )
        not_a_photo = await p.client.post(
            f"/api/v1/cases/{case_id}/attachments",
            files={"data": ("x.png", b"MZ\x90\x00", "image/png")},
            headers=as_worker,
        )
        resolved = await p.client.post(step, json={"action": "resolve", "comment": "towed away"}, headers=as_worker)
        by_worker = await p.client.post(step, json={"action": "close"}, headers=as_worker)
        closed = await p.client.post(
            step, json={"action": "close", "comment": "checked on site"}, headers=as_supervisor
        )
        history = (await p.client.get(f"/api/v1/cases/{case_id}/history")).json()
        download = await p.client.get(f"/api/v1/cases/{case_id}/attachments/{photo.json()['id']}", headers=as_worker)
        denied_download = await p.client.get(
            f"/api/v1/cases/{case_id}/attachments/{photo.json()['id']}", headers=bystander
        )
        supervisor_inbox = (await p.client.get("/api/v1/notifications", headers=as_supervisor)).json()

        period = {"from": (utcnow() - timedelta(days=1)).isoformat(), "to": (utcnow() + timedelta(hours=1)).isoformat()}
        indicators = (await p.client.get("/api/v1/cases/indicators", params={**period, "group_by": "assignee"})).json()
        csv = await p.client.get("/api/v1/cases", params={"format": "csv"})
        xlsx = await p.client.get("/api/v1/cases", params={"format": "xlsx"})
        report = await p.client.get(
            "/api/v1/reports/core/case_indicators", params={**period, "group_by": "assignee", "format": "csv"}
        )

    assert too_early.status_code == 409 and too_early.json()["errors"][0]["field"] == "action"
    assert started.json()["status"] == "in_progress"
    assert photo.status_code == 201 and photo.json()["size"] == len(PNG)
    assert not_a_photo.status_code == 415
    assert resolved.json()["status"] == "resolved" and by_worker.status_code == 403
    assert closed.json()["status"] == "closed"
    assert [h["action"] for h in history] == ["report", "accept", "dispatch", "start", "resolve", "close"]
    assert history[-1]["actor"].startswith(f"user:{supervisor.id}:")
    assert download.content == PNG and denied_download.status_code == 404
    assert "case_resolved" in [n["kind"] for n in supervisor_inbox["items"]]
    (group,) = indicators["groups"]
    assert (group["group"], group["label"]) == (worker.id, worker.username)
    assert (group["registered"], group["closed"], group["closure_rate"], group["on_time_closure_rate"]) == (
        1,
        1,
        1.0,
        1.0,
    )
    assert indicators["total"]["rework_rate"] == 0.0 and indicators["total"]["overdue"] == 0
    assert csv.headers["content-type"].startswith("text/csv")
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    lines = csv.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("id,number,") and case["number"] in lines[1] and len(lines) == 2
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)] == [case["number"]]
    assert report.status_code == 200 and worker.username in report.text


async def _headers_of(p: Platform, username: str) -> dict[str, str]:
    answer = await p.client.post(
        "/api/v1/auth/token", json={"username": username, "password": "correct-horse-9"}, headers={"Authorization": ""}
    )
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def test_duplicates_merge_inside_the_window_and_replays_write_nothing(platform: PlatformFactory) -> None:
    t0 = utcnow() - timedelta(hours=3)
    window = timedelta(minutes=30)  # the parking plugin's dedup window
    async with platform(use_entry_points=False, extra_plugins={"parking": ParkingPlugin()}) as p:

        def at(delta: timedelta) -> dict[str, Any]:
            return overstay(occurred_at=(t0 + delta).isoformat(), dedup_key="plate:浙A·12345")

        first = (await p.client.post(EVENTS, json=at(timedelta(0)))).json()
        inside = await p.client.post(EVENTS, json=at(window - timedelta(seconds=1)))
        edge = await p.client.post(
            EVENTS, json=at(2 * window - timedelta(seconds=1))
        )  # exactly one window after the last
        beyond = await p.client.post(EVENTS, json=at(3 * window))
        key = {"Idempotency-Key": "camera-7-0001"}
        once = await p.client.post(EVENTS, json=overstay(dedup_key="other"), headers=key)
        again = await p.client.post(EVENTS, json=overstay(dedup_key="other"), headers=key)
        reused = await p.client.post(EVENTS, json=overstay(dedup_key="third"), headers=key)
        async with p.database.session() as session:
            stored = list(await session.scalars(select(EventRecord).order_by(EventRecord.id)))
            cases = await session.scalar(select(func.count()).select_from(Case))
    assert inside.status_code == edge.status_code == 200
    assert inside.json() == {**first, "merged": True, "count": 2} and edge.json()["count"] == 3
    assert beyond.status_code == 201 and beyond.json()["event_id"] != first["event_id"]
    assert once.status_code == again.status_code == 201
    assert again.json() == once.json() and again.headers["idempotent-replay"] == "true"
    assert reused.status_code == 409 and reused.json()["errors"][0]["field"] == "Idempotency-Key"
    assert [(e.count, e.first_seen_at, e.last_seen_at) for e in stored[:1]] == [
        (3, t0, t0 + 2 * window - timedelta(seconds=1))
    ]
    assert len(stored) == 3 and cases == 3


async def test_a_bad_item_in_a_batch_is_named_and_nothing_is_written(platform: PlatformFactory) -> None:
    async with platform(use_entry_points=False, extra_plugins={"parking": ParkingPlugin()}) as p:
        bad = await p.client.post(EVENTS, json=[overstay(), overstay(type="parking.nonsense"), overstay(lat=95)])
        half = await p.client.post(EVENTS, json=[overstay(), {"type": "parking.overstay", "lon": 120.1}])
        future = await p.client.post(EVENTS, json=overstay(occurred_at=(utcnow() + timedelta(days=1)).isoformat()))
        async with p.database.session() as session:
            stored = await session.scalar(select(func.count()).select_from(EventRecord))
        batch = await p.client.post(EVENTS, json=[overstay(dedup_key="a"), overstay(dedup_key="b")])
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "[1].type"
    assert half.status_code == 422 and half.json()["errors"][0]["field"] == "[1].lat"
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "occurred_at"
    assert stored == 0
    assert batch.status_code == 201 and [r["merged"] for r in batch.json()["results"]] == [False, False]


async def test_without_a_grid_worker_a_case_waits_for_the_command_centre(platform: PlatformFactory) -> None:
    async with platform(use_entry_points=False, extra_plugins={"parking": ParkingPlugin()}) as p:
        commander = await p.user("commander")
        answer = (await p.client.post(EVENTS, json=overstay(lon=121.5, lat=31.2))).json()  # outside every grid
        case = (await p.client.get(f"/api/v1/cases/{answer['case_id']}")).json()
        as_commander = await _headers_of(p, commander.username)
        inbox = (await p.client.get("/api/v1/notifications", headers=as_commander)).json()
        accepted = await p.client.post(
            f"/api/v1/cases/{case['id']}/transitions", json={"action": "accept"}, headers=as_commander
        )
    assert (case["status"], case["assignee_id"], case["grid_id"]) == ("reported", None, None)
    assert [n["kind"] for n in inbox["items"]] == ["case_reported"]
    assert accepted.json()["status"] == "accepted" and accepted.json()["resolve_due_at"]


async def test_overdue_cases_are_escalated_once_per_deadline(platform: PlatformFactory) -> None:
    async with platform(plugins="none") as p:
        supervisor = await p.user("supervisor")
        opened = (await p.client.post("/api/v1/cases", json={"title": "Blocked drain", "severity": "low"})).json()
        async with p.database.session() as session:
            case = await session.get(Case, opened["id"])
            case.accept_due_at = utcnow() - timedelta(minutes=1)  # type: ignore[union-attr]
        scheduler = p.client.app.state.scheduler
        first = await scheduler.run("core:escalate_overdue")
        second = await scheduler.run("core:escalate_overdue")
        overdue = (await p.client.get("/api/v1/cases", params={"overdue": "true"})).json()
        async with p.database.session() as session:
            escalated = await session.get(Case, opened["id"])
            notes = await session.scalar(
                select(func.count()).select_from(Notification).where(Notification.user_id == supervisor.id)
            )
    assert first.summary == {"escalated": 1} and second.summary == {"escalated": 0}  # nothing the second time
    assert (escalated.severity, escalated.escalation_level) == ("medium", 1)  # type: ignore[union-attr]
    assert overdue["total"] == 1 and overdue["items"][0]["overdue"] is True
    assert notes == 1
