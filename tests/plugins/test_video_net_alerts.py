"""video_net alerts through HTTP: dedup into incidents at the cooldown boundaries, idempotent replays,
thresholds, suppression, an alert storm, one event and one case per incident, the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, select

from core.cases.models import Case
from core.citybrain.models import OutboxItem
from core.db import utcnow
from core.events import EventRecord
from plugins.video_net.models import Alert, Incident
from tests.conftest import Platform
from tests.plugins.video_net_helpers import BASE, alert, code, register

ALERTS = f"{BASE}/alerts"
COOLDOWN = timedelta(minutes=10)  # street_vendor's default


async def count(p: Platform, model: type, *where: Any) -> int:
    async with p.database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_alerts_merge_inside_the_cooldown_and_open_a_new_incident_past_it(vn: Platform) -> None:
    await register(vn, 1)
    device = await vn.api_key_headers("video_net:ingest")
    t0 = utcnow().replace(microsecond=0) - timedelta(hours=2)

    first = await vn.client.post(ALERTS, json=alert(1, "a1", t0, confidence=0.7), headers=device)
    assert first.status_code == 201, first.text
    assert first.json()["outcome"] == "new_incident" and first.json()["case_id"] is not None
    incident = first.json()["incident_id"]
    at_boundary = await vn.client.post(ALERTS, json=alert(1, "a2", t0 + COOLDOWN, confidence=0.95), headers=device)
    assert (at_boundary.json()["outcome"], at_boundary.json()["incident_id"]) == ("merged", incident)
    # the window runs from the last alert: t0 + 2 x cooldown is at the boundary again
    chained = await vn.client.post(ALERTS, json=alert(1, "a3", t0 + 2 * COOLDOWN), headers=device)
    assert chained.json()["outcome"] == "merged"
    past = await vn.client.post(ALERTS, json=alert(1, "a4", t0 + 3 * COOLDOWN + timedelta(seconds=1)), headers=device)
    assert past.json()["outcome"] == "new_incident" and past.json()["incident_id"] != incident
    other_type = await vn.client.post(ALERTS, json=alert(1, "a5", t0, kind="illegal_parking"), headers=device)
    assert other_type.json()["outcome"] == "new_incident"

    detail = (await vn.client.get(f"{BASE}/incidents/{incident}")).json()
    assert detail["alert_count"] == 3 and detail["best_confidence"] == 0.95
    assert detail["first_seen_at"].startswith(t0.isoformat()[:19])
    listed = (await vn.client.get(f"{BASE}/alerts", params={"incident_id": incident})).json()
    assert sorted(a["alert_id"] for a in listed["items"]) == ["a1", "a2", "a3"]
    # one core event and one case per incident, never per alert
    assert await count(vn, EventRecord, EventRecord.type.like("video_net.%")) == 3
    assert await count(vn, Case) == 3
    assert await count(vn, OutboxItem, OutboxItem.idempotency_key == f"video_net:incident:{incident}:open") == 1


async def test_replayed_alerts_insert_nothing_and_get_the_first_answer(vn: Platform) -> None:
    await register(vn, 1, 2)
    device = await vn.api_key_headers("video_net:ingest")
    t0 = utcnow() - timedelta(minutes=30)
    batch = [alert(1, "x1", t0), alert(2, "x1", t0), alert(1, "x2", t0 + timedelta(seconds=5))]
    stored = await vn.client.post(ALERTS, json=batch, headers=device)
    assert stored.status_code == 201
    before = (await count(vn, Alert), await count(vn, Incident), await count(vn, EventRecord), await count(vn, Case))

    again = await vn.client.post(ALERTS, json=batch, headers=device)
    single = await vn.client.post(ALERTS, json=batch[0], headers=device)
    assert again.status_code == single.status_code == 200
    assert [r["replay"] for r in again.json()["results"]] == [True, True, True]
    assert [r["outcome"] for r in again.json()["results"]] == [r["outcome"] for r in stored.json()["results"]]
    assert single.json()["incident_id"] == stored.json()["results"][0]["incident_id"]
    after = (await count(vn, Alert), await count(vn, Incident), await count(vn, EventRecord), await count(vn, Case))
    assert after == before == (3, 2, 2, 2)


async def test_thresholds_suppression_disabled_cameras_and_bad_input(vn: Platform) -> None:
    await register(vn, 1, 2, 3)
    await vn.client.patch(f"{BASE}/cameras/{code(3)}", json={"enabled": False})
    device = await vn.api_key_headers("video_net:ingest")
    now = utcnow()
    window = {
        "camera": code(2),
        "alert_type": "garbage_overflow",
        "reason": "bins being replaced",
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
    }
    assert (await vn.client.post(f"{BASE}/suppressions", json=window)).status_code == 201

    results = (
        await vn.client.post(
            ALERTS,
            json=[
                alert(1, "low", now, kind="garbage_overflow", confidence=0.69),
                alert(2, "quiet", now, kind="garbage_overflow"),
                alert(2, "other", now, kind="smoke_fire"),
                alert(3, "off", now),
            ],
            headers=device,
        )
    ).json()["results"]
    assert [r["outcome"] for r in results] == ["below_threshold", "suppressed", "new_incident", "camera_disabled"]

    written = await count(vn, Alert)
    bad = {
        "type": [alert(1, "b1", now), alert(1, "b2", now, kind="ufo")],
        "camera": [alert(1, "b1", now), alert(99, "b2", now)],
        "occurred_at": [alert(1, "b1", now), alert(1, "b2", now + timedelta(hours=1))],
        "confidence": [alert(1, "b1", now), alert(1, "b2", now, confidence=1.5)],
        "snapshot": [alert(1, "b1", now), alert(1, "b2", now, snapshot="0" * 64)],
    }
    for field, body in bad.items():
        response = await vn.client.post(ALERTS, json=body, headers=device)
        assert response.status_code == 422, (field, response.text)
        assert f"[1].{field}" in response.text or field in response.text, response.text
    assert (await vn.client.post(ALERTS, json=[], headers=device)).status_code == 422
    assert await count(vn, Alert) == written
    staff = await vn.headers_for("commander")
    assert (await vn.client.post(ALERTS, json=alert(1, "s", now), headers=staff)).status_code == 403


async def test_an_alert_storm_makes_exactly_the_expected_incidents_and_cases(vn: Platform) -> None:
    """10,000 alerts from 100 cameras in a burst of concurrent batches; then the whole storm replayed."""
    for n in range(100):
        response = await vn.client.post(
            f"{BASE}/cameras",
            json={"code": code(n), "name": f"C{n}", "owner": "community", "lon": 120.26, "lat": 30.18},
        )
        assert response.status_code == 201
    device = await vn.api_key_headers("video_net:ingest")
    t0 = utcnow().replace(microsecond=0) - timedelta(hours=3)
    expected_incidents = 0
    above_threshold = 0
    per_camera: list[list[dict[str, Any]]] = []
    for n in range(100):
        alerts = []
        # 60 street_vendor alerts 20 s apart; on even cameras an 11-minute gap (past the cooldown) after the 30th
        for k in range(60):
            gap = timedelta(minutes=11) if n % 2 == 0 and k >= 30 else timedelta(0)
            alerts.append(alert(n, f"sv-{k}", t0 + timedelta(seconds=20 * k) + gap))
        expected_incidents += 2 if n % 2 == 0 else 1
        # 30 crowd_gathering alerts 30 s apart (cooldown 5 min): one incident
        alerts += [alert(n, f"cg-{k}", t0 + timedelta(seconds=30 * k), kind="crowd_gathering", confidence=0.8)
                   for k in range(30)]  # fmt: skip
        expected_incidents += 1
        # 10 garbage_overflow alerts below the 0.7 threshold: no incident
        alerts += [alert(n, f"go-{k}", t0 + timedelta(seconds=k), kind="garbage_overflow", confidence=0.5)
                   for k in range(10)]  # fmt: skip
        above_threshold += 90
        per_camera.append(alerts)
    batches = [[a for alerts in per_camera[i : i + 10] for a in alerts] for i in range(0, 100, 10)]
    assert sum(len(b) for b in batches) == 10_000

    answers = await asyncio.gather(*(vn.client.post(ALERTS, json=batch, headers=device) for batch in batches))
    assert [a.status_code for a in answers] == [201] * 10, [a.text[:300] for a in answers if a.status_code != 201]
    outcomes = [r["outcome"] for a in answers for r in a.json()["results"]]
    assert outcomes.count("new_incident") == expected_incidents == 250
    assert outcomes.count("below_threshold") == 1000
    assert await count(vn, Alert) == 10_000
    assert await count(vn, Incident) == expected_incidents
    assert await count(vn, EventRecord, EventRecord.type.like("video_net.%")) == expected_incidents
    assert await count(vn, Case) == expected_incidents
    async with vn.database.session() as session:
        merged_alerts = await session.scalar(select(func.sum(Incident.alert_count)))
    assert merged_alerts == above_threshold == 9000

    replayed = await asyncio.gather(*(vn.client.post(ALERTS, json=batch, headers=device) for batch in batches))
    assert [a.status_code for a in replayed] == [200] * 10
    assert all(r["replay"] for a in replayed for r in a.json()["results"])
    assert await count(vn, Alert) == 10_000 and await count(vn, Case) == expected_incidents


async def test_a_bad_request_among_concurrent_ones_fails_alone(vn: Platform) -> None:
    await register(vn, 1, 2)
    device = await vn.api_key_headers("video_net:ingest")
    now = utcnow()
    bodies = [alert(1, f"ok{k}", now) for k in range(10)] + [alert(99, "bad", now)] + [alert(2, "ok", now)]
    answers = await asyncio.gather(*(vn.client.post(ALERTS, json=body, headers=device) for body in bodies))
    assert [a.status_code for a in answers] == [201] * 10 + [422, 201]
    assert "camera" in answers[10].text
    assert await count(vn, Alert) == 11 and await count(vn, Incident) == 2


async def test_dedup_queries_search_indexes_instead_of_scanning_the_tables(
    platform: Callable[..., AbstractAsyncContextManager[Platform]],
) -> None:
    """Every statement of an ingest that reads alerts or incidents searches an index (SQLite's plan says
    SEARCH): a scan would make each request cost more as the tables grow.

    The statements are taken from SQLite's own trace (with their values), since the writer runs its
    reads on the raw connection, past SQLAlchemy's statement events."""
    async with platform(plugins="video_net") as p:
        await register(p, 1, 2, 3)
        device = await p.api_key_headers("video_net:ingest")
        t0 = utcnow() - timedelta(minutes=30)
        await p.client.post(ALERTS, json=[alert(n % 3 + 1, f"old{n}", t0) for n in range(30)], headers=device)
        statements: list[str] = []
        recording = True

        def remember(statement: str) -> None:  # on the connection's thread
            if recording and statement.lstrip().upper().startswith("SELECT"):
                statements.append(statement)

        def trace(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            dbapi_connection.await_(dbapi_connection.driver_connection.set_trace_callback(remember))

        pool = p.database.engine.sync_engine.pool
        event.listen(pool, "checkout", trace)  # every connection handed out from here on is traced
        batch = [alert(1, "new1", t0), alert(2, "old4", t0), alert(3, "new2", t0, kind="illegal_parking")]
        answer = await p.client.post(ALERTS, json=batch, headers=device)
        event.remove(pool, "checkout", trace)
        recording = False
        plans = []
        async with p.database.engine.connect() as conn:
            for statement in statements:
                rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement)
                plans += [row[-1] for row in rows]
    assert answer.status_code == 201, answer.text
    assert any("json_each" in statement and "video_net_alerts" in statement for statement in statements), statements
    read = [plan for plan in plans if "video_net_alerts" in plan or "video_net_incidents" in plan]
    assert len(read) >= 2, plans  # the replay check and the open incidents at least
    assert all(plan.startswith("SEARCH") for plan in read), read


