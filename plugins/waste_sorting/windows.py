"""Timed deposit (定时定点): whether a deposit fell inside its collection point's windows.

A window is ``[opens, closes)`` in local time (Asia/Shanghai): a deposit at exactly ``opens`` is
inside, one at exactly ``closes`` is not. A point has a main window and an optional second one.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from plugins.waste_sorting.models import CollectionPoint


def windows_of(point: CollectionPoint) -> list[tuple[str, str]]:
    """The point's windows as ``("HH:MM", "HH:MM")`` pairs."""
    found = [(point.deposit_opens, point.deposit_closes)]
    if point.evening_opens and point.evening_closes:
        found.append((point.evening_opens, point.evening_closes))
    return found


def in_windows(moment: datetime, windows: list[tuple[str, str]], tz: ZoneInfo) -> bool:
    """Whether ``moment`` (aware) lies inside one of ``windows`` in local time."""
    clock = moment.astimezone(tz).strftime("%H:%M:%S")
    return any(f"{opens}:00" <= clock < f"{closes}:00" for opens, closes in windows)


def seconds_windows(windows: list[tuple[str, str]]) -> list[tuple[int, int]]:
    """Windows as seconds after local midnight, for :func:`inside`."""

    def seconds(clock: str) -> int:
        hours, minutes = clock.split(":")
        return int(hours) * 3600 + int(minutes) * 60

    return [(seconds(opens), seconds(closes)) for opens, closes in windows]


def inside(second: int, windows: list[tuple[int, int]]) -> bool:
    """Whether a local second after midnight lies inside one of ``windows`` (seconds, ``[opens, closes)``)."""
    for opens, closes in windows:  # noqa: SIM110 - a plain loop, 2x faster than any(): runs per deposit
        if opens <= second < closes:
            return True
    return False
