"""street_vendors API, mounted at /api/v1/street-vendors."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

import msgspec
from litestar import get, post
from litestar.exceptions import ValidationException
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy import String, cast, select

from core.pagination import OffsetPagination, paginate
from core.web import DbSession, Page, PlatformSettings, one_or_404, reject_if_taken
from plugins.street_vendors.models import CATEGORIES, VendingPoint
from plugins.street_vendors.rules import is_open_at
from plugins.street_vendors.schemas import VendingPointIn, VendingPointOut

CategoryFilter = Annotated[str | None, QueryParameter(description=f"One of {', '.join(CATEGORIES)}")]
AtTime = Annotated[str | None, QueryParameter(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local HH:MM")]


def _as_out(point: VendingPoint) -> VendingPointOut:
    return msgspec.convert(point, VendingPointOut, from_attributes=True)


def _reject_bad_point(data: VendingPointIn) -> None:
    """422 naming each field that breaks a rule the schema alone cannot state."""
    errors = []
    if not set(data.categories) <= set(CATEGORIES):
        errors.append({"key": "categories", "source": "body", "message": f"allowed are {', '.join(CATEGORIES)}"})
    elif len(set(data.categories)) < len(data.categories):
        errors.append({"key": "categories", "source": "body", "message": "each category may be listed once"})
    if data.opens == data.closes:
        errors.append(
            {"key": "closes", "source": "body", "message": "equals opens; a window may cross midnight but not be empty"}
        )
    if errors:
        raise ValidationException(extra=errors)


@get("/vending-points", summary="List vending points")
async def list_vending_points(
    db_session: DbSession, page: Page, category: CategoryFilter = None
) -> OffsetPagination[VendingPointOut]:
    """Vending points in code order, optionally only those that allow one category."""
    query = select(VendingPoint).order_by(VendingPoint.code)
    if category is not None:
        if category not in CATEGORIES:
            raise ValidationException(
                extra=[{"key": "category", "source": "query", "message": f"expected one of {CATEGORIES}"}]
            )
        # The JSON list as text holds '"food"' exactly when it lists food (the same on SQLite and PostgreSQL).
        query = query.where(cast(VendingPoint.categories, String).like(f'%"{category}"%'))
    return await paginate(db_session, query, page, _as_out)


@get("/vending-points/open-now", summary="Vending points open now")
async def list_open_vending_points(
    db_session: DbSession, settings: PlatformSettings, page: Page, at: AtTime = None
) -> OffsetPagination[VendingPointOut]:
    """Active vending points open at ``at`` (local time), or now in the platform's time zone."""
    local_time = time.fromisoformat(at) if at else datetime.now(settings.tz).time()
    points = await db_session.scalars(
        select(VendingPoint).where(VendingPoint.active.is_(True)).order_by(VendingPoint.code)
    )
    open_points = [point for point in points if is_open_at(point, local_time)]
    return OffsetPagination(
        items=[_as_out(point) for point in open_points[page.offset : page.offset + page.limit]],
        limit=page.limit,
        offset=page.offset,
        total=len(open_points),
    )


@post("/vending-points", summary="Designate a vending point")
async def create_vending_point(db_session: DbSession, data: JSONBody[VendingPointIn]) -> VendingPointOut:
    """Designate a vending point; 422 names a bad field, 409 a code already in use."""
    _reject_bad_point(data)
    await reject_if_taken(db_session, VendingPoint, "vending point", code=data.code)
    point = VendingPoint(**msgspec.structs.asdict(data))
    db_session.add(point)
    await db_session.flush()
    return _as_out(point)


@get("/vending-points/{code:str}", summary="One vending point")
async def get_vending_point(db_session: DbSession, code: FromPath[str]) -> VendingPointOut:
    """The vending point with this code."""
    return _as_out(await one_or_404(db_session, VendingPoint, "vending point", code=code))


ROUTES = [list_vending_points, list_open_vending_points, create_vending_point, get_vending_point]
