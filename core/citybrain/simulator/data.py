"""Deterministic, realistic but fake City Brain datasets for a Ningwei-like street (宁围街道, Xiaoshan).

The same seed and sizes give the same records, byte for byte. Every record has ``id`` (its
natural key), ``name``, ``lon``/``lat`` (WGS84) and ``updated_at`` (UTC ISO 8601); records are
served in ``(updated_at, id)`` order, which is what the cursor walks.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

STREET = "宁围街道"
STREET_CODE = "330109012"
COMMUNITIES = (
    ("001", "宁新村", 120.262, 30.218),
    ("002", "宁税村", 120.271, 30.224),
    ("003", "新华村", 120.279, 30.231),
    ("004", "合丰村", 120.286, 30.212),
    ("005", "丰北村", 120.293, 30.205),
    ("006", "宁牧村", 120.301, 30.226),
    ("007", "盈一村", 120.255, 30.236),
    ("008", "利一村", 120.266, 30.244),
    ("009", "利二村", 120.276, 30.249),
    ("010", "顺坝村", 120.309, 30.239),
    ("011", "振宁社区", 120.249, 30.222),
    ("012", "宁泰社区", 120.283, 30.239),
)
ROADS = ("市心北路", "金城路", "民和路", "利华路", "宁税路", "皓月路", "通惠北路", "博奥路", "建设四路", "振宁路")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅文斌宇浩凯鹏晨欣怡佳琪子涵雨轩"
TRADES = (
    ("food", "小吃店"),
    ("food", "早餐店"),
    ("produce", "水果店"),
    ("produce", "生鲜超市"),
    ("goods", "便利店"),
    ("goods", "五金店"),
    ("services", "理发店"),
    ("services", "修车铺"),
)
CAMERA_OWNERS = ("public_security", "urban_management", "community")
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 300 * 24 * 3600


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _near(rng: random.Random, lon: float, lat: float, spread: float = 0.006) -> tuple[float, float]:
    return round(lon + rng.uniform(-spread, spread), 6), round(lat + rng.uniform(-spread, spread), 6)


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _market_license(rng: random.Random, i: int) -> dict[str, Any]:
    code, community, lon, lat = rng.choice(COMMUNITIES)
    category, trade = rng.choice(TRADES)
    road = rng.choice(ROADS)
    issued = EPOCH - timedelta(days=rng.randint(30, 3000))
    lon, lat = _near(rng, lon, lat)
    return {
        "id": f"JY{STREET_CODE}{i:08d}",
        "name": f"杭州市萧山区{road}{_person(rng)}{trade}",
        "holder": _person(rng),
        "category": category,
        "address": f"{community}{road}{rng.randint(1, 999)}号",
        "community": community,
        "community_code": STREET_CODE + code,
        "issued_on": issued.date().isoformat(),
        "expires_on": (issued + timedelta(days=5 * 365)).date().isoformat(),
        "lon": lon,
        "lat": lat,
    }


def _household(rng: random.Random, i: int) -> dict[str, Any]:
    code, community, lon, lat = rng.choice(COMMUNITIES)
    building, unit, room = rng.randint(1, 40), rng.randint(1, 4), rng.randint(101, 1802)
    lon, lat = _near(rng, lon, lat)
    return {
        "id": f"HH{STREET_CODE}{code}{i:07d}",
        "name": f"{_person(rng)}户",
        "address": f"{community}{building}幢{unit}单元{room}室",
        "community": community,
        "community_code": STREET_CODE + code,
        "members": rng.choice((1, 2, 2, 3, 3, 3, 4, 4, 5, 6)),
        "qr_code": hashlib.sha256(f"qr-{i}".encode()).hexdigest()[:16].upper(),
        "lon": lon,
        "lat": lat,
    }


def _camera(rng: random.Random, i: int) -> dict[str, Any]:
    _code, community, lon, lat = rng.choice(COMMUNITIES)
    owner = rng.choice(CAMERA_OWNERS)
    type_code = {"public_security": "132", "urban_management": "131", "community": "134"}[owner]
    road, cross = rng.sample(ROADS, 2)
    lon, lat = _near(rng, lon, lat)
    return {
        "id": f"33010952{type_code}{i:09d}"[:20],  # GB/T 28181: 20 digits
        "name": f"{STREET}{road}与{cross}交叉口{rng.randint(1, 8)}号枪机",
        "owner": owner,
        "community": community,
        "lon": lon,
        "lat": lat,
        "status": rng.choice(("online", "online", "online", "offline")),
    }


def _grid(rng: random.Random, i: int) -> dict[str, Any]:
    code, community, lon, lat = COMMUNITIES[i % len(COMMUNITIES)]
    lon, lat = _near(rng, lon, lat, 0.004)
    half = 0.002
    ring = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half], [lon - half, lat + half]]
    ring = [[round(x, 6), round(y, 6)] for x, y in ring]
    return {
        "id": f"{STREET_CODE}{code}{i:04d}",
        "name": f"{community}第{i // len(COMMUNITIES) + 1}网格",
        "community": community,
        "community_code": STREET_CODE + code,
        "grid_worker": _person(rng),
        "lon": lon,
        "lat": lat,
        "polygon": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
    }


GENERATORS: dict[str, Callable[[random.Random, int], dict[str, Any]]] = {
    "market_licenses": _market_license,
    "households": _household,
    "cameras": _camera,
    "grids": _grid,
}
DEFAULT_SIZES = {"market_licenses": 1200, "households": 5000, "cameras": 300, "grids": 60}


@dataclass
class Dataset:
    """One generated dataset, kept sorted by ``(updated_at, id)``."""

    name: str
    records: list[dict[str, Any]]
    keys: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.resort()

    def resort(self) -> None:
        """Sort by ``(updated_at, id)`` after records changed."""
        self.records.sort(key=lambda r: (r["updated_at"], r["id"]))
        self.keys = [(r["updated_at"], r["id"]) for r in self.records]

    def start_of(self, updated_since: str | None, after: tuple[str, str] | None) -> int:
        """Index of the first record at or after ``updated_since`` and strictly after the ``after`` key."""
        start = bisect.bisect_left(self.keys, (updated_since, "")) if updated_since else 0
        if after is not None:
            start = max(start, bisect.bisect_right(self.keys, after))
        return start

    def touch(self, count: int, rng: random.Random, now: datetime) -> list[str]:
        """Change ``count`` records (their ``members``/``status``/``name``) and stamp them ``now``; return their ids."""
        chosen = rng.sample(range(len(self.records)), min(count, len(self.records)))
        latest = datetime.fromisoformat(self.keys[-1][0]) if self.keys else now
        stamp = _iso(max(now, latest + timedelta(seconds=1)))
        ids = []
        for index in chosen:
            record = self.records[index]
            record["name"] = record["name"].rstrip("*") + "*"
            record["updated_at"] = stamp
            ids.append(record["id"])
        self.resort()
        return ids


def generate(name: str, size: int, seed: int) -> Dataset:
    """The dataset ``name`` with ``size`` records for ``seed`` (the same arguments give the same records)."""
    rng = random.Random(f"{seed}:{name}")
    make = GENERATORS[name]
    records = []
    for i in range(1, size + 1):
        record = make(rng, i)
        # Several records share a timestamp, as real change feeds do: the cursor must break ties by id.
        record["updated_at"] = _iso(EPOCH + timedelta(seconds=rng.randrange(0, SPAN_SECONDS, 60)))
        records.append(record)
    return Dataset(name, records)


def generate_all(seed: int, sizes: dict[str, int] | None = None) -> dict[str, Dataset]:
    """Every dataset for ``seed``, with ``sizes`` overriding :data:`DEFAULT_SIZES`."""
    wanted = {**DEFAULT_SIZES, **(sizes or {})}
    return {name: generate(name, size, seed) for name, size in wanted.items()}
