"""The composed application: health, plugin mounting, OpenAPI, problem+json errors, pagination."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import Platform
from tests.fake_plugins.parking import ParkingPlugin

PlatformFactory = Callable[..., AbstractAsyncContextManager[Platform]]
CAMERAS = "/api/v1/video-net/cameras"


def camera(n: int, owner: str = "urban_management") -> dict[str, object]:
    return {"code": f"330109000013{n:08d}", "name": f"Gate {n}", "owner": owner, "lon": 120.26, "lat": 30.18}


async def test_health_reports_database_and_every_plugin(platform: PlatformFactory) -> None:
    async with platform() as p:
        response = await p.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"status": "ok", "dialect": "sqlite"}
    assert {(x["name"], x["status"]) for x in body["plugins"]} == {
        ("core", "ok"),
        ("street_vendors", "ok"),
        ("video_net", "ok"),
        ("waste_sorting", "ok"),
    }
    assert all(x["version"] for x in body["plugins"])


async def test_health_is_503_when_the_database_is_unreachable(make_settings: Callable[..., object]) -> None:
    from litestar.testing import AsyncTestClient

    from api.app import create_app

    settings = make_settings(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none", plugins="none")
    async with AsyncTestClient(create_app(settings)) as client:  # type: ignore[arg-type]
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"]["status"] == "error"


async def test_plugins_setting_removes_other_plugins_routes_and_jobs(platform: PlatformFactory) -> None:
    async with platform(plugins="waste_sorting") as p:
        assert (await p.client.get(CAMERAS)).status_code == 404
        assert (await p.client.get("/api/v1/street-vendors/vending-points")).status_code == 404
        assert (await p.client.get("/api/v1/waste-sorting/collection-points")).status_code == 200
        jobs = list(p.client.app.state.scheduler.jobs)
        paths = (await p.client.get("/schema/openapi.json")).json()["paths"]
        health = (await p.client.get("/health")).json()
    assert {job.split(":")[0] for job in jobs} == {"core", "waste_sorting"}
    assert not any(path.startswith(("/api/v1/video-net", "/api/v1/street-vendors")) for path in paths)
    assert {x["name"]: x["status"] for x in health["plugins"]} == {
        "core": "ok",
        "street_vendors": "disabled",
        "video_net": "disabled",
        "waste_sorting": "ok",
    }


async def test_broken_plugin_shows_failed_while_everything_else_serves(
    platform: PlatformFactory, install_plugin: Callable[..., Path]
) -> None:
    install_plugin("broken", "import streetbrain_nonexistent_dependency\n")
    async with platform() as p:
        health = (await p.client.get("/health")).json()
        cameras = await p.client.get(CAMERAS)
    broken = next(x for x in health["plugins"] if x["name"] == "broken")
    assert broken["status"] == "failed"
    assert "ModuleNotFoundError" in broken["error"]
    assert health["status"] == "degraded"
    assert cameras.status_code == 200


async def test_openapi_tags_each_plugin_and_the_docs_page_serves(platform: PlatformFactory) -> None:
    async with platform() as p:
        schema = (await p.client.get("/schema/openapi.json")).json()
        docs = await p.client.get("/schema")
        swagger = await p.client.get("/schema/swagger")
    assert {"video_net", "waste_sorting", "street_vendors", "platform"} <= {t["name"] for t in schema["tags"]}
    assert schema["paths"][CAMERAS]["get"]["tags"] == ["video_net"]
    assert docs.status_code == swagger.status_code == 200
    assert "text/html" in docs.headers["content-type"]


async def test_list_endpoints_share_the_paginated_envelope(platform: PlatformFactory) -> None:
    async with platform(plugins="video_net") as p:
        for n in range(7):
            assert (await p.client.post(CAMERAS, json=camera(n))).status_code == 201
        page = (await p.client.get(CAMERAS, params={"limit": 3, "offset": 5})).json()
    assert set(page) == {"items", "total", "limit", "offset"}
    assert (page["total"], page["limit"], page["offset"]) == (7, 3, 5)
    assert [item["code"] for item in page["items"]] == [camera(5)["code"], camera(6)["code"]]


async def test_validation_errors_are_problem_json_naming_each_field(platform: PlatformFactory) -> None:
    async with platform(plugins="video_net") as p:
        bad_body = await p.client.post(CAMERAS, json={**camera(1), "code": "12", "lat": 95})
        bad_query = await p.client.get(CAMERAS, params={"limit": 0})
        unknown_field = await p.client.post(CAMERAS, json={**camera(1), "colour": "red"})
        malformed = await p.client.post(CAMERAS, content=b"{nope", headers={"content-type": "application/json"})
        stored = (await p.client.get(CAMERAS)).json()["total"]
    assert bad_body.status_code == 422
    assert bad_body.headers["content-type"] == "application/problem+json"
    problem = bad_body.json()
    assert (problem["status"], problem["title"]) == (422, "Unprocessable Entity")
    assert problem["errors"][0]["field"] in ("code", "lat")
    assert bad_query.status_code == 422 and bad_query.json()["errors"][0]["field"] == "limit"
    assert unknown_field.status_code == 422 and "colour" in unknown_field.text
    assert malformed.status_code == 400 and malformed.headers["content-type"] == "application/problem+json"
    assert stored == 0


async def test_conflict_and_not_found_are_problem_json(platform: PlatformFactory) -> None:
    async with platform(plugins="video_net") as p:
        await p.client.post(CAMERAS, json=camera(1))
        duplicate = await p.client.post(CAMERAS, json=camera(1))
        missing = await p.client.get(f"{CAMERAS}/99999999999999999999")
        no_route = await p.client.get("/api/v1/nothing-here")
    assert duplicate.status_code == 409 and duplicate.json()["errors"][0]["field"] == "code"
    assert missing.status_code == 404 and missing.json()["detail"] == "no camera with code 99999999999999999999"
    assert no_route.status_code == 404 and no_route.headers["content-type"] == "application/problem+json"


async def test_unexpected_errors_are_500_problem_json_without_internals(platform: PlatformFactory) -> None:
    async with platform(use_entry_points=False, extra_plugins={"parking": ParkingPlugin()}) as p:
        response = await p.client.get("/api/v1/parking/boom", headers={"X-Request-ID": "trace-me-42"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "trace-me-42"
    assert response.json()["request_id"] == "trace-me-42"
    assert "secret internal detail" not in response.text and "Traceback" not in response.text


async def test_acknowledged_writes_are_committed_before_the_response(platform: PlatformFactory) -> None:
    from plugins.video_net.models import Camera

    async with platform(plugins="video_net") as p:
        created = await p.client.post(CAMERAS, json=camera(3))
        async with p.database.session() as session:
            stored = await session.scalar(
                select(func.count()).select_from(Camera).where(Camera.code == camera(3)["code"])
            )
    assert created.status_code == 201
    assert stored == 1


@pytest.mark.postgres
async def test_the_app_serves_on_postgresql(platform: PlatformFactory, postgres_url: str) -> None:
    async with platform(database_url=postgres_url, plugins="video_net") as p:
        health = (await p.client.get("/health")).json()
        created = await p.client.post(CAMERAS, json=camera(8, owner="public_security"))
        duplicate = await p.client.post(CAMERAS, json=camera(8))
        listed = (await p.client.get(CAMERAS, params={"owner": "public_security"})).json()
    assert health["database"] == {"status": "ok", "dialect": "postgresql"}
    assert created.status_code == 201 and duplicate.status_code == 409
    assert (listed["total"], listed["items"][0]["code"]) == (1, camera(8)["code"])
