"""street_vendors demo data: eight vending points around Ningwei street, three of them night markets."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plugins.street_vendors.models import VendingPoint

# code, name, capacity, categories, (lon, lat) WGS84, opens, closes; closes < opens crosses midnight.
POINTS = (
    ("NW-VP-01", "民和路早餐疏导点", 12, ["food"], (120.2641, 30.1872), "06:00", "09:30"),
    ("NW-VP-02", "宁东路果蔬疏导点", 20, ["produce"], (120.2698, 30.1851), "07:00", "12:00"),
    ("NW-VP-03", "市心北路夜市", 40, ["food", "goods"], (120.2664, 30.1902), "21:00", "02:00"),
    ("NW-VP-04", "宁税路便民服务点", 8, ["services"], (120.2713, 30.1889), "09:00", "18:00"),
    ("NW-VP-05", "平澜路夜宵点", 16, ["food"], (120.2587, 30.1837), "22:00", "03:00"),
    ("NW-VP-06", "宁围地铁站B口疏导点", 10, ["produce", "goods"], (120.2630, 30.1843), "16:30", "20:30"),
    ("NW-VP-07", "振宁路傍晚市集", 30, ["food", "produce", "goods", "services"], (120.2676, 30.1814), "18:00", "23:30"),
    ("NW-VP-08", "丰北路小夜市", 14, ["food", "goods"], (120.2722, 30.1830), "19:30", "01:00"),
)


async def load(session: AsyncSession) -> dict[str, int]:
    """Add the eight points, unless there are vending points already."""
    if await session.scalar(select(VendingPoint.id).limit(1)) is not None:
        return {}
    session.add_all(
        VendingPoint(
            code=code, name=name, capacity=capacity, categories=categories, lon=lon, lat=lat, opens=opens, closes=closes
        )
        for code, name, capacity, categories, (lon, lat), opens, closes in POINTS
    )
    return {"vending_points": len(POINTS)}
