"""waste_sorting demo data: twelve collection points in four communities of Ningwei street."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugins.waste_sorting.models import CATEGORIES, CollectionPoint

# Community name -> (lon, lat) of its centre, a few hundred metres around Ningwei street (WGS84).
COMMUNITIES = {
    "宁新社区": (120.2612, 30.1903),
    "宁税社区": (120.2701, 30.1897),
    "振宁社区": (120.2629, 30.1821),
    "合丰社区": (120.2688, 30.1815),
}
# Morning and evening deposit windows (定时定点), as Hangzhou's residential compounds run them.
WINDOWS = (("07:00", "09:00"), ("18:00", "20:00"), ("06:30", "08:30"))
SITES = ("东门", "北门", "中心广场")


async def load(session: AsyncSession) -> dict[str, int]:
    """Add three points per community; the third takes no hazardous waste, one point is closed for repair."""
    if await session.scalar(select(func.count()).select_from(CollectionPoint)):
        return {}
    number = 0
    for community, (lon, lat) in COMMUNITIES.items():
        for site_no, site in enumerate(SITES):
            number += 1
            opens, closes = WINDOWS[site_no]
            session.add(
                CollectionPoint(
                    code=f"NW-CP-{number:03d}",
                    name=f"{community}{site}垃圾分类投放点",
                    community=community,
                    lon=round(lon + 0.0012 * (site_no - 1), 6),
                    lat=round(lat + 0.0008 * (site_no % 2), 6),
                    categories=[c for c in CATEGORIES if site_no < 2 or c != "hazardous"],
                    deposit_opens=opens,
                    deposit_closes=closes,
                    active=number != 7,
                )
            )
    return {"collection_points": number}
