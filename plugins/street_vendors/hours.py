"""When a vending point takes vendors: weekly windows, each opening inclusive and closing exclusive.

A point has either ``windows``, a list of ``{"days": [1, ..., 7], "opens": "HH:MM", "closes": "HH:MM"}``
(ISO weekdays, Monday 1), or, when that is null, the one daily window ``opens``-``closes`` on every
day. A window whose closing time is not after its opening time runs past midnight and belongs to the
day it *opened*: ``{"days": [5], "opens": "21:00", "closes": "02:00"}`` is Friday 21:00 to Saturday
02:00; it is open on Saturday at 01:59, closed at 02:00, and closed on Friday at 01:00. A window
``18:00``-``00:00`` closes at midnight.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

EVERY_DAY = (1, 2, 3, 4, 5, 6, 7)


class HasWindow(Protocol):
    """Anything with a daily window, such as a :class:`~plugins.street_vendors.models.VendingPoint`."""

    opens: str
    closes: str


def is_open_at(point: HasWindow, local_time: time) -> bool:
    """Whether the daily window ``opens``-``closes`` of ``point`` holds ``local_time`` (a naive local time)."""
    opens, closes = time.fromisoformat(point.opens), time.fromisoformat(point.closes)
    if opens < closes:
        return opens <= local_time < closes
    return local_time >= opens or local_time < closes  # crosses midnight


def weekly_windows(point: Any) -> list[dict[str, Any]]:
    """The point's weekly windows: its ``windows``, or its daily window on every day."""
    windows = getattr(point, "windows", None)
    if windows:
        return list(windows)
    return [{"days": list(EVERY_DAY), "opens": point.opens, "closes": point.closes}]


def _occurrence(window: dict[str, Any], day: date) -> tuple[datetime, datetime] | None:
    """The window as it opens on ``day`` (naive local times), if ``day`` is one of its days."""
    if day.isoweekday() not in window["days"]:
        return None
    opens, closes = time.fromisoformat(window["opens"]), time.fromisoformat(window["closes"])
    start = datetime.combine(day, opens)
    end = datetime.combine(day if opens < closes else day + timedelta(days=1), closes)
    return start, end


def window_at(point: Any, local: datetime) -> tuple[datetime, datetime] | None:
    """The window occurrence holding the naive local time ``local``, as ``(opened, closes)``, or None.

    Windows that opened the day before are looked at too, so a night market is found after midnight.
    """
    for day in (local.date(), local.date() - timedelta(days=1)):
        for window in weekly_windows(point):
            occurrence = _occurrence(window, day)
            if occurrence is not None and occurrence[0] <= local < occurrence[1]:
                return occurrence
    return None


def window_problems(windows: Sequence[Any], field: str = "windows") -> list[tuple[str, str]]:
    """``(field path, message)`` for each malformed weekly window (days 1-7 each once; non-empty window)."""
    problems = []
    for index, window in enumerate(windows):
        path = f"{field}[{index}]"
        days = window.get("days") if isinstance(window, dict) else None
        if not isinstance(days, list) or not days or not all(isinstance(d, int) and 1 <= d <= 7 for d in days):
            problems.append((f"{path}.days", "expected a list of ISO weekdays 1 (Monday) to 7 (Sunday)"))
        elif len(set(days)) < len(days):
            problems.append((f"{path}.days", "each weekday may be listed once"))
        if isinstance(window, dict) and window.get("opens") == window.get("closes"):
            problems.append((f"{path}.closes", "equals opens; a window may cross midnight but not be empty"))
    return problems
