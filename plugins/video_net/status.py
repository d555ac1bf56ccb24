"""Camera status: heartbeats bring a camera online, missed heartbeats take it offline, and a key
camera offline for too long becomes a case. Every change between online and offline is a row of
:class:`StatusChange` (the online rate is computed from them) and a core event.

Every function takes ``now``, so tests and replays control the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import EmitResult, Event, EventBus
from plugins.video_net.models import Camera, StatusChange


@dataclass(frozen=True)
class Beat:
    """A heartbeat of one camera, at the device's time (None: when it arrived)."""

    code: str
    at: datetime | None = None


def _event(camera: Camera, kind: str, at: datetime, **payload: Any) -> Event:
    return Event(
        type=f"video_net.{kind}", source=f"camera:{camera.code}", occurred_at=at, lon=camera.lon, lat=camera.lat,
        grid_id=camera.grid_id, title=f"{camera.name}: {kind.replace('_', ' ')}"[:300],
        payload={"camera": camera.code, "owner": camera.owner, **payload},
        dedup_key=f"video_net:{kind}:{camera.code}:{at.isoformat()}",
    )  # fmt: skip


async def _change(
    session: AsyncSession, bus: EventBus | None, camera: Camera, status: str, at: datetime
) -> EmitResult | None:
    before = camera.status
    camera.status, camera.status_since = status, at
    session.add(StatusChange(camera_id=camera.id, status=status, changed_at=at))
    if status == "online":
        camera.outage_reported = False
    if bus is None or {before, status} != {"online", "offline"}:
        return None
    kind = "camera_online" if status == "online" else "camera_offline"
    return await bus.emit(session, _event(camera, kind, at, previous=before))


async def record_heartbeats(
    session: AsyncSession, bus: EventBus | None, beats: Sequence[Beat], now: datetime, cameras: dict[str, Camera]
) -> list[EmitResult]:
    """Apply heartbeats (a device time later than ``now`` counts as ``now``); returns the events emitted.

    A camera that was not online comes online at its heartbeat's time; the last heartbeat time only
    moves forward, so replayed or late heartbeats change nothing.
    """
    emitted = []
    for beat in sorted(beats, key=lambda b: b.at or now):
        camera = cameras[beat.code]
        at = min(beat.at or now, now)
        if camera.last_heartbeat_at is not None and at <= camera.last_heartbeat_at:
            continue
        camera.last_heartbeat_at = at
        if camera.status != "online" and camera.enabled:
            result = await _change(session, bus, camera, "online", at)
            if result is not None:
                emitted.append(result)
    return emitted


async def sweep(
    session: AsyncSession,
    bus: EventBus | None,
    now: datetime,
    *,
    keepalive_seconds: int,
    missed_heartbeats: int,
    key_camera_offline_minutes: int,
) -> tuple[dict[str, int], list[EmitResult]]:
    """Mark offline the cameras silent for ``missed_heartbeats`` intervals (offline from the moment the
    last of them was missed), and turn each key camera's outage longer than the limit into one case."""
    allowed = timedelta(seconds=keepalive_seconds * missed_heartbeats)
    silent = await session.scalars(
        select(Camera)
        .where(Camera.enabled.is_(True), Camera.status != "offline")
        .where(
            or_(
                Camera.last_heartbeat_at < now - allowed,
                Camera.last_heartbeat_at.is_(None) & (Camera.status == "online"),
            )
        )
        .order_by(Camera.id)
    )
    emitted: list[EmitResult] = []
    offline = 0
    for camera in list(silent):
        at = camera.last_heartbeat_at + allowed if camera.last_heartbeat_at is not None else now
        result = await _change(session, bus, camera, "offline", min(at, now))
        offline += 1
        if result is not None:
            emitted.append(result)
    await session.flush()
    limit = timedelta(minutes=key_camera_offline_minutes)
    long_out = await session.scalars(
        select(Camera)
        .where(Camera.is_key.is_(True), Camera.enabled.is_(True), Camera.status == "offline")
        .where(Camera.outage_reported.is_(False), Camera.status_since <= now - limit)
        .order_by(Camera.id)
    )
    reported = 0
    for camera in list(long_out):
        camera.outage_reported = True
        reported += 1
        if bus is not None:
            assert camera.status_since is not None
            minutes = int((now - camera.status_since).total_seconds() // 60)
            emitted.append(
                await bus.emit(
                    session,
                    _event(
                        camera,
                        "key_camera_offline",
                        now,
                        offline_since=camera.status_since.isoformat(),
                        offline_minutes=minutes,
                    ),
                )
            )
    return {"marked_offline": offline, "key_cameras_reported": reported}, emitted


def delivered(bus: EventBus | None, results: Iterable[EmitResult]) -> None:
    """Hand new events to the plugins' ``on_event`` after the commit."""
    if bus is not None:
        bus.after_commit(list(results))
