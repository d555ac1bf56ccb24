"""The outbox, on SQLite and PostgreSQL, against the simulator over real HTTP (also while it is down)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.citybrain.models import OutboxItem
from core.citybrain.outbox import enqueue_event, enqueue_metric, stuck_condition
from core.citybrain.simulator.server import SimulatorServer
from plugins.video_net.models import Camera
from tests.core.citybrain.conftest import Street


class Boom(Exception):
    """Raised inside a transaction to roll it back."""


async def outbox(street: Street) -> list[OutboxItem]:
    async with street.database.session() as session:
        return list((await session.scalars(select(OutboxItem).order_by(OutboxItem.id))).all())


async def test_an_item_is_written_in_the_same_transaction_as_its_data(street: Street) -> None:
    with pytest.raises(Boom):
        async with street.database.session() as session:
            session.add(
                Camera(code="33010952131000000999", name="市心北路口", owner="community", lon=120.27, lat=30.22)
            )
            await enqueue_event(
                session, "video_net.camera_added", {"code": "33010952131000000999"}, idempotency_key="a"
            )
            raise Boom
    assert await street.count(Camera) == 0 and await outbox(street) == []

    async with street.database.session() as session:
        session.add(Camera(code="33010952131000000999", name="市心北路口", owner="community", lon=120.27, lat=30.22))
        assert await enqueue_event(session, "video_net.camera_added", {"code": "x"}, idempotency_key="a")
    async with street.database.session() as session:
        assert not await enqueue_event(session, "video_net.camera_added", {"code": "x"}, idempotency_key="a")
    assert await street.count(Camera) == 1 and [item.idempotency_key for item in await outbox(street)] == ["a"]


async def test_the_outbox_delivers_everything_once_after_city_brain_was_down(
    street: Street, simulator: SimulatorServer
) -> None:
    async with street.database.session() as session:
        for day in range(1, 13):
            period = f"2026-11-{day:02d}"
            values = {"participation_rate": 0.5 + day / 100, "households": 800 + day}
            key = f"waste_sorting:daily:{period}"
            await enqueue_metric(session, "waste_sorting_daily", values, period=period, idempotency_key=key)
        for n in range(8):
            payload = {"camera": f"3301095213100000{n:04d}", "occurred_at": f"2026-11-28T0{n}:00:00Z"}
            await enqueue_event(session, "video_net.street_vendor", payload, idempotency_key=f"alert-{n}")
    expected = {item.idempotency_key: item.payload for item in await outbox(street)}
    assert len(expected) == 20

    simulator.stop()
    first = await street.service.deliver()
    assert (first.delivered, first.failed, first.stopped_early) == (0, 1, True)
    await asyncio.sleep(0.1)  # the failed item's backoff passes (STREETBRAIN_CITYBRAIN_RETRY_MAX_WAIT is 0.05 s)
    await street.service.deliver()
    items = await outbox(street)
    assert items[0].attempts == 2 and "did not answer" in (items[0].last_error or "")
    assert all(item.status == "pending" for item in items)
    async with street.database.session() as session:
        stuck = (await session.scalars(select(OutboxItem).where(stuck_condition(timedelta(0))))).all()
    assert [item.idempotency_key for item in stuck] == [items[0].idempotency_key]

    simulator.start()
    simulator.set_faults(error_rate=0.2)  # half of these errors lose the answer after City Brain stored the push
    for _ in range(100):
        if not await street.count(OutboxItem, OutboxItem.status == "pending"):
            break
        await street.service.deliver()
        await asyncio.sleep(0.06)
    items = await outbox(street)
    assert {item.status for item in items} == {"delivered"}
    received = simulator.state.received
    assert {key: entry["payload"] for key, entry in received.items()} == expected
    assert simulator.state.counts.get("error", 0) + simulator.state.counts.get("lost_answer", 0) > 0


async def test_an_item_city_brain_refuses_is_dead_and_stuck(street: Street, simulator: SimulatorServer) -> None:
    async with street.database.session() as session:
        await enqueue_metric(session, "bad", {"x": 1}, period="2026-11-28", idempotency_key="ok")
        session.add(OutboxItem(idempotency_key="refused", kind="event", path="/v1/events", payload={"no_type": True}))
    result = await street.service.deliver()
    assert (result.delivered, result.dead) == (1, 1)
    async with street.database.session() as session:
        dead = await session.scalar(select(OutboxItem).where(OutboxItem.idempotency_key == "refused"))
        stuck = (await session.scalars(select(OutboxItem).where(stuck_condition(timedelta(hours=1))))).all()
    assert dead is not None and dead.status == "dead" and "422" in (dead.last_error or "")
    assert [item.idempotency_key for item in stuck] == ["refused"]
    assert list(simulator.state.received) == ["ok"]
