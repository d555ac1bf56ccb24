"""waste_sorting through HTTP on a migrated SQLite database: collection points, the daily job, demo data."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from core.config import ConfigError
from core.demo import load_demo_data
from plugins.waste_sorting.models import CATEGORIES
from tests.conftest import Platform

URL = "/api/v1/waste-sorting/collection-points"
PlatformFactory = Callable[..., AbstractAsyncContextManager[Platform]]


@pytest.fixture
async def ws(platform: PlatformFactory, backend: dict[str, Any]) -> AsyncIterator[Platform]:
    """The platform with waste_sorting alone, on SQLite and on PostgreSQL."""
    async with platform(plugins=["waste_sorting"], **backend) as p:
        yield p


def point(code: str, community: str = "宁新社区", **changes: Any) -> dict[str, Any]:
    """A valid collection point body, with ``changes`` applied."""
    body = {
        "code": code,
        "name": f"{community} {code}",
        "community": community,
        "lon": 120.2655,
        "lat": 30.1860,
        "categories": ["recyclable", "perishable", "other"],
        "deposit_opens": "07:00",
        "deposit_closes": "09:00",
    }
    return body | changes


async def post_all(p: Platform, bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        response = await p.client.post(URL, json=body)
        assert response.status_code == 201, response.text


async def test_created_points_are_listed_and_fetched(ws: Platform) -> None:
    bodies = [point("NW-CP-002", "宁税社区"), point("NW-CP-001"), point("NW-CP-003", "宁税社区", active=False)]
    await post_all(ws, bodies)

    listed = (await ws.client.get(URL)).json()
    assert listed["total"] == len(bodies)
    assert [item["code"] for item in listed["items"]] == sorted(body["code"] for body in bodies)

    fetched = (await ws.client.get(f"{URL}/NW-CP-003")).json()
    expected = bodies[2]
    assert {key: fetched[key] for key in expected} == expected
    assert fetched["created_at"]


async def test_duplicate_categories_are_kept_once(ws: Platform) -> None:
    await post_all(ws, [point("NW-CP-001", categories=["other", "hazardous", "other"])])
    assert (await ws.client.get(f"{URL}/NW-CP-001")).json()["categories"] == ["other", "hazardous"]


async def test_community_filter(ws: Platform) -> None:
    bodies = [point("NW-CP-001"), point("NW-CP-002", "振宁社区"), point("NW-CP-003"), point("NW-CP-004", "合丰社区")]
    await post_all(ws, bodies)
    listed = (await ws.client.get(URL, params={"community": "宁新社区"})).json()
    wanted = [body["code"] for body in bodies if body["community"] == "宁新社区"]
    assert listed["total"] == len(wanted)
    assert [item["code"] for item in listed["items"]] == wanted


async def test_pagination_limit_and_offset(ws: Platform) -> None:
    codes = [f"NW-CP-{n:03d}" for n in range(1, 6)]
    await post_all(ws, [point(code) for code in codes])
    page = (await ws.client.get(URL, params={"limit": 2, "offset": 2})).json()
    assert (page["total"], page["limit"], page["offset"]) == (len(codes), 2, 2)
    assert [item["code"] for item in page["items"]] == codes[2:4]
    assert (await ws.client.get(URL, params={"limit": 0})).status_code == 422


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"categories": ["recyclable", "glass"]}, "categories"),
        ({"categories": []}, "categories"),
        ({"deposit_opens": "09:00", "deposit_closes": "09:00"}, "deposit_closes"),
        ({"deposit_opens": "19:00", "deposit_closes": "07:00"}, "deposit_closes"),
        ({"deposit_opens": "7:00"}, "deposit_opens"),
        ({"deposit_closes": "24:00"}, "deposit_closes"),
        ({"lat": 91}, "lat"),
        ({"code": "nw cp 1"}, "code"),
    ],
)
async def test_bad_point_is_422_naming_the_field(ws: Platform, changes: dict[str, Any], field: str) -> None:
    response = await ws.client.post(URL, json=point("NW-CP-001") | changes)
    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["errors"]]
    assert (await ws.client.get(URL)).json()["total"] == 0


async def test_unknown_field_is_422_naming_it(ws: Platform) -> None:
    response = await ws.client.post(URL, json=point("NW-CP-001") | {"colour": "green"})
    assert response.status_code == 422
    assert "colour" in response.json()["errors"][0]["message"]  # msgspec reports it on the body as a whole


async def test_duplicate_code_is_409_naming_code(ws: Platform) -> None:
    await post_all(ws, [point("NW-CP-001")])
    response = await ws.client.post(URL, json=point("NW-CP-001", "合丰社区"))
    assert response.status_code == 409
    assert [error["field"] for error in response.json()["errors"]] == ["code"]
    assert (await ws.client.get(URL)).json()["total"] == 1


async def test_unknown_code_is_404(ws: Platform) -> None:
    response = await ws.client.get(f"{URL}/NW-CP-404")
    assert response.status_code == 404
    assert "NW-CP-404" in response.json()["detail"]


async def test_daily_summary_counts_active_points_per_community(ws: Platform) -> None:
    bodies = [
        point("NW-CP-001"),
        point("NW-CP-002"),
        point("NW-CP-003", "宁税社区"),
        point("NW-CP-004", "合丰社区", active=False),
    ]
    await post_all(ws, bodies)
    run = await ws.client.app.state.scheduler.run("waste_sorting:daily_summary", trigger="manual")
    assert run.status == "succeeded", run.error
    active = [body["community"] for body in bodies if body.get("active", True)]
    assert run.summary == {
        "communities": len(set(active)),
        "active_points": len(active),
        "per_community": {community: active.count(community) for community in sorted(set(active))},
    }


async def test_summary_hour_comes_from_settings(platform: PlatformFactory) -> None:
    async with platform(plugins=["waste_sorting"], plugin_config={"waste_sorting": {"summary_hour": 5}}) as p:
        job = p.client.app.state.scheduler.jobs["waste_sorting:daily_summary"]
        assert (job.spec.trigger, job.spec.schedule["hour"]) == ("cron", 5)
    with pytest.raises(ConfigError, match="STREETBRAIN_WASTE_SORTING__SUMMARY_HOUR"):
        async with platform(plugins=["waste_sorting"], plugin_config={"waste_sorting": {"summary_hour": 24}}):
            pass


async def test_demo_data_loads_once_and_obeys_the_api_rules(ws: Platform) -> None:
    first = await load_demo_data(ws.database, ws.plugins.ok_plugins())
    assert isinstance(first["waste_sorting"], dict), first
    added = first["waste_sorting"]["collection_points"]
    listed = (await ws.client.get(URL, params={"limit": 500})).json()
    assert listed["total"] == added > 0
    for item in listed["items"]:
        assert set(item["categories"]) <= set(CATEGORIES)
        assert item["deposit_opens"] < item["deposit_closes"]

    second = await load_demo_data(ws.database, ws.plugins.ok_plugins())
    assert second == {"waste_sorting": {}}
    assert (await ws.client.get(URL)).json()["total"] == added
