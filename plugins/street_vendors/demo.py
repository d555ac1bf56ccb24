"""street_vendors demo data around Ningwei street (the street names are illustrative).

- nine vendors (one unlicensed, one licensed without a permit), five vending points with polygons
  (a breakfast point, a produce point, a night market past midnight, a weekday service point and a
  weekend market with weekly windows), and their permits;
- nearly four weeks of sightings ending three days ago: a clear hotspot at the A exit of the metro station
  (宁围地铁站A口), outside every point, on twenty evenings between 18:00 and 21:00, which the
  suggestion job proposes as a new point with an 18:00-21:00 window; scattered sightings elsewhere;
- :func:`script`: one patrol day (the day before yesterday) to post through the API, whose rows
  produce every outcome of the rule table and take 王建国 up the ladder to penalise.

The loader records the four weeks through the same rules as the API but without the event bus, so
they are violations without cases: the case queue of a fresh demo starts empty.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import utcnow
from plugins.street_vendors.cells import cell_centre, cell_of
from plugins.street_vendors.models import Permit, VendingPoint, Vendor
from plugins.street_vendors.places import METRES_PER_DEGREE, grid_locator
from plugins.street_vendors.settings import StreetVendorsSettings
from plugins.street_vendors.sightings import SightingInput, record_sightings

TZ = ZoneInfo("Asia/Shanghai")
WEEKDAYS, WEEKEND = [1, 2, 3, 4, 5], [6, 7]

# code, name, capacity, categories, centre (lon, lat), daily opens/closes, weekly windows or None
POINTS: tuple[tuple[str, str, int, list[str], tuple[float, float], str, str, list[dict[str, Any]] | None], ...] = (
    ("NW-VP-01", "民和路早餐疏导点", 6, ["food"], (120.2641, 30.1872), "06:00", "09:30", None),
    ("NW-VP-02", "宁东路果蔬疏导点", 8, ["produce"], (120.2698, 30.1851), "07:00", "12:00", None),
    ("NW-VP-03", "市心北路夜市", 3, ["food", "goods"], (120.2664, 30.1902), "21:00", "02:00", None),
    ("NW-VP-04", "宁税路便民服务点", 4, ["services"], (120.2713, 30.1889), "09:00", "18:00",
     [{"days": WEEKDAYS, "opens": "09:00", "closes": "18:00"}]),
    ("NW-VP-05", "振宁路周末市集", 20, ["food", "produce", "goods", "services"], (120.2676, 30.1814), "17:00", "22:00",
     [{"days": [5], "opens": "18:00", "closes": "23:30"}, {"days": WEEKEND, "opens": "09:00", "closes": "22:00"}]),
)  # fmt: skip
HALF_WIDTH_M, HALF_HEIGHT_M = 30.0, 20.0

# name, phone, category, licence number, permit point (or None)
VENDORS = (
    ("王建国", "13800138001", "food", "JY330109012000001", "NW-VP-03"),
    ("李秀英", "13800138002", "produce", "JY330109012000002", "NW-VP-02"),
    ("张伟", "13800138003", "food", "JY330109012000003", "NW-VP-03"),
    ("刘芳", "13800138004", "goods", "JY330109012000004", "NW-VP-03"),
    ("陈强", "13800138005", "food", None, None),
    ("杨敏", "13800138006", "services", "JY330109012000006", "NW-VP-04"),
    ("赵磊", "13800138007", "food", "JY330109012000007", None),
    ("黄娟", "13800138008", "produce", "JY330109012000008", "NW-VP-02"),
    ("周杰", "13800138009", "goods", "JY330109012000009", "NW-VP-03"),
)
EXPIRING = "13800138008"
"""黄娟's permit ends in five days: the permit reminder job finds it."""

METRO_EXIT = (120.2600, 30.1880)
"""宁围地铁站A口: the evening hotspot, several hundred metres from every vending point."""
HOTSPOT_EVENINGS = 20
HISTORY_DAYS = (3, 27)
"""The history runs from 27 to 3 days before today (local): inside the four weeks suggestions look at."""


