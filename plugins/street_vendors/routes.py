"""street_vendors API, mounted at /api/v1/street-vendors."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

import msgspec
from litestar import get, post
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import String, cast, select

from core.pagination import OffsetPagination, paginate
from core.security import pii
from core.security.pii import search_hash
from core.security.principal import Principal
from core.web import Caller, DbSession, Page, PlatformSettings, one_or_404, reject_if_taken, requires, shown
from plugins.street_vendors.models import CATEGORIES, VendingPoint, Vendor
from plugins.street_vendors.rules import is_open_at
from plugins.street_vendors.schemas import VendingPointIn, VendingPointOut, VendorIn, VendorOut

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


@get("/vending-points", summary="List vending points", guards=[requires("street_vendors:read")])
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


@get("/vending-points/open-now", summary="Vending points open now", guards=[requires("street_vendors:read")])
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


@post("/vending-points", summary="Designate a vending point", guards=[requires("street_vendors:manage")])
async def create_vending_point(db_session: DbSession, data: JSONBody[VendingPointIn]) -> VendingPointOut:
    """Designate a vending point; 422 names a bad field, 409 a code already in use."""
    _reject_bad_point(data)
    await reject_if_taken(db_session, VendingPoint, "vending point", code=data.code)
    point = VendingPoint(**msgspec.structs.asdict(data))
    db_session.add(point)
    await db_session.flush()
    return _as_out(point)


@get("/vending-points/{code:str}", summary="One vending point", guards=[requires("street_vendors:read")])
async def get_vending_point(db_session: DbSession, code: FromPath[str]) -> VendingPointOut:
    """The vending point with this code."""
    return _as_out(await one_or_404(db_session, VendingPoint, "vending point", code=code))


ROUTES = [list_vending_points, list_open_vending_points, create_vending_point, get_vending_point]


# -- vendors ---------------------------------------------------------------------------------------


def _vendor_out(vendor: Vendor, caller: Principal) -> VendorOut:
    return VendorOut(
        id=vendor.id,
        name=shown(caller, "name", vendor.name),
        phone=shown(caller, "phone", vendor.phone),
        id_number=shown(caller, "id_number", vendor.id_number),
        category=vendor.category,
        licence_number=vendor.licence_number,
        status=vendor.status,
        created_at=vendor.created_at,
    )


@get("/vendors", summary="List or find vendors", guards=[requires("street_vendors:read")])
async def list_vendors(
    db_session: DbSession,
    caller: Caller,
    page: Page,
    phone: FromQuery[str | None] = None,
    id_number: FromQuery[str | None] = None,
) -> OffsetPagination[VendorOut]:
    """Vendors, newest first; ``phone`` or ``id_number`` find one by exact match (without decrypting anyone)."""
    query = select(Vendor).order_by(Vendor.id.desc())
    if phone:
        query = query.where(Vendor.phone_hash == search_hash("phone", pii.checked("phone", "phone", phone) or ""))
    if id_number:
        number = pii.checked("id_number", "id_number", id_number) or ""
        query = query.where(Vendor.id_number_hash == search_hash("id_number", number))
    return await paginate(db_session, query, page, lambda vendor: _vendor_out(vendor, caller))


@post("/vendors", summary="Register a vendor", guards=[requires("street_vendors:manage")])
async def create_vendor(db_session: DbSession, caller: Caller, data: JSONBody[VendorIn]) -> VendorOut:
    """Register a vendor; a bad phone or ID number is a 422 naming it, an ID already registered a 409."""
    if data.category not in CATEGORIES:
        raise ValidationException(extra=[{"key": "category", "source": "body", "message": f"one of {CATEGORIES}"}])
    vendor = Vendor(
        name=pii.checked("name", "name", data.name),
        phone=pii.checked("phone", "phone", data.phone),
        id_number=pii.checked("id_number", "id_number", data.id_number),
        category=data.category,
        licence_number=data.licence_number,
    )
    if vendor.id_number:
        await reject_if_taken(db_session, Vendor, "vendor", id_number_hash=search_hash("id_number", vendor.id_number))
    db_session.add(vendor)
    await db_session.flush()
    return _vendor_out(vendor, caller)


@get("/vendors/{vendor_id:int}", summary="One vendor", guards=[requires("street_vendors:read")])
async def get_vendor(db_session: DbSession, caller: Caller, vendor_id: FromPath[int]) -> VendorOut:
    """The vendor with this id."""
    return _vendor_out(await one_or_404(db_session, Vendor, "vendor", id=vendor_id), caller)


ROUTES += [list_vendors, create_vendor, get_vendor]
