"""video_net demo data: 300 cameras of three owners, a week of status history, alerts of every type with a storm."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy import func, select

from core.demo import load_demo_data
from plugins.video_net.alert_types import BY_KEY
from plugins.video_net.demo import STORM_ALERTS, demo_grid
from plugins.video_net.models import Alert, Incident
from tests.conftest import Platform
from tests.plugins.video_net_helpers import BASE


def test_demo_cameras_land_in_the_demo_grids() -> None:
    assert demo_grid(120.2455 + 0.001, 30.2010 - 0.001) == 1  # the north-west corner
    assert demo_grid(120.2855 - 0.001, 30.1710 + 0.001) == 16  # the south-east corner
    assert demo_grid(120.2655 + 0.001, 30.1860 + 0.001) == 7  # 宁税, its south-west grid


async def test_demo_data_is_a_week_of_a_network_and_loads_once(
    platform: Callable[..., AbstractAsyncContextManager[Platform]],
) -> None:
    async with platform(plugins="video_net") as p:
        first = await load_demo_data(p.database, p.plugins.ok_plugins())
        again = await load_demo_data(p.database, p.plugins.ok_plugins())
        counts = first["video_net"]
        assert isinstance(counts, dict) and counts["cameras"] == 300 and again["video_net"] == {}
        owners = {c["owner"] for c in (await p.client.get(f"{BASE}/cameras", params={"limit": 500})).json()["items"]}
        assert owners == {"public_security", "urban_management", "community"}
        async with p.database.session() as session:
            kinds = set(await session.scalars(select(Alert.alert_type).distinct()))
            storm = await session.scalar(
                select(func.count()).select_from(Alert).where(Alert.alert_id.like("demo-storm-%"))
            )
            storm_incidents = await session.scalar(
                select(func.count(func.distinct(Alert.incident_id))).where(Alert.alert_id.like("demo-storm-%"))
            )
            reviewed = await session.scalar(select(func.count()).select_from(Incident).where(Incident.status != "open"))
        assert kinds == set(BY_KEY) and storm == STORM_ALERTS and storm_incidents == 1 and reviewed
        rates = (await p.client.get(f"{BASE}/statistics/online-rate", params={"group_by": "owner"})).json()["items"]
        assert {r["group"] for r in rates} == {"public_security", "urban_management", "community"}
        assert all(0.5 < r["online_rate"] <= 1 for r in rates)
        assert any(r["online_rate"] < 1 for r in rates)  # the outages show
        fp = (await p.client.get(f"{BASE}/statistics/false-positives", params={"group_by": "type"})).json()["items"]
        assert any(r["false_positives"] for r in fp)
