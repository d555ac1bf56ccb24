"""The City Brain routes and jobs of the composed app: quarantine, outbox, stuck items, sync state."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import select

from core.citybrain.outbox import enqueue_event
from core.citybrain.simulator.server import SimulatorServer
from core.models import JobRun
from tests.conftest import Platform
from tests.core.citybrain.conftest import citybrain_overrides

PlatformFactory = Callable[..., AbstractAsyncContextManager[Platform]]


async def test_quarantine_and_sync_state_after_a_scheduled_sync(
    platform: PlatformFactory, simulator: SimulatorServer, backend: dict[str, Any]
) -> None:
    simulator.set_faults(malformed_rate=0.1)
    _, bad = simulator.state.expected("cameras")
    async with platform(**backend, **citybrain_overrides(simulator.url)) as p:
        scheduler = p.client.app.state.scheduler
        assert {"citybrain:sync_cameras", "citybrain:deliver_outbox"} <= set(scheduler.jobs)
        run = await scheduler.run("citybrain:sync_cameras", trigger="manual")
        assert run.status == "succeeded" and run.summary["quarantined"] == len(bad)

        page = (await p.client.get("/api/v1/citybrain/quarantine", params={"limit": 5})).json()
        assert (page["total"], page["limit"], len(page["items"])) == (len(bad), 5, 5)
        assert {"dataset", "record_key", "reason", "record", "seen_count"} <= set(page["items"][0])
        none = (await p.client.get("/api/v1/citybrain/quarantine", params={"dataset": "grids"})).json()
        assert none["total"] == 0
        state = (await p.client.get("/api/v1/citybrain/sync")).json()
        (cameras,) = state["items"]
        assert (cameras["dataset"], cameras["last_run_status"], cameras["resumes_from_cursor"]) == (
            "cameras",
            "succeeded",
            False,
        )
        assert cameras["last_run_counts"]["quarantined"] == len(bad)
        async with p.database.session() as session:
            history = (await session.scalars(select(JobRun))).all()
        assert [h.job_id for h in history] == ["citybrain:sync_cameras"]


async def test_outbox_lists_and_stuck_items(platform: PlatformFactory, simulator: SimulatorServer) -> None:
    async with platform(**citybrain_overrides(simulator.url)) as p:
        async with p.database.session() as session:
            for n in range(3):
                await enqueue_event(session, "video_net.smoke", {"n": n}, idempotency_key=f"smoke-{n}")
        simulator.stop()
        run = await p.client.app.state.scheduler.run("citybrain:deliver_outbox", trigger="manual")
        assert run.summary == {"delivered": 0, "failed": 1, "dead": 0, "stopped_early": True}

        listed = (await p.client.get("/api/v1/citybrain/outbox", params={"status": "pending"})).json()
        assert listed["total"] == 3 and [item["attempts"] for item in listed["items"]] == [1, 0, 0]
        stuck = (await p.client.get("/api/v1/citybrain/outbox/stuck", params={"older_than_minutes": 0})).json()
        assert [item["idempotency_key"] for item in stuck["items"]] == ["smoke-0"]
        assert "did not answer" in stuck["items"][0]["last_error"]
        assert (await p.client.get("/api/v1/citybrain/outbox/stuck")).json()["total"] == 0  # not 30 minutes old yet

        bad = await p.client.get("/api/v1/citybrain/outbox", params={"status": "lost"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"
        bad = await p.client.get("/api/v1/citybrain/outbox/stuck", params={"older_than_minutes": -1})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "older_than_minutes"
        assert (await p.client.post("/api/v1/citybrain/outbox/999/retry")).status_code == 404
        retried = await p.client.post(f"/api/v1/citybrain/outbox/{stuck['items'][0]['id']}/retry")
        assert retried.status_code == 200 and retried.json()["status"] == "pending"

        simulator.start()
        run = await p.client.app.state.scheduler.run("citybrain:deliver_outbox", trigger="manual")
        assert run.summary["delivered"] == 3
        assert sorted(simulator.state.received) == ["smoke-0", "smoke-1", "smoke-2"]


async def test_only_staff_with_citybrain_read_see_it(platform: PlatformFactory) -> None:
    async with platform() as p:
        assert (await p.client.get("/api/v1/citybrain/outbox")).status_code == 200
        worker = await p.headers_for("grid_worker")
        assert (await p.client.get("/api/v1/citybrain/outbox", headers=worker)).status_code == 403
        assert (await p.client.get("/api/v1/citybrain/quarantine", headers={"Authorization": ""})).status_code == 401
        assert p.client.app.state.scheduler.jobs.keys().isdisjoint({"citybrain:deliver_outbox"})  # not configured
