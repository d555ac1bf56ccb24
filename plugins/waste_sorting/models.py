"""waste_sorting tables: the collection points (households, bins, deposits and inspections come with the scenario)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

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