async def test_incidents_are_audited_as_the_device_whose_alert_opened_them(vn: Platform) -> None:
    """One writer stores every device's alerts; the audit log still names the sender of each incident."""
    await register(vn, 1, 2)
    first_device = await vn.api_key_headers("video_net:ingest")
    second_device = await vn.api_key_headers("video_net:ingest")
    t0 = utcnow() - timedelta(minutes=5)
    one = await vn.client.post(ALERTS, json=alert(1, "a", t0), headers={**first_device, "X-Request-ID": "dev-1"})
    two = await vn.client.post(ALERTS, json=alert(2, "b", t0), headers={**second_device, "X-Request-ID": "dev-2"})
    entries = (await vn.client.get("/api/v1/audit", params={"resource": "video_net_incidents"})).json()["items"]
    assert one.status_code == two.status_code == 201
    made = {entry["request_id"]: entry["actor"] for entry in entries if entry["action"] == "create"}
    assert set(made) == {"dev-1", "dev-2"} and made["dev-1"] != made["dev-2"]
    assert all(actor.startswith("api_key:") for actor in made.values())
    updates = {
        entry["resource_id"]: (entry["request_id"], entry["actor"]) for entry in entries if entry["action"] == "update"
    }
    assert updates == {str(one.json()["incident_id"]): ("dev-1", made["dev-1"]),
                       str(two.json()["incident_id"]): ("dev-2", made["dev-2"])}  # fmt: skip
