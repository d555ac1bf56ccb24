"""What route handlers of the core and of plugins declare to get the platform's dependencies.

    @get("/spaces")
    async def list_spaces(db_session: DbSession, page: Page) -> OffsetPagination[SpaceOut]: ...

``db_session`` is committed after the handler returns and before the response is sent;
``page`` holds the request's ``limit`` and ``offset``.
"""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import PageParams

DbSession = NamedDependency[AsyncSession]
Page = NamedDependency[PageParams]

__all__ = ["DbSession", "Page"]
