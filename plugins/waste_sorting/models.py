"""waste_sorting tables: points and bins, households, deposits and inspections, points ledger, rollups.

Records name the core's areas by id (``grid_id``, ``community_id``: see docs/areas.md) and keep
a readable ``community`` name beside them. Deposits copy their household's community and grid at
the time of the deposit, so a household that moves does not rewrite history.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow
from core.security.pii import PersonalData

CATEGORIES = ("recyclable", "hazardous", "perishable", "other")
"""Hangzhou's four categories: 可回收物, 有害垃圾, 易腐垃圾, 其他垃圾."""


class CollectionPoint(Base):
    """A place where households bring their sorted waste at set times (定时定点投放)."""

    __tablename__ = "waste_sorting_collection_points"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    community: Mapped[str] = mapped_column(String(100), index=True)
    lon: Mapped[float]
    lat: Mapped[float]
    categories: Mapped[list[str]]
    deposit_opens: Mapped[str] = mapped_column(String(5))
    deposit_closes: Mapped[str] = mapped_column(String(5))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    grid_id: Mapped[int | None] = mapped_column(index=True)
    community_id: Mapped[int | None] = mapped_column(index=True)
    evening_opens: Mapped[str | None] = mapped_column(String(5))
    """A second daily window (e.g. 18:00-20:00), optional."""
    evening_closes: Mapped[str | None] = mapped_column(String(5))


