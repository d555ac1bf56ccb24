"""The one paginated envelope every list endpoint returns, and the query that fills it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from advanced_alchemy.service import OffsetPagination
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "OffsetPagination", "PageParams", "paginate"]


@dataclass(frozen=True)
class PageParams:
    """``limit`` (1..500) and ``offset`` (>= 0) of a list request."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    page: PageParams,
    to_item: Callable[[Any], T] = lambda row: row,
) -> OffsetPagination[T]:
    """Run ``statement`` for one page and count its total: ``{items, total, limit, offset}``.

    ``statement`` selects ORM objects (one entity); ``to_item`` turns each into the response item.
    """
    total = await session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = (await session.scalars(statement.limit(page.limit).offset(page.offset))).all()
    return OffsetPagination(
        items=[to_item(row) for row in rows], limit=page.limit, offset=page.offset, total=total or 0
    )
