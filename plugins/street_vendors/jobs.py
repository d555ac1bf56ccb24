"""street_vendors jobs."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from core.contracts import JobContext
from plugins.street_vendors.models import CATEGORIES, VendingPoint


async def capacity_summary(ctx: JobContext) -> dict[str, Any]:
    """Stalls offered by the active vending points, per category (a point counts for each category it allows)."""
    async with ctx.database.session() as session:
        points = (
            await session.execute(
                select(VendingPoint.capacity, VendingPoint.categories).where(VendingPoint.active.is_(True))
            )
        ).all()
    capacity: Counter[str] = Counter(dict.fromkeys(CATEGORIES, 0))
    for stalls, categories in points:
        capacity.update(dict.fromkeys(categories, stalls))
    return {"active_points": len(points), "capacity": dict(capacity)}