class Bin(Base):
    """A (smart) bin of one category at a collection point, with its capacity and last fill level."""

    __tablename__ = "waste_sorting_bins"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    point_id: Mapped[int] = mapped_column(ForeignKey("waste_sorting_collection_points.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))
    capacity_litres: Mapped[float] = mapped_column(Float)
    fill_percent: Mapped[float | None] = mapped_column(Float)
    fill_measured_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Household(Base):
    """A registered household (一户一码: one QR code each); the contact is personal data."""

    __tablename__ = "waste_sorting_households"
    # Each grouping column with ``active``: counting the active households per group reads the
    # index alone (bench/waste_stats.py: 14 -> 3.4 ms per query for 100k households).
    __table_args__ = (
        Index("ix_waste_sorting_households_community_active", "community_id", "active"),
        Index("ix_waste_sorting_households_grid_active", "grid_id", "active"),
        Index("ix_waste_sorting_households_point_active", "point_id", "active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    qr_code: Mapped[str] = mapped_column(String(64), unique=True)
    community: Mapped[str] = mapped_column(String(100))
    community_id: Mapped[int | None] = mapped_column()
    grid_id: Mapped[int | None] = mapped_column()
    point_id: Mapped[int | None] = mapped_column()
    """The household's own collection point (its building's), if assigned."""
    building: Mapped[str | None] = mapped_column(String(20))
    unit: Mapped[str | None] = mapped_column(String(20))
    room: Mapped[str | None] = mapped_column(String(20))
    residents: Mapped[int] = mapped_column(Integer, default=1)
    contact_name: Mapped[str | None] = mapped_column(PersonalData("name"))
    contact_phone: Mapped[str | None] = mapped_column(PersonalData("phone", hash_column="contact_phone_hash"))
    contact_phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(20), default="manual")
    """Where the row came from: manual, import or citybrain."""
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    """City Brain's id of the household (dataset ``households``)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Deposit(Base):
    """One deposit reported by a smart bin (idempotent by the device's ``event_id``).

    ``local_day`` is the Asia/Shanghai day of ``deposited_at``; ``community_id``/``grid_id`` are the
    household's at that time; ``in_window`` whether it fell inside the point's deposit windows;
    ``inspected_correct`` is the supervisor's verdict once inspected (None before).
    """

    __tablename__ = "waste_sorting_deposits"
    __audit__ = False  # device data in bulk; the batch answer and the event id are the record
    __table_args__ = (
        Index("ix_waste_sorting_deposits_day_community", "local_day", "community_id"),
        Index("ix_waste_sorting_deposits_household_day", "household_id", "local_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), unique=True)
    household_id: Mapped[int] = mapped_column(Integer)
    point_id: Mapped[int | None] = mapped_column(Integer)
    bin_id: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(20))
    weight_kg: Mapped[float] = mapped_column(Float)
    deposited_at: Mapped[datetime] = mapped_column(index=True)
    local_day: Mapped[date] = mapped_column(Date)
    community_id: Mapped[int | None] = mapped_column(Integer)
    grid_id: Mapped[int | None] = mapped_column(Integer)
    in_window: Mapped[bool | None] = mapped_column(Boolean)
    inspected_correct: Mapped[bool | None] = mapped_column(Boolean)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Inspection(Base):
    """A supervisor's (督导员) check of one deposit: correct or not, and the wrong category found."""

    __tablename__ = "waste_sorting_inspections"

    id: Mapped[int] = mapped_column(primary_key=True)
    deposit_id: Mapped[int] = mapped_column(ForeignKey("waste_sorting_deposits.id"), unique=True)
    correct: Mapped[bool] = mapped_column(Boolean)
    wrong_category: Mapped[str | None] = mapped_column(String(20))
    """The category actually found in the bag when it is not the one declared."""
    photo_url: Mapped[str | None] = mapped_column(String(500))
    inspector: Mapped[str] = mapped_column(String(200))
    inspected_at: Mapped[datetime] = mapped_column(default=utcnow)


class PointsEntry(Base):
    """A line of a household's points ledger (积分); one per household, day and reason."""

    __tablename__ = "waste_sorting_points_ledger"
    __table_args__ = (UniqueConstraint("household_id", "day", "reason"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(Integer, index=True)
    day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(40))
    points: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BinReading(Base):
    """A fill-level reading of a bin, idempotent by the device's ``reading_id``."""

    __tablename__ = "waste_sorting_bin_readings"
    __audit__ = False

    id: Mapped[int] = mapped_column(primary_key=True)
    reading_id: Mapped[str] = mapped_column(String(100), unique=True)
    bin_id: Mapped[int] = mapped_column(ForeignKey("waste_sorting_bins.id"), index=True)
    fill_percent: Mapped[float] = mapped_column(Float)
    measured_at: Mapped[datetime]
    event_id: Mapped[int | None] = mapped_column(Integer)
    """The core event raised when the reading was at or above the full threshold."""


class DailyStat(Base):
    """Nightly rollup: additive figures per local day, community, grid and collection point."""

    __tablename__ = "waste_sorting_daily_stats"
    __audit__ = False
    __table_args__ = (UniqueConstraint("day", "community_id", "grid_id", "point_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    community_id: Mapped[int | None] = mapped_column(Integer)
    grid_id: Mapped[int | None] = mapped_column(Integer)
    point_id: Mapped[int | None] = mapped_column(Integer)
    deposits: Mapped[int] = mapped_column(Integer)
    in_window: Mapped[int] = mapped_column(Integer)
    windowed: Mapped[int] = mapped_column(Integer)
    """Deposits at a point with known windows (the denominator of compliance)."""
    inspected: Mapped[int] = mapped_column(Integer)
    correct: Mapped[int] = mapped_column(Integer)
    weight_recyclable: Mapped[float] = mapped_column(Float)
    weight_hazardous: Mapped[float] = mapped_column(Float)
    weight_perishable: Mapped[float] = mapped_column(Float)
    weight_other: Mapped[float] = mapped_column(Float)


class HouseholdMonth(Base):
    """Nightly rollup: the local days of a month on which a household deposited, as a bitmask (bit 0 = day 1)."""

    __tablename__ = "waste_sorting_household_months"
    __audit__ = False
    # On SQLite the rows live in the primary key's B-tree: a month's rows are one ordered range with
    # ``days`` inline, instead of an index range plus a table lookup per row (the warm per-day
    # participation of bench/waste_stats.py: ~92 -> ~44 ms of CPU). PostgreSQL ignores it.
    __table_args__ = {"sqlite_with_rowid": False}

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    household_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    days: Mapped[int] = mapped_column(Integer)


class RollupDay(Base):
    """Which local days the rollup holds; ``dirty`` when data for the day arrived after it was rolled up."""

    __tablename__ = "waste_sorting_rollup_days"
    __audit__ = False

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    dirty: Mapped[bool] = mapped_column(Boolean, default=False)
    rolled_up_at: Mapped[datetime] = mapped_column(default=utcnow)
