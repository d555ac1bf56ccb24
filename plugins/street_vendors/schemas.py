"""Request and response shapes of the street_vendors API (msgspec Structs)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from plugins.street_vendors.models import CATEGORIES

HourMinute = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["21:00"])]


class VendingPointIn(msgspec.Struct, forbid_unknown_fields=True):
    """A vending point to designate. ``closes`` before ``opens`` means the window crosses midnight."""

    code: Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]+(-[A-Z0-9]+)*$", max_length=32, examples=["NW-VP-01"])]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    capacity: Annotated[int, msgspec.Meta(gt=0, le=1000, description="Stalls at once")]
    categories: Annotated[list[str], msgspec.Meta(min_length=1, description=" | ".join(CATEGORIES))]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    opens: HourMinute
    closes: HourMinute
    active: bool = True


class VendingPointOut(msgspec.Struct):
    """A vending point as the API shows it."""

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


class VendorIn(msgspec.Struct, forbid_unknown_fields=True):
    """A vendor to register; ``phone`` is a mainland mobile number, ``id_number`` an 18-character ID."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    category: Annotated[str, msgspec.Meta(description=" | ".join(CATEGORIES))]
    phone: str | None = None
    id_number: str | None = None
    licence_number: Annotated[str, msgspec.Meta(max_length=50)] | None = None


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
