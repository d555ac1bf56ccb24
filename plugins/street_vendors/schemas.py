"""Request and response shapes of the street_vendors API (msgspec Structs)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from plugins.street_vendors.models import CATEGORIES, OUTCOMES, SOURCES

HourMinute = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["21:00"])]
Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]+(-[A-Z0-9]+)*$", max_length=32, examples=["NW-VP-01"])]
Crs = Literal["wgs84", "gcj02"]


class WindowIn(msgspec.Struct, forbid_unknown_fields=True):
    """A weekly window: ISO weekdays (Monday 1 … Sunday 7) it opens on; ``closes`` <= ``opens`` crosses midnight."""

    days: Annotated[list[int], msgspec.Meta(min_length=1, max_length=7)]
    opens: HourMinute
    closes: HourMinute


class VendingPointIn(msgspec.Struct, forbid_unknown_fields=True):
    """A vending point to designate. ``closes`` before ``opens`` means the window crosses midnight.

    ``polygon`` (GeoJSON Polygon, in ``crs``) is the point's area; without it the point covers a square
    around ``lon``/``lat``. ``windows`` (weekly) replace the daily ``opens``-``closes`` when given.
    """

    code: Code
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    capacity: Annotated[int, msgspec.Meta(gt=0, le=1000, description="Stalls at once")]
    categories: Annotated[list[str], msgspec.Meta(min_length=1, description=" | ".join(CATEGORIES))]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    opens: HourMinute
    closes: HourMinute
    active: bool = True
    polygon: dict[str, Any] | None = None
    windows: list[WindowIn] | None = None
    crs: Crs = "wgs84"


class VendingPointPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a vending point; fields left out stay as they are (``windows``: null = daily window)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | UnsetType = UNSET
    capacity: Annotated[int, msgspec.Meta(gt=0, le=1000)] | UnsetType = UNSET
    categories: Annotated[list[str], msgspec.Meta(min_length=1)] | UnsetType = UNSET
    opens: HourMinute | UnsetType = UNSET
    closes: HourMinute | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    polygon: dict[str, Any] | UnsetType | None = UNSET
    windows: list[WindowIn] | UnsetType | None = UNSET
    crs: Crs = "wgs84"


class VendingPointOut(msgspec.Struct):
    """A vending point as the API shows it; ``polygon`` is the derived square when none was given."""

    code: str
    name: str
    capacity: int
    categories: list[str]
    lon: float
    lat: float
    opens: str
    closes: str
    active: bool
    created_at: datetime
    polygon: dict[str, Any]
    polygon_derived: bool
    windows: list[dict[str, Any]] | None


class VendorIn(msgspec.Struct, forbid_unknown_fields=True):
    """A vendor to register; ``phone`` is a mainland mobile number, ``id_number`` an 18-character ID."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    category: Annotated[str, msgspec.Meta(description=" | ".join(CATEGORIES))]
    phone: str | None = None
    id_number: str | None = None
    licence_number: Annotated[str, msgspec.Meta(max_length=50)] | None = None


class VendorPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a vendor; fields left out stay as they are."""

    phone: str | UnsetType | None = UNSET
    category: str | UnsetType = UNSET
    licence_number: Annotated[str, msgspec.Meta(max_length=50)] | UnsetType | None = UNSET
    status: Literal["active", "inactive"] | UnsetType = UNSET


class VendorOut(msgspec.Struct):
    """A vendor; personal data is masked for callers without ``pii:read``."""

    id: int
    name: str | None
    phone: str | None
    id_number: str | None
    category: str
    licence_number: str | None
    status: str
    created_at: datetime


class PermitIn(msgspec.Struct, forbid_unknown_fields=True):
    """A permit: the vendor may trade at the point on the local days ``valid_from`` to ``valid_to`` (both included)."""

    vendor_id: int
    point: Code
    valid_from: date
    valid_to: date


class PermitPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Extend or shorten a permit, or revoke it."""

    valid_to: date | UnsetType = UNSET
    status: Literal["active", "revoked"] | UnsetType = UNSET


class PermitOut(msgspec.Struct):
    """A permit."""

    id: int
    vendor_id: int
    point: str
    valid_from: date
    valid_to: date
    status: str
    created_at: datetime


class SightingIn(msgspec.Struct, forbid_unknown_fields=True):
    """A vendor seen: ``client_id`` is the sender's id of it (sending it again changes nothing).

    ``lon``/``lat`` are WGS84 unless ``crs`` is ``gcj02`` (Amap and other Chinese maps).
    """

    client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    observed_at: datetime
    lon: float
    lat: float
    crs: Crs = "wgs84"
    source: Annotated[str, msgspec.Meta(description=" | ".join(SOURCES))] = "patrol"
    vendor_id: int | None = None
    category: Annotated[str, msgspec.Meta(description=" | ".join(CATEGORIES))] | None = None
    photo_url: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class ViolationBrief(msgspec.Struct):
    """The violation a sighting became: ladder stage, the vendor's n-th in the window, its case."""

    id: int
    stage: str
    rank: int | None
    event_id: int | None
    case_id: int | None


class SightingOut(msgspec.Struct):
    """A recorded sighting with its one outcome; ``replay`` when its ``client_id`` was known already."""

    id: int
    client_id: str
    observed_at: datetime
    lon: float
    lat: float
    grid_id: int | None
    source: str
    vendor_id: int | None
    category: str | None
    photo_url: str | None
    event_id: int | None
    point: str | None
    outcome: Annotated[str, msgspec.Meta(description=" | ".join(OUTCOMES))]
    violation: ViolationBrief | None
    replay: bool = False


class ViolationOut(msgspec.Struct):
    """A violation: its sighting, outcome, ladder stage and case."""

    id: int
    sighting_id: int
    vendor_id: int | None
    observed_at: datetime
    grid_id: int | None
    outcome: str
    stage: str
    rank: int | None
    event_id: int | None
    case_id: int | None
