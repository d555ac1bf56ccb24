"""Scheduled jobs: APScheduler 3 ``AsyncIOScheduler`` with the core's and the plugins' jobs.

Job ids are ``<owner>:<job>``. Every run (scheduled, manual or from the CLI) is recorded in
``job_runs`` with its scheduled time, start, end, status, error, the summary the job returns and
the process that ran it. Jobs run at most one instance at a time, coalesce missed ticks and run
a missed tick only within their misfire grace.

Several processes may share one database: each keeps its own in-memory scheduler, paused, and
only the holder of the scheduler lease (:mod:`core.leader`) runs jobs. A tick is recorded under
a unique (job, scheduled time), so even a wrongly fired duplicate tick does not run twice.
Pausing a job is stored in the database, so it holds for every process.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.config import Settings
from core.contracts import JobContext, JobSpec
from core.db import Database, utcnow
from core.leader import LeaderElector, process_identity
from core.logs import get_logger
from core.models import JobRun, JobState
from core.security.audit import acting_as

log = get_logger(__name__)


class UnknownJob(KeyError):
    """No job has this id."""


@dataclass(frozen=True)
class ScheduledJob:
    """A job as the scheduler knows it."""

    id: str
    owner: str
    spec: JobSpec
    owner_settings: Any
    trigger: BaseTrigger

    def next_run_at(self, now: datetime | None = None) -> datetime | None:
        """When the trigger fires next after ``now``."""
        return self.trigger.get_next_fire_time(None, now or utcnow())


def make_trigger(spec: JobSpec, settings: Settings) -> BaseTrigger:
    """The APScheduler trigger of a job spec, in the configured time zone."""
    if spec.trigger == "cron":
        return CronTrigger(timezone=settings.tz, **spec.schedule)
    return IntervalTrigger(timezone=settings.tz, **spec.schedule)


class JobScheduler:
    """Holds the platform's jobs, runs them on schedule (when leader) or on demand, records every run."""

    def __init__(self, database: Database, settings: Settings, runner: str | None = None) -> None:
        """Create an unstarted scheduler in the settings' time zone; ``runner`` names this process."""
        self.database = database
        self.settings = settings
        self.runner = runner or process_identity()
        self.jobs: dict[str, ScheduledJob] = {}
        self.running: set[str] = set()
        self._due: dict[str, datetime] = {}
        self.scheduler = AsyncIOScheduler(timezone=settings.tz, job_defaults={"max_instances": 1, "coalesce": True})
        self.scheduler.add_listener(self._remember_due_time, EVENT_JOB_SUBMITTED)
        self.elector: LeaderElector | None = None
        self.services: dict[str, Any] = {}

    # -- jobs -------------------------------------------------------------------------------------

    def add_plugin_jobs(self, plugins: Iterable[Any]) -> None:
        """Add the jobs of loaded plugin records (``record.jobs``), each as ``<plugin>:<job>``."""
        for record in plugins:
            self.add_jobs(record.name, record.jobs, record.settings)

    def add_jobs(self, owner: str, specs: Iterable[JobSpec], owner_settings: Any = None) -> None:
        """Add jobs of ``owner`` (a plugin, or ``core``) as ``<owner>:<job>``; they get ``owner_settings``."""
        for spec in specs:
            job_id = f"{owner}:{spec.id}"
            trigger = make_trigger(spec, self.settings)
            self.jobs[job_id] = ScheduledJob(job_id, owner, spec, owner_settings, trigger)
            self.scheduler.add_job(
                self._tick,
                trigger=trigger,
                args=[job_id],
                id=job_id,
                name=spec.description,
                misfire_grace_time=spec.misfire_grace_seconds,
                replace_existing=True,
            )

    def get(self, job_id: str) -> ScheduledJob:
        """The job with this id; :class:`UnknownJob` otherwise."""
        try:
            return self.jobs[job_id]
        except KeyError:
            raise UnknownJob(job_id) from None

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the (paused) scheduler and contend for the lease; jobs run while this process leads."""
        self.scheduler.start(paused=True)
        self.elector = LeaderElector(
            self.database,
            timedelta(seconds=self.settings.scheduler_lease_seconds),
            on_elected=self.scheduler.resume,
            on_deposed=self.scheduler.pause,
            holder=self.runner,
        )
        self.elector.start()
        log.info("scheduler_started", jobs=sorted(self.jobs), timezone=self.settings.timezone, runner=self.runner)

    async def shutdown(self) -> None:
        """Stop scheduling and hand the lease over; a job that is running finishes on its own."""
        if self.elector is not None:
            await self.elector.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    @property
    def is_leader(self) -> bool:
        """Whether this process runs the scheduled jobs now."""
        return self.elector is not None and self.elector.is_leader

    # -- pausing ----------------------------------------------------------------------------------

    async def paused_jobs(self) -> set[str]:
        """Ids of the paused jobs."""
        async with self.database.session() as session:
            return set(await session.scalars(select(JobState.job_id).where(JobState.paused.is_(True))))

    async def set_paused(self, job_id: str, paused: bool, by: str) -> None:
        """Pause or resume a job for every process."""
        self.get(job_id)
        async with self.database.session() as session:
            state = await session.get(JobState, job_id) or JobState(job_id=job_id)
            state.paused, state.changed_by, state.changed_at = paused, by, utcnow()
            session.add(state)

    # -- running ----------------------------------------------------------------------------------

    def _remember_due_time(self, event: JobSubmissionEvent) -> None:
        self._due[event.job_id] = event.scheduled_run_times[-1]

    async def _tick(self, job_id: str) -> None:
        scheduled_at = self._due.pop(job_id, None) or utcnow()
        if job_id in await self.paused_jobs():
            log.info("job_paused_skip", job=job_id, scheduled_at=scheduled_at.isoformat())
            return
        await self.run(job_id, trigger="schedule", scheduled_at=scheduled_at)

    async def run(self, job_id: str, trigger: str = "manual", scheduled_at: datetime | None = None) -> JobRun | None:
        """Run one job now and record the run; the job's errors are recorded, not raised.

        Returns None when this scheduled tick was already run (by this or another process).
        """
        job = self.get(job_id)
        run = JobRun(
            job_id=job_id, scheduled_at=scheduled_at, started_at=utcnow(), status="running", trigger=trigger,
            runner=self.runner,
        )  # fmt: skip
        try:
            async with self.database.session() as session:
                session.add(run)
        except IntegrityError:
            log.info("tick_already_ran", job=job_id, scheduled_at=scheduled_at and scheduled_at.isoformat())
            return None
        self.running.add(job_id)
        context = JobContext(
            job_id, self.database, self.settings, job.owner_settings, log.bind(job=job_id), self.services
        )
        summary: Mapping[str, Any] | None = None
        error: str | None = None
        try:
            with acting_as(f"job:{job_id}"):
                summary = await job.spec.func(context)
        except Exception as exc:
            error = "".join(traceback.format_exception_only(exc)).strip()
            log.exception("job_failed", job=job_id)
        finally:
            self.running.discard(job_id)
        async with self.database.session() as session:
            run.finished_at = utcnow()
            run.status = "failed" if error else "succeeded"
            run.error = error
            run.summary = dict(summary) if summary else None
            await session.merge(run)
        log.info("job_finished", job=job_id, status=run.status, summary=run.summary)
        return run
