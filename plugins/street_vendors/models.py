"""street_vendors tables: vending points, vendors, permits, sightings, violations, market licences, suggestions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONDocument, utcnow
from core.security.pii import PersonalData

CATEGORIES = ("food", "produce", "goods", "services")
"""What a vendor sells: cooked food (小吃), fruit and vegetables (果蔬), small goods (百货), services (修补等)."""

SOURCES = ("patrol", "camera", "citizen", "citybrain")
"""Who saw a vendor: a grid worker on patrol, a camera alert, a citizen report, City Brain."""


class VendingPoint(Base):
    """A designated vending point (便民疏导点): where, for how many stalls, what and when vendors may sell.

    ``polygon`` is a GeoJSON Polygon (WGS84); when it is null (points designated before polygons
    existed) the point covers a square around ``lon``/``lat`` (see :mod:`plugins.street_vendors.places`).
    ``windows`` lists weekly windows ``{"days": [1..7], "opens": "HH:MM", "closes": "HH:MM"}`` (ISO
    weekdays, Monday 1); when null, ``opens``/``closes`` hold every day. A window may cross midnight.
    """

    __tablename__ = "street_vendors_vending_points"
    __table_args__ = (CheckConstraint("capacity > 0", name="capacity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int]
    categories: Mapped[list[str]]
    lon: Mapped[float]
    lat: Mapped[float]
    opens: Mapped[str] = mapped_column(String(5))
    closes: Mapped[str] = mapped_column(String(5))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    polygon: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument(), nullable=True)
    windows: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument(), nullable=True)


VENDOR_STATUSES = ("active", "inactive")


class Vendor(Base):
    """A street vendor (摊贩). Name, phone and ID-card number are personal data: encrypted at rest,
    searchable by exact match through their keyed hashes, masked for roles without ``pii:read``."""

    __tablename__ = "street_vendors_vendors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(PersonalData("name"))
    phone: Mapped[str | None] = mapped_column(PersonalData("phone", hash_column="phone_hash"))
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    id_number: Mapped[str | None] = mapped_column(PersonalData("id_number", hash_column="id_number_hash"))
    id_number_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(20))
    licence_number: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


PERMIT_STATUSES = ("active", "revoked")


class Permit(Base):
    """A vendor's permit for one vending point, valid on the local days ``valid_from`` to ``valid_to``
    (both included, Asia/Shanghai). The day that counts is the day the point's window opened."""

    __tablename__ = "street_vendors_permits"
    __table_args__ = (CheckConstraint("valid_from <= valid_to", name="period_in_order"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("street_vendors_vendors.id"), index=True)
    point_id: Mapped[int] = mapped_column(ForeignKey("street_vendors_vending_points.id"), index=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="active")
    reminded_for: Mapped[date | None] = mapped_column(Date)
    """The ``valid_to`` a reminder was sent for (a renewed permit gets a new reminder)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


OUTCOMES = (
    "outside_point",
    "outside_hours",
    "category_not_allowed",
    "unlicensed",
    "no_permit",
    "over_capacity",
    "allowed",
)
"""Every sighting gets exactly one, the first that applies in this order (see rules.py and the README)."""


class Sighting(Base):
    """A vendor seen somewhere at some time, with the one rule outcome it was given.

    ``client_id`` is the sender's id of the sighting (a camera sighting's is ``event:<event id>``):
    sending it again changes nothing.
    """

    __tablename__ = "street_vendors_sightings"
    __table_args__ = (Index("ix_street_vendors_sightings_point_time", "point_id", "observed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(100), unique=True)
    observed_at: Mapped[datetime] = mapped_column(index=True)
    lon: Mapped[float]
    lat: Mapped[float]
    grid_id: Mapped[int | None] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(String(20))
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("street_vendors_vendors.id"), index=True)
    category: Mapped[str | None] = mapped_column(String(20))
    photo_url: Mapped[str | None] = mapped_column(String(500))
    event_id: Mapped[int | None] = mapped_column(index=True)
    """The event the sighting came from (a camera alert), if any."""
    point_id: Mapped[int | None] = mapped_column(ForeignKey("street_vendors_vending_points.id"))
    outcome: Mapped[str] = mapped_column(String(30))
    reported_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


STAGES = ("educate", "warn", "penalise", "unidentified")
"""The ladder (教育 → 警告 → 处罚) for an identified vendor; ``unidentified`` when nobody is known."""


class Violation(Base):
    """A sighting whose outcome is not ``allowed``: its ladder stage and the event/case it became."""

    __tablename__ = "street_vendors_violations"

    id: Mapped[int] = mapped_column(primary_key=True)
    sighting_id: Mapped[int] = mapped_column(ForeignKey("street_vendors_sightings.id"), unique=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("street_vendors_vendors.id"), index=True)
    observed_at: Mapped[datetime] = mapped_column(index=True)
    grid_id: Mapped[int | None] = mapped_column(index=True)
    outcome: Mapped[str] = mapped_column(String(30))
    stage: Mapped[str] = mapped_column(String(20))
    rank: Mapped[int | None]
    """The vendor's n-th violation in the ladder window (None when unidentified)."""
    event_id: Mapped[int | None]
    case_id: Mapped[int | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MarketLicence(Base):
    """A business licence (营业执照) from City Brain's ``market_licenses`` dataset; the holder is personal data."""

    __tablename__ = "street_vendors_market_licences"

    id: Mapped[int] = mapped_column(primary_key=True)
    licence_number: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    holder: Mapped[str | None] = mapped_column(PersonalData("name"))
    category: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(300))
    issued_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    lon: Mapped[float | None]
    lat: Mapped[float | None]
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)


class Suggestion(Base):
    """A suggested new vending point as the nightly job found it on ``computed_on`` (one row per rank)."""

    __tablename__ = "street_vendors_suggestions"
    __table_args__ = (Index("ix_street_vendors_suggestions_day_rank", "computed_on", "rank", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    computed_on: Mapped[date] = mapped_column(Date)
    rank: Mapped[int]
    cell: Mapped[str] = mapped_column(String(40))
    lon: Mapped[float]
    lat: Mapped[float]
    grid_id: Mapped[int | None]
    days: Mapped[int]
    sightings: Mapped[int]
    opens: Mapped[str] = mapped_column(String(5))
    closes: Mapped[str] = mapped_column(String(5))
    categories: Mapped[list[str]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
