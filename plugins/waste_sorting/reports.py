"""Reports (JSON, CSV, XLSX through ``/api/v1/reports/waste_sorting/<name>``) and the PNG trend chart.

Days in parameters are local calendar days (the platform time zone, Asia/Shanghai by default);
``to`` is exclusive, like every period of the platform.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncSession

from core.contracts import ReportSpec
from core.errors import InputError
from plugins.waste_sorting.metrics import indicators, local_midnight, ranked

PLATFORM_TZ = {"tz": ZoneInfo("Asia/Shanghai")}
"""The calendar time zone; set from the platform settings at start-up (``on_startup``)."""


def _day(params: Mapping[str, str], name: str, default: date) -> date:
    text = params.get(name)
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(name, "expected a day, YYYY-MM-DD") from None


def _days(params: Mapping[str, str]) -> tuple[datetime, datetime]:
    tz = PLATFORM_TZ["tz"]
    today = datetime.now(tz).date()
    first = _day(params, "from", today - timedelta(days=7))
    last = _day(params, "to", today)
    if last <= first:
        raise InputError("to", "must be after from")
    return local_midnight(first, tz), local_midnight(last, tz)


async def daily_statistics(session: AsyncSession, params: Mapping[str, str]) -> pd.DataFrame:
    """Per day and community (or ``group_by``): participation, accuracy, weights and shares, compliance."""
    start, end = _days(params)
    group_by = params.get("group_by", "community")
    try:
        rows = await indicators(session, start, end, PLATFORM_TZ["tz"], group_by=group_by, bucket="day")
    except ValueError as exc:
        raise InputError("group_by", str(exc)) from None
    return pd.DataFrame(rows)


async def community_ranking(session: AsyncSession, params: Mapping[str, str]) -> pd.DataFrame:
    """The communities of a month (``month=YYYY-MM``, default last month) ranked by participation, then accuracy."""
    tz = PLATFORM_TZ["tz"]
    text = params.get("month")
    if text:
        try:
            first = date.fromisoformat(f"{text}-01")
        except ValueError:
            raise InputError("month", "expected YYYY-MM") from None
    else:
        first = (datetime.now(tz).date().replace(day=1) - timedelta(days=1)).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    rows = await indicators(session, local_midnight(first, tz), local_midnight(following, tz), tz)
    return pd.DataFrame(ranked(rows))


REPORTS = [
    ReportSpec(name="daily_statistics", title="Daily sorting statistics per community", build=daily_statistics,
               params={"from": "first day, YYYY-MM-DD (default a week ago)", "to": "day after the last (default today)",
                       "group_by": "street, community, grid or point"}),
    ReportSpec(name="community_ranking", title="Monthly community ranking", build=community_ranking,
               params={"month": "YYYY-MM (default last month)"}),
]  # fmt: skip


def trend_png(rows: list[dict[str, object]], title: str) -> bytes:
    """A PNG of participation and accuracy per community and day (rows of ``indicators(bucket="day")``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = pd.DataFrame(rows)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    if not frame.empty:
        frame["day"] = pd.to_datetime(frame["bucket"])
        for label, part in frame.groupby("label"):
            top.plot(part["day"], part["participation_rate"], marker=".", label=str(label))
            bottom.plot(part["day"], part["accuracy_rate"], marker=".", label=str(label))
    top.set_ylabel("participation rate")
    bottom.set_ylabel("accuracy rate")
    for axes in (top, bottom):
        axes.set_ylim(0, 1.05)
        axes.grid(alpha=0.3)
    top.set_title(title)
    if not frame.empty:
        top.legend(loc="lower right", fontsize="small")
    figure.autofmt_xdate()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()
