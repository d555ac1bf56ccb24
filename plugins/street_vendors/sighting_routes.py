"""Sightings (one or a batch, idempotent by ``client_id``) and violations, under /api/v1/street-vendors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.areas.geo import gcj02_to_wgs84
from core.errors import InputError
from core.events import EventBus
from core.pagination import OffsetPagination, paginate
from core.web import Caller, DbSession, Page, PlatformSettings, one_or_404, requires, visible_to
from plugins.street_vendors.models import OUTCOMES, STAGES, Sighting, VendingPoint, Violation
from plugins.street_vendors.routes import plugin_settings
from plugins.street_vendors.schemas import SightingIn, SightingOut, ViolationBrief, ViolationOut
from plugins.street_vendors.sightings import SightingInput, record_sightings

MAX_BATCH = 500


def _input(item: SightingIn, caller: Caller) -> SightingInput:
    lon, lat = gcj02_to_wgs84(item.lon, item.lat) if item.crs == "gcj02" else (item.lon, item.lat)
    return SightingInput(
        client_id=item.client_id,
        observed_at=item.observed_at,
        lon=lon,
        lat=lat,
        source=item.source,
        reported_by=caller.label,
        vendor_id=item.vendor_id,
        category=item.category,
        photo_url=item.photo_url,
    )


def _brief(violation: Violation) -> ViolationBrief:
    return ViolationBrief(violation.id, violation.stage, violation.rank, violation.event_id, violation.case_id)


def sighting_out(
    sighting: Sighting, violation: Violation | None, codes: dict[int, str], replay: bool = False
) -> SightingOut:
    """A sighting as the API shows it, with its violation if any."""
    brief = _brief(violation) if violation is not None else None
    return SightingOut(
        id=sighting.id,
        client_id=sighting.client_id,
        observed_at=sighting.observed_at,
        lon=sighting.lon,
        lat=sighting.lat,
        grid_id=sighting.grid_id,
        source=sighting.source,
        vendor_id=sighting.vendor_id,
        category=sighting.category,
        photo_url=sighting.photo_url,
        event_id=sighting.event_id,
        point=codes.get(sighting.point_id) if sighting.point_id is not None else None,
        outcome=sighting.outcome,
        violation=brief,
        replay=replay,
    )


async def point_codes(session: Any) -> dict[int, str]:
    """Vending point codes by id."""
    return dict((await session.execute(select(VendingPoint.id, VendingPoint.code))).tuples().all())


@post("/sightings", summary="Report sightings", guards=[requires("street_vendors:patrol")])
async def report_sightings(
    db_session: DbSession,
    state: State,
    settings: PlatformSettings,
    caller: Caller,
    data: JSONBody[SightingIn | list[SightingIn]],
) -> Response[Any]:
    """One sighting, or a list of up to 500 (all recorded or none; a bad item is named ``[i].field``).

    Each gets exactly one outcome; each violation a ladder stage and a case. A ``client_id`` seen
    before answers its first sighting (``replay``: true) and writes nothing; 201 when anything is new.
    """
    items = data if isinstance(data, list) else [data]
    if not items or len(items) > MAX_BATCH:
        raise InputError("sightings", f"expected 1 to {MAX_BATCH} sightings")
    prefixes = [f"[{i}]." for i in range(len(items))] if isinstance(data, list) else [""]
    bus: EventBus = state.events
    done = await record_sightings(
        db_session, bus, [_input(item, caller) for item in items], plugin_settings(state), settings.tz, prefixes
    )
    codes = await point_codes(db_session)
    answers = [sighting_out(r.sighting, r.violation, codes, r.replay) for r in done.recorded]
    try:
        await db_session.commit()
    except IntegrityError:  # another request recorded the same client_id in the meantime
        await db_session.rollback()
        raise InputError("client_id", "is being recorded by another request; send it again", status=409) from None
    bus.after_commit(done.emitted)
    status = 201 if any(not r.replay for r in done.recorded) else 200
    return Response(answers if isinstance(data, list) else answers[0], status_code=status)


@get("/sightings", summary="List sightings", guards=[requires("street_vendors:read")])
async def list_sightings(
    db_session: DbSession,
    caller: Caller,
    page: Page,
    outcome: FromQuery[str | None] = None,
    vendor_id: FromQuery[int | None] = None,
    source: FromQuery[str | None] = None,
    since: FromQuery[datetime | None] = None,
) -> OffsetPagination[SightingOut]:
    """Sightings, newest first (a grid worker's: of their grids), by outcome, vendor, source, since a time."""
    if outcome is not None and outcome not in OUTCOMES:
        raise InputError("outcome", f"expected one of {', '.join(OUTCOMES)}")
    query = visible_to(
        select(Sighting).order_by(Sighting.observed_at.desc(), Sighting.id.desc()), Sighting.grid_id, caller
    )
    if outcome:
        query = query.where(Sighting.outcome == outcome)
    if vendor_id is not None:
        query = query.where(Sighting.vendor_id == vendor_id)
    if source:
        query = query.where(Sighting.source == source)
    if since is not None:
        query = query.where(Sighting.observed_at >= since)
    codes = await point_codes(db_session)
    result = await paginate(db_session, query, page, lambda sighting: sighting_out(sighting, None, codes))
    if isinstance(result, OffsetPagination) and result.items:  # a JSON page: add each item's violation
        ids = [item.id for item in result.items]
        found = {
            v.sighting_id: v for v in await db_session.scalars(select(Violation).where(Violation.sighting_id.in_(ids)))
        }
        result.items = [
            msgspec.structs.replace(item, violation=_brief(found[item.id])) if item.id in found else item
            for item in result.items
        ]
    return result


@get("/sightings/{sighting_id:int}", summary="One sighting", guards=[requires("street_vendors:read")])
async def get_sighting(db_session: DbSession, caller: Caller, sighting_id: FromPath[int]) -> SightingOut:
    """The sighting with this id, with its violation (404 for a grid worker outside its grid)."""
    sighting = await one_or_404(db_session, Sighting, "sighting", caller=caller, id=sighting_id)
    violation = await db_session.scalar(select(Violation).where(Violation.sighting_id == sighting.id))
    return sighting_out(sighting, violation, await point_codes(db_session))


def _violation_out(violation: Violation) -> ViolationOut:
    return ViolationOut(
        id=violation.id,
        sighting_id=violation.sighting_id,
        vendor_id=violation.vendor_id,
        observed_at=violation.observed_at,
        grid_id=violation.grid_id,
        outcome=violation.outcome,
        stage=violation.stage,
        rank=violation.rank,
        event_id=violation.event_id,
        case_id=violation.case_id,
    )


@get("/violations", summary="List violations", guards=[requires("street_vendors:read")])
async def list_violations(
    db_session: DbSession,
    caller: Caller,
    page: Page,
    stage: FromQuery[str | None] = None,
    outcome: FromQuery[str | None] = None,
    vendor_id: FromQuery[int | None] = None,
    since: FromQuery[datetime | None] = None,
) -> OffsetPagination[ViolationOut]:
    """Violations, newest first (a grid worker's: of their grids), by ladder stage, outcome, vendor, since."""
    if stage is not None and stage not in STAGES:
        raise InputError("stage", f"expected one of {', '.join(STAGES)}")
    if outcome is not None and outcome not in OUTCOMES:
        raise InputError("outcome", f"expected one of {', '.join(OUTCOMES)}")
    query = visible_to(
        select(Violation).order_by(Violation.observed_at.desc(), Violation.id.desc()), Violation.grid_id, caller
    )
    if stage:
        query = query.where(Violation.stage == stage)
    if outcome:
        query = query.where(Violation.outcome == outcome)
    if vendor_id is not None:
        query = query.where(Violation.vendor_id == vendor_id)
    if since is not None:
        query = query.where(Violation.observed_at >= since)
    return await paginate(db_session, query, page, _violation_out)


ROUTES = [report_sightings, list_sightings, get_sighting, list_violations]
