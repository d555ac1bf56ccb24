"""street_vendors through HTTP on a migrated SQLite database: vending points, opening hours, the capacity job."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import time
from typing import Any

import pytest

from core.demo import load_demo_data
from plugins.street_vendors.models import VendingPoint
from plugins.street_vendors.rules import is_open_at
from tests.conftest import Platform

BASE = "/api/v1/street-vendors/vending-points"


@pytest.fixture
async def sv(
    platform: Callable[..., AbstractAsyncContextManager[Platform]], backend: dict[str, Any]
) -> AsyncIterator[Platform]:
    """The platform with street_vendors alone, on SQLite and on PostgreSQL."""
    async with platform(plugins=["street_vendors"], **backend) as p:
        yield p


def vending_point(code: str, categories: list[str], opens: str = "17:00", closes: str = "21:00", **more: Any) -> dict:
    """A valid vending point body."""
    return {
        "code": code,
        "name": f"Point {code}",
        "capacity": 10,
        "categories": categories,
        "lon": 120.266,
        "lat": 30.187,
        "opens": opens,
        "closes": closes,
        **more,
    }


async def designate(p: Platform, *bodies: dict[str, Any]) -> None:
    for body in bodies:
        response = await p.client.post(BASE, json=body)
        assert response.status_code == 201, response.text


async def codes(p: Platform, path: str = "", **params: Any) -> list[str]:
    return [item["code"] for item in (await p.client.get(BASE + path, params=params)).json()["items"]]


async def test_designated_points_are_listed_and_fetched(sv: Platform) -> None:
    night = vending_point("NW-VP-02", ["food", "goods"], "21:00", "02:00", capacity=40)
    await designate(sv, night, vending_point("NW-VP-01", ["produce"]))

    listed = (await sv.client.get(BASE)).json()
    assert listed["total"] == 2
    assert [item["code"] for item in listed["items"]] == ["NW-VP-01", "NW-VP-02"]
    fetched = (await sv.client.get(f"{BASE}/NW-VP-02")).json()
    assert {key: fetched[key] for key in night} == night
    assert fetched["active"] is True


async def test_pagination_limit_and_offset(sv: Platform) -> None:
    await designate(sv, *(vending_point(f"NW-VP-{n:02d}", ["goods"]) for n in (4, 1, 3, 2)))
    page = (await sv.client.get(BASE, params={"limit": 3, "offset": 1})).json()
    assert (page["total"], page["limit"], page["offset"]) == (4, 3, 1)
    assert [item["code"] for item in page["items"]] == ["NW-VP-02", "NW-VP-03", "NW-VP-04"]


async def test_category_filter(sv: Platform) -> None:
    await designate(
        sv,
        vending_point("NW-VP-01", ["food"]),
        vending_point("NW-VP-02", ["produce", "goods"]),
        vending_point("NW-VP-03", ["goods", "food"]),
    )
    assert await codes(sv, category="food") == ["NW-VP-01", "NW-VP-03"]
    assert await codes(sv, category="goods") == ["NW-VP-02", "NW-VP-03"]
    assert await codes(sv, category="services") == []
    response = await sv.client.get(BASE, params={"category": "fireworks"})
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["category"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"categories": ["food", "weapons"]}, "categories"),
        ({"categories": ["food", "food"]}, "categories"),
        ({"categories": []}, "categories"),
        ({"opens": "21:00", "closes": "21:00"}, "closes"),
        ({"opens": "9pm"}, "opens"),
        ({"capacity": 0}, "capacity"),
        ({"lon": 181}, "lon"),
    ],
)
async def test_bad_point_is_422_naming_the_field(sv: Platform, changes: dict[str, Any], field: str) -> None:
    response = await sv.client.post(BASE, json=vending_point("NW-VP-01", ["food"]) | changes)
    assert response.status_code == 422, response.text
    assert field in {error["field"] for error in response.json()["errors"]}
    assert await codes(sv) == []


async def test_duplicate_code_is_409_and_unknown_code_404(sv: Platform) -> None:
    await designate(sv, vending_point("NW-VP-01", ["food"]))
    response = await sv.client.post(BASE, json=vending_point("NW-VP-01", ["services"]))
    assert response.status_code == 409
    assert [error["field"] for error in response.json()["errors"]] == ["code"]
    assert await codes(sv) == ["NW-VP-01"]
    assert (await sv.client.get(f"{BASE}/NW-VP-99")).status_code == 404


@pytest.mark.parametrize(
    ("opens", "closes", "at", "is_open"),
    [
        # a night market past midnight
        ("21:00", "02:00", "20:59", False),
        ("21:00", "02:00", "21:00", True),
        ("21:00", "02:00", "23:59", True),
        ("21:00", "02:00", "00:00", True),
        ("21:00", "02:00", "01:59", True),
        ("21:00", "02:00", "02:00", False),
        ("21:00", "02:00", "12:00", False),
        # a window within the day
        ("06:00", "09:30", "05:59", False),
        ("06:00", "09:30", "06:00", True),
        ("06:00", "09:30", "09:29", True),
        ("06:00", "09:30", "09:30", False),
        # a window that ends at midnight
        ("18:00", "00:00", "23:59", True),
        ("18:00", "00:00", "00:00", False),
    ],
)
def test_is_open_at_edges(opens: str, closes: str, at: str, is_open: bool) -> None:
    point = VendingPoint(code="NW-VP-01", opens=opens, closes=closes)
    assert is_open_at(point, time.fromisoformat(at)) is is_open


async def test_open_now_lists_active_points_open_at_the_time(sv: Platform) -> None:
    await designate(
        sv,
        vending_point("NW-VP-01", ["food"], "06:00", "09:30"),
        vending_point("NW-VP-02", ["food"], "21:00", "02:00"),
        vending_point("NW-VP-03", ["goods"], "22:00", "03:00", active=False),
    )
    assert await codes(sv, "/open-now", at="23:00") == ["NW-VP-02"]
    assert await codes(sv, "/open-now", at="01:59") == ["NW-VP-02"]
    assert await codes(sv, "/open-now", at="06:00") == ["NW-VP-01"]
    assert await codes(sv, "/open-now", at="02:00") == []
    page = (await sv.client.get(f"{BASE}/open-now", params={"at": "23:00", "limit": 1, "offset": 1})).json()
    assert (page["total"], page["items"]) == (1, [])
    bad = await sv.client.get(f"{BASE}/open-now", params={"at": "25:00"})
    assert bad.status_code == 422
    assert [error["field"] for error in bad.json()["errors"]] == ["at"]
    assert (await sv.client.get(f"{BASE}/open-now")).status_code == 200  # the platform's local time now


async def test_capacity_summary_sums_active_points_per_category(sv: Platform) -> None:
    await designate(
        sv,
        vending_point("NW-VP-01", ["food", "goods"], capacity=12),
        vending_point("NW-VP-02", ["food"], capacity=5),
        vending_point("NW-VP-03", ["produce"], capacity=30, active=False),
    )
    run = await sv.client.app.state.scheduler.run("street_vendors:capacity_summary", trigger="manual")
    assert run.status == "succeeded", run.error
    assert run.summary == {
        "active_points": 2,
        "capacity": {"food": 12 + 5, "produce": 0, "goods": 12, "services": 0},
    }
    job = sv.client.app.state.scheduler.jobs["street_vendors:capacity_summary"]
    assert (job.spec.trigger, job.spec.schedule) == ("interval", {"minutes": 60})


async def test_demo_data_loads_once_with_night_markets(sv: Platform) -> None:
    first = await load_demo_data(sv.database, sv.plugins.ok_plugins())
    assert isinstance(first["street_vendors"], dict), first
    added = first["street_vendors"]["vending_points"]
    items = (await sv.client.get(BASE, params={"limit": 500})).json()["items"]
    assert len(items) == added > 0
    assert any(item["closes"] < item["opens"] for item in items)  # some windows cross midnight
    assert all(item["opens"] != item["closes"] for item in items)

    assert await load_demo_data(sv.database, sv.plugins.ok_plugins()) == {"street_vendors": {}}
    assert (await sv.client.get(BASE)).json()["total"] == added
