"""Household endpoints: register, list (grid-scoped, contact masked without ``pii:read``), move, import, points."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, patch, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Response
from sqlalchemy import select

from core.errors import InputError
from core.pagination import OffsetPagination, paginate
from core.security import pii
from core.security.principal import Principal
from core.web import Caller, DbSession, Page, one_or_404, reject_if_taken, requires, shown, visible_to
from plugins.waste_sorting.households import household_values, import_households, read_rows, resolve
from plugins.waste_sorting.ledger import balance
from plugins.waste_sorting.models import Household, PointsEntry
from plugins.waste_sorting.schemas import HouseholdIn, HouseholdOut, HouseholdPatch


def household_out(household: Household, caller: Principal) -> HouseholdOut:
    """A household as ``caller`` may see it (contact masked without ``pii:read``)."""
    return HouseholdOut(
        id=household.id, qr_code=household.qr_code, community=household.community,
        community_id=household.community_id, grid_id=household.grid_id, point_id=household.point_id,
        building=household.building, unit=household.unit, room=household.room, residents=household.residents,
        contact_name=shown(caller, "name", household.contact_name),
        contact_phone=shown(caller, "phone", household.contact_phone), active=household.active,
        source=household.source,
    )  # fmt: skip


@get("/households", summary="List households", guards=[requires("waste_sorting:read")])
async def list_households(
    db_session: DbSession,
    caller: Caller,
    page: Page,
    community_id: FromQuery[int | None] = None,
    grid_id: FromQuery[int | None] = None,
    active: FromQuery[bool | None] = None,
    phone: FromQuery[str | None] = None,
) -> OffsetPagination[HouseholdOut]:
    """Households in id order (a grid worker's: of their grids); filters by community, grid, active and phone."""
    query = visible_to(select(Household).order_by(Household.id), Household.grid_id, caller)
    if community_id is not None:
        query = query.where(Household.community_id == community_id)
    if grid_id is not None:
        query = query.where(Household.grid_id == grid_id)
    if active is not None:
        query = query.where(Household.active.is_(active))
    if phone:
        query = query.where(Household.contact_phone_hash == pii.search_hash("phone", phone))
    return await paginate(db_session, query, page, lambda h: household_out(h, caller))


@post("/households", summary="Register a household", guards=[requires("waste_sorting:manage")])
async def create_household(
    request: Request[Any, Any, Any], db_session: DbSession, caller: Caller, data: JSONBody[HouseholdIn]
) -> HouseholdOut:
    """Register a household with its QR code (409 when the code is taken); its place as in the README."""
    await reject_if_taken(db_session, Household, "household", qr_code=data.qr_code)
    household = Household(**await household_values(db_session, request.app.state.get("areas"), data))
    db_session.add(household)
    await db_session.flush()
    return household_out(household, caller)


@get("/households/{qr_code:str}", summary="One household", guards=[requires("waste_sorting:read")])
async def get_household(db_session: DbSession, caller: Caller, qr_code: FromPath[str]) -> HouseholdOut:
    """The household with this QR code (404 for a grid worker outside their grids)."""
    return household_out(await one_or_404(db_session, Household, "household", caller=caller, qr_code=qr_code), caller)


@patch("/households/{qr_code:str}", summary="Change a household", guards=[requires("waste_sorting:manage")])
async def change_household(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    caller: Caller,
    qr_code: FromPath[str],
    data: JSONBody[HouseholdPatch],
) -> HouseholdOut:
    """Move a household (``grid`` or ``community``), change residents, contact or ``active``. Deposits it
    made before a move keep the community and grid they were made in."""
    household = await one_or_404(db_session, Household, "household", caller=caller, qr_code=qr_code)
    if data.grid is not None or data.community is not None or data.point is not None:
        resolved = await resolve(
            db_session, request.app.state.get("areas"), community=data.community, grid=data.grid,
            point=data.point, lon=None, lat=None,
        )  # fmt: skip
        household.community, household.community_id = resolved.community, resolved.place.community_id
        household.grid_id = resolved.place.grid_id
        if data.point is not None:
            household.point_id = resolved.point_id
    if data.residents is not None:
        household.residents = data.residents
    if data.contact_name is not None:
        household.contact_name = pii.checked("contact_name", "name", data.contact_name)
    if data.contact_phone is not None:
        household.contact_phone = pii.checked("contact_phone", "phone", data.contact_phone)
    if data.active is not None:
        household.active = data.active
    await db_session.flush()
    return household_out(household, caller)


@post("/households/import", summary="Import households (CSV or XLSX)", guards=[requires("waste_sorting:manage")])
async def import_household_file(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    data: Annotated[dict[str, UploadFile], Body(media_type=RequestEncodingType.MULTI_PART)],
    skip_invalid: FromQuery[bool] = False,
) -> Response[dict[str, Any]]:
    """Create or update households by QR code from a CSV or XLSX file (multipart field ``data``).

    Every bad row is reported (``errors``: row, field, message). Without ``skip_invalid`` a file with
    any bad row stores nothing (422); with it the good rows are stored (200) and the bad reported.
    """
    upload = data.get("data")
    if not isinstance(upload, UploadFile):
        raise InputError("data", "send the file as the multipart field data")
    rows = read_rows(await upload.read(), upload.filename or "")
    answer = await import_households(db_session, request.app.state.get("areas"), rows, skip_invalid=skip_invalid)
    if answer["errors"] and not skip_invalid:
        await db_session.rollback()
        return Response({"detail": "nothing imported: fix the rows listed", **answer}, status_code=422)
    return Response(answer, status_code=200)


@get("/households/{qr_code:str}/points", summary="A household's points", guards=[requires("waste_sorting:read")])
async def household_points(db_session: DbSession, caller: Caller, qr_code: FromPath[str]) -> dict[str, Any]:
    """The household's points balance and its last 100 ledger lines, newest first."""
    household = await one_or_404(db_session, Household, "household", caller=caller, qr_code=qr_code)
    lines = await db_session.scalars(
        select(PointsEntry)
        .where(PointsEntry.household_id == household.id)
        .order_by(PointsEntry.day.desc(), PointsEntry.reason)
        .limit(100)
    )
    return {
        "qr_code": household.qr_code,
        "balance": await balance(db_session, household.id),
        "lines": [{"day": line.day.isoformat(), "reason": line.reason, "points": line.points} for line in lines],
    }


HOUSEHOLD_ROUTES = [
    list_households,
    create_household,
    import_household_file,
    get_household,
    change_household,
    household_points,
]
