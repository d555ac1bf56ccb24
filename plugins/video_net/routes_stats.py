"""Statistics endpoints under /api/v1/video-net/statistics: JSON ``{items}``, or ``?format=csv|xlsx``."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import FromQuery

from core.pagination import rows_response
from core.web import DbSession, PlatformSettings, requires
from plugins.video_net import reports
from plugins.video_net.context import settings_of

Format = Literal["json", "csv", "xlsx"]


def _answer(rows: list[dict[str, Any]], fmt: str, name: str) -> Response[Any]:
    if fmt == "json":
        return Response({"items": rows})
    return rows_response(rows, fmt, name)


def _params(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {key: value for key, value in request.query_params.items() if key != "format"}


@get("/statistics/online-rate", summary="Online rate per day", guards=[requires("video_net:read")])
async def online_rate(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    settings: PlatformSettings,
    format: FromQuery[Format] = "json",
) -> Response[Any]:
    """在线率 per local day of [from, to) and ``group_by`` owner (default), grid, camera or all: the share of the
    cameras' observed time spent online."""
    rows = await reports.online_rate_rows(db_session, _params(request), settings.tz)
    return _answer(rows, format, "online_rate")


@get("/statistics/alerts", summary="Alerts per type and day", guards=[requires("video_net:read")])
async def alerts_per_day(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    settings: PlatformSettings,
    format: FromQuery[Format] = "json",
) -> Response[Any]:
    """Alerts per type and local day of [from, to), with the incidents they opened and the merged,
    below-threshold and suppressed ones."""
    return _answer(await reports.alert_rows(db_session, _params(request), settings.tz), format, "alerts_per_day")


@get("/statistics/false-positives", summary="False-positive rates", guards=[requires("video_net:read")])
async def false_positives(
    request: Request[Any, Any, Any], db_session: DbSession, format: FromQuery[Format] = "json"
) -> Response[Any]:
    """Incidents marked false positive / incidents reviewed, per camera and type (``group_by``)."""
    return _answer(await reports.false_positive_rows(db_session, _params(request)), format, "false_positives")


@get("/statistics/suggested-thresholds", summary="Suggested thresholds", guards=[requires("video_net:read")])
async def suggested_thresholds(
    request: Request[Any, Any, Any], db_session: DbSession, state: State, format: FromQuery[Format] = "json"
) -> Response[Any]:
    """Per alert type: the lowest confidence threshold whose reviewed incidents reach ``target_precision``."""
    rows = await reports.threshold_rows(db_session, _params(request), settings_of(state).alert_types)
    return _answer(rows, format, "suggested_thresholds")


ROUTES = [online_rate, alerts_per_day, false_positives, suggested_thresholds]
