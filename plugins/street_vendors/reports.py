"""Named reports (``GET /api/v1/reports/street_vendors/<name>?format=json|csv|xlsx``).

Reports get only a session and the query parameters, so they count days in Asia/Shanghai and use
the default ladder window (30 days); the API endpoints follow the configured ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncSession

from core.contracts import ReportSpec
from core.db import utcnow
from core.errors import InputError
from plugins.street_vendors import hotspots
from plugins.street_vendors.models import OUTCOMES, STAGES
from plugins.street_vendors.settings import StreetVendorsSettings

TZ = ZoneInfo("Asia/Shanghai")


def _days(params: Mapping[str, str], default: int = 30) -> int:
    raw = params.get("days", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= 366:
        raise InputError("days", "expected a whole number of days from 1 to 366")
    return int(raw)


async def violations_by_day(session: AsyncSession, params: Mapping[str, str]) -> pd.DataFrame:
    """Violations per local day of the last ``days`` (30): total, then one column per outcome and stage."""
    end = utcnow()
    trend = await hotspots.violation_trend(session, end - timedelta(days=_days(params)), end, TZ)
    columns = ["day", "violations", *OUTCOMES[:-1], *STAGES]
    rows = [[t["day"], t["violations"], *(t["outcomes"].get(o, 0) for o in OUTCOMES[:-1]),
             *(t["stages"].get(s, 0) for s in STAGES)] for t in trend]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


async def repeat_offenders(session: AsyncSession, params: Mapping[str, str]) -> pd.DataFrame:
    """Vendors with two or more violations in the last 30 days (vendor ids only: no personal data)."""
    rows = await hotspots.repeat_offenders(session, utcnow(), StreetVendorsSettings())
    columns = ["vendor_id", "violations", "last_violation_at", "stage_reached", "next_stage"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["last_violation_at"] = frame["last_violation_at"].astype(str)
    return frame


async def hotspots_by_grid(session: AsyncSession, params: Mapping[str, str]) -> pd.DataFrame:
    """Sightings per grid over the last ``days`` (28): count, distinct days, busiest hour of the week."""
    end = utcnow()
    tallies, outside = await hotspots.tallies_by_grid(session, end - timedelta(days=_days(params, 28)), end, TZ)
    rows: list[list[int | None]] = [
        [grid, t.sightings, len(t.days), t.hours_of_week.most_common(1)[0][0]] for grid, t in tallies.items()
    ]
    rows.sort(key=lambda r: -(r[1] or 0))
    if outside:
        rows.append([None, outside, None, None])
    return pd.DataFrame(rows, columns=["grid_id", "sightings", "days", "peak_hour_of_week"])


REPORTS = (
    ReportSpec("violations_by_day", "Street-vendor violations per day", violations_by_day, {"days": "30"}),
    ReportSpec("repeat_offenders", "Repeat offenders (30 days)", repeat_offenders),
    ReportSpec("hotspots_by_grid", "Vendor sightings per grid", hotspots_by_grid, {"days": "28"}),
)
