"""Request and response shapes of the waste_sorting API (msgspec Structs)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from plugins.waste_sorting.models import CATEGORIES

ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local time, HH:MM")]


class CollectionPointIn(msgspec.Struct, forbid_unknown_fields=True):
    """A collection point to open. The deposit window is within one day: it opens before it closes."""

    code: Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]+(-[A-Z0-9]+)*$", max_length=32, examples=["NW-CP-001"])]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    community: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180, description="WGS84")]
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90, description="WGS84")]
    categories: Annotated[list[str], msgspec.Meta(min_length=1, description=f"Some of {', '.join(CATEGORIES)}")]
    deposit_opens: ClockTime
    deposit_closes: ClockTime
    active: bool = True
    evening_opens: ClockTime | None = None
    evening_closes: ClockTime | None = None

    def __post_init__(self) -> None:
        self.categories = list(dict.fromkeys(self.categories))  # each category once, in the order given

    def problems(self) -> list[dict[str, Any]]:
        """What msgspec cannot check on its own: known categories, and a window that opens before it closes."""
        found = []
        unknown = [category for category in self.categories if category not in CATEGORIES]
        if unknown:
            found.append(
                {"key": "categories", "source": "body", "message": f"unknown {unknown}; expected some of {CATEGORIES}"}
            )
        if self.deposit_opens >= self.deposit_closes:  # zero-padded HH:MM strings sort like the times they name
            found.append(
                {
                    "key": "deposit_closes",
                    "source": "body",
                    "message": f"{self.deposit_closes} is not after deposit_opens {self.deposit_opens}",
                }
            )
        if (self.evening_opens is None) != (self.evening_closes is None):
            missing = "evening_closes" if self.evening_closes is None else "evening_opens"
            found.append({"key": missing, "source": "body", "message": "give both evening_opens and evening_closes"})
        elif self.evening_opens is not None and self.evening_closes is not None:
            if self.evening_opens >= self.evening_closes:
                found.append({"key": "evening_closes", "source": "body", "message": "is not after evening_opens"})
            elif self.evening_opens < self.deposit_closes:
                found.append({"key": "evening_opens", "source": "body", "message": "overlaps the first window"})
        return found


class CollectionPointOut(msgspec.Struct):
    """A collection point as the API shows it."""

    code: str
    name: str
    community: str
    lon: float
    lat: float
    categories: list[str]
    deposit_opens: str
    deposit_closes: str
    active: bool
    created_at: datetime
    evening_opens: str | None
    evening_closes: str | None
    grid_id: int | None
    community_id: int | None


# -- households ------------------------------------------------------------------------------------

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
QrCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{2,64}$", description="The household's QR code")]


class HouseholdIn(msgspec.Struct, forbid_unknown_fields=True):
    """A household to register. Its place comes from ``grid`` (a grid code), else ``lon``/``lat``, else
    ``community`` (a community code or name); ``point`` is the code of its own collection point."""

    qr_code: QrCode
    community: Name | None = None
    grid: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    point: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    building: Short | None = None
    unit: Short | None = None
    room: Short | None = None
    residents: Annotated[int, msgspec.Meta(ge=1, le=50)] = 1
    contact_name: Name | None = None
    contact_phone: str | None = None
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    active: bool = True


class HouseholdPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a household: a move (``grid`` or ``community``), residents, contact, active."""

    community: Name | None = None
    grid: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    point: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    residents: Annotated[int, msgspec.Meta(ge=1, le=50)] | None = None
    contact_name: Name | None = None
    contact_phone: str | None = None
    active: bool | None = None


class HouseholdOut(msgspec.Struct):
    """A household as the API shows it (contact masked without ``pii:read``)."""

    id: int
    qr_code: str
    community: str
    community_id: int | None
    grid_id: int | None
    point_id: int | None
    building: str | None
    unit: str | None
    room: str | None
    residents: int
    contact_name: str | None
    contact_phone: str | None
    active: bool
    source: str


# -- deposits, inspections, bins ---------------------------------------------------------------------


class DepositIn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One deposit from a smart bin: the household's QR code, the bin (or the point), category, weight, time.

    ``gc=False``: its fields are strings, numbers and times, which cannot form a reference cycle, so
    the garbage collector need not track the 10,000 of a batch (it spent more time on them than
    the checks did).
    """

    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="The device's own event id")]
    qr_code: str
    category: str
    weight_kg: Annotated[float, msgspec.Meta(gt=0, le=500)]
    deposited_at: datetime
    bin: str | None = None
    point: str | None = None


class DepositBatch(msgspec.Struct):
    """The body of ``POST /deposits``: ``records`` is a list of :class:`DepositIn`."""

    records: list[msgspec.Raw]


class DepositRecords(msgspec.Struct):
    """The body of ``POST /deposits`` when every record is well-formed: decoded in one pass."""

    records: list[DepositIn]


class RejectedRecord(msgspec.Struct):
    """A record of a batch that was not stored: its index in ``records``, the field and why."""

    index: int
    field: str
    reason: str
    event_id: str | None = None


class BatchAnswer(msgspec.Struct):
    """What became of a batch: stored, already stored before (replays), rejected with reasons."""

    received: int
    inserted: int
    replayed: int
    rejected: list[RejectedRecord]
    replay: bool
    """True when the batch inserted nothing because every good record was stored before."""


class InspectionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A supervisor's verdict on a deposit (named by the device's event id)."""

    deposit_event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    correct: bool
    wrong_category: str | None = None
    photo_url: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class InspectionOut(msgspec.Struct):
    """A stored inspection."""

    id: int
    deposit_id: int
    correct: bool
    wrong_category: str | None
    photo_url: str | None
    inspector: str
    inspected_at: datetime


class BinIn(msgspec.Struct, forbid_unknown_fields=True):
    """A bin to place at a collection point."""

    code: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9-]{1,40}$")]
    point: Annotated[str, msgspec.Meta(max_length=32)]
    category: str
    capacity_litres: Annotated[float, msgspec.Meta(gt=0, le=100_000)] = 240.0


class BinOut(msgspec.Struct):
    """A bin and its last fill level."""

    id: int
    code: str
    point_id: int
    category: str
    capacity_litres: float
    fill_percent: float | None
    fill_measured_at: datetime | None
    active: bool


class BinReadingIn(msgspec.Struct, forbid_unknown_fields=True):
    """A fill-level reading, idempotent by ``reading_id``."""

    reading_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    bin: str
    fill_percent: Annotated[float, msgspec.Meta(ge=0, le=100)]
    measured_at: datetime
