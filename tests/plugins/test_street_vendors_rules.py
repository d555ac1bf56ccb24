"""The outcome table of plugins/street_vendors/README.md, row by row, through HTTP on a migrated SQLite file.

Each row builds the same small world (two vending points, four vendors, permits, a City Brain licence)
on a fresh platform, posts any earlier sightings the row needs, then one sighting, and checks its one
outcome. Times are Asia/Shanghai; the boundaries are the rows around each edge.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.areas.geo import haversine_m
from plugins.street_vendors.cells import cell_bounds, cell_of
from plugins.street_vendors.hotspots import proposed_window
from plugins.street_vendors.models import MarketLicence
from plugins.street_vendors.places import square_around
from tests.conftest import Platform

SV = "/api/v1/street-vendors"
TZ = ZoneInfo("Asia/Shanghai")
NIGHT = (120.2664, 30.1902)  # NIGHT: food and goods, 21:00-02:00 every day, 2 stalls, a 50 m square
WEEKLY = (120.2700, 30.1850)  # WEEKLY: any category, Friday 18:00-23:30 and Saturday 22:00-01:00
SQUARE = square_around(*NIGHT, 25.0)["coordinates"][0]
WEST_EDGE = (SQUARE[0][0], NIGHT[1])
HAIR = 1e-6  # about 10 cm


def at(text: str) -> str:
    """A local Asia/Shanghai time, as ISO 8601 with its offset."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ).isoformat()


async def world(p: Platform) -> dict[str, int]:
    """The points, vendors, permits and licence every row starts from; vendor ids by role."""
    points = [
        {"code": "NIGHT", "name": "夜市", "capacity": 2, "categories": ["food", "goods"], "lon": NIGHT[0],
         "lat": NIGHT[1], "opens": "21:00", "closes": "02:00", "polygon": {"type": "Polygon", "coordinates": [SQUARE]}},
        {"code": "WEEKLY", "name": "周末市集", "capacity": 10, "categories": ["food", "produce", "goods", "services"],
         "lon": WEEKLY[0], "lat": WEEKLY[1], "opens": "00:00", "closes": "01:00",
         "windows": [{"days": [5], "opens": "18:00", "closes": "23:30"},
                     {"days": [6], "opens": "22:00", "closes": "01:00"}]},
    ]  # fmt: skip
    for body in points:
        assert (await p.client.post(f"{SV}/vending-points", json=body)).status_code == 201
    vendors = {
        "permitted": {"name": "王建国", "category": "food", "licence_number": "JY0001"},
        "other": {"name": "张伟", "category": "goods", "licence_number": "JY0002"},
        "third": {"name": "刘芳", "category": "food", "licence_number": "JY0003"},
        "unlicensed": {"name": "陈强", "category": "food"},
        "no_permit": {"name": "赵磊", "category": "food", "licence_number": "JY0005"},
        "expired": {"name": "黄娟", "category": "food", "licence_number": "JY0006"},
        "services": {"name": "杨敏", "category": "services", "licence_number": "JY0007"},
        "revoked": {"name": "周杰", "category": "food", "licence_number": "JY0008"},
    }
    ids = {}
    for role, body in vendors.items():
        answer = await p.client.post(f"{SV}/vendors", json=body)
        assert answer.status_code == 201, answer.text
        ids[role] = answer.json()["id"]
    for role in ("permitted", "other", "third", "expired", "revoked"):
        permit = {"vendor_id": ids[role], "point": "NIGHT", "valid_from": "2026-11-10", "valid_to": "2026-11-20"}
        answer = await p.client.post(f"{SV}/permits", json=permit)
        assert answer.status_code == 201, answer.text
        if role == "revoked":
            await p.client.patch(f"{SV}/permits/{answer.json()['id']}", json={"status": "revoked"})
    async with p.database.session() as session:  # City Brain says JY0006 expired on 15 November
        session.add(MarketLicence(licence_number="JY0006", name="黄娟小吃店", expires_on=date(2026, 11, 15)))
    return ids


