"""video_net jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import or_, update

from core.contracts import JobContext
from core.db import utcnow
from plugins.video_net.models import Camera


async def mark_offline(ctx: JobContext) -> dict[str, Any]:
    """Mark online cameras offline after ``missed_heartbeats`` keepalive intervals without a heartbeat."""
    settings = ctx.plugin_settings
    cutoff = utcnow() - timedelta(seconds=settings.keepalive_seconds * settings.missed_heartbeats)
    async with ctx.database.session() as session:
        result = await session.execute(
            update(Camera)
            .where(Camera.enabled.is_(True), Camera.status != "offline")
            .where(
                or_(
                    Camera.last_heartbeat_at < cutoff,
                    Camera.last_heartbeat_at.is_(None) & (Camera.status == "online"),
                )
            )
            .values(status="offline")
        )
    return {"marked_offline": result.rowcount or 0}  # type: ignore[attr-defined]
