"""Where records belong: a point or household's grid and community from the core's areas.

A located record takes the grid its point lies in (``app.state.areas.grid_for``) and that grid's
community; without a location a grid or community can be named by code. The readable
``community`` name is kept beside the ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.areas.models import Community, Grid


@dataclass(frozen=True)
class Place:
    """A record's grid and community (ids may be None when the street has no areas there)."""

    grid_id: int | None
    community_id: int | None
    community_name: str | None = None


def locate(areas: Any, lon: float | None, lat: float | None) -> Place:
    """The grid and community of a WGS84 point through the area index (``None``s outside every grid)."""
    if areas is None or lon is None or lat is None:
        return Place(None, None)
    grid_id = areas.grid_for(lon, lat)
    community_id = areas.community_for_grid(grid_id) if grid_id is not None else None
    community = areas.community(community_id) if community_id is not None else None
    return Place(grid_id, community_id, community.name if community else None)


async def grid_by_code(session: AsyncSession, code: str) -> Place | None:
    """The grid with this code and its community, or None."""
    row = (
        await session.execute(
            select(Grid.id, Grid.community_id, Community.name)
            .join(Community, Community.id == Grid.community_id)
            .where(Grid.code == code)
        )
    ).first()
    return None if row is None else Place(row[0], row[1], row[2])


async def community_by_code_or_name(session: AsyncSession, text: str) -> Place | None:
    """The community whose code or name is ``text``, or None."""
    row = (
        await session.execute(
            select(Community.id, Community.name).where((Community.code == text) | (Community.name == text)).limit(1)
        )
    ).first()
    return None if row is None else Place(None, row[0], row[1])


async def community_names(session: AsyncSession) -> dict[int, str]:
    """Community id -> name."""
    return {cid: name for cid, name in await session.execute(select(Community.id, Community.name))}


async def community_streets(session: AsyncSession) -> dict[int, int]:
    """Community id -> street id."""
    return {cid: sid for cid, sid in await session.execute(select(Community.id, Community.street_id))}
