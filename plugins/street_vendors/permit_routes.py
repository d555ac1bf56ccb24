"""Permits: which vendor may trade at which vending point on which days (/api/v1/street-vendors/permits)."""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec
from litestar import get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from core.errors import InputError
from core.pagination import OffsetPagination, paginate
from core.web import DbSession, Page, one_or_404, requires
from plugins.street_vendors.models import Permit, VendingPoint, Vendor
from plugins.street_vendors.schemas import PermitIn, PermitOut, PermitPatch


def _out(permit: Permit, point_code: str) -> PermitOut:
    return PermitOut(
        id=permit.id,
        vendor_id=permit.vendor_id,
        point=point_code,
        valid_from=permit.valid_from,
        valid_to=permit.valid_to,
        status=permit.status,
        created_at=permit.created_at,
    )


@post("/permits", summary="Grant a permit", guards=[requires("street_vendors:manage")])
async def create_permit(db_session: DbSession, data: JSONBody[PermitIn]) -> PermitOut:
    """Let a vendor trade at a point on the local days ``valid_from`` to ``valid_to`` (both included).

    422 names ``vendor_id`` or ``point`` when unknown, or when the point does not allow the vendor's
    category, and ``valid_to`` when it is before ``valid_from``.
    """
    vendor = await db_session.get(Vendor, data.vendor_id)
    if vendor is None:
        raise InputError("vendor_id", f"no vendor with id {data.vendor_id}")
    point = await db_session.scalar(select(VendingPoint).where(VendingPoint.code == data.point))
    if point is None:
        raise InputError("point", f"no vending point with code {data.point}")
    if vendor.category not in point.categories:
        raise InputError(
            "point", f"{point.code} does not allow {vendor.category} (it allows {', '.join(point.categories)})"
        )
    if data.valid_to < data.valid_from:
        raise InputError("valid_to", "is before valid_from")
    permit = Permit(vendor_id=vendor.id, point_id=point.id, valid_from=data.valid_from, valid_to=data.valid_to)
    db_session.add(permit)
    await db_session.flush()
    return _out(permit, point.code)


@get("/permits", summary="List permits", guards=[requires("street_vendors:read")])
async def list_permits(
    db_session: DbSession,
    page: Page,
    vendor_id: FromQuery[int | None] = None,
    point: FromQuery[str | None] = None,
    valid_on: FromQuery[date | None] = None,
) -> OffsetPagination[PermitOut]:
    """Permits, newest first; of one vendor, of one point (code), or active and valid on a local day."""
    query = (
        select(Permit, VendingPoint.code)
        .join(VendingPoint, Permit.point_id == VendingPoint.id)
        .order_by(Permit.id.desc())
    )
    if vendor_id is not None:
        query = query.where(Permit.vendor_id == vendor_id)
    if point:
        query = query.where(VendingPoint.code == point)
    if valid_on is not None:
        query = query.where(Permit.status == "active", Permit.valid_from <= valid_on, Permit.valid_to >= valid_on)
    permits = select(Permit).where(Permit.id.in_(query.with_only_columns(Permit.id))).order_by(Permit.id.desc())
    codes = dict((await db_session.execute(select(VendingPoint.id, VendingPoint.code))).tuples().all())
    return await paginate(db_session, permits, page, lambda permit: _out(permit, codes[permit.point_id]))


@get("/permits/{permit_id:int}", summary="One permit", guards=[requires("street_vendors:read")])
async def get_permit(db_session: DbSession, permit_id: FromPath[int]) -> PermitOut:
    """The permit with this id."""
    permit = await one_or_404(db_session, Permit, "permit", id=permit_id)
    return _out(permit, await _code(db_session, permit.point_id))


@patch(
    "/permits/{permit_id:int}", summary="Extend, shorten or revoke a permit", guards=[requires("street_vendors:manage")]
)
async def update_permit(db_session: DbSession, permit_id: FromPath[int], data: JSONBody[PermitPatch]) -> PermitOut:
    """Change ``valid_to`` or ``status`` (``revoked`` ends it); 422 names ``valid_to`` before ``valid_from``."""
    permit = await one_or_404(db_session, Permit, "permit", id=permit_id)
    values: dict[str, Any] = msgspec.structs.asdict(data)
    if data.valid_to is not msgspec.UNSET:
        if data.valid_to < permit.valid_from:
            raise InputError("valid_to", "is before valid_from")
        permit.valid_to = data.valid_to
    if values["status"] is not msgspec.UNSET:
        permit.status = values["status"]
    await db_session.flush()
    return _out(permit, await _code(db_session, permit.point_id))


async def _code(session: Any, point_id: int) -> str:
    return str(await session.scalar(select(VendingPoint.code).where(VendingPoint.id == point_id)))


ROUTES = [create_permit, list_permits, get_permit, update_permit]
