"""Scheduled jobs: APScheduler 3 ``AsyncIOScheduler`` with the plugins' jobs and a run history.

Job ids are ``<plugin>:<job>``; every run (scheduled or manual) is recorded in ``job_runs`` with
its status, error and the summary the job returns. Jobs run at most one instance at a time and
coalesce missed runs.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.config import Settings
from core.contracts import JobContext, JobSpec
from core.db import Database, utcnow
from core.logs import get_logger
from core.models import JobRun

log = get_logger(__name__)


@dataclass(frozen=True)
class ScheduledJob:
    """A plugin's job as the scheduler knows it."""

    id: str
    plugin: str
    spec: JobSpec
    plugin_settings: Any


def make_trigger(spec: JobSpec, settings: Settings) -> BaseTrigger:
    """The APScheduler trigger of a job spec, in the configured time zone."""
    if spec.trigger == "cron":
        return CronTrigger(timezone=settings.tz, **spec.schedule)
    return IntervalTrigger(timezone=settings.tz, **spec.schedule)


class JobScheduler:
    """Holds the platform's jobs, runs them on schedule or on demand, and records every run."""

    def __init__(self, database: Database, settings: Settings) -> None:
        """Create an unstarted scheduler in the settings' time zone."""
        self.database = database
        self.settings = settings
        self.jobs: dict[str, ScheduledJob] = {}
        self.scheduler = AsyncIOScheduler(
            timezone=settings.tz,
            job_defaults={"max_instances": 1, "coalesce": True},
        )

    def add_plugin_jobs(self, plugins: Iterable[Any]) -> None:
        """Add the jobs of loaded plugin records (``record.jobs``), each as ``<plugin>:<job>``."""
        for record in plugins:
            self.add_jobs(record.name, record.jobs, record.settings)

    def add_jobs(self, owner: str, specs: Iterable[JobSpec], owner_settings: Any = None) -> None:
        """Add jobs of ``owner`` (a plugin, or ``core``) as ``<owner>:<job>``; they get ``owner_settings``."""
        for spec in specs:
            job_id = f"{owner}:{spec.id}"
            self.jobs[job_id] = ScheduledJob(job_id, owner, spec, owner_settings)
            self.scheduler.add_job(
                self.run,
                trigger=make_trigger(spec, self.settings),
                args=[job_id],
                id=job_id,
                name=spec.description,
                misfire_grace_time=spec.misfire_grace_seconds,
                replace_existing=True,
            )

    def start(self) -> None:
        """Start running jobs on schedule (inside the running event loop)."""
        self.scheduler.start()
        log.info("scheduler_started", jobs=sorted(self.jobs), timezone=self.settings.timezone)

    def shutdown(self) -> None:
        """Stop scheduling; a job that is running finishes on its own."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def next_run_time(self, job_id: str) -> datetime | None:
        """When the job runs next (None when the scheduler is stopped or the job paused)."""
        job = self.scheduler.get_job(job_id)
        return getattr(job, "next_run_time", None) if job else None

    async def run(self, job_id: str, trigger: str = "schedule") -> JobRun:
        """Run one job now and record the run; the job's errors are recorded, not raised."""
        job = self.jobs[job_id]
        async with self.database.session() as session:
            run = JobRun(job_id=job_id, started_at=utcnow(), status="running", trigger=trigger)
            session.add(run)
        context = JobContext(job_id, self.database, self.settings, job.plugin_settings, log.bind(job=job_id))
        summary: Mapping[str, Any] | None = None
        error: str | None = None
        try:
            summary = await job.spec.func(context)
        except Exception as exc:
            error = "".join(traceback.format_exception_only(exc)).strip()
            log.exception("job_failed", job=job_id)
        async with self.database.session() as session:
            run.finished_at = utcnow()
            run.status = "failed" if error else "succeeded"
            run.error = error
            run.summary = dict(summary) if summary else None
            await session.merge(run)
        log.info("job_finished", job=job_id, status=run.status, summary=run.summary)
        return run
