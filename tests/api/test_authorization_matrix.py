"""Every route of the OpenAPI schema, for every role, no credentials and a wrong-scope API key.

The expected answer of each call comes from the route's own guards (``requires(...)``) and the
role's permissions, so a route that any plugin adds later is covered without a new test; a route
under /api/v1 that declares no permission fails the test unless it is one of the few meant for
any signed-in caller.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute

from core.security.permissions import ROLES
from core.web import requires
from tests.conftest import Platform

PUBLIC = re.compile(r"^(/health|/schema.*|/api/v1/auth/(token|refresh))$")
ANY_SIGNED_IN = {"/api/v1/auth/me", "/api/v1/auth/password"}


def routes(app: Litestar) -> list[tuple[str, str, frozenset[str]]]:
    """``(path template, method, permissions)`` of every HTTP route handler of the app."""
    out = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            methods = sorted(m for m in handler.http_methods if m not in ("OPTIONS", "HEAD"))
            if not methods:
                continue
            method = methods[0]
            guards = [guard for layer in handler.ownership_layers for guard in (layer.guards or [])]
            needed = frozenset().union(*(guard.permissions for guard in guards if isinstance(guard, requires)))
            out.append((route.path, method, needed))
    return out


def concrete(path: str) -> str:
    """A callable URL for a template: ints become 999999 (no real row is touched), anything else ``x``."""
    return re.sub(r"\{[^}:]+:int\}", "999999", re.sub(r"\{[^}:]+(:(str|path))?\}", "x", path))


def denied(status: int) -> bool:
    return status in (401, 403)


async def test_every_route_answers_every_role_as_its_guards_say(
    platform: Callable[..., AbstractAsyncContextManager[Platform]], backend: dict[str, Any]
) -> None:
    async with platform(**backend) as p:
        app = p.client.app
        table = routes(app)
        schema_paths = (await p.client.get("/schema/openapi.json")).json()["paths"]
        documented = {(path, method.upper()) for path, item in schema_paths.items() for method in item}
        served = {(re.sub(r":\w+\}", "}", path), method) for path, method, _ in table}
        assert {entry for entry in documented if not entry[0].startswith("/schema")} <= served

        unguarded = [
            (path, method)
            for path, method, needed in table
            if path.startswith("/api/v1") and not needed and path not in ANY_SIGNED_IN and not PUBLIC.match(path)
        ]
        assert unguarded == [], "every /api/v1 route must declare its permission with requires(...)"

        callers: dict[str, dict[str, str]] = {role: await p.headers_for(role) for role in ROLES}
        callers["anonymous"] = {"Authorization": ""}
        callers["device key"] = await p.api_key_headers("video_net:ingest")
        permissions = {role: p.authorizer.roles[role] for role in ROLES}
        permissions["anonymous"] = frozenset()
        permissions["device key"] = frozenset({"video_net:ingest"})

        mismatches = []
        for path, method, needed in table:
            url = concrete(path)
            public = bool(PUBLIC.match(path))
            for name, headers in callers.items():
                if url == "/api/v1/auth/token" or (url == "/api/v1/auth/password" and name != "anonymous"):
                    continue  # signing in and changing passwords have tests of their own
                response = await p.client.request(method, url, headers=headers, json={} if method != "GET" else None)
                if public:
                    expected_denied = False
                elif name == "anonymous":
                    expected_denied = True
                else:
                    expected_denied = not needed <= permissions[name]
                if denied(response.status_code) != expected_denied or response.status_code >= 500:
                    mismatches.append((name, method, url, response.status_code, sorted(needed)))
                if name == "anonymous" and not public and response.status_code != 401:
                    mismatches.append((name, method, url, response.status_code, "expected 401"))
        assert mismatches == []
