"""When a vending point takes vendors: a daily window, opens inclusive, closes exclusive.

A window whose closing time is earlier than its opening time runs past midnight: a night
market 21:00-02:00 is open at 23:30 and at 01:59, closed at 02:00 and at 20:59.
"""

from __future__ import annotations

from datetime import time
from typing import Protocol


class HasWindow(Protocol):
    """Anything with a daily window, such as a :class:`~plugins.street_vendors.models.VendingPoint`."""

    opens: str
    closes: str


def is_open_at(point: HasWindow, local_time: time) -> bool:
    """Whether ``point`` is open at ``local_time`` (a naive time of the street's time zone)."""
    opens, closes = time.fromisoformat(point.opens), time.fromisoformat(point.closes)
    if opens < closes:
        return opens <= local_time < closes
    return local_time >= opens or local_time < closes  # crosses midnight