# (row, local time, where, vendor role or None, category or None, earlier sightings, expected outcome)
ROWS: list[tuple[str, str, tuple[float, float], str | None, str | None, list[tuple[str, str]], str]] = [
    ("allowed", "2026-11-15 22:00", NIGHT, "permitted", None, [], "allowed"),
    ("outside any point", "2026-11-15 22:00", (120.2600, 30.1880), "permitted", None, [], "outside_point"),
    ("polygon west edge counts as inside", "2026-11-15 22:00", WEST_EDGE, "permitted", None, [], "allowed"),
    ("a hair west of the edge", "2026-11-15 22:00", (WEST_EDGE[0] - HAIR, WEST_EDGE[1]), "permitted", None, [],
     "outside_point"),
    ("polygon corner", "2026-11-15 22:00", tuple(SQUARE[2]), "permitted", None, [], "allowed"),
    ("window opens (inclusive)", "2026-11-15 21:00", NIGHT, "permitted", None, [], "allowed"),
    ("a second before opening", "2026-11-15 20:59:59", NIGHT, "permitted", None, [], "outside_hours"),
    ("past midnight, same window", "2026-11-16 01:59:59", NIGHT, "permitted", None, [], "allowed"),
    ("window closes (exclusive)", "2026-11-16 02:00", NIGHT, "permitted", None, [], "outside_hours"),
    ("midday", "2026-11-15 12:00", NIGHT, "permitted", None, [], "outside_hours"),
    ("category given, not allowed", "2026-11-15 22:00", NIGHT, "permitted", "services", [], "category_not_allowed"),
    ("vendor's own category not allowed", "2026-11-15 22:00", NIGHT, "services", None, [], "category_not_allowed"),
    ("no licence number", "2026-11-15 22:00", NIGHT, "unlicensed", None, [], "unlicensed"),
    ("City Brain licence expires that day", "2026-11-15 22:00", NIGHT, "expired", None, [], "allowed"),
    ("City Brain licence expired the day before", "2026-11-16 21:00", NIGHT, "expired", None, [], "unlicensed"),
    ("licensed, no permit", "2026-11-15 22:00", NIGHT, "no_permit", None, [], "no_permit"),
    ("permit revoked", "2026-11-15 22:00", NIGHT, "revoked", None, [], "no_permit"),
    ("permit's first day, opening minute", "2026-11-10 21:00", NIGHT, "permitted", None, [], "allowed"),
    ("before the first day: window opened 9 Nov", "2026-11-10 01:30", NIGHT, "permitted", None, [], "no_permit"),
    ("after the last day, window opened on it", "2026-11-21 01:30", NIGHT, "permitted", None, [], "allowed"),
    ("the day after the last day", "2026-11-21 21:00", NIGHT, "permitted", None, [], "no_permit"),
    ("two stalls taken in this window", "2026-11-15 23:00", NIGHT, "third",  None,
     [("2026-11-15 21:10", "permitted"), ("2026-11-15 21:20", "other")], "over_capacity"),
    ("first-come vendor keeps their stall", "2026-11-15 23:00", NIGHT, "permitted", None,
     [("2026-11-15 21:10", "permitted"), ("2026-11-15 21:20", "other"), ("2026-11-15 21:30", "third")], "allowed"),
    ("yesterday's window does not count", "2026-11-15 21:05", NIGHT, "third", None,
     [("2026-11-15 01:00", "permitted"), ("2026-11-15 01:10", "other")], "allowed"),
    ("unidentified in an open point", "2026-11-15 22:00", NIGHT, None, "food", [], "allowed"),
    ("unidentified at a full point", "2026-11-15 23:00", NIGHT, None, "food",
     [("2026-11-15 21:10", "permitted"), ("2026-11-15 21:20", "other")], "over_capacity"),
    ("the earlier rule wins: unlicensed and outside hours", "2026-11-15 12:00", NIGHT, "unlicensed", None, [],
     "outside_hours"),
    ("weekly: Friday window opens", "2026-11-27 18:00", WEEKLY, None, None, [], "allowed"),
    ("weekly: Friday a minute early", "2026-11-27 17:59", WEEKLY, None, None, [], "outside_hours"),
    ("weekly: Thursday at the Friday hour", "2026-11-26 19:00", WEEKLY, None, None, [], "outside_hours"),
    ("weekly: Saturday night past midnight (Sunday)", "2026-11-22 00:30", WEEKLY, None, None, [], "allowed"),
    ("weekly: Saturday 00:30 belongs to no window", "2026-11-21 00:30", WEEKLY, None, None, [], "outside_hours"),
    ("weekly: Sunday 01:00 closes", "2026-11-22 01:00", WEEKLY, None, None, [], "outside_hours"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("row", "local", "where", "vendor", "category", "earlier", "expected"), ROWS, ids=[r[0] for r in ROWS]
)
async def test_outcome_table_row(
    platform: Callable[..., AbstractAsyncContextManager[Platform]],
    row: str,
    local: str,
    where: tuple[float, float],
    vendor: str | None,
    category: str | None,
    earlier: list[tuple[str, str]],
    expected: str,
) -> None:
    async with platform(plugins=["street_vendors"]) as p:
        ids = await world(p)
        for n, (when, role) in enumerate(earlier):
            body = {
                "client_id": f"earlier-{n}",
                "observed_at": at(when),
                "lon": NIGHT[0],
                "lat": NIGHT[1],
                "vendor_id": ids[role],
            }
            assert (await p.client.post(f"{SV}/sightings", json=body)).status_code == 201
        body: dict[str, Any] = {"client_id": "row", "observed_at": at(local), "lon": where[0], "lat": where[1]}
        if vendor:
            body["vendor_id"] = ids[vendor]
        if category:
            body["category"] = category
        answer = await p.client.post(f"{SV}/sightings", json=body)
        assert answer.status_code == 201, answer.text
        sighting = answer.json()
        assert sighting["outcome"] == expected, row
        assert (sighting["violation"] is None) is (expected == "allowed")
        stored = (await p.client.get(f"{SV}/sightings", params={"limit": 500})).json()["items"]
        assert len(stored) == len(earlier) + 1


@pytest.mark.parametrize(
    ("hours", "window"),
    [
        ({18: 5, 19: 6, 20: 4}, ("18:00", "21:00")),  # the demo's evening
        ({18: 10, 19: 10, 20: 10, 9: 1}, ("18:00", "21:00")),  # a stray morning sighting is left out (80 %)
        ({22: 3, 23: 3, 0: 3}, ("22:00", "01:00")),  # across midnight
        ({7: 9, 8: 1}, ("07:00", "08:00")),  # 90 % in one hour
    ],
)
def test_proposed_window_is_the_shortest_run_of_hours_holding_the_share(
    hours: dict[int, int], window: tuple[str, str]
) -> None:
    assert proposed_window(Counter(hours), 0.8) == window


def test_cells_are_about_100_m_and_stable() -> None:
    cell = cell_of(*NIGHT, 100.0)
    west, south, east, north = cell_bounds(cell)
    assert west <= NIGHT[0] < east and south <= NIGHT[1] < north
    assert abs(haversine_m(west, south, east, south) - 100) < 1 and abs(haversine_m(west, south, west, north) - 100) < 1
    assert cell_of(east, north, 100.0) != cell and cell_of(west, south, 100.0) == cell  # half-open cells
