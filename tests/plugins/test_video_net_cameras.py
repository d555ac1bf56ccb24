"""video_net cameras: stream URLs encrypted and shown to admins only, CSV import, GeoJSON, heartbeats
single and batch, offline and online transitions on a controlled clock, key-camera outages as cases,
and the online rate."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from core.cases.models import Case
from core.events import EventRecord
from plugins.video_net.models import Camera
from plugins.video_net.statistics import online_rate
from plugins.video_net.status import Beat, record_heartbeats, sweep
from tests.conftest import Platform
from tests.plugins.video_net_helpers import BASE, camera, code, register

CAMERAS = f"{BASE}/cameras"
SHANGHAI = ZoneInfo("Asia/Shanghai")
RULES = {"keepalive_seconds": 60, "missed_heartbeats": 3, "key_camera_offline_minutes": 30}


async def test_stream_urls_are_encrypted_at_rest_and_shown_only_to_admins(vn: Platform) -> None:
    secret = "rtsp://admin:Hik12345@10.1.2.3:554/Streaming/Channels/101"
    created = await vn.client.post(CAMERAS, json=camera(1, stream_url=secret, tags=["gate"], is_key=True))
    assert created.status_code == 201 and created.json()["stream_url"] == secret
    commander = await vn.headers_for("commander")
    assert (await vn.client.get(f"{CAMERAS}/{code(1)}", headers=commander)).json()["stream_url"] is None
    listed = (await vn.client.get(CAMERAS, headers=commander)).json()["items"]
    assert [c["stream_url"] for c in listed] == [None]
    assert (await vn.client.get(f"{CAMERAS}/{code(1)}")).json()["stream_url"] == secret
    async with vn.database.session() as session:
        stored = await session.scalar(text("SELECT stream_url FROM video_net_cameras"))
    assert stored.startswith("v1.") and "Hik12345" not in stored
    changed = await vn.client.patch(f"{CAMERAS}/{code(1)}", json={"stream_url": None, "name": "North gate"})
    assert (changed.json()["stream_url"], changed.json()["name"]) == (None, "North gate")
    bad = await vn.client.post(CAMERAS, json=camera(2, stream_url="file:///etc/passwd"))
    assert bad.status_code == 422 and "stream_url" in bad.text


async def test_csv_import_registers_and_updates_all_or_nothing_and_geojson_shows_status(vn: Platform) -> None:
    await register(vn, 1)
    good = (
        "code,name,owner,lon,lat,grid_id,camera_type,tags,is_key\n"
        f"{code(1)},Renamed,urban_management,120.27,30.19,,dome,,\n"
        f"{code(2)},路口 2,public_security,120.28,30.18,4,ptz,gate;night,yes\n"
    )
    bad = good + f"{code(3)},Three,community,east,30.18,,,,\n"
    refused = await vn.client.post(f"{CAMERAS}/import", files={"data": ("c.csv", bad.encode(), "text/csv")})
    assert refused.status_code == 422 and "[row 4].lon" in refused.text
    assert (await vn.client.get(CAMERAS)).json()["total"] == 1
    imported = await vn.client.post(f"{CAMERAS}/import", files={"data": ("c.csv", good.encode(), "text/csv")})
    assert imported.status_code == 200 and imported.json() == {"created": 1, "updated": 1}
    two = (await vn.client.get(f"{CAMERAS}/{code(2)}")).json()
    assert (two["name"], two["tags"], two["is_key"], two["grid_id"]) == ("路口 2", ["gate", "night"], True, 4)
    assert (await vn.client.get(f"{CAMERAS}/{code(1)}")).json()["name"] == "Renamed"
    assert [c["code"] for c in (await vn.client.get(CAMERAS, params={"tag": "night"})).json()["items"]] == [code(2)]

    device = await vn.api_key_headers("video_net:ingest")
    assert (await vn.client.post(f"{CAMERAS}/{code(2)}/heartbeat", headers=device)).status_code == 200
    geo = (await vn.client.get(f"{CAMERAS}/geojson")).json()
    assert geo["type"] == "FeatureCollection"
    by_code = {f["id"]: f for f in geo["features"]}
    assert by_code[code(2)]["geometry"]["coordinates"] == [120.28, 30.18]
    assert by_code[code(2)]["properties"]["status"] == "online"
    assert by_code[code(1)]["properties"]["status"] == "unknown"
    worker = await vn.headers_for("grid_worker", grid_ids=(4,))
    assert [f["id"] for f in (await vn.client.get(f"{CAMERAS}/geojson", headers=worker)).json()["features"]] == [
        code(2)
    ]


async def test_batch_heartbeats_bring_cameras_online_and_name_an_unknown_camera(vn: Platform) -> None:
    await register(vn, 1, 2)
    device = await vn.api_key_headers("video_net:ingest")
    refused = await vn.client.post(f"{BASE}/heartbeats", json=[{"code": code(1)}, {"code": code(9)}], headers=device)
    assert refused.status_code == 422 and "[1].code" in refused.text
    assert (await vn.client.get(f"{CAMERAS}/{code(1)}")).json()["status"] == "unknown"
    beats = await vn.client.post(f"{BASE}/heartbeats", json=[{"code": code(1)}, {"code": code(2)}], headers=device)
    assert beats.status_code == 200 and beats.json() == {"accepted": 2, "came_online": [code(1), code(2)]}
    again = await vn.client.post(f"{BASE}/heartbeats", json=[{"code": code(1)}], headers=device)
    assert again.json()["came_online"] == []
    bad_code = await vn.client.post(f"{BASE}/heartbeats", json=[{"code": "123"}], headers=device)
    assert bad_code.status_code == 422 and "[0].code" in bad_code.text


async def _sweep(p: Platform, now: datetime) -> dict[str, int]:
    bus = p.client.app.state.events
    async with p.database.session() as session:
        summary, _ = await sweep(session, bus, now, **RULES)
    return summary  # (on_event delivery is left to the retry job: the app runs on a loop of its own)


async def _beat(p: Platform, at: datetime, *codes: str) -> None:
    bus = p.client.app.state.events
    async with p.database.session() as session:
        cameras = {c.code: c for c in await session.scalars(select(Camera).where(Camera.code.in_(codes)))}
        await record_heartbeats(session, bus, [Beat(c, at) for c in codes], at, cameras)


async def _status(p: Platform, n: int) -> str:
    return str((await p.client.get(f"{CAMERAS}/{code(n)}")).json()["status"])


async def test_offline_and_online_transitions_on_a_controlled_clock(vn: Platform) -> None:
    await register(vn, 1)
    await register(vn, 2, is_key=True)
    t0 = datetime.now(SHANGHAI).replace(microsecond=0) - timedelta(hours=3)
    await _beat(vn, t0, code(1), code(2))
    assert await _status(vn, 1) == "online"

    assert await _sweep(vn, t0 + timedelta(seconds=180)) == {"marked_offline": 0, "key_cameras_reported": 0}
    assert await _sweep(vn, t0 + timedelta(seconds=181)) == {"marked_offline": 2, "key_cameras_reported": 0}
    assert await _status(vn, 1) == "offline"
    offline = (await vn.client.get("/api/v1/events", params={"type": "video_net.camera_offline"})).json()["items"]
    assert len(offline) == 2
    assert datetime.fromisoformat(offline[0]["occurred_at"]) == t0 + timedelta(seconds=180)

    # the key camera's outage becomes a case once it is longer than 30 minutes, and only once
    assert (await _sweep(vn, t0 + timedelta(seconds=180, minutes=30)))["key_cameras_reported"] == 1
    assert (await _sweep(vn, t0 + timedelta(hours=2)))["key_cameras_reported"] == 0
    async with vn.database.session() as session:
        cases = list(await session.scalars(select(Case)))
        key_events = list(
            await session.scalars(select(EventRecord).where(EventRecord.type == "video_net.key_camera_offline"))
        )
    assert len(cases) == 1 and len(key_events) == 1 and key_events[0].payload["camera"] == code(2)
    assert key_events[0].payload["offline_minutes"] == 30

    await _beat(vn, t0 + timedelta(hours=2, minutes=1), code(1))
    assert await _status(vn, 1) == "online"
    online = (await vn.client.get("/api/v1/events", params={"type": "video_net.camera_online"})).json()["items"]
    assert [e["payload"]["camera"] for e in online] == [code(1)]
    # a late (replayed) heartbeat changes nothing
    await _beat(vn, t0, code(1))
    assert (
        (await vn.client.get(f"{CAMERAS}/{code(1)}"))
        .json()["last_heartbeat_at"]
        .startswith((t0 + timedelta(hours=2, minutes=1)).astimezone(ZoneInfo("UTC")).isoformat()[:19])
    )


async def test_online_rate_per_owner_and_day_from_the_status_history(vn: Platform) -> None:
    await register(vn, 1, 2)
    await vn.client.patch(f"{CAMERAS}/{code(2)}", json={"owner": "community"})
    day = (datetime.now(SHANGHAI) - timedelta(days=3)).date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    # camera 2 beats every 2 minutes until 05:58; camera 1 once an hour, so each sweep (at :10) finds it
    # silent and marks it offline from 3 minutes after its beat
    for minute in range(0, 6 * 60, 2):
        at = midnight + timedelta(minutes=minute)
        await _beat(vn, at, code(2), *([code(1)] if minute % 60 == 0 else []))
        if minute % 60 == 10:
            await _sweep(vn, at)
    await _sweep(vn, midnight + timedelta(hours=23))
    async with vn.database.session() as session:
        rows = await online_rate(session, SHANGHAI, day, day + timedelta(days=1), "owner")
    rates = {row["group"]: row for row in rows}
    assert rates["community"]["online_rate"] == pytest.approx((6 * 60 - 2 + 3) / (24 * 60), abs=1e-3)
    assert rates["urban_management"]["online_rate"] == pytest.approx(6 * 3 / (24 * 60), abs=1e-3)
    csv = await vn.client.get(
        f"{BASE}/statistics/online-rate",
        params={"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat(), "format": "csv"},
    )
    assert csv.status_code == 200 and "community" in csv.text and csv.text.splitlines()[0].endswith("online_rate")
    bad = await vn.client.get(f"{BASE}/statistics/online-rate", params={"group_by": "street"})
    assert bad.status_code == 422 and "group_by" in bad.text
