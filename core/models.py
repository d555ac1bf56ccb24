"""The core's own tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class JobRun(Base):
    """One run of a scheduled job: when it was due, when it ran, how it ended and what it reported."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_id_started_at", "job_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(200))
    scheduled_at: Mapped[datetime | None]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))  # running, succeeded, failed
    trigger: Mapped[str] = mapped_column(String(20))  # schedule, manual
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any] | None]


from core.security.models import ApiKey, AuditEntry, User, UserGrid  # noqa: E402  (on the core's metadata)

__all__ = ["ApiKey", "AuditEntry", "JobRun", "User", "UserGrid"]

from core.citybrain import models as _citybrain_models  # noqa: E402,F401  (City Brain tables on the core metadata)
