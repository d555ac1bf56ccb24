"""``streetbrain jobs list|run`` and ``streetbrain scheduler`` (a process that only runs jobs)."""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from api.app import Services, build_services
from api.cli import Runtime, UserError, main, pass_runtime, upgrade_schema
from core.areas.index import LiveAreaIndex
from core.models import JobRun
from core.scheduler import UnknownJob


def _services(runtime: Runtime) -> Services:
    return build_services(runtime.settings, runtime.plugins, runtime.database, runtime.authorizer)


@main.group()
def jobs() -> None:
    """Scheduled jobs."""


@jobs.command("list")
@pass_runtime
def jobs_list(runtime: Runtime) -> None:
    """List jobs with their trigger, next run and whether they are paused."""
    scheduler = _services(runtime).scheduler
    paused = runtime.run(scheduler.paused_jobs())
    for job in sorted(scheduler.jobs.values(), key=lambda j: j.id):
        next_run = job.next_run_at()
        when = next_run.astimezone(runtime.settings.tz).strftime("%Y-%m-%d %H:%M:%S") if next_run else "-"
        flag = "paused" if job.id in paused else ""
        click.echo(f"{job.id:<40} next {when:<20} {flag:<7} {job.trigger}")


@jobs.command("run")
@click.argument("job_id")
@pass_runtime
def jobs_run(runtime: Runtime, job_id: str) -> None:
    """Run a job now, in this process, and print how it ended (exit status 1 if it failed)."""
    services = _services(runtime)
    scheduler, citybrain = services.scheduler, services.citybrain

    async def _run() -> JobRun | None:
        try:
            return await scheduler.run(job_id, trigger="cli")
        finally:
            await citybrain.aclose()

    try:
        run = runtime.run(_run())
    except UnknownJob:
        raise UserError(f"no job {job_id}; `streetbrain jobs list` shows them") from None
    assert run is not None
    click.echo(f"{job_id}: {run.status} in {(run.finished_at - run.started_at).total_seconds():.1f} s")  # type: ignore[operator]
    if run.summary:
        click.echo(f"  {run.summary}")
    if run.error:
        click.echo(f"  error: {run.error}", err=True)
        sys.exit(1)


@main.command("scheduler")
@pass_runtime
def scheduler_only(runtime: Runtime) -> None:
    """Run scheduled jobs only (no API). Several may run: one holds the lease, the others stand by."""
    upgrade_schema(runtime)
    areas = LiveAreaIndex(runtime.database)  # so that events emitted by jobs find their grid
    services = build_services(runtime.settings, runtime.plugins, runtime.database, runtime.authorizer, lambda: areas)
    scheduler, citybrain = services.scheduler, services.citybrain

    async def _serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await areas.open()
        await scheduler.start()
        click.echo(f"scheduler {scheduler.runner} started with {len(scheduler.jobs)} job(s); Ctrl+C stops it")
        try:
            await stop.wait()
        finally:
            await scheduler.shutdown()
            await services.events.drain()
            await citybrain.aclose()
            await areas.close()
        click.echo("scheduler stopped")

    runtime.run(_serve())
