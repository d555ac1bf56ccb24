"""The rule evaluation of a sighting: exactly one outcome, the first of :data:`OUTCOMES` that applies.

At a position and a time (Asia/Shanghai, or the platform's time zone):

1. ``outside_point``: no active vending point's polygon holds the position (an edge counts as inside);
2. ``outside_hours``: no such point is open at that time (see :mod:`plugins.street_vendors.hours`);
3. ``category_not_allowed``: the sighting's category (or else the vendor's) is not allowed there;
4. ``unlicensed``: an identified vendor without a licence number, or whose licence City Brain lists
   as expired on that day (or, with ``require_citybrain_licence``, does not list at all);
5. ``no_permit``: an identified vendor without an active permit for that point whose days hold the
   day the point's current window opened;
6. ``over_capacity``: the vendor is not among the first ``capacity`` distinct vendors admitted to the
   point (outcome allowed or over capacity) in its current window, in order of their first sighting;
   an unidentified vendor comes after all of them;
7. ``allowed``.

When the position is in several points, the outcome is the best over them (``allowed`` best,
``outside_hours`` worst), the point with the lowest code winning a tie.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plugins.street_vendors.hours import is_open_at, window_at
from plugins.street_vendors.models import OUTCOMES, MarketLicence, Permit, Sighting, VendingPoint, Vendor
from plugins.street_vendors.places import covers, shape_of

__all__ = ["OUTCOMES", "RuleBook", "Verdict", "is_open_at"]

ADMITTED = ("allowed", "over_capacity")
"""Outcomes of the sightings that occupy a stall: they count for the point's capacity."""


@dataclass(frozen=True)
class Verdict:
    """A sighting's outcome and the point it was judged at (None outside every point)."""

    outcome: str
    point: VendingPoint | None = None
    window_opened: datetime | None = None
    """The naive local time the point's current window opened."""


def _better(a: Verdict, b: Verdict) -> bool:
    return OUTCOMES.index(a.outcome) > OUTCOMES.index(b.outcome)


