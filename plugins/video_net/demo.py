"""video_net demo data: 300 cameras of three owners across Ningwei street, a week of status history
with outages, and a week of alerts of every type (with a storm from one camera), deduplicated into
incidents by the same code as live alerts, some of them reviewed.

The demo incidents have their core events; their cases are not made (the demo loader has no case
service), so the command centre's queue starts empty and fills from live alerts.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import utcnow
from core.events import EventBus
from plugins.video_net.alert_types import ALERT_TYPES, BY_KEY, event_types
from plugins.video_net.dedup import AlertIn, camera_refs, ingest
from plugins.video_net.models import Camera, Incident, StatusChange

OWNERS = ("public_security", "urban_management", "community")
OWNER_CODES = {"public_security": 131, "urban_management": 132, "community": 133}
CENTRE = (120.2655, 30.1860)  # Ningwei street, Xiaoshan, Hangzhou (WGS84)
GRID_DLON, GRID_DLAT = 0.0100, 0.0075  # the demo areas' 4 x 4 grids (core.areas.demo)
CAMERAS = 300
DAYS = 7
STORM_ALERTS = 400


def demo_grid(lon: float, lat: float) -> int:
    """The id of the demo grid (1-16, see core.areas.demo) a point of the demo street lies in."""
    col = min(3, max(0, int((lon - (CENTRE[0] - 2 * GRID_DLON)) / GRID_DLON)))
    row = min(3, max(0, int(((CENTRE[1] + 2 * GRID_DLAT) - lat) / GRID_DLAT)))
    return (row // 2 * 2 + col // 2) * 4 + (row % 2) * 2 + col % 2 + 1


def _cameras(rng: random.Random) -> list[Camera]:
    cameras = []
    for i in range(CAMERAS):
        owner = OWNERS[i % 3]
        lon = round(CENTRE[0] + rng.uniform(-0.0199, 0.0199), 6)
        lat = round(CENTRE[1] + rng.uniform(-0.0149, 0.0149), 6)
        cameras.append(
            Camera(
                code=f"3301090000{OWNER_CODES[owner]:03d}{i:07d}",
                name=f"{owner.replace('_', ' ').title()} camera {i + 1}",
                owner=owner,
                lon=lon,
                lat=lat,
                grid_id=demo_grid(lon, lat),
                camera_type=rng.choice(("bullet", "dome", "ptz", "panoramic")),
                tags=rng.sample(["crossing", "market", "school", "river", "gate", "night"], k=rng.randint(0, 2)),
                is_key=i % 10 == 0,
                status="unknown",
                stream_url=f"rtsp://viewer:demo-{i:04d}@10.{i // 250}.{i % 250}.7:554/h264/ch1/main",
            )
        )
    return cameras


def _history(rng: random.Random, camera: Camera, start: datetime, now: datetime) -> list[StatusChange]:
    """Online from the start of the week, with 0-3 outages; a few cameras are still out now."""
    roll = rng.random()
    if roll < 0.04:  # never heard from
        return []
    changes = [StatusChange(camera_id=camera.id, status="online", changed_at=start)]
    outages = sorted(rng.sample(range(1, DAYS * 24 - 8), k=rng.choice((0, 0, 0, 1, 1, 2, 3))))
    for hour in outages:
        down = start + timedelta(hours=hour, minutes=rng.randint(0, 59))
        up = down + timedelta(minutes=rng.choice((5, 12, 25, 45, 90, 240, 420)))
        if down <= changes[-1].changed_at or up >= now:
            continue
        changes += [StatusChange(camera_id=camera.id, status="offline", changed_at=down),
                    StatusChange(camera_id=camera.id, status="online", changed_at=up)]  # fmt: skip
    if roll > 0.93:  # out right now
        changes.append(StatusChange(camera_id=camera.id, status="offline",
                                    changed_at=now - timedelta(minutes=rng.randint(10, 600))))  # fmt: skip
    last = changes[-1]
    camera.status, camera.status_since = last.status, last.changed_at
    camera.last_heartbeat_at = (
        now - timedelta(seconds=rng.randint(1, 59))
        if last.status == "online"
        else last.changed_at - timedelta(minutes=3)
    )
    camera.outage_reported = (
        last.status == "offline" and camera.is_key and now - last.changed_at > timedelta(minutes=30)
    )
    return changes


def _alerts(rng: random.Random, cameras: list[Camera], start: datetime, now: datetime) -> list[AlertIn]:
    alerts: list[AlertIn] = []
    span = (now - start - timedelta(hours=1)).total_seconds()
    for kind in ALERT_TYPES:
        for n in range(rng.randint(25, 60)):
            camera = rng.choice(cameras)
            at = start + timedelta(seconds=rng.uniform(0, span))
            for repeat in range(rng.choice((1, 1, 2, 3, 6))):  # a scene seen a few times in a row
                confidence = round(min(0.99, max(0.3, rng.gauss(kind.min_confidence + 0.12, 0.12))), 3)
                alerts.append(AlertIn(camera.code, f"demo-{kind.key}-{n}-{repeat}", kind.key, confidence,
                                      at + timedelta(seconds=40 * repeat)))  # fmt: skip
    storm_camera = cameras[7]
    storm_start = now - timedelta(days=2, hours=3)
    for k in range(STORM_ALERTS):  # a market morning: one camera reports road occupation every 4.5 s
        alerts.append(AlertIn(storm_camera.code, f"demo-storm-{k}", "road_occupation",
                              round(rng.uniform(0.55, 0.97), 3), storm_start + timedelta(seconds=4.5 * k)))  # fmt: skip
    return alerts


async def load(session: AsyncSession) -> dict[str, int]:
    """Add the demo cameras, their week of status history and alerts (nothing when cameras exist)."""
    if await session.scalar(select(func.count()).select_from(Camera)):
        return {}
    rng = random.Random(28181)
    now = utcnow()
    start = now - timedelta(days=DAYS)
    cameras = _cameras(rng)
    session.add_all(cameras)
    await session.flush()
    changes = [change for camera in cameras for change in _history(rng, camera, start, now)]
    session.add_all(changes)
    alerts = _alerts(rng, cameras, start, now)
    bus = EventBus(cast(Any, None), cast(Any, None), event_types())  # stores the events; no case service here
    result = await ingest(session, bus, BY_KEY, alerts, await camera_refs(session, {a.camera for a in alerts}),
                          push=False)  # fmt: skip
    incidents = list(await session.scalars(select(Incident).where(Incident.last_seen_at < now - timedelta(days=1))))
    for incident in incidents:  # the command centre reviewed most of the older ones
        roll = rng.random()
        if roll < 0.7:
            fp = roll < 0.2 + (
                0.15 if incident.best_confidence < BY_KEY[incident.alert_type].min_confidence + 0.08 else 0
            )
            incident.status = "false_positive" if fp else "closed"
            incident.closed_at, incident.closed_by = incident.last_seen_at + timedelta(hours=1), "demo:commander"
    new = sum(1 for outcome in result.outcomes if outcome.outcome == "new_incident")
    return {"cameras": len(cameras), "status_changes": len(changes), "alerts": len(alerts), "incidents": new}
