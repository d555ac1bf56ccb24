"""Areas in the core: GCJ-02 <-> WGS84 against published pairs, GeoJSON validation, the point-to-grid
index and its edge rule, and the import, index and worker assignment on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box
from sqlalchemy import func, select

from core import migrator
from core.areas import geo
from core.areas.demo import demo_collection
from core.areas.geojson import GeoJSONError, parse_feature_collection, to_shape
from core.areas.index import AreaIndex, GridRef, GridShape, LiveAreaIndex, load_area_index
from core.areas.models import Community, Grid, Street
from core.areas.store import export_all, import_features
from core.areas.workers import assign_workers, grid_workers
from core.db import Database
from core.errors import InputError
from core.plugins import load_plugins
from core.security.accounts import create_user
from core.security.models import AuditEntry
from core.security.permissions import Authorizer

# -- GCJ-02 <-> WGS84 -------------------------------------------------------------------------------

# (wgs lon, wgs lat, gcj lon, gcj lat), published by the test suites of public transform libraries:
REFERENCE_PAIRS = [
    # googollee/eviltransform, python/test.py and go/transform_test.go ("shanghai", "shenzhen", "beijing")
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    # wandergis/coordtransform, test/app.js: wgs84togcj02(116.404, 39.915)
    (116.404, 39.915, 116.41024449916938, 39.91640428150164),
]


@pytest.mark.parametrize(("wgs_lon", "wgs_lat", "gcj_lon", "gcj_lat"), REFERENCE_PAIRS)
def test_gcj02_conversion_matches_published_pairs_within_a_metre(
    wgs_lon: float, wgs_lat: float, gcj_lon: float, gcj_lat: float
) -> None:
    assert geo.haversine_m(*geo.wgs84_to_gcj02(wgs_lon, wgs_lat), gcj_lon, gcj_lat) < 1.0
    assert geo.haversine_m(*geo.gcj02_to_wgs84(gcj_lon, gcj_lat), wgs_lon, wgs_lat) < 1.0
    # the shift itself is hundreds of metres, so the check above means something
    assert geo.haversine_m(wgs_lon, wgs_lat, gcj_lon, gcj_lat) > 100


def test_gcj02_round_trip_across_china_is_under_a_centimetre() -> None:
    rng = random.Random(7)
    for _ in range(500):
        lon, lat = rng.uniform(74, 134), rng.uniform(18, 53)
        back = geo.gcj02_to_wgs84(*geo.wgs84_to_gcj02(lon, lat))
        assert geo.haversine_m(*back, lon, lat) < 0.01


def test_points_outside_china_are_not_shifted() -> None:
    for lon, lat in ((139.6917, 35.6895), (-0.1276, 51.5072), (-74.006, 40.7128)):  # Tokyo, London, New York
        assert geo.wgs84_to_gcj02(lon, lat) == (lon, lat)
        assert geo.gcj02_to_wgs84(lon, lat) == (lon, lat)
        assert geo.to_wgs84(lon, lat, "gcj02") == (lon, lat)


def test_area_of_a_latitude_longitude_rectangle_on_the_sphere() -> None:
    west, south, east, north = 120.25, 30.18, 120.26, 30.19
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    radius = geo.EARTH_RADIUS_M
    exact = radius**2 * math.radians(east - west) * (math.sin(math.radians(north)) - math.sin(math.radians(south)))
    assert geo.ring_area_m2(ring) == pytest.approx(exact, rel=1e-9)
    assert geo.ring_area_m2(list(reversed(ring))) == pytest.approx(exact, rel=1e-9)
    hole = [[120.252, 30.182], [120.254, 30.182], [120.254, 30.184], [120.252, 30.184], [120.252, 30.182]]
    assert geo.polygons_area_m2([[ring, hole]]) == pytest.approx(exact - geo.ring_area_m2(hole))


# -- GeoJSON validation -------------------------------------------------------------------------------


def square(west: float, south: float, size: float = 0.01) -> list[list[float]]:
    west, south, east, north = (round(v, 9) for v in (west, south, west + size, south + size))
    return [[west, south], [east, south], [east, north], [west, north], [west, south]]


def feature(level: str, code: str, parent: str | None = None, geometry: Any = None, **extra: Any) -> dict[str, Any]:
    properties = {"level": level, "code": code, "name": f"{level} {code}", **extra}
    if parent is not None:
        properties["parent"] = parent
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def collection(*features: dict[str, Any], **members: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features), **members}


def tree(grids: int = 4) -> dict[str, Any]:
    """A street, a community and ``grids`` square grids in a row (0.01 degree each)."""
    return collection(
        feature("street", "S1"),
        feature("community", "C1", "S1"),
        *(feature("grid", f"G{i + 1}", "C1", polygon(square(120.0 + 0.01 * i, 30.0))) for i in range(grids)),
    )


def problems_of(document: Any, crs: Any = None) -> dict[str, str]:
    with pytest.raises(GeoJSONError) as caught:
        parse_feature_collection(document, crs)
    return dict(caught.value.problems)


def test_every_problem_is_named_by_feature_index_and_field() -> None:
    bowtie = [[120.0, 30.0], [120.01, 30.01], [120.01, 30.0], [120.0, 30.01], [120.0, 30.0]]
    open_ring = [*square(120.0, 30.0)[:-1], [120.0, 30.001]]
    problems = problems_of(
        collection(
            feature("street", "S1"),
            feature("grid", "G1", "C1", polygon(bowtie)),
            feature("grid", "G2", "C1", polygon(open_ring)),
            feature("grid", "", "C1", polygon(square(120.0, 30.0))),
            feature("ward", "W1"),
            feature("grid", "G3", "C1", None),
            feature("grid", "G4", "C1", polygon([[120.0, 30.0], [200.0, 30.0], [120.0, 31.0], [120.0, 30.0]])),
            feature("grid", "G5", "C1", {"type": "Point", "coordinates": [120.0, 30.0]}),
            feature("street", "S1"),
            feature("grid", "G6", None, polygon(square(120.0, 30.0))),
            feature("grid", "G/7", "C1", polygon(square(120.0, 30.0))),
        )
    )
    assert "Self-intersection" in problems["features[1].geometry"]
    assert "not closed" in problems["features[2].geometry.coordinates[0]"]
    assert "features[3].properties.code" in problems
    assert "features[4].properties.level" in problems
    assert "needs a Polygon" in problems["features[5].geometry"]
    assert "longitude and latitude" in problems["features[6].geometry.coordinates[0][1]"]
    assert "Polygon or MultiPolygon" in problems["features[7].geometry.type"]
    assert "features[0]" in problems["features[8].properties.code"]
    assert "features[9].properties.parent" in problems
    assert "letters, digits" in problems["features[10].properties.code"]
    assert len(problems) == 10


def test_the_document_and_its_coordinate_system_are_checked() -> None:
    assert "type" in problems_of([1, 2])
    assert "features" in problems_of({"type": "FeatureCollection", "features": []})
    assert "crs" in problems_of(collection(feature("street", "S1"), coordinate_system="gcj02"), "wgs84")
    assert "coordinate_system" in problems_of(collection(feature("street", "S1"), coordinate_system="bd09"))
    with pytest.raises(InputError):  # a GeoJSONError is an InputError: 422 wherever it surfaces
        parse_feature_collection({"type": "Feature"})


def test_gcj02_input_is_stored_in_wgs84() -> None:
    ring = square(120.26, 30.18)
    gcj_ring = [list(geo.wgs84_to_gcj02(lon, lat)) for lon, lat in ring]
    (grid,) = parse_feature_collection(collection(feature("grid", "G1", "C1", polygon(gcj_ring))), "gcj02")
    assert grid.geometry is not None
    for (lon, lat), (want_lon, want_lat) in zip(grid.geometry["coordinates"][0], ring, strict=True):
        assert geo.haversine_m(lon, lat, want_lon, want_lat) < 0.01


# -- the index and the edge rule -----------------------------------------------------------------------


def grid_index(*shapes: Any) -> AreaIndex:
    return AreaIndex.from_geometries([(i + 1, shape) for i, shape in enumerate(shapes)])


def test_inside_outside_edges_corners_and_holes() -> None:
    # 2 x 2 squares of 1 x 1 (ids 1 2 / 3 4 from the south-west), a ring-shaped grid with a hole
    # far away, and a grid filling part of that hole.
    a, b, c, d = box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, 1, 1, 2), box(1, 1, 2, 2)
    ring = Polygon([(10, 10), (14, 10), (14, 14), (10, 14)], [[(11, 11), (13, 11), (13, 13), (11, 13)]])
    islands = MultiPolygon([box(11.5, 11.5, 12.5, 12.5), box(20, 20, 21, 21)])
    index = grid_index(a, b, c, d, ring, islands)

    assert index.grid_for(0.5, 0.5) == 1
    assert index.grid_for(1.5, 1.5) == 4
    assert index.grid_for(5, 5) is None
    assert index.grid_for(-0.5, 0.5) is None
    assert index.grid_for(1.0, 0.5) == 1  # the edge shared by 1 and 2: the lower id
    assert index.grid_for(1.5, 1.0) == 2  # shared by 2 and 4
    assert index.grid_for(1.0, 1.0) == 1  # the corner of all four
    assert index.grid_for(2.0, 0.5) == 2  # an outer edge belongs to its grid
    assert index.grid_for(10.5, 12) == 5
    assert index.grid_for(11.2, 12) is None  # in the hole
    assert index.grid_for(12, 12) == 6  # in the hole, on the island that fills it
    assert index.grid_for(20.5, 20.5) == 6  # the island's second part
    assert index.grid_for(11.0, 12) == 5  # on the hole's edge: part of the ring's boundary


def test_single_and_bulk_lookups_agree_with_a_brute_force_scan() -> None:
    rng = random.Random(11)
    shapes = [box(x, y, x + 1, y + 1) for y in range(10) for x in range(10)]
    shapes.append(box(-5, -5, 30, 30))  # a big grid under all of them (overlap): the small ones win
    shapes.append(Polygon([(2.5, 2.5), (7.5, 3.0), (5.0, 8.0)]))  # a triangle across many cells
    index = grid_index(*shapes)
    prepared = list(shapes)
    for shape in prepared:
        shapely.prepare(shape)
    points = [(rng.uniform(-6, 31), rng.uniform(-6, 31)) for _ in range(2000)]
    points += [(float(x), rng.uniform(0, 10)) for x in range(11)] + [
        (float(x), float(y)) for x in range(11) for y in (0, 5, 10)
    ]
    expected = [
        next((i + 1 for i, shape in enumerate(prepared) if shapely.intersects_xy(shape, lon, lat)), None)
        for lon, lat in points
    ]
    assert [index.grid_for(lon, lat) for lon, lat in points] == expected
    assert index.grids_for([p[0] for p in points], [p[1] for p in points]) == expected


def test_inactive_grids_are_not_looked_up_but_still_belong_to_their_community() -> None:
    features = parse_feature_collection(tree(2))
    refs = [
        GridShape(GridRef(1, "G1", "G1", 7, 3, True), to_shape(features[2].geometry or {})),
        GridShape(GridRef(2, "G2", "G2", 8, 3, False), None),
    ]
    index = AreaIndex(refs)
    assert index.grid_for(120.005, 30.005) == 1
    assert index.grid_for(120.015, 30.005) is None
    assert (index.community_for_grid(2), index.street_for_grid(2)) == (8, 3)
    assert index.community_for_grid(99) is None
    assert index.community_for_grid(None) is None
    assert len(index) == 1


def test_an_empty_index_finds_nothing() -> None:
    index = AreaIndex([])
    assert index.grid_for(120.0, 30.0) is None
    assert index.grids_for([120.0], [30.0]) == [None]


# -- storage (SQLite and PostgreSQL) ------------------------------------------------------------------


@pytest.fixture
async def database(make_settings: Callable[..., Any], database_url: str) -> AsyncIterator[Database]:
    manager = load_plugins(make_settings(database_url=database_url, plugins=[]))
    db = Database(database_url)
    await migrator.upgrade(db, migrator.build_targets(manager.ok_plugins(), manager.records))
    yield db
    await db.dispose()


async def count(database: Database, model: Any) -> int:
    async with database.session() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_import_is_all_or_nothing_idempotent_and_feeds_the_index(database: Database) -> None:
    async with database.session() as session:
        first = await import_features(session, tree(4))
    assert (dict(first.created), first.revision, first.warnings) == ({"street": 1, "community": 1, "grid": 4}, 1, [])

    async with database.session() as session:
        again = await import_features(session, tree(4))
    assert (dict(again.created), dict(again.updated), again.revision) == ({}, {}, 1)
    assert dict(again.unchanged) == {"street": 1, "community": 1, "grid": 4}

    audit_rows = await count(database, AuditEntry)
    bad = tree(5)
    bad["features"][6]["properties"]["parent"] = "C9"  # G5 in an unknown community
    bad["features"][0]["properties"]["name"] = "renamed"  # would be an update
    with pytest.raises(GeoJSONError) as caught:
        async with database.session() as session:
            await import_features(session, bad)
    assert caught.value.problems == [("features[6].properties.parent", "no community with code C9")]
    assert (await count(database, Grid), await count(database, AuditEntry)) == (4, audit_rows)
    async with database.session() as session:
        assert await session.scalar(select(Street.name)) == "street S1"

    moved = tree(4)
    moved["features"][5]["geometry"] = polygon(square(120.03, 30.0, 0.02))  # G4 grows over... nothing else
    moved["features"][5]["properties"]["active"] = False
    moved["features"].append(feature("grid", "G5", "C1", polygon(square(120.005, 30.0))))  # overlaps G1 and G2
    async with database.session() as session:
        result = await import_features(session, moved)
    assert (dict(result.created), dict(result.updated), result.revision) == ({"grid": 1}, {"grid": 1}, 2)
    assert result.warnings == [
        "grids G1 and G5 overlap; a point in both is given to the one with the lower id",
        "grids G2 and G5 overlap; a point in both is given to the one with the lower id",
    ]

    index = await load_area_index(database)
    async with database.session() as session:
        ids = {g.code: g.id for g in await session.scalars(select(Grid))}
        community_id = await session.scalar(select(Community.id))
        g4 = await session.scalar(select(Grid).where(Grid.code == "G4"))
    assert g4 is not None and not g4.active and g4.max_lon == pytest.approx(120.05)
    assert index.revision == 2 and len(index) == 4
    assert index.grid_for(120.005, 30.005) == ids["G1"]  # G1 and G5 overlap there: the lower id
    assert index.grid_for(120.012, 30.005) == ids["G2"]
    assert index.grid_for(120.025, 30.005) == ids["G3"]
    assert index.grid_for(120.035, 30.005) is None  # G4 is inactive
    assert index.community_for_grid(ids["G4"]) == community_id
    assert index.community(community_id).code == "C1"  # type: ignore[union-attr]


async def test_export_gives_back_what_was_imported(database: Database) -> None:
    document = demo_collection()
    async with database.session() as session:
        result = await import_features(session, document)
    assert result.warnings == []  # the demo grids tile without overlapping
    async with database.session() as session:
        exported = await export_all(session)
    keys = ("level", "code", "name", "parent")
    assert [({k: f["properties"].get(k) for k in keys}, f["geometry"]) for f in exported["features"]] == [
        ({k: f["properties"].get(k) for k in keys}, f["geometry"]) for f in document["features"]
    ]
    async with database.session() as session:
        again = await import_features(session, exported)
    assert (dict(again.created), dict(again.updated)) == ({}, {})


async def test_live_index_follows_the_revision(database: Database) -> None:
    areas = LiveAreaIndex(database, poll_seconds=3600)
    await areas.open()
    try:
        assert areas.grid_for(120.005, 30.005) is None
        assert await areas.refresh() is False
        async with database.session() as session:
            await import_features(session, tree(1))
        assert areas.grid_for(120.005, 30.005) is None  # not yet: another process wrote
        index = await areas.fresh()
        assert index.grid_for(120.005, 30.005) == areas.grid_for(120.005, 30.005) is not None
        assert await areas.refresh() is False
    finally:
        await areas.close()


async def test_grid_workers_are_the_active_grid_workers_assigned(database: Database) -> None:
    authorizer = Authorizer.build([])
    async with database.session() as session:
        await import_features(session, tree(2))
        g1, g2 = (await session.scalars(select(Grid.id).order_by(Grid.id))).all()
        wang, li, zhao = [
            await create_user(session, authorizer, username=name, password="correct-horse-9", role="grid_worker")
            for name in ("wang", "li", "zhao")
        ]
        boss = await create_user(session, authorizer, username="boss", password="correct-horse-9", role="commander")
        zhao.active = False
        await assign_workers(session, g2, [li.id])

        assert [u.username for u in await assign_workers(session, g1, [wang.id, li.id])] == ["wang", "li"]
        assert [u.username for u in await grid_workers(session, g1)] == ["wang", "li"]
        for wrong in ([boss.id], [zhao.id], [999]):
            with pytest.raises(InputError) as caught:
                await assign_workers(session, g1, wrong)
            assert caught.value.field == "user_ids"

        await assign_workers(session, g1, [li.id])
        assert [u.username for u in await grid_workers(session, g1)] == ["li"]
        assert (wang.grid_ids, li.grid_ids) == ([], [g1, g2])
