"""Camera alerts become sightings: events of the types in ``camera_event_types`` (the video plugin's
street-vendor and road-occupation alerts by default), recorded with source ``camera``.

The video plugin is never imported: its event types are configuration, and its alert's payload is
read defensively (``category``, and ``snapshot_url`` or ``snapshot`` for the photo, when present).
When the alert already became a case (the video plugin's alert types open one by default), a
violation joins that case instead of opening a second one for the same vendor; otherwise (the
alert type's ``create_case`` is off) the violation's own event opens the case.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.db import Database
from core.events import Event, EventBus, EventRecord
from core.logs import get_logger
from plugins.street_vendors.models import CATEGORIES
from plugins.street_vendors.sightings import SightingInput, record_sightings

log = get_logger(__name__)


def camera_sighting(event: Event, case_id: int | None = None) -> SightingInput | None:
    """The sighting of a camera alert, or None when the alert has no place (it cannot be judged)."""
    if event.lon is None or event.lat is None or event.id is None:
        return None
    payload = event.payload or {}
    category = payload.get("category")
    photo = payload.get("snapshot_url") or payload.get("snapshot")
    return SightingInput(
        client_id=f"event:{event.id}",
        observed_at=event.occurred_at,
        lon=event.lon,
        lat=event.lat,
        source="camera",
        reported_by=event.source[:200],
        category=category if category in CATEGORIES else None,
        photo_url=photo[:500] if isinstance(photo, str) else None,
        event_id=event.id,
        grid_id=event.grid_id,
        case_id=case_id,
    )


async def take_camera_alert(event: Event, database: Database, bus: EventBus, settings: Any) -> bool:
    """Record the alert as a camera sighting (idempotent by the event id); whether it was one to take."""
    if event.type not in settings.camera_event_types or event.type.startswith("street_vendors."):
        return False  # never our own violation events: that would loop
    if event.lon is None or event.lat is None or event.id is None:
        log.warning("camera_alert_without_place", event_id=event.id, type=event.type)
        return False
    tz = bus.plugins.settings.tz
    async with database.session() as session:
        case_id = await session.scalar(select(EventRecord.case_id).where(EventRecord.id == event.id))
        item = camera_sighting(event, case_id)
        assert item is not None
        done = await record_sightings(session, bus, [item], settings, tz)
    bus.after_commit(done.emitted)
    return True
