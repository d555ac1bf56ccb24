"""What route handlers of the core and of plugins use to reach the platform.

    @get("/spaces/{code:str}")
    async def get_space(db_session: DbSession, code: FromPath[str]) -> SpaceOut:
        return SpaceOut.of(await one_or_404(db_session, Space, "parking space", code=code))

``db_session`` is committed after the handler returns and before the response is sent;
``page`` holds the request's ``limit`` and ``offset``; ``settings`` the platform settings
(``settings.tz`` is the calendar time zone); ``caller`` the authenticated :class:`Principal`.

Every route needs authentication; ``guards=[requires("parking:read")]`` asks for a permission.
Grid workers see only their grids: filter lists with :func:`visible_to` and fetch single
records with ``one_or_404(..., caller=caller)`` (404 for others); show personal data with :func:`shown`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import (
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy import Select, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.pagination import PageParams
from core.security import pii
from core.security.principal import Principal

T = TypeVar("T")

DbSession = NamedDependency[AsyncSession]
Page = NamedDependency[PageParams]
PlatformSettings = NamedDependency[Settings]


def _described(where: dict[str, Any]) -> str:
    return " and ".join(f"{key} {value}" for key, value in where.items())


async def one_or_404(
    session: AsyncSession, model: type[T], what: str, *, caller: Principal | None = None, **where: Any
) -> T:
    """The row of ``model`` matching ``where`` (column=value); 404 ``no <what> with <column> <value>`` if none.

    With ``caller``, a row of a grid outside the caller's grids (``model.grid_id``) is answered the
    same 404, so a grid worker cannot tell that it exists.
    """
    row = await session.scalar(select(model).filter_by(**where))
    if row is None or (caller is not None and not caller.sees_grid(getattr(row, "grid_id", None))):
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


# -- authorization --------------------------------------------------------------------------------


class requires:
    """A route guard: the caller must hold every one of ``permissions`` (403 otherwise).

    The permissions are kept on the guard (``.permissions``) so tests and docs can read them.
    """

    def __init__(self, *permissions: str) -> None:
        self.permissions = frozenset(permissions)

    async def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
        """Raise 401 without a caller, 403 when a permission is missing.

        A coroutine on purpose: Litestar runs a synchronous guard in a worker thread, a hop that cost
        more than the check itself on every request.
        """
        caller = connection.scope.get("user")
        if not isinstance(caller, Principal):
            raise NotAuthorizedException("authentication required")
        missing = sorted(p for p in self.permissions if not caller.can(p))
        if missing:
            raise PermissionDeniedException(f"this needs the permission {', '.join(missing)}")

    def __repr__(self) -> str:
        return f"requires({', '.join(sorted(self.permissions))})"


def provide_caller(request: Request[Any, Any, Any]) -> Principal:
    """The authenticated caller of the request."""
    caller = request.scope.get("user")
    if not isinstance(caller, Principal):
        raise NotAuthorizedException("authentication required")
    return caller


Caller = NamedDependency[Principal]


def visible_to(statement: Select[Any], grid_column: Any, caller: Principal) -> Select[Any]:
    """Limit a query to the caller's grids (a grid worker sees only their grids' records)."""
    if caller.grid_ids is None:
        return statement
    return statement.where(grid_column.in_(sorted(caller.grid_ids)))


def shown(caller: Principal, kind: pii.Kind, value: str | None) -> str | None:
    """Personal data as the caller may see it: in full with ``pii:read``, masked otherwise."""
    return value if caller.can("pii:read") else pii.mask(kind, value)
