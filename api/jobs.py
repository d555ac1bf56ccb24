"""Scheduled jobs under /api/v1/jobs: list, run history, run now, pause and resume."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import msgspec
from litestar import Response, get, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath
from sqlalchemy import func, select

from core.logs import get_logger
from core.models import JobRun
from core.pagination import OffsetPagination, paginate
from core.scheduler import JobScheduler, ScheduledJob, UnknownJob
from core.web import Caller, DbSession, Page, requires

log = get_logger(__name__)


class RunOut(msgspec.Struct):
    """One run of a job."""

    id: int
    job_id: str
    trigger: str
    status: str
    scheduled_at: datetime | None
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    summary: dict[str, Any] | None
    runner: str | None


class JobOut(msgspec.Struct):
    """A job, its schedule and its last run."""

    id: str
    owner: str
    description: str
    trigger: str
    next_run_at: datetime | None
    paused: bool
    running: bool
    last_run: RunOut | None


def run_out(run: JobRun) -> RunOut:
    """The API view of a run row."""
    return msgspec.convert(run, RunOut, from_attributes=True)


def _job(state: State, job_id: str) -> ScheduledJob:
    try:
        return state.scheduler.get(job_id)  # type: ignore[no-any-return]
    except UnknownJob:
        raise NotFoundException(f"no job {job_id}; GET /api/v1/jobs lists them") from None


@get("/api/v1/jobs", tags=["jobs"], summary="List jobs", guards=[requires("jobs:read")])
async def list_jobs(db_session: DbSession, state: State) -> list[JobOut]:
    """Every job with its trigger, next run (for a paused job: when it would run) and last run."""
    scheduler: JobScheduler = state.scheduler
    paused = await scheduler.paused_jobs()
    latest = select(JobRun.job_id, func.max(JobRun.id).label("id")).group_by(JobRun.job_id).subquery()
    last_runs = {
        run.job_id: run for run in await db_session.scalars(select(JobRun).join(latest, JobRun.id == latest.c.id))
    }
    return [
        JobOut(
            id=job.id,
            owner=job.owner,
            description=job.spec.description,
            trigger=str(job.trigger),
            next_run_at=job.next_run_at(),
            paused=job.id in paused,
            running=job.id in scheduler.running,
            last_run=run_out(last_runs[job.id]) if job.id in last_runs else None,
        )
        for job in sorted(scheduler.jobs.values(), key=lambda j: j.id)
    ]


@get("/api/v1/jobs/{job_id:str}/runs", tags=["jobs"], summary="Runs of a job", guards=[requires("jobs:read")])
async def list_runs(db_session: DbSession, state: State, page: Page, job_id: FromPath[str]) -> OffsetPagination[RunOut]:
    """The job's runs, newest first."""
    _job(state, job_id)
    query = select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.id.desc())
    return await paginate(db_session, query, page, run_out)


@post("/api/v1/jobs/{job_id:str}/run", tags=["jobs"], summary="Run a job now", guards=[requires("jobs:run")])
async def run_now(state: State, caller: Caller, job_id: FromPath[str]) -> Response[dict[str, str]]:
    """Start the job now in this process (202); 409 when it is running here already. Its run shows in /runs."""
    scheduler: JobScheduler = state.scheduler
    _job(state, job_id)
    if job_id in scheduler.running:
        raise ValidationException(
            status_code=409, extra=[{"key": "job_id", "source": "path", "message": f"{job_id} is running now"}]
        )
    log.info("job_run_requested", job=job_id, by=caller.label)
    task = asyncio.get_running_loop().create_task(scheduler.run(job_id, trigger="manual"))
    state.setdefault("job_tasks", set()).add(task)
    task.add_done_callback(state.job_tasks.discard)
    return Response({"job_id": job_id, "status": "started"}, status_code=202)


async def _set_paused(state: State, caller: Caller, job_id: str, paused: bool) -> dict[str, Any]:
    _job(state, job_id)
    await state.scheduler.set_paused(job_id, paused, caller.label)
    return {"job_id": job_id, "paused": paused}


@post(
    "/api/v1/jobs/{job_id:str}/pause",
    tags=["jobs"],
    summary="Pause a job",
    guards=[requires("jobs:run")],
    status_code=200,
)
async def pause_job(state: State, caller: Caller, job_id: FromPath[str]) -> dict[str, Any]:
    """Skip the job's scheduled runs, in every process, until it is resumed (run now still works)."""
    return await _set_paused(state, caller, job_id, True)


@post(
    "/api/v1/jobs/{job_id:str}/resume",
    tags=["jobs"],
    summary="Resume a job",
    guards=[requires("jobs:run")],
    status_code=200,
)
async def resume_job(state: State, caller: Caller, job_id: FromPath[str]) -> dict[str, Any]:
    """Run the job on schedule again."""
    return await _set_paused(state, caller, job_id, False)


JOB_ROUTES = [list_jobs, list_runs, run_now, pause_job, resume_job]
