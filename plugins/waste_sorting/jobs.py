"""waste_sorting jobs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from core.contracts import JobContext
from plugins.waste_sorting.models import CollectionPoint


async def daily_summary(ctx: JobContext) -> dict[str, Any]:
    """Count the active collection points of each community (kept in the job's run history)."""
    async with ctx.database.session() as session:
        rows = await session.execute(
            select(CollectionPoint.community, func.count())
            .where(CollectionPoint.active.is_(True))
            .group_by(CollectionPoint.community)
            .order_by(CollectionPoint.community)
        )
        per_community = {community: count for community, count in rows}
    return {
        "communities": len(per_community),
        "active_points": sum(per_community.values()),
        "per_community": per_community,
    }