def rectangle(
    lon: float, lat: float, half_width_m: float = HALF_WIDTH_M, half_height_m: float = HALF_HEIGHT_M
) -> dict[str, Any]:
    """A GeoJSON Polygon: a rectangle around a centre, ``half_width_m`` east-west, ``half_height_m`` north-south."""
    dlon = half_width_m / (METRES_PER_DEGREE * 0.8650)  # cos(30.19°)
    dlat = half_height_m / METRES_PER_DEGREE
    w, e, s, n = round(lon - dlon, 7), round(lon + dlon, 7), round(lat - dlat, 7), round(lat + dlat, 7)
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _local_day(now: datetime, days_ago: int) -> date:
    return now.astimezone(TZ).date() - timedelta(days=days_ago)


def _at(day: date, hh_mm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hh_mm), tzinfo=TZ)


def history(now: datetime, vendor_ids: dict[str, int], seed: int = 7) -> list[dict[str, Any]]:
    """Four weeks of sightings as API bodies (``POST /sightings``), oldest first; the same ``now`` and
    seed give the same rows."""
    rng = random.Random(seed)
    first, last = HISTORY_DAYS
    days = [_local_day(now, ago) for ago in range(last, first - 1, -1)]
    centre = cell_centre(cell_of(*METRO_EXIT, StreetVendorsSettings().cell_size_m))
    rows: list[dict[str, Any]] = []

    def add(moment: datetime, lon: float, lat: float, **more: Any) -> None:
        rows.append({"client_id": f"demo-h{len(rows):04d}", "observed_at": moment.isoformat(), "lon": round(lon, 7),
                     "lat": round(lat, 7), "source": rng.choice(["patrol", "camera", "citizen"]), **more})  # fmt: skip

    jitter = 25 / METRES_PER_DEGREE  # stay inside the hotspot's 100 m cell
    for day in sorted(rng.sample(days, HOTSPOT_EVENINGS)):
        for _ in range(rng.randint(2, 4)):
            moment = _at(day, "18:00") + timedelta(minutes=rng.randrange(0, 180))
            add(moment, centre[0] + rng.uniform(-jitter, jitter), centre[1] + rng.uniform(-jitter, jitter),
                category=rng.choice(["food", "food", "produce"]))  # fmt: skip
    for _ in range(60):  # scattered: a few days at most in any one cell
        day = rng.choice(days)
        moment = _at(day, "06:00") + timedelta(minutes=rng.randrange(0, 17 * 60))
        add(
            moment,
            120.2555 + rng.uniform(0, 0.02),
            30.1785 + rng.uniform(0, 0.015),
            category=rng.choice(["food", "goods"]),
        )
    produce = POINTS[1][4]
    for day in days:  # the produce point at work in the mornings
        add(_at(day, "08:15"), produce[0], produce[1], vendor_id=vendor_ids["13800138002"])
    rows.sort(key=lambda r: r["observed_at"])
    return rows


