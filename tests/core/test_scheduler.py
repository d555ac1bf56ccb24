"""The scheduler: run history, one run per tick, pausing, the jobs API, and one active scheduler
across processes (a lease in the database), proven with real processes on PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import ProgrammingError

from core.db import Database, utcnow
from core.leader import LeaderElector, try_acquire
from core.models import JobRun
from core.plugins import load_plugins
from tests.conftest import Platform, migrate

PlatformFactory = Callable[..., AbstractAsyncContextManager[Platform]]
STREETBRAIN = str(Path(sys.executable).parent / "streetbrain")

TICKER = """
import os
from core.contracts import JobSpec, PluginInfo
from core.hookspecs import hookimpl

async def tick(ctx):
    return {"pid": os.getpid()}

@hookimpl
def plugin_info():
    return PluginInfo(name="ticker", title="Ticker", version="1.0")

@hookimpl
def register_jobs():
    return [JobSpec(id="tick", func=tick, trigger="interval", schedule={"seconds": 1}, description="Tick",
                    misfire_grace_seconds=5)]
"""


async def runs_of(database: Database, job_id: str) -> list[JobRun]:
    async with database.session() as session:
        return list(await session.scalars(select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.id)))


async def test_a_scheduled_tick_runs_once_and_is_recorded_with_its_time(platform: PlatformFactory) -> None:
    async with platform(plugins="none") as p:
        scheduler = p.client.app.state.scheduler
        due = utcnow().replace(microsecond=0)
        first = await scheduler.run("core:escalate_overdue", trigger="schedule", scheduled_at=due)
        again = await scheduler.run("core:escalate_overdue", trigger="schedule", scheduled_at=due)
        manual = [await scheduler.run("core:escalate_overdue") for _ in range(2)]
        runs = await runs_of(p.database, "core:escalate_overdue")
    assert first is not None and first.status == "succeeded" and first.summary == {"escalated": 0}
    assert again is None
    assert all(run is not None for run in manual)
    assert [(r.trigger, r.scheduled_at) for r in runs] == [("schedule", due), ("manual", None), ("manual", None)]
    assert {r.runner for r in runs} == {scheduler.runner}


async def test_jobs_api_lists_runs_pauses_and_resumes(platform: PlatformFactory) -> None:
    async with platform(plugins="video_net,waste_sorting") as p:
        jobs = (await p.client.get("/api/v1/jobs")).json()
        started = await p.client.post("/api/v1/jobs/video_net:mark_offline/run")
        for _ in range(50):
            runs = (await p.client.get("/api/v1/jobs/video_net:mark_offline/runs")).json()
            if runs["total"] and runs["items"][0]["status"] != "running":
                break
            await asyncio.sleep(0.05)
        paused = await p.client.post("/api/v1/jobs/video_net:mark_offline/pause")
        scheduler = p.client.app.state.scheduler
        await scheduler._tick("video_net:mark_offline")  # a tick while paused is skipped
        after_pause = (await p.client.get("/api/v1/jobs/video_net:mark_offline/runs")).json()["total"]
        listed = {job["id"]: job for job in (await p.client.get("/api/v1/jobs")).json()}
        await p.client.post("/api/v1/jobs/video_net:mark_offline/resume")
        await scheduler._tick("video_net:mark_offline")
        after_resume = (await p.client.get("/api/v1/jobs/video_net:mark_offline/runs")).json()
        unknown = await p.client.post("/api/v1/jobs/nope:nothing/run")
        viewer = await p.client.post("/api/v1/jobs/video_net:mark_offline/run", headers=await p.headers_for("viewer"))
    assert {job["id"] for job in jobs} >= {
        "video_net:mark_offline",
        "waste_sorting:daily_summary",
        "core:escalate_overdue",
    }
    assert {job["id"].split(":")[0] for job in jobs} == {"core", "video_net", "waste_sorting"}
    assert all(job["next_run_at"] for job in jobs)
    assert started.status_code == 202
    assert runs["items"][0]["status"] == "succeeded" and runs["items"][0]["trigger"] == "manual"
    assert paused.json() == {"job_id": "video_net:mark_offline", "paused": True}
    assert after_pause == 1 and listed["video_net:mark_offline"]["paused"] is True
    assert listed["video_net:mark_offline"]["last_run"]["status"] == "succeeded"
    assert after_resume["total"] == 2 and after_resume["items"][0]["trigger"] == "schedule"
    assert after_resume["items"][0]["scheduled_at"] is not None
    assert unknown.status_code == 404 and viewer.status_code == 403


async def test_a_failing_job_is_recorded_with_its_error(platform: PlatformFactory) -> None:
    async with platform(plugins="video_net", **{"plugin_config": {"video_net": {"keepalive_seconds": 60}}}) as p:
        scheduler = p.client.app.state.scheduler
        job = scheduler.get("video_net:mark_offline")
        broken = type(job.spec)(
            id="broken", func=_explode, trigger="interval", schedule={"hours": 1}, description="Always fails"
        )
        scheduler.add_jobs("video_net", [broken])
        run = await scheduler.run("video_net:broken")
    assert run is not None and run.status == "failed"
    assert run.error == "ValueError: bin 7 reported a negative weight"


async def _explode(ctx: Any) -> None:
    raise ValueError("bin 7 reported a negative weight")


async def test_only_one_process_holds_the_lease_and_a_standby_takes_over_after_it_expires(
    make_settings: Callable[..., Any], backend: dict[str, Any]
) -> None:
    settings = make_settings(**backend)
    database = Database(settings.database_url)
    try:
        await migrate(settings, load_plugins(settings, use_entry_points=False), database)
        ttl = timedelta(seconds=1)
        assert await try_acquire(database, "a", ttl) is True
        assert await try_acquire(database, "b", ttl) is False
        assert await try_acquire(database, "a", ttl) is True  # renewal
        await asyncio.sleep(1.2)
        assert await try_acquire(database, "b", ttl) is True  # a let it expire
        assert await try_acquire(database, "a", ttl) is False

        changes: list[tuple[str, bool]] = []
        electors = [
            LeaderElector(
                database,
                timedelta(seconds=2),
                on_elected=lambda n=name: changes.append((n, True)),
                on_deposed=lambda n=name: changes.append((n, False)),
                holder=name,
            )
            for name in ("c", "d")
        ]
        await asyncio.sleep(2.1)  # b's lease runs out
        assert [await elector.step() for elector in electors] == [True, False]
        await electors[0].stop()  # a clean stop releases the lease at once
        assert await electors[1].step() is True
        assert changes == [("c", True), ("c", False), ("d", True)]
    finally:
        await database.dispose()


@pytest.mark.postgres
def test_two_scheduler_processes_run_each_tick_once_and_hand_over_when_the_leader_dies(
    postgres_url: str, install_plugin: Callable[..., Path], tmp_path: Path
) -> None:
    site = install_plugin("ticker", TICKER)
    lease = 3
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREETBRAIN_")}
    env.update(
        STREETBRAIN_DATABASE_URL=postgres_url,
        STREETBRAIN_PLUGINS="ticker",
        STREETBRAIN_SCHEDULER_LEASE_SECONDS=str(lease),
        STREETBRAIN_DATA_DIR=str(tmp_path / "var"),
        PYTHONPATH=f"{site}{os.pathsep}{env.get('PYTHONPATH', '')}",
    )

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [STREETBRAIN, "scheduler"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def rows() -> list[tuple[Any, ...]]:
        async def _read() -> list[tuple[Any, ...]]:
            database = Database(postgres_url)
            try:
                async with database.engine.connect() as conn:
                    result = await conn.execute(
                        text(
                            "SELECT scheduled_at, runner, status FROM job_runs WHERE job_id = 'ticker:tick' ORDER BY id"
                        )
                    )
                    return [tuple(row) for row in result]
            except ProgrammingError:  # the first process has not created the schema yet
                return []
            finally:
                await database.dispose()

        return asyncio.run(_read())

    def wait_for(predicate: Callable[[list[tuple[Any, ...]]], bool], seconds: float) -> list[tuple[Any, ...]]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            current = rows()
            if predicate(current):
                return current
            time.sleep(0.25)
        raise AssertionError(f"timed out; runs: {rows()}")

    first = start()
    second = None
    try:
        leader_rows = wait_for(lambda r: len(r) >= 1, 30)
        leader = leader_rows[0][1]
        second = start()
        wait_for(lambda r: len(r) >= 6, 30)
        os.kill(first.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        before_kill = len(rows())
        after = wait_for(lambda r: any(runner != leader for _, runner, _ in r), 30)
        handover = time.monotonic() - killed_at
        final = wait_for(lambda r: len(r) >= len(after) + 3, 30)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
    ticks = [scheduled for scheduled, _, _ in final]
    assert len(ticks) == len(set(ticks)), "a tick ran twice"
    assert {runner for _, runner, _ in final[: before_kill - 1]} == {leader}, "the standby ran jobs while A led"
    new_leaders = {runner for _, runner, _ in final} - {leader}
    assert len(new_leaders) == 1
    assert handover <= lease + lease / 3 + 2, f"standby took {handover:.1f} s to take over"
    assert all(status in ("succeeded", "running") for _, _, status in final)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ticks)]
    assert all(gap >= 1 for gap in gaps)