class RuleBook:
    """The active vending points with their polygons, loaded once for a request or a batch."""

    def __init__(self, points: list[VendingPoint], tz: ZoneInfo, half_size_m: float, require_licence: bool) -> None:
        """``half_size_m``: the square of a point without a polygon; ``require_licence``: see the settings."""
        self.points = sorted(points, key=lambda p: p.code)
        self.shapes: list[BaseGeometry] = [shape_of(p, half_size_m) for p in self.points]
        self.tz = tz
        self.require_licence = require_licence
        self._permits: dict[tuple[int, int], list[tuple[date, date]]] = {}
        self._permits_read: set[int] = set()
        self._licences: dict[str, date | None] = {}
        self._licences_read: set[str] = set()

    async def prime(self, session: AsyncSession, vendors: Iterable[Vendor]) -> None:
        """Read the active permits and City Brain licences of ``vendors`` in two queries, so judging a
        batch's sightings needs no query for them (permits and licences do not change within a batch)."""
        vendors = list(vendors)
        ids = [v.id for v in vendors]
        numbers = [n for n in ((v.licence_number or "").strip() for v in vendors) if n]
        if ids:
            rows = await session.execute(
                select(Permit.vendor_id, Permit.point_id, Permit.valid_from, Permit.valid_to).where(
                    Permit.vendor_id.in_(ids), Permit.status == "active"
                )
            )
            for vendor_id, point_id, valid_from, valid_to in rows:
                self._permits.setdefault((vendor_id, point_id), []).append((valid_from, valid_to))
            self._permits_read.update(ids)
        if numbers:
            licences = await session.execute(
                select(MarketLicence.licence_number, MarketLicence.expires_on).where(
                    MarketLicence.licence_number.in_(numbers)
                )
            )
            self._licences.update(licences.tuples().all())
            self._licences_read.update(numbers)

    @classmethod
    async def load(cls, session: AsyncSession, tz: ZoneInfo, settings: Any) -> RuleBook:
        """The rule book of the active points in the database (``settings``: the plugin's settings)."""
        points = list(await session.scalars(select(VendingPoint).where(VendingPoint.active.is_(True))))
        return cls(points, tz, settings.default_point_half_size_m, settings.require_citybrain_licence)

    def points_at(self, lon: float, lat: float) -> list[VendingPoint]:
        """The active points whose polygon holds the position, by code."""
        return [p for p, area in zip(self.points, self.shapes, strict=True) if covers(area, lon, lat)]

    def local(self, moment: datetime) -> datetime:
        """``moment`` as a naive local time of the street."""
        return moment.astimezone(self.tz).replace(tzinfo=None)

    async def evaluate(
        self,
        session: AsyncSession,
        observed_at: datetime,
        lon: float,
        lat: float,
        vendor: Vendor | None,
        category: str | None,
    ) -> Verdict:
        """The one outcome of a sighting (see the module docstring); reads permits, licences and sightings."""
        best: Verdict | None = None
        for point in self.points_at(lon, lat):
            verdict = await self._at_point(session, point, observed_at, vendor, category)
            if best is None or _better(verdict, best):
                best = verdict
            if best.outcome == "allowed":
                break
        return best or Verdict("outside_point")

    async def _at_point(
        self,
        session: AsyncSession,
        point: VendingPoint,
        observed_at: datetime,
        vendor: Vendor | None,
        category: str | None,
    ) -> Verdict:
        window = window_at(point, self.local(observed_at))
        if window is None:
            return Verdict("outside_hours", point)
        opened = window[0]
        category = category or (vendor.category if vendor is not None else None)
        if category is not None and category not in point.categories:
            return Verdict("category_not_allowed", point, opened)
        if vendor is not None:
            if not await self.licensed(session, vendor, opened.date()):
                return Verdict("unlicensed", point, opened)
            if not await self.has_permit(session, vendor.id, point.id, opened.date()):
                return Verdict("no_permit", point, opened)
        rank = await admission_rank(session, point.id, opened.replace(tzinfo=self.tz), observed_at, vendor)
        if rank > point.capacity:
            return Verdict("over_capacity", point, opened)
        return Verdict("allowed", point, opened)

    async def licensed(self, session: AsyncSession, vendor: Vendor, day: date) -> bool:
        """Whether the vendor holds a licence on ``day`` (see rule 4)."""
        number = (vendor.licence_number or "").strip()
        if not number:
            return False
        if number not in self._licences_read:
            await self.prime(session, [vendor])
        if number not in self._licences:
            return not self.require_licence
        expires_on = self._licences[number]
        return expires_on is None or expires_on >= day

    async def has_permit(self, session: AsyncSession, vendor_id: int, point_id: int, day: date) -> bool:
        """Whether the vendor has an active permit for the point valid on the local ``day`` (both ends included)."""
        if vendor_id not in self._permits_read:
            return await has_permit(session, vendor_id, point_id, day)
        return any(start <= day <= end for start, end in self._permits.get((vendor_id, point_id), ()))


async def has_permit(session: AsyncSession, vendor_id: int, point_id: int, day: date) -> bool:
    """Whether the vendor has an active permit for the point valid on the local ``day`` (both ends included)."""
    found = await session.scalar(
        select(Permit.id)
        .where(Permit.vendor_id == vendor_id, Permit.point_id == point_id, Permit.status == "active")
        .where(Permit.valid_from <= day, Permit.valid_to >= day)
        .limit(1)
    )
    return found is not None


async def admitted_vendors(session: AsyncSession, point_id: int, since: datetime, until: datetime) -> list[int]:
    """Distinct vendors admitted to the point in ``[since, until]``, in the order of their first sighting."""
    rows = await session.execute(
        select(Sighting.vendor_id)
        .where(Sighting.point_id == point_id, Sighting.outcome.in_(ADMITTED), Sighting.vendor_id.is_not(None))
        .where(Sighting.observed_at >= since, Sighting.observed_at <= until)
        .order_by(Sighting.observed_at, Sighting.id)
    )
    return list(dict.fromkeys(vendor_id for (vendor_id,) in rows))


async def admission_rank(
    session: AsyncSession, point_id: int, opened: datetime, observed_at: datetime, vendor: Vendor | None
) -> int:
    """The vendor's place in the order of vendors admitted to the point since its window opened (1 = first)."""
    admitted = await admitted_vendors(session, point_id, opened, observed_at)
    if vendor is not None and vendor.id in admitted:
        return admitted.index(vendor.id) + 1
    return len(admitted) + 1
