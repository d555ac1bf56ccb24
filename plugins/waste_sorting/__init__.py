"""waste_sorting (垃圾分类): Hangzhou's four-category sorting, from households and smart bins to grid workers.

The hookimpls, in the order the platform calls them. Where things live:

- ``models.py`` the tables; ``schemas.py`` the API shapes; ``settings.py`` thresholds and points rules
- ``households.py`` the registry and its CSV/XLSX import; ``places.py`` grids and communities of records
- ``ingest.py`` deposit batches from smart bins (``ingest_sql.py`` its statements, ``batch_times.py``
  its time conversions); ``windows.py`` timed deposit (定时定点)
- ``metrics.py`` the indicators and lists; ``rollup.py`` the nightly rollup; ``ledger.py`` points (积分)
- ``work.py`` events (and so cases) for grid workers; ``jobs.py`` the scheduled jobs
- ``citybrain.py`` the ``households`` dataset; ``reports.py`` reports and the trend chart
- ``routes*.py`` the HTTP endpoints; ``demo.py`` demo data
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.contracts import CityBrainSource, EventType, JobSpec, Permission, PluginInfo, ReportSpec
from core.hookspecs import hookimpl
from plugins.waste_sorting.settings import WasteSortingSettings

NAME = "waste_sorting"
__version__ = "0.2.0"


@hookimpl
def plugin_info() -> PluginInfo:
    """The waste-sorting scenario and its permissions."""
    return PluginInfo(
        name=NAME,
        title="Waste sorting (垃圾分类)",
        version=__version__,
        description="Households, smart-bin deposits, inspections, participation and accuracy, lists for grid workers.",
        permissions=(
            Permission("waste_sorting:read", "See points, households, deposits and sorting statistics"),
            Permission("waste_sorting:manage", "Edit collection points, bins and the household registry"),
            Permission("waste_sorting:ingest", "Send deposits and bin fill levels (smart bins)"),
            Permission("waste_sorting:inspect", "Record inspections of deposits (督导员)"),
        ),
    )


@hookimpl
def register_settings() -> type[WasteSortingSettings]:
    """Job hours, list thresholds and points rules."""
    return WasteSortingSettings


@hookimpl
def register_models() -> list[str]:
    """Points, bins, households, deposits, inspections, the ledger and the rollups."""
    return ["plugins.waste_sorting.models"]


@hookimpl
def register_migrations() -> Path:
    """Alembic versions of the waste_sorting tables."""
    return Path(__file__).with_name("migrations")


@hookimpl
def register_routes() -> Sequence[object]:
    """Endpoints under /api/v1/waste-sorting."""
    from plugins.waste_sorting.routes import ROUTES

    return ROUTES


@hookimpl
def register_jobs(plugin_settings: WasteSortingSettings) -> list[JobSpec]:
    """The daily summary, the nightly rollup (points, City Brain push) and the weekly lists."""
    from plugins.waste_sorting.jobs import daily_summary, nightly_rollup, weekly_lists

    return [
        JobSpec(id="daily_summary", func=daily_summary, trigger="cron",
                schedule={"hour": plugin_settings.summary_hour, "minute": 0},
                description="Count active collection points per community"),
        JobSpec(id="nightly_rollup", func=nightly_rollup, trigger="cron",
                schedule={"hour": plugin_settings.rollup_hour, "minute": 10},
                description="Roll up yesterday's deposits, award points, push daily statistics to City Brain"),
        JobSpec(id="weekly_lists", func=weekly_lists, trigger="cron",
                schedule={"day_of_week": plugin_settings.lists_weekday, "hour": 6, "minute": 0},
                description="Non-participating and low-accuracy households become cases for grid workers"),
    ]  # fmt: skip


@hookimpl
def register_event_types() -> list[EventType]:
    """Non-participation, low accuracy and full bins: each becomes a case for the grid's worker."""
    from plugins.waste_sorting.work import EVENT_TYPES

    return EVENT_TYPES


@hookimpl
def register_citybrain_sources() -> list[CityBrainSource]:
    """City Brain's household registry; the street's own columns (active, place, phone) are kept."""
    from plugins.waste_sorting.citybrain import household_values, redact
    from plugins.waste_sorting.models import Household

    return [
        CityBrainSource(
            dataset="households", natural_key=("qr_code",), model=Household, map_record=household_values,
            update_columns=("external_id", "community", "contact_name", "residents", "building", "unit", "room",
                            "lon", "lat"),
            redact=redact,
        )
    ]  # fmt: skip


@hookimpl
def register_reports() -> list[ReportSpec]:
    """Daily statistics and the monthly community ranking."""
    from plugins.waste_sorting.reports import REPORTS

    return REPORTS


@hookimpl
def on_startup(app: Any) -> None:
    """Days in reports follow the platform's time zone."""
    from plugins.waste_sorting.reports import PLATFORM_TZ

    PLATFORM_TZ["tz"] = app.state.settings.tz


@hookimpl
def register_demo_data() -> object:
    """Three communities, about 3,000 households, 60 days of deposits and inspections."""
    from plugins.waste_sorting.demo import load

    return load
