"""Tables of the areas: streets (街道) > communities (社区) > grids (网格).

Coordinates are WGS84, GeoJSON order ``[lon, lat]``. A grid keeps its polygon as a GeoJSON
geometry (Polygon or MultiPolygon) and its bounding box in four columns for cheap prefiltering
in SQL. Grid ids are the integers that ``user_grids.grid_id`` and the records' ``grid_id`` columns
hold. ``area_revision`` counts the changes to grids and communities, so every process can tell
cheaply whether its point-to-grid index is still current.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow

CODE_LENGTH = 64
NAME_LENGTH = 100


class Street(Base):
    """A street (街道), the top of the area tree; its outline is optional."""

    __tablename__ = "streets"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    geometry: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Community(Base):
    """A community (社区) of a street; its outline is optional."""

    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    street_id: Mapped[int] = mapped_column(ForeignKey("streets.id", ondelete="RESTRICT"), index=True)
    geometry: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    street: Mapped[Street] = relationship(lazy="joined", innerjoin=True)


class Grid(Base):
    """A grid (网格) of a community: a WGS84 Polygon or MultiPolygon, its bounding box and area."""

    __tablename__ = "grids"
    __table_args__ = (Index("ix_grids_bbox", "min_lon", "max_lon", "min_lat", "max_lat"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="RESTRICT"), index=True)
    geometry: Mapped[dict[str, Any]]
    min_lon: Mapped[float]
    min_lat: Mapped[float]
    max_lon: Mapped[float]
    max_lat: Mapped[float]
    area_m2: Mapped[float]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    community: Mapped[Community] = relationship(lazy="joined", innerjoin=True)  # and its street, joined too


class AreaRevision(Base):
    """One row counting the writes to the area tree; every process compares it with its index's."""

    __tablename__ = "area_revision"
    __audit__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    revision: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
