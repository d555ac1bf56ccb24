"""``GET /health``: database status and every plugin's status, without authentication."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.datastructures import State

from core.version import VERSION

DATABASE_TIMEOUT_SECONDS = 3.0


@get("/health", tags=["platform"], summary="Database and plugin status")
async def health(state: State) -> Response[dict[str, Any]]:
    """200 when the database answers (503 when not), with each plugin's name, version and status."""
    database: dict[str, Any] = {"status": "ok", "dialect": state.database.dialect}
    try:
        await asyncio.wait_for(state.database.ping(), DATABASE_TIMEOUT_SECONDS)
    except Exception as exc:
        database = {
            "status": "error",
            "dialect": state.database.dialect,
            "error": f"{type(exc).__name__}: {exc}",
        }
    plugins = state.plugins.summaries()
    healthy = database["status"] == "ok"
    body = {
        "status": "ok" if healthy and all(p["status"] != "failed" for p in plugins) else "degraded",
        "version": VERSION,
        "database": database,
        "plugins": plugins,
        "scheduler": {
            "enabled": state.settings.scheduler_enabled,
            "leader": state.scheduler.is_leader,
            "runner": state.scheduler.runner,
        },
    }
    return Response(body, status_code=200 if healthy else 503)
