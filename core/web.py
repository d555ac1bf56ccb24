"""What route handlers of the core and of plugins use to reach the platform.

    @get("/spaces/{code:str}")
    async def get_space(db_session: DbSession, code: FromPath[str]) -> SpaceOut:
        return SpaceOut.of(await one_or_404(db_session, Space, "parking space", code=code))

``db_session`` is committed after the handler returns and before the response is sent;
``page`` holds the request's ``limit`` and ``offset``; ``settings`` the platform settings
(``settings.tz`` is the calendar time zone).
"""

from __future__ import annotations

from typing import Any, TypeVar

from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.pagination import PageParams

T = TypeVar("T")

DbSession = NamedDependency[AsyncSession]
Page = NamedDependency[PageParams]
PlatformSettings = NamedDependency[Settings]


def _described(where: dict[str, Any]) -> str:
    return " and ".join(f"{key} {value}" for key, value in where.items())


async def one_or_404(session: AsyncSession, model: type[T], what: str, **where: Any) -> T:
    """The row of ``model`` matching ``where`` (column=value); 404 ``no <what> with <column> <value>`` if none."""
    row = await session.scalar(select(model).filter_by(**where))
    if row is None:
        raise NotFoundException(f"no {what} with {_described(where)}")
    return row


async def reject_if_taken(session: AsyncSession, model: type[Any], what: str, **where: Any) -> None:
    """409 naming the field(s) when a row of ``model`` already has these values (e.g. ``code=...``)."""
    taken = await session.scalar(select(literal(True)).select_from(model).filter_by(**where).limit(1))
    if taken:
        message = f"a {what} with {_described(where)} already exists"
        raise ValidationException(
            status_code=409, extra=[{"key": key, "source": "body", "message": message} for key in where]
        )


__all__ = ["DbSession", "Page", "PlatformSettings", "one_or_404", "reject_if_taken"]