def script(now: datetime, vendor_ids: dict[str, int]) -> list[tuple[dict[str, Any], str, str | None]]:
    """One patrol day (the day before yesterday, local) as ``(API body, expected outcome, expected stage)``."""
    day = _local_day(now, 2)
    nxt = day + timedelta(days=1)
    centres = {code: centre for code, _n, _c, _cat, centre, *_ in POINTS}
    edge = rectangle(*centres["NW-VP-02"])["coordinates"][0][1]  # the south-east corner of the produce point
    rows = [
        ("07:00", day, "NW-VP-02", "13800138008", None, "allowed", None),  # permit's first day, opening minute
        ("07:30", day, "NW-VP-02", "13800138002", None, "allowed", None),
        ("08:00", day, "NW-VP-01", "13800138005", None, "unlicensed", "educate"),
        ("09:00", day, "NW-VP-01", "13800138007", None, "no_permit", "educate"),
        ("10:00", day, "NW-VP-01", "13800138001", None, "outside_hours", "educate"),  # closed at 09:30
        ("10:30", day, "NW-VP-02", "13800138001", None, "category_not_allowed", "warn"),
        ("11:00", day, "edge", "13800138002", None, "allowed", None),  # on the polygon's corner
        ("12:00", day, "metro", None, "goods", "outside_point", "unidentified"),
        ("20:59", day, "NW-VP-03", "13800138003", None, "outside_hours", "educate"),
        ("21:00", day, "NW-VP-03", "13800138003", None, "allowed", None),
        ("21:30", day, "NW-VP-03", "13800138004", None, "allowed", None),
        ("21:45", day, "NW-VP-03", "13800138009", None, "allowed", None),
        ("22:00", day, "NW-VP-03", "13800138001", None, "over_capacity", "penalise"),  # fourth vendor of three stalls
        ("01:59", nxt, "NW-VP-03", "13800138003", None, "allowed", None),  # past midnight, same window
        ("02:00", nxt, "NW-VP-03", "13800138004", None, "outside_hours", "educate"),  # the closing minute
    ]
    out = []
    for n, (hh_mm, on, where, phone, category, outcome, stage) in enumerate(rows):
        lon, lat = {"edge": tuple(edge), "metro": METRO_EXIT}.get(where) or centres[where]
        body: dict[str, Any] = {"client_id": f"demo-s{n:02d}", "observed_at": _at(on, hh_mm).isoformat(),
                                "lon": lon, "lat": lat, "source": "patrol"}  # fmt: skip
        if phone:
            body["vendor_id"] = vendor_ids[phone]
        if category:
            body["category"] = category
        out.append((body, outcome, stage))
    return out


async def load_places(session: AsyncSession, now: datetime) -> dict[str, int]:
    """Vendors, the five points and the permits; vendor ids by phone in ``vendor_ids``."""
    points = {
        code: VendingPoint(code=code, name=name, capacity=capacity, categories=categories, lon=lon, lat=lat,
                           opens=opens, closes=closes, windows=windows, polygon=rectangle(lon, lat))
        for code, name, capacity, categories, (lon, lat), opens, closes, windows in POINTS
    }  # fmt: skip
    session.add_all(points.values())
    vendors = {
        phone: Vendor(name=name, phone=phone, category=category, licence_number=licence)
        for name, phone, category, licence, _ in VENDORS
    }
    session.add_all(vendors.values())
    await session.flush()
    today = now.astimezone(TZ).date()
    permits = [
        Permit(
            vendor_id=vendors[phone].id,
            point_id=points[point].id,
            valid_from=today - timedelta(days=2) if phone == EXPIRING else today - timedelta(days=60),
            valid_to=today + timedelta(days=5) if phone == EXPIRING else today + timedelta(days=305),
        )
        for _name, phone, _category, _licence, point in VENDORS
        if point is not None
    ]
    session.add_all(permits)
    await session.flush()
    return {"vending_points": len(points), "vendors": len(vendors), "permits": len(permits)}


async def vendor_ids(session: AsyncSession) -> dict[str, int]:
    """The demo vendors' ids by phone number."""
    return {v.phone: v.id for v in await session.scalars(select(Vendor)) if v.phone}


async def load(session: AsyncSession) -> dict[str, int]:
    """Add the demo, unless there are vending points already; rows added per kind."""
    if await session.scalar(select(VendingPoint.id).limit(1)) is not None:
        return {}
    now = utcnow()
    counts = await load_places(session, now)
    bodies = history(now, await vendor_ids(session))
    locate = await grid_locator(session)
    items = [
        SightingInput(client_id=b["client_id"], observed_at=datetime.fromisoformat(b["observed_at"]), lon=b["lon"],
                      lat=b["lat"], source=b["source"], reported_by="demo", vendor_id=b.get("vendor_id"),
                      category=b.get("category"), grid_id=locate(b["lon"], b["lat"]))
        for b in bodies
    ]  # fmt: skip
    await record_sightings(session, None, items, StreetVendorsSettings(), TZ)
    return {**counts, "sightings": len(items)}
