"""video_net jobs."""

from __future__ import annotations

from typing import Any

from core.contracts import JobContext
from core.db import utcnow
from plugins.video_net.status import delivered, sweep


async def mark_offline(ctx: JobContext) -> dict[str, Any]:
    """Mark cameras offline after ``missed_heartbeats`` keepalive intervals without a heartbeat, and make a
    case of each key camera offline longer than ``key_camera_offline_minutes``."""
    settings = ctx.plugin_settings
    bus = ctx.services.get("events")
    async with ctx.database.session() as session:
        summary, emitted = await sweep(
            session,
            bus,
            utcnow(),
            keepalive_seconds=settings.keepalive_seconds,
            missed_heartbeats=settings.missed_heartbeats,
            key_camera_offline_minutes=settings.key_camera_offline_minutes,
        )
    delivered(bus, emitted)
    return summary
