"""street_vendors tables: designated vending points and vendors (permits and sightings come with the scenario)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow
from core.security.pii import PersonalData

CATEGORIES = ("food", "produce", "goods", "services")
"""What a vendor sells: cooked food (小吃), fruit and vegetables (果蔬), small goods (百货), services (修补等)."""


class VendingPoint(Base):
    """A designated vending point (便民疏导点): where, for how many stalls, what and when vendors may sell.

    ``opens``/``closes`` are local "HH:MM", the same every day; a window may run past midnight (21:00-02:00).
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
