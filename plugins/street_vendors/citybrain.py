"""City Brain's ``market_licenses`` dataset (营业执照) mapped onto :class:`MarketLicence`.

The licence rule reads it: a vendor whose licence number City Brain lists as expired on the day of a
sighting is unlicensed (see rules.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from core.contracts import CityBrainSource
from plugins.street_vendors.models import CATEGORIES, MarketLicence


def _day(record: Mapping[str, Any], name: str) -> date | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a date YYYY-MM-DD, got {value!r}")
    return date.fromisoformat(value)


def _coordinate(record: Mapping[str, Any], name: str, bound: float) -> float | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not -bound <= value <= bound:
        raise ValueError(f"{name}: expected a number in -{bound:g}..{bound:g}, got {value!r}")
    return float(value)


def licence_values(record: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of one ``market_licenses`` record (``id`` is the licence number)."""
    number = record["id"]
    if not isinstance(number, str) or not number:
        raise ValueError(f"id: expected the licence number, got {number!r}")
    category = record.get("category")
    return {
        "licence_number": number,
        "name": record["name"],
        "holder": record.get("holder"),
        "category": category if category in CATEGORIES else None,
        "address": record.get("address"),
        "issued_on": _day(record, "issued_on"),
        "expires_on": _day(record, "expires_on"),
        "lon": _coordinate(record, "lon", 180),
        "lat": _coordinate(record, "lat", 90),
    }


SOURCES = (
    CityBrainSource(
        dataset="market_licenses", natural_key=("licence_number",), model=MarketLicence, map_record=licence_values
    ),
)
