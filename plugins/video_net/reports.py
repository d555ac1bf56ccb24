"""Statistics as API rows and as the platform's reports (``GET /api/v1/reports/video_net/<name>``).

Parameters are strings (query parameters): ``from`` and ``to`` are local dates (``YYYY-MM-DD``,
the period is [from, to); default the last 7 days to today included), ``group_by`` as each says.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncSession

from core.contracts import ReportSpec
from core.errors import InputError
from plugins.video_net import statistics
from plugins.video_net.alert_types import resolved

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
ONLINE_GROUPS = ("owner", "grid", "camera", "all")
FALSE_POSITIVE_GROUPS = ("camera_type", "camera", "type")


def period(params: Mapping[str, str | None], tz: ZoneInfo) -> tuple[date, date]:
    """``from`` and ``to`` as local dates (:class:`InputError` naming the bad one); default the last 7 days."""
    today = datetime.now(tz).date()
    values: dict[str, date] = {}
    for name, default in (("from", today - timedelta(days=6)), ("to", today + timedelta(days=1))):
        raw = params.get(name)
        try:
            values[name] = date.fromisoformat(raw) if raw else default
        except ValueError:
            raise InputError(name, "expected a date YYYY-MM-DD") from None
    if values["to"] <= values["from"]:
        raise InputError("to", "must be after from")
    if (values["to"] - values["from"]).days > 366:
        raise InputError("to", "at most 366 days")
    return values["from"], values["to"]


def choice(params: Mapping[str, str | None], name: str, allowed: tuple[str, ...]) -> str:
    """A parameter that must be one of ``allowed`` (the first is the default)."""
    value = params.get(name) or allowed[0]
    if value not in allowed:
        raise InputError(name, f"expected one of {', '.join(allowed)}")
    return value


def number(params: Mapping[str, str | None], name: str, default: float, low: float, high: float) -> float:
    """A numeric parameter within [low, high]."""
    raw = params.get(name)
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise InputError(name, "expected a number") from None
    if not low <= value <= high:
        raise InputError(name, f"expected {low:g} to {high:g}")
    return value


async def online_rate_rows(
    session: AsyncSession, params: Mapping[str, str | None], tz: ZoneInfo
) -> list[dict[str, Any]]:
    """Online rate per day and owner, grid, camera or all (``group_by``)."""
    start, end = period(params, tz)
    group_by = cast(statistics.GroupBy, choice(params, "group_by", ONLINE_GROUPS))
    return await statistics.online_rate(session, tz, start, end, group_by)


async def alert_rows(session: AsyncSession, params: Mapping[str, str | None], tz: ZoneInfo) -> list[dict[str, Any]]:
    """Alerts per type and day."""
    start, end = period(params, tz)
    return await statistics.alerts_per_type_and_day(session, tz, start, end)


async def false_positive_rows(session: AsyncSession, params: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """False-positive rate per camera and type (``group_by``: camera_type, camera or type)."""
    group_by = choice(params, "group_by", FALSE_POSITIVE_GROUPS)
    return await statistics.false_positive_rates(session, group_by)  # type: ignore[arg-type]


async def threshold_rows(
    session: AsyncSession, params: Mapping[str, str | None], overrides: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """A suggested confidence threshold per alert type (``target_precision``, ``min_reviewed``)."""
    target = number(params, "target_precision", 0.9, 0.5, 1.0)
    minimum = int(number(params, "min_reviewed", 20, 1, 100_000))
    return await statistics.suggested_thresholds(session, resolved(overrides), target, minimum)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


async def _online(session: AsyncSession, params: Mapping[str, str]) -> pd.DataFrame:
    return _frame(await online_rate_rows(session, params, DEFAULT_TZ))


async def _alerts(session: AsyncSession, params: Mapping[str, str]) -> pd.DataFrame:
    return _frame(await alert_rows(session, params, DEFAULT_TZ))


async def _false_positives(session: AsyncSession, params: Mapping[str, str]) -> pd.DataFrame:
    return _frame(await false_positive_rows(session, params))


async def _thresholds(session: AsyncSession, params: Mapping[str, str]) -> pd.DataFrame:
    return _frame(await threshold_rows(session, params))


REPORTS = [
    ReportSpec("online_rate", "Camera online rate per day (在线率)", _online,
               {"from": "first local day", "to": "day after the last", "group_by": "owner|grid|camera|all"}),
    ReportSpec("alerts_per_day", "Alerts per type and day", _alerts, {"from": "first local day", "to": "day after"}),
    ReportSpec("false_positives", "False-positive rate per camera and type", _false_positives,
               {"group_by": "camera_type|camera|type"}),
    ReportSpec("suggested_thresholds", "Suggested confidence threshold per alert type", _thresholds,
               {"target_precision": "0.5..1, default 0.9", "min_reviewed": "default 20"}),
]  # fmt: skip
