"""video_net tables: cameras, their status history, alerts, incidents (deduplicated alerts),
suppression windows and snapshots."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow
from core.security.pii import PersonalData

CAMERA_STATUSES = ("online", "offline", "unknown")
CAMERA_TYPES = ("bullet", "dome", "ptz", "panoramic", "other")
INCIDENT_STATUSES = ("open", "closed", "false_positive")
ALERT_OUTCOMES = ("new_incident", "merged", "below_threshold", "suppressed", "camera_disabled")


class StreamSecret(PersonalData):
    """A stream URL (credentials inside): encrypted at rest with the platform key ring like personal
    data (so ``streetbrain pii rotate`` re-encrypts it and the audit log redacts it), no search hash."""

    impl = String(1200)
    cache_ok = True

    def __init__(self) -> None:
        super().__init__("name")


class Camera(Base):
    """One camera of any owner, identified by its GB/T 28181 20-digit device id."""

    __tablename__ = "video_net_cameras"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(100), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    grid_id: Mapped[int | None] = mapped_column(index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(10), default="unknown")
    last_heartbeat_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    camera_type: Mapped[str] = mapped_column(String(20), default="other", server_default="other")
    tags: Mapped[list[str]] = mapped_column(default=list, server_default="[]")
    is_key: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    """A key camera (重点点位): offline for longer than the settings allow becomes a case."""
    stream_url: Mapped[str | None] = mapped_column(StreamSecret())
    status_since: Mapped[datetime | None]
    """When the current status began (the start of an outage while offline)."""
    outage_reported: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    """Whether the current outage of a key camera has become a case already."""


class StatusChange(Base):
    """A camera going online or offline, at the time it happened: the history behind the online rate."""

    __tablename__ = "video_net_status_changes"
    __audit__ = False

    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("video_net_cameras.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10))
    changed_at: Mapped[datetime]

    __table_args__ = (Index("ix_video_net_status_changes_camera_time", "camera_id", "changed_at"),)


class Snapshot(Base):
    """An image stored once under the data dir by the SHA-256 of its content."""

    __tablename__ = "video_net_snapshots"
    __audit__ = False

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    source_url: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Incident(Base):
    """Alerts of one camera and type that came within the type's cooldown of each other (a review item)."""

    __tablename__ = "video_net_incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("video_net_cameras.id", ondelete="CASCADE"))
    alert_type: Mapped[str] = mapped_column(String(40))
    grid_id: Mapped[int | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(20), default="open")
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    alert_count: Mapped[int] = mapped_column(Integer, default=1)
    best_confidence: Mapped[float] = mapped_column(Float)
    best_snapshot: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(10))
    event_id: Mapped[int | None]
    case_id: Mapped[int | None]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    camera: Mapped[Camera] = relationship(lazy="joined", innerjoin=True)

    __audit_ignore__ = frozenset({"last_seen_at", "first_seen_at", "alert_count", "best_confidence", "best_snapshot"})
    __table_args__ = (Index("ix_video_net_incidents_dedup", "camera_id", "alert_type", "status", "last_seen_at"),)


class Alert(Base):
    """One alert as a camera's analytics sent it, idempotent by (camera, the sender's alert id)."""

    __tablename__ = "video_net_alerts"
    __audit__ = False  # device traffic; the incidents it makes are audited

    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("video_net_cameras.id", ondelete="CASCADE"))
    alert_id: Mapped[str] = mapped_column(String(100))
    alert_type: Mapped[str] = mapped_column(String(40))
    confidence: Mapped[float] = mapped_column(Float)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(20))
    incident_id: Mapped[int | None] = mapped_column(index=True)
    snapshot: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    camera: Mapped[Camera] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (UniqueConstraint("camera_id", "alert_id", name="uq_video_net_alerts_sender_id"),)


class Suppression(Base):
    """A window in which alerts of a camera (or every camera) and a type (or every type) make no incident."""

    __tablename__ = "video_net_suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("video_net_cameras.id", ondelete="CASCADE"))
    alert_type: Mapped[str | None] = mapped_column(String(40))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    camera: Mapped[Camera | None] = relationship(lazy="joined")
