"""street_vendors (流动摊贩治理): guide, don't just block (疏堵结合).

The street designates vending points (便民疏导点: polygon, capacity, categories, weekly hours) and
grants permits; every sighting of a vendor (patrol, camera, citizen, City Brain) is judged to exactly
one outcome; violations climb the educate → warn → penalise ladder and become cases; hotspots show
where vendors really gather and suggest new vending points. The hookimpls below are the outline:

- models.py     tables          - hours.py, places.py   windows and polygons
- rules.py      the outcome     - ladder.py             stages and event types
- sightings.py  recording       - camera.py             camera alerts -> sightings
- hotspots.py   analysis        - jobs.py, reports.py, citybrain.py, demo.py
- routes.py, permit_routes.py, sighting_routes.py, analysis_routes.py   the API
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.contracts import CityBrainSource, EventType, JobSpec, Permission, PluginInfo, ReportSpec
from core.hookspecs import hookimpl
from plugins.street_vendors.settings import StreetVendorsSettings

NAME = "street_vendors"
__version__ = "0.2.0"

MIGRATIONS = Path(__file__).parent / "migrations"


@hookimpl
def plugin_info() -> PluginInfo:
    """Street vendor governance and its permissions (patrol: grid workers who report sightings)."""
    return PluginInfo(
        name=NAME,
        title="Street vendors (流动摊贩治理)",
        version=__version__,
        description="Vending points, permits, sighting rules, the repeat-offender ladder, hotspots and suggestions.",
        permissions=(
            Permission("street_vendors:read", "See vending points, vendors, sightings and statistics"),
            Permission("street_vendors:manage", "Designate vending points, register vendors, grant permits"),
            Permission("street_vendors:patrol", "Report vendor sightings (patrols, devices, integrations)"),
        ),
    )


@hookimpl
def register_settings() -> type[StreetVendorsSettings]:
    """Ladder thresholds, camera alert types, hotspot cells and suggestion tuning."""
    return StreetVendorsSettings


@hookimpl
def register_models() -> list[object]:
    """Vending points, vendors, permits, sightings, violations, market licences, suggestions."""
    from plugins.street_vendors import models

    return [models]


@hookimpl
def register_migrations() -> Path:
    """The street_vendors Alembic history."""
    return MIGRATIONS


@hookimpl
def register_routes() -> Sequence[object]:
    """Endpoints under /api/v1/street-vendors."""
    from plugins.street_vendors import analysis_routes, permit_routes, routes, sighting_routes

    return [*routes.ROUTES, *permit_routes.ROUTES, *sighting_routes.ROUTES, *analysis_routes.ROUTES]


@hookimpl
def register_event_types() -> Sequence[EventType]:
    """One event type per ladder stage (each a case), and permit expiry reminders (no case)."""
    from plugins.street_vendors.ladder import EVENT_TYPES

    return EVENT_TYPES


@hookimpl
def register_jobs(plugin_settings: StreetVendorsSettings) -> list[JobSpec]:
    """Capacity sums, nightly hotspots and suggestions, permit reminders, the violation summary push."""
    from plugins.street_vendors import jobs

    return jobs.specs(plugin_settings)


@hookimpl
def register_citybrain_sources() -> list[CityBrainSource]:
    """City Brain's market licences (营业执照), which the licence rule reads."""
    from plugins.street_vendors.citybrain import SOURCES

    return list(SOURCES)


@hookimpl
def register_reports() -> list[ReportSpec]:
    """Violations by day, repeat offenders, hotspots by grid, occupancy."""
    from plugins.street_vendors.reports import REPORTS

    return list(REPORTS)


@hookimpl
async def on_event(event: Any, database: Any, events: Any) -> None:
    """Camera alerts of the configured types become camera sightings (idempotent by the event id)."""
    from plugins.street_vendors.camera import take_camera_alert

    await take_camera_alert(event, database, events, events.plugins.get(NAME).settings)


@hookimpl
def register_demo_data() -> object:
    """Vendors, five vending points, permits and four weeks of sightings with a metro-exit hotspot."""
    from plugins.street_vendors import demo

    return demo.load
