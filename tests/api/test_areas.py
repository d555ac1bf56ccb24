"""Areas through the API: GeoJSON import and export, lists, locate (also in GCJ-02), grid workers."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

from core.areas import geo
from core.demo import load_demo_areas
from core.security.tokens import issue
from tests.conftest import Platform

PlatformFactory = Callable[..., AbstractAsyncContextManager[Platform]]
IMPORT = "/api/v1/areas/import"
SIZE = 0.002  # grids of about 190 x 220 m: smaller than the GCJ-02 shift, so a mix-up shows


def square(west: float, south: float, size: float = SIZE) -> list[list[float]]:
    west, south, east, north = (round(v, 9) for v in (west, south, west + size, south + size))
    return [[west, south], [east, south], [east, north], [west, north], [west, south]]


def feature(level: str, code: str, parent: str | None = None, ring: list[list[float]] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"level": level, "code": code, "name": f"{level} {code}"}
    if parent:
        properties["parent"] = parent
    geometry = {"type": "Polygon", "coordinates": [ring]} if ring else None
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def areas(columns: int = 4, west: float = 120.26, south: float = 30.18) -> dict[str, Any]:
    """A street, two communities (the west and the east half) and ``columns`` x 2 grids."""
    features = [feature("street", "S1"), feature("community", "C1", "S1"), feature("community", "C2", "S1")]
    for row in range(2):
        for column in range(columns):
            community = "C1" if column < columns // 2 else "C2"
            ring = square(west + column * SIZE, south + row * SIZE)
            features.append(feature("grid", f"G{row}{column}", community, ring))
    return {"type": "FeatureCollection", "features": features}


def fields(response: Any) -> dict[str, str]:
    return {error["field"]: error["message"] for error in response.json().get("errors", [])}


async def test_import_lists_and_export_round_trip(platform: PlatformFactory, backend: dict[str, Any]) -> None:
    document = areas()
    async with platform(plugins="none", **backend) as p:
        response = await p.client.post(IMPORT, json=document)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "created": {"street": 1, "community": 2, "grid": 8},
            "updated": {},
            "unchanged": {},
            "revision": 1,
            "warnings": [],
        }

        streets = (await p.client.get("/api/v1/areas/streets")).json()
        assert (streets["total"], [s["code"] for s in streets["items"]]) == (1, ["S1"])
        communities = (await p.client.get("/api/v1/areas/communities", params={"street": "S1"})).json()
        assert [(c["code"], c["street_code"]) for c in communities["items"]] == [("C1", "S1"), ("C2", "S1")]
        grids = (await p.client.get("/api/v1/areas/grids", params={"limit": 3})).json()
        assert (grids["total"], grids["limit"], len(grids["items"])) == (8, 3, 3)
        in_c2 = (await p.client.get("/api/v1/areas/grids", params={"community": "C2"})).json()
        assert [g["code"] for g in in_c2["items"]] == ["G02", "G03", "G12", "G13"]
        first = in_c2["items"][0]
        assert first["bbox"] == [120.264, 30.18, 120.266, 30.182]
        assert (first["street_code"], first["active"]) == ("S1", True)
        assert 40_000 < first["area_m2"] < 44_000  # 0.002 degrees square at 30 N

        detail = await p.client.get("/api/v1/areas/grids/G02")
        assert detail.json()["geometry"] == document["features"][5]["geometry"]
        assert (await p.client.get("/api/v1/areas/grids/NOPE")).status_code == 404

        exported = await p.client.get("/api/v1/areas/grids.geojson")
        assert exported.headers["content-type"].startswith("application/geo+json")
        keys = ("level", "code", "name", "parent")
        assert [({k: f["properties"][k] for k in keys}, f["geometry"]) for f in exported.json()["features"]] == [
            ({k: f["properties"][k] for k in keys}, f["geometry"]) for f in document["features"][3:]
        ]

        everything = (await p.client.get("/api/v1/areas/export.geojson")).json()
        again = await p.client.post(IMPORT, json=everything)
        assert again.json()["unchanged"] == {"street": 1, "community": 2, "grid": 8}
        assert (again.json()["created"], again.json()["updated"], again.json()["revision"]) == ({}, {}, 1)

        renamed = areas()
        renamed["features"][3]["properties"]["name"] = "网格一"
        changed = (await p.client.post(IMPORT, json=renamed)).json()
        assert (changed["updated"], changed["revision"]) == ({"grid": 1}, 2)
        assert (await p.client.get("/api/v1/areas/grids/G00")).json()["name"] == "网格一"


async def test_bad_input_is_a_422_naming_feature_and_field_and_writes_nothing(
    platform: PlatformFactory, backend: dict[str, Any]
) -> None:
    async with platform(plugins="none", **backend) as p:
        bowtie = areas()
        bowtie["features"][4]["geometry"]["coordinates"][0][1:3] = [[120.264, 30.182], [120.264, 30.18]]
        response = await p.client.post(IMPORT, json=bowtie)
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "Self-intersection" in fields(response)["features[4].geometry"]

        orphan = areas()
        orphan["features"][7]["properties"]["parent"] = "C9"
        response = await p.client.post(IMPORT, json=orphan)
        assert response.status_code == 422
        assert fields(response) == {"features[7].properties.parent": "no community with code C9"}

        response = await p.client.post(IMPORT, json={"type": "Feature", "features": []})
        assert (response.status_code, list(fields(response))) == (422, ["type"])
        response = await p.client.post(IMPORT, params={"crs": "bd09"}, json=areas())
        assert (response.status_code, list(fields(response))) == (422, ["crs"])

        for path in ("streets", "communities", "grids"):
            assert (await p.client.get(f"/api/v1/areas/{path}")).json()["total"] == 0


async def test_locate_in_wgs84_and_gcj02_and_the_index_follows_imports(platform: PlatformFactory) -> None:
    async with platform(plugins="none") as p:
        wgs = (120.26 + 1.5 * SIZE, 30.18 + 0.5 * SIZE)  # the middle of grid G01
        gcj = geo.wgs84_to_gcj02(*wgs)
        locate = "/api/v1/areas/locate"
        assert (await p.client.get(locate, params={"lon": wgs[0], "lat": wgs[1]})).json()["grid"] is None

        assert (await p.client.post(IMPORT, json=areas())).status_code == 200
        found = (await p.client.get(locate, params={"lon": gcj[0], "lat": gcj[1], "crs": "gcj02"})).json()
        assert found["grid"]["code"] == "G01"
        assert (found["community"]["code"], found["street"]["code"]) == ("C1", "S1")
        assert geo.haversine_m(found["lon"], found["lat"], *wgs) < 1.0
        as_if_wgs = (await p.client.get(locate, params={"lon": gcj[0], "lat": gcj[1]})).json()
        assert (as_if_wgs["grid"] or {}).get("code") != "G01"  # the shift is bigger than a grid

        edge = (await p.client.get(locate, params={"lon": 120.262, "lat": 30.181})).json()  # G00 | G01
        assert edge["grid"]["code"] == "G00"  # the lower id
        response = await p.client.get(locate, params={"lon": 190, "lat": 30.18})
        assert (response.status_code, list(fields(response))) == (422, ["lon"])

        areas_state = p.client.app.state.areas
        assert areas_state.grid_for(*wgs) == found["grid"]["id"]
        assert areas_state.community_for_grid(found["grid"]["id"]) == found["community"]["id"]


async def test_import_and_export_in_gcj02(platform: PlatformFactory) -> None:
    wgs_document = areas(columns=2)
    gcj_document = areas(columns=2)
    for item in gcj_document["features"][3:]:
        ring = item["geometry"]["coordinates"][0]
        item["geometry"]["coordinates"][0] = [list(geo.wgs84_to_gcj02(lon, lat)) for lon, lat in ring]
    async with platform(plugins="none") as p:
        assert (await p.client.post(IMPORT, params={"crs": "gcj02"}, json=gcj_document)).status_code == 200
        stored = (await p.client.get("/api/v1/areas/grids.geojson")).json()
        shown = (await p.client.get("/api/v1/areas/grids.geojson", params={"crs": "gcj02"})).json()
        assert (stored["coordinate_system"], shown["coordinate_system"]) == ("wgs84", "gcj02")
        for got, want in ((stored, wgs_document), (shown, gcj_document)):
            for got_feature, want_feature in zip(got["features"], want["features"][3:], strict=True):
                got_ring = got_feature["geometry"]["coordinates"][0]
                want_ring = want_feature["geometry"]["coordinates"][0]
                assert max(geo.haversine_m(*a, *b) for a, b in zip(got_ring, want_ring, strict=True)) < 1.0
        # an export in GCJ-02 says so, and cannot be taken for WGS84 by mistake
        mistaken = await p.client.post(IMPORT, params={"crs": "wgs84"}, json=shown)
        assert (mistaken.status_code, list(fields(mistaken))) == (422, ["crs"])
        assert (await p.client.post(IMPORT, json=shown)).json()["updated"] == {}


async def test_grid_workers_are_assigned_by_grid(platform: PlatformFactory, backend: dict[str, Any]) -> None:
    async with platform(plugins="none", **backend) as p:
        await p.client.post(IMPORT, json=areas())
        grid = (await p.client.get("/api/v1/areas/grids/G00")).json()
        wang, li = await p.user("grid_worker"), await p.user("grid_worker")
        commander = await p.user("commander")
        workers = "/api/v1/areas/grids/G00/workers"

        response = await p.client.put(workers, json={"user_ids": [li.id, wang.id]})
        assert response.status_code == 200, response.text
        assert [(w["id"], w["grid_ids"]) for w in response.json()] == [(wang.id, [grid["id"]]), (li.id, [grid["id"]])]
        response = await p.client.put(workers, json={"user_ids": [li.id, commander.id]})
        assert response.status_code == 422
        assert "not a grid worker" in fields(response)["user_ids"]

        commander_headers = await p.headers_for("commander")
        response = await p.client.put(workers, json={"user_ids": [li.id]}, headers=commander_headers)
        assert [w["username"] for w in response.json()] == [li.username]
        assert [w["id"] for w in (await p.client.get(workers)).json()] == [li.id]
        viewer = await p.headers_for("viewer")
        assert (await p.client.put(workers, json={"user_ids": []}, headers=viewer)).status_code == 403
        assert (await p.client.get("/api/v1/areas/grids", headers=viewer)).status_code == 200
        assert (await p.client.put("/api/v1/areas/grids/NOPE/workers", json={"user_ids": []})).status_code == 404

        # the assignment is what the grid worker is limited to, at once
        token = issue(li.id, li.token_version, "access", timedelta(minutes=5))
        me = (await p.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})).json()
        assert me["grid_ids"] == [grid["id"]]


async def test_demo_areas_have_stable_ids_where_the_plugins_demo_data_lies(platform: PlatformFactory) -> None:
    async with platform(plugins="none") as p:
        assert await load_demo_areas(p.database) == {"streets": 1, "communities": 4, "grids": 16}
        assert await load_demo_areas(p.database) == {}
        await p.client.app.state.areas.refresh()
        grids = (await p.client.get("/api/v1/areas/grids", params={"community": "ningwei-01"})).json()
        assert [g["id"] for g in grids["items"]] == [1, 2, 3, 4]
        # the waste_sorting demo's community centres fall in the communities of those names
        for name, (lon, lat) in {
            "宁新社区": (120.2612, 30.1903),
            "宁税社区": (120.2701, 30.1897),
            "振宁社区": (120.2629, 30.1821),
            "合丰社区": (120.2688, 30.1815),
        }.items():
            found = (await p.client.get("/api/v1/areas/locate", params={"lon": lon, "lat": lat})).json()
            assert (found["community"]["name"], found["street"]["name"]) == (name, "宁围街道")
