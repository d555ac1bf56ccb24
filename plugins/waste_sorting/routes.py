"""waste_sorting API, mounted at /api/v1/waste-sorting."""

from __future__ import annotations

import msgspec
from litestar import get, post
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from core.pagination import OffsetPagination, paginate
from core.web import DbSession, Page, one_or_404, reject_if_taken, requires
from plugins.waste_sorting.models import CollectionPoint
from plugins.waste_sorting.schemas import CollectionPointIn, CollectionPointOut


def _out(point: CollectionPoint) -> CollectionPointOut:
    return msgspec.convert(point, CollectionPointOut, from_attributes=True)


@get("/collection-points", summary="List collection points", guards=[requires("waste_sorting:read")])
async def list_collection_points(
    db_session: DbSession, page: Page, community: FromQuery[str | None] = None
) -> OffsetPagination[CollectionPointOut]:
    """Collection points in code order, optionally of one community."""
    query = select(CollectionPoint).order_by(CollectionPoint.code)
    if community:
        query = query.where(CollectionPoint.community == community)
    return await paginate(db_session, query, page, _out)


@post("/collection-points", summary="Open a collection point", guards=[requires("waste_sorting:manage")])
async def create_collection_point(db_session: DbSession, data: JSONBody[CollectionPointIn]) -> CollectionPointOut:
    """Open a collection point; 422 names a bad field, 409 a code already in use."""
    problems = data.problems()
    if problems:
        raise ValidationException(extra=problems)
    await reject_if_taken(db_session, CollectionPoint, "collection point", code=data.code)
    point = CollectionPoint(**msgspec.structs.asdict(data))
    db_session.add(point)
    await db_session.flush()
    return _out(point)


@get("/collection-points/{code:str}", summary="One collection point", guards=[requires("waste_sorting:read")])
async def get_collection_point(db_session: DbSession, code: FromPath[str]) -> CollectionPointOut:
    """The collection point with this code."""
    return _out(await one_or_404(db_session, CollectionPoint, "collection point", code=code))


ROUTES = [list_collection_points, create_collection_point, get_collection_point]
