"""The alert writer's reads and writes in one hop to SQLite's thread (``plugins.video_net.onehop``): the same
stored values as SQLAlchemy's, inside the session's transaction, SQLite errors as SQLAlchemy's."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from core.db import utcnow
from plugins.video_net import onehop
from plugins.video_net.context import alert_types_of
from plugins.video_net.dedup import AlertIn, dedup_locks, ingest, read_group
from plugins.video_net.models import Alert, Incident
from tests.conftest import Platform
from tests.plugins.video_net_helpers import BASE, alert, code, register

ALERTS = f"{BASE}/alerts"
SQLALCHEMY_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")


async def test_one_hop_writes_store_what_sqlalchemy_stores(
    platform: Callable[..., AbstractAsyncContextManager[Platform]],
) -> None:
    """Times are stored as the ORM stores them (UTC text, comparable as text with the ORM's), JSON as it
    serialises it."""
    async with platform(plugins="video_net") as p:
        await register(p, 1)
        device = await p.api_key_headers("video_net:ingest")
        t0 = utcnow().replace(microsecond=0) - timedelta(minutes=10)
        local = t0.astimezone(ZoneInfo("Asia/Shanghai"))
        first = await p.client.post(
            ALERTS, json=alert(1, "a", local, payload={"box": "7", "n": [1, 2.5]}), headers=device
        )
        merged = await p.client.post(ALERTS, json=alert(1, "b", t0 + timedelta(seconds=30), confidence=0.95),
                                     headers=device)  # fmt: skip
        assert first.json()["outcome"] == "new_incident" and merged.json()["outcome"] == "merged", merged.text
        async with p.database.engine.connect() as conn:
            alerts = (await conn.exec_driver_sql(
                "SELECT alert_id, occurred_at, received_at, payload, confidence FROM video_net_alerts ORDER BY alert_id"
            )).all()  # fmt: skip
            incident = (await conn.exec_driver_sql(
                "SELECT first_seen_at, last_seen_at, alert_count, best_confidence, created_at FROM video_net_incidents"
            )).one()  # fmt: skip
        (_, a_at, a_received, a_payload, _), (_, b_at, b_received, _, _) = alerts
        assert a_at == incident[0]  # the incident's first alert time, written by the ORM, is the alert's text
        assert b_at == incident[1]  # and its last, written by the merge
        assert all(SQLALCHEMY_TIME.match(value) for value in (a_at, a_received, b_at, b_received, incident[4]))
        assert incident[2:4] == (2, 0.95)
        assert a_payload == '{"box": "7", "n": [1, 2.5]}'
        async with p.database.session() as session:
            stored = (await session.scalars(select(Alert).order_by(Alert.alert_id))).all()
        assert stored[0].occurred_at == t0 and stored[0].occurred_at.utcoffset() == timedelta(0)
        assert stored[0].payload == {"box": "7", "n": [1, 2.5]}


async def test_a_group_is_read_and_written_in_the_session_transaction(vn: Platform) -> None:
    """The one-hop writes go into the session's transaction: rolled back with it, committed with it."""
    await register(vn, 1, 2)
    device = await vn.api_key_headers("video_net:ingest")
    t0 = utcnow() - timedelta(minutes=10)
    assert (await vn.client.post(ALERTS, json=alert(1, "a", t0), headers=device)).status_code == 201
    state = vn.client.app.state
    types = alert_types_of(state)
    items = [AlertIn(code(1), "b", "street_vendor", 0.9, t0 + timedelta(seconds=5)),
             AlertIn(code(1), "a", "street_vendor", 0.9, t0),  # a replay
             AlertIn(code(2), "c", "illegal_parking", 0.9, t0)]  # fmt: skip

    async def write(fail: bool) -> list[str]:
        async with vn.database.session() as session, dedup_locks(session, {(i.camera, i.type) for i in items}):
            reads = await read_group(session, items, types)
            assert set(reads.cameras) == {code(1), code(2)}
            result = await ingest(session, state.events, types, items, reads.cameras, reads=reads)
            if fail:
                raise RuntimeError("after the writes, before the commit")
        return [o.outcome for o in result.outcomes]

    with pytest.raises(RuntimeError):
        await write(fail=True)
    async with vn.database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Alert)) == 1
        assert await session.scalar(select(func.sum(Incident.alert_count))) == 1
    assert await write(fail=False) == ["merged", "new_incident", "new_incident"]
    async with vn.database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Alert)) == 3
        assert await session.scalar(select(func.sum(Incident.alert_count))) == 3


async def test_sqlite_errors_of_a_hop_come_back_as_sqlalchemy_errors(
    platform: Callable[..., AbstractAsyncContextManager[Platform]],
) -> None:
    """The writer retries on SQLAlchemy's OperationalError (a busy database) and isolates other failures."""
    async with platform(plugins="video_net") as p, p.database.session() as session:
        driver = await onehop.driver_of(session)
        assert driver is not None
        assert await onehop.run(driver, lambda db: db.execute("SELECT 40 + 2").fetchone()[0]) == 42
        with pytest.raises(OperationalError):
            await onehop.run(driver, lambda db: db.execute("SELECT * FROM no_such_table"))
        await session.execute(text("CREATE TEMP TABLE one (k INTEGER PRIMARY KEY)"))
        with pytest.raises(IntegrityError):
            await onehop.run(driver, lambda db: db.executemany("INSERT INTO one VALUES (?)", [(1,), (1,)]))
