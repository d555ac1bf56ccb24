"""The core's own tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class JobRun(Base):
    """One run of a scheduled job: when it was due, when it ran, how it ended and what it reported.

    A scheduled tick is recorded once: (job_id, scheduled_at) is unique, so a second scheduler that
    wrongly fires the same tick cannot run it again. Manual runs have no scheduled time.
    """

    __tablename__ = "job_runs"
    __table_args__ = (
        Index("ix_job_runs_job_id_started_at", "job_id", "started_at"),
        Index("uq_job_runs_job_id_scheduled_at", "job_id", "scheduled_at", unique=True),
    )
    __audit__ = False

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(200))
    scheduled_at: Mapped[datetime | None]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))  # running, succeeded, failed
    trigger: Mapped[str] = mapped_column(String(20))  # schedule, manual, cli
    runner: Mapped[str | None] = mapped_column(String(120))  # which process ran it
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any] | None]


class JobState(Base):
    """Whether a job is paused, shared by every process (the scheduler checks it at each tick)."""

    __tablename__ = "job_states"

    job_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    paused: Mapped[bool] = mapped_column(default=False)
    changed_by: Mapped[str | None] = mapped_column(String(160))
    changed_at: Mapped[datetime | None]


class SchedulerLease(Base):
    """The lease that makes one process the active scheduler: held by ``holder`` until ``expires_at``."""

    __tablename__ = "scheduler_lease"
    __audit__ = False

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime]


from core.security.models import ApiKey, AuditEntry, User, UserGrid  # noqa: E402  (on the core's metadata)

__all__ = ["ApiKey", "AuditEntry", "JobRun", "JobState", "SchedulerLease", "User", "UserGrid"]

from core.areas import models as _area_models  # noqa: E402,F401  (streets, communities, grids on the core metadata)
from core.cases import models as _case_models  # noqa: E402,F401
from core.citybrain import models as _citybrain_models  # noqa: E402,F401  (City Brain tables on the core metadata)
from core.events import EventRecord  # noqa: E402,F401  (the spine's tables on the core metadata)
from core.idempotency import IdempotencyRecord  # noqa: E402,F401
