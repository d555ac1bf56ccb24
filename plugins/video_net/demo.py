"""video_net demo data: cameras of three owners around Ningwei street."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import utcnow
from plugins.video_net.models import Camera

OWNERS = ("public_security", "urban_management", "community")
CENTRE = (120.2655, 30.1860)  # Ningwei street, Xiaoshan, Hangzhou (WGS84)


async def load(session: AsyncSession) -> dict[str, int]:
    """Add 60 cameras (20 per owner), most online, some offline or never heard from."""
    if await session.scalar(select(func.count()).select_from(Camera)):
        return {}
    rng = random.Random(28181)
    now = utcnow()
    for i in range(60):
        owner = OWNERS[i % 3]
        state = rng.choices(("online", "offline", "unknown"), weights=(8, 1, 1))[0]
        session.add(
            Camera(
                code=f"3301090000{131 + i % 3:03d}{i:07d}",
                name=f"{owner.replace('_', ' ').title()} camera {i + 1}",
                owner=owner,
                lon=round(CENTRE[0] + rng.uniform(-0.02, 0.02), 6),
                lat=round(CENTRE[1] + rng.uniform(-0.015, 0.015), 6),
                grid_id=1 + i % 4,
                status=state,
                last_heartbeat_at=None
                if state == "unknown"
                else now - timedelta(seconds=rng.randint(5, 50 if state == "online" else 7200)),
            )
        )
    return {"cameras": 60}
