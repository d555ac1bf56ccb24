"""Streets, communities and grids under /api/v1/areas: lists, GeoJSON import and export, locate, workers."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Response, get, post, put
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import select

from core.areas.geo import Crs, to_wgs84
from core.areas.geojson import GeoJSONError, geometry_in
from core.areas.index import AreaRef, LiveAreaIndex
from core.areas.models import Community, Grid, Street
from core.areas.store import export_all, export_grids, grid_query, import_features
from core.areas.workers import assign_workers, assigned_users
from core.pagination import OffsetPagination, paginate
from core.security.models import User
from core.security.principal import Principal
from core.web import Caller, DbSession, Page, one_or_404, requires, shown

GEOJSON = "application/geo+json"
READ = [requires("areas:read")]
MANAGE = [requires("areas:manage")]
CrsParam = Annotated[Crs, QueryParameter(description="Coordinate system: wgs84 (default) or gcj02 (Amap, Tencent)")]


class StreetOut(msgspec.Struct):
    """A street (街道)."""

    id: int
    code: str
    name: str


class CommunityOut(msgspec.Struct):
    """A community (社区) and its street."""

    id: int
    code: str
    name: str
    street_id: int
    street_code: str


class GridOut(msgspec.Struct):
    """A grid (网格), its community and street, area and bounding box [min_lon, min_lat, max_lon, max_lat]."""

    id: int
    code: str
    name: str
    community_id: int
    community_code: str
    street_id: int
    street_code: str
    active: bool
    area_m2: float
    bbox: list[float]


class GridDetail(GridOut):
    """A grid with its outline (GeoJSON, in the coordinate system asked for)."""

    geometry: dict[str, Any] | None = None


class ImportOut(msgspec.Struct):
    """What an import did per level (street, community, grid), the area revision and any warnings."""

    created: dict[str, int]
    updated: dict[str, int]
    unchanged: dict[str, int]
    revision: int
    warnings: list[str]


class AreaRefOut(msgspec.Struct):
    """A street, community or grid: id, code, name."""

    id: int
    code: str
    name: str


class LocateOut(msgspec.Struct):
    """Where a point is: its WGS84 position and its grid, community and street (null outside every grid)."""

    lon: float
    lat: float
    grid: AreaRefOut | None
    community: AreaRefOut | None
    street: AreaRefOut | None


class WorkersIn(msgspec.Struct, forbid_unknown_fields=True):
    """The accounts (grid workers) that work a grid: the whole list, replacing the previous one."""

    user_ids: list[int]


class WorkerOut(msgspec.Struct):
    """A grid worker (personal data masked without ``pii:read``)."""

    id: int
    username: str
    role: str
    active: bool
    full_name: str | None
    grid_ids: list[int]


def _grid_out(grid: Grid) -> GridOut:
    return GridOut(
        id=grid.id,
        code=grid.code,
        name=grid.name,
        community_id=grid.community_id,
        community_code=grid.community.code,
        street_id=grid.community.street_id,
        street_code=grid.community.street.code,
        active=grid.active,
        area_m2=grid.area_m2,
        bbox=[grid.min_lon, grid.min_lat, grid.max_lon, grid.max_lat],
    )


def _worker_out(user: User, caller: Principal) -> WorkerOut:
    return WorkerOut(
        id=user.id,
        username=user.username,
        role=user.role,
        active=user.active,
        full_name=shown(caller, "name", user.full_name),
        grid_ids=user.grid_ids,
    )


@get("/api/v1/areas/streets", tags=["areas"], summary="List streets", guards=READ)
async def list_streets(db_session: DbSession, page: Page) -> OffsetPagination[StreetOut]:
    """Streets in code order."""
    query = select(Street).order_by(Street.code)
    return await paginate(db_session, query, page, lambda s: StreetOut(id=s.id, code=s.code, name=s.name))


@get("/api/v1/areas/communities", tags=["areas"], summary="List communities", guards=READ)
async def list_communities(
    db_session: DbSession, page: Page, street: FromQuery[str | None] = None
) -> OffsetPagination[CommunityOut]:
    """Communities in code order, optionally of one street (by code)."""
    query = select(Community).order_by(Community.code)
    if street:
        query = query.where(Community.street_id.in_(select(Street.id).where(Street.code == street)))
    return await paginate(
        db_session, query, page, lambda c: CommunityOut(c.id, c.code, c.name, c.street_id, c.street.code)
    )


@get("/api/v1/areas/grids", tags=["areas"], summary="List grids", guards=READ)
async def list_grids(
    db_session: DbSession,
    page: Page,
    community: FromQuery[str | None] = None,
    street: FromQuery[str | None] = None,
    active: FromQuery[bool | None] = None,
) -> OffsetPagination[GridOut]:
    """Grids in id order (without outlines), optionally of one community or street (by code), or by ``active``."""
    return await paginate(db_session, grid_query(community=community, street=street, active=active), page, _grid_out)


@get("/api/v1/areas/grids/{code:str}", tags=["areas"], summary="One grid with its outline", guards=READ)
async def get_grid(db_session: DbSession, code: FromPath[str], crs: CrsParam = "wgs84") -> GridDetail:
    """The grid with this code; ``crs=gcj02`` gives the outline in GCJ-02 for Chinese map SDKs."""
    grid = await one_or_404(db_session, Grid, "grid", code=code)
    return GridDetail(**msgspec.structs.asdict(_grid_out(grid)), geometry=geometry_in(grid.geometry, crs))


@get("/api/v1/areas/grids.geojson", tags=["areas"], summary="Grids as GeoJSON", guards=READ, media_type=GEOJSON)
async def grids_geojson(
    db_session: DbSession,
    crs: CrsParam = "wgs84",
    community: FromQuery[str | None] = None,
    street: FromQuery[str | None] = None,
    active: FromQuery[bool | None] = None,
) -> Response[dict[str, Any]]:
    """A FeatureCollection of the grids (filters as for the list); ``crs=gcj02`` for Amap and other SDKs."""
    collection = await export_grids(db_session, crs, community=community, street=street, active=active)
    return Response(collection, media_type=GEOJSON)


@get(
    "/api/v1/areas/export.geojson",
    tags=["areas"],
    summary="Every street, community and grid as GeoJSON",
    guards=READ,
    media_type=GEOJSON,
)
async def export_geojson(db_session: DbSession, crs: CrsParam = "wgs84") -> Response[dict[str, Any]]:
    """One FeatureCollection of the whole area tree, parents first: ``POST /api/v1/areas/import`` restores it."""
    return Response(await export_all(db_session, crs), media_type=GEOJSON)


@post("/api/v1/areas/import", tags=["areas"], summary="Import areas from GeoJSON", guards=MANAGE, status_code=200)
async def import_areas(
    db_session: DbSession, state: State, data: JSONBody[dict[str, Any]], crs: FromQuery[Crs | None] = None
) -> ImportOut:
    """Create or update streets, communities and grids by code, all or nothing (see docs/areas.md).

    ``crs=gcj02`` when the coordinates come from a Chinese map SDK (else the collection's
    ``coordinate_system``, else WGS84). Every problem is a 422 naming the feature index and field.
    """
    try:
        result = await import_features(db_session, data, crs)
    except GeoJSONError as exc:
        raise ValidationException(
            extra=[
                {"key": field, "source": "query" if field == "crs" else "body", "message": message}
                for field, message in exc.problems
            ]
        ) from None
    await db_session.commit()  # stored before the index is rebuilt and before the answer
    areas: LiveAreaIndex = state.areas
    if result.changed:
        await areas.refresh()
    return ImportOut(
        created=dict(result.created),
        updated=dict(result.updated),
        unchanged=dict(result.unchanged),
        revision=result.revision,
        warnings=result.warnings,
    )


def _ref(ref: AreaRef | Any | None) -> AreaRefOut | None:
    return None if ref is None else AreaRefOut(id=ref.id, code=ref.code, name=ref.name)


@get("/api/v1/areas/locate", tags=["areas"], summary="Which grid a point is in", guards=READ)
async def locate(
    state: State,
    lon: Annotated[float, QueryParameter(ge=-180, le=180, description="Longitude")],
    lat: Annotated[float, QueryParameter(ge=-90, le=90, description="Latitude")],
    crs: CrsParam = "wgs84",
) -> LocateOut:
    """The grid, community and street of a point (``crs=gcj02`` for a point picked on an Amap map).

    A point on an edge shared by grids belongs to the one with the lowest id (docs/areas.md).
    """
    areas: LiveAreaIndex = state.areas
    index = await areas.fresh()
    wgs_lon, wgs_lat = to_wgs84(lon, lat, crs)
    grid_id = index.grid_for(wgs_lon, wgs_lat)
    grid = index.grid(grid_id) if grid_id is not None else None
    return LocateOut(
        lon=wgs_lon,
        lat=wgs_lat,
        grid=_ref(grid),
        community=_ref(index.community(index.community_for_grid(grid_id))),
        street=_ref(index.street(index.street_for_grid(grid_id))),
    )


@get("/api/v1/areas/grids/{code:str}/workers", tags=["areas"], summary="The workers of a grid", guards=MANAGE)
async def get_workers(db_session: DbSession, caller: Caller, code: FromPath[str]) -> list[WorkerOut]:
    """Every account assigned to the grid, by id (inactive ones included, flagged)."""
    grid = await one_or_404(db_session, Grid, "grid", code=code)
    return [_worker_out(user, caller) for user in await assigned_users(db_session, grid.id)]


@put("/api/v1/areas/grids/{code:str}/workers", tags=["areas"], summary="Assign a grid's workers", guards=MANAGE)
async def put_workers(
    db_session: DbSession, caller: Caller, code: FromPath[str], data: JSONBody[WorkersIn]
) -> list[WorkerOut]:
    """Make exactly these accounts (active grid workers) the grid's workers; 422 names ``user_ids`` otherwise."""
    grid = await one_or_404(db_session, Grid, "grid", code=code)
    return [_worker_out(user, caller) for user in await assign_workers(db_session, grid.id, data.user_ids)]


AREA_ROUTES = [
    list_streets,
    list_communities,
    list_grids,
    get_grid,
    grids_geojson,
    export_geojson,
    import_areas,
    locate,
    get_workers,
    put_workers,
]
