"""City Brain tables: per-dataset sync state and run history, quarantined records, and the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

OUTBOX_STATUSES = ("pending", "delivered", "dead")
"""``pending`` waits for (another) delivery attempt; ``dead`` needs an operator (refused, or too many attempts)."""


class SyncState(Base):
    """Where the sync of one dataset stands: its watermark (``updated_since``) and the cursor of a run in progress.

    The cursor and the high-water mark are stored in the same transaction as each page's rows, so a
    run that dies resumes after the last page it stored.
    """

    __tablename__ = "citybrain_sync_state"

    dataset: Mapped[str] = mapped_column(String(100), primary_key=True)
    updated_since: Mapped[datetime | None]
    cursor: Mapped[str | None] = mapped_column(Text)
    high_water: Mapped[datetime | None]
    last_run_id: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncRun(Base):
    """One run of a dataset's sync, with its counts."""

    __tablename__ = "citybrain_sync_runs"
    __table_args__ = (Index("ix_citybrain_sync_runs_dataset_started_at", "dataset", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset: Mapped[str] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(String(20))  # schedule, cli, manual
    status: Mapped[str] = mapped_column(String(20))  # running, succeeded, failed, interrupted
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    updated_since: Mapped[datetime | None]
    resumed_cursor: Mapped[str | None] = mapped_column(Text)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    upserted: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class QuarantinedRecord(Base):
    """A record City Brain sent that could not be stored, with the reason; one row per distinct record."""

    __tablename__ = "citybrain_quarantine"
    __table_args__ = (
        UniqueConstraint("dataset", "record_hash"),
        Index("ix_citybrain_quarantine_dataset_last_seen_at", "dataset", "last_seen_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset: Mapped[str] = mapped_column(String(100))
    record_key: Mapped[str | None] = mapped_column(String(200))
    record_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    record: Mapped[dict[str, Any]]
    run_id: Mapped[int | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_count: Mapped[int] = mapped_column(Integer, default=1)


class OutboxItem(Base):
    """Something to push up to City Brain, written in the same transaction as the data it describes.

    ``idempotency_key`` is sent with every attempt, so City Brain stores it once however often it is sent.
    """

    __tablename__ = "citybrain_outbox"
    __table_args__ = (Index("ix_citybrain_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # event, metric
    path: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
