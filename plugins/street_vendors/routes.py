"""street_vendors API for vending points and vendors, mounted at /api/v1/street-vendors.

The other endpoints live beside it: permits (permit_routes.py), sightings and violations
(sighting_routes.py), hotspots, suggestions, occupancy and trends (analysis_routes.py).
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any

import msgspec
from litestar import get, patch, post
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import String, cast, select

from core.pagination import OffsetPagination, paginate
from core.security import pii
from core.security.pii import search_hash
from core.security.principal import Principal
from core.web import Caller, DbSession, Page, PlatformSettings, one_or_404, reject_if_taken, requires, shown
from plugins.street_vendors.hours import is_open_at, window_at, window_problems
from plugins.street_vendors.models import CATEGORIES, VendingPoint, Vendor
from plugins.street_vendors.places import parse_polygon, polygon_of
from plugins.street_vendors.schemas import (
    VendingPointIn,
    VendingPointOut,
    VendingPointPatch,
    VendorIn,
    VendorOut,
    VendorPatch,
)

CategoryFilter = Annotated[str | None, QueryParameter(description=f"One of {', '.join(CATEGORIES)}")]
AtTime = Annotated[str | None, QueryParameter(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local HH:MM")]


def plugin_settings(state: State) -> Any:
    """This plugin's validated settings, from the app's plugin manager."""
    return state.plugins.get("street_vendors").settings


def _as_out(point: VendingPoint, half_size_m: float) -> VendingPointOut:
    return VendingPointOut(
        code=point.code,
        name=point.name,
        capacity=point.capacity,
        categories=point.categories,
        lon=point.lon,
        lat=point.lat,
        opens=point.opens,
        closes=point.closes,
        active=point.active,
        created_at=point.created_at,
        polygon=polygon_of(point, half_size_m),
        polygon_derived=point.polygon is None,
        windows=point.windows,
    )


def _point_problems(values: dict[str, Any], crs: Any) -> list[dict[str, str]]:
    """Rules the schema alone cannot state; fixes ``values["polygon"]`` up to WGS84 on the way."""
    problems: list[tuple[str, str]] = []
    categories = values.get("categories")
    if categories is not None:
        if not set(categories) <= set(CATEGORIES):
            problems.append(("categories", f"allowed are {', '.join(CATEGORIES)}"))
        elif len(set(categories)) < len(categories):
            problems.append(("categories", "each category may be listed once"))
    if "opens" in values and values.get("opens") == values.get("closes"):
        problems.append(("closes", "equals opens; a window may cross midnight but not be empty"))
    if values.get("windows"):
        problems += window_problems(values["windows"])
    if values.get("polygon") is not None:
        values["polygon"], bad = parse_polygon(values["polygon"], crs)
        problems += bad
    return [{"key": key, "source": "body", "message": message} for key, message in problems]


def _reject(problems: list[dict[str, str]]) -> None:
    if problems:
        raise ValidationException(extra=problems)


@get("/vending-points", summary="List vending points", guards=[requires("street_vendors:read")])
async def list_vending_points(
    db_session: DbSession, state: State, page: Page, category: CategoryFilter = None
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
    half = plugin_settings(state).default_point_half_size_m
    return await paginate(db_session, query, page, lambda point: _as_out(point, half))


@get("/vending-points/open-now", summary="Vending points open now", guards=[requires("street_vendors:read")])
async def list_open_vending_points(
    db_session: DbSession, state: State, settings: PlatformSettings, page: Page, at: AtTime = None
) -> OffsetPagination[VendingPointOut]:
    """Active vending points whose daily window holds ``at`` (local time), or now in the platform's time zone.

    Points with weekly windows are judged by today's (the platform's local day) windows.
    """
    now = datetime.now(settings.tz).replace(tzinfo=None)
    local = datetime.combine(now.date(), time.fromisoformat(at)) if at else now
    points = await db_session.scalars(
        select(VendingPoint).where(VendingPoint.active.is_(True)).order_by(VendingPoint.code)
    )
    open_points = [
        point
        for point in points
        if (window_at(point, local) is not None if point.windows else is_open_at(point, local.time()))
    ]
    half = plugin_settings(state).default_point_half_size_m
    return OffsetPagination(
        items=[_as_out(point, half) for point in open_points[page.offset : page.offset + page.limit]],
        limit=page.limit,
        offset=page.offset,
        total=len(open_points),
    )


@post("/vending-points", summary="Designate a vending point", guards=[requires("street_vendors:manage")])
async def create_vending_point(db_session: DbSession, state: State, data: JSONBody[VendingPointIn]) -> VendingPointOut:
    """Designate a vending point; 422 names a bad field, 409 a code already in use."""
    values = msgspec.to_builtins(data)
    crs = values.pop("crs")
    _reject(_point_problems(values, crs))
    await reject_if_taken(db_session, VendingPoint, "vending point", code=data.code)
    point = VendingPoint(**values)
    db_session.add(point)
    await db_session.flush()
    return _as_out(point, plugin_settings(state).default_point_half_size_m)


@get("/vending-points/{code:str}", summary="One vending point", guards=[requires("street_vendors:read")])
async def get_vending_point(db_session: DbSession, state: State, code: FromPath[str]) -> VendingPointOut:
    """The vending point with this code."""
    point = await one_or_404(db_session, VendingPoint, "vending point", code=code)
    return _as_out(point, plugin_settings(state).default_point_half_size_m)


@patch("/vending-points/{code:str}", summary="Change a vending point", guards=[requires("street_vendors:manage")])
async def update_vending_point(
    db_session: DbSession, state: State, code: FromPath[str], data: JSONBody[VendingPointPatch]
) -> VendingPointOut:
    """Change the fields given (``active: false`` takes a point out of the rules); 422 names a bad field."""
    point = await one_or_404(db_session, VendingPoint, "vending point", code=code)
    values = {k: v for k, v in msgspec.to_builtins(data).items() if k != "crs"}
    checked = {"opens": point.opens, "closes": point.closes, **values}
    _reject(_point_problems(checked, data.crs))
    for key in values:
        setattr(point, key, checked[key])
    await db_session.flush()
    return _as_out(point, plugin_settings(state).default_point_half_size_m)


ROUTES: list[Any] = [
    list_vending_points,
    list_open_vending_points,
    create_vending_point,
    get_vending_point,
    update_vending_point,
]


# -- vendors ---------------------------------------------------------------------------------------


def vendor_out(vendor: Vendor, caller: Principal) -> VendorOut:
    """A vendor as ``caller`` may see them (personal data masked without ``pii:read``)."""
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


def _check_category(category: str) -> None:
    if category not in CATEGORIES:
        raise ValidationException(extra=[{"key": "category", "source": "body", "message": f"one of {CATEGORIES}"}])


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
    return await paginate(db_session, query, page, lambda vendor: vendor_out(vendor, caller))


@post("/vendors", summary="Register a vendor", guards=[requires("street_vendors:manage")])
async def create_vendor(db_session: DbSession, caller: Caller, data: JSONBody[VendorIn]) -> VendorOut:
    """Register a vendor; a bad phone or ID number is a 422 naming it, an ID already registered a 409."""
    _check_category(data.category)
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
    return vendor_out(vendor, caller)


@get("/vendors/{vendor_id:int}", summary="One vendor", guards=[requires("street_vendors:read")])
async def get_vendor(db_session: DbSession, caller: Caller, vendor_id: FromPath[int]) -> VendorOut:
    """The vendor with this id."""
    return vendor_out(await one_or_404(db_session, Vendor, "vendor", id=vendor_id), caller)


@patch("/vendors/{vendor_id:int}", summary="Change a vendor", guards=[requires("street_vendors:manage")])
async def update_vendor(
    db_session: DbSession, caller: Caller, vendor_id: FromPath[int], data: JSONBody[VendorPatch]
) -> VendorOut:
    """Change the phone, category, licence number or status; 422 names a bad field."""
    vendor = await one_or_404(db_session, Vendor, "vendor", id=vendor_id)
    values = msgspec.to_builtins(data)
    if "category" in values:
        _check_category(values["category"])
    if "phone" in values:
        values["phone"] = pii.checked("phone", "phone", values["phone"])
    for key, value in values.items():
        setattr(vendor, key, value)
    await db_session.flush()
    return vendor_out(vendor, caller)


ROUTES += [list_vendors, create_vendor, get_vendor, update_vendor]
