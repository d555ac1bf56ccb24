"""waste_sorting (垃圾分类): Hangzhou's four-category sorting at the street's collection points.

The hookimpls, in the order the platform calls them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.contracts import JobSpec, Permission, PluginInfo
from core.hookspecs import hookimpl
from plugins.waste_sorting.settings import WasteSortingSettings

NAME = "waste_sorting"
__version__ = "0.1.0"


@hookimpl
def plugin_info() -> PluginInfo:
    """The waste-sorting scenario and its three permissions."""
    return PluginInfo(
        name=NAME,
        title="Waste sorting (垃圾分类)",
        version=__version__,
        description="Collection points for the four categories and their set deposit times (定时定点).",
        permissions=(
            Permission("waste_sorting:read", "See collection points and sorting statistics"),
            Permission("waste_sorting:manage", "Open, edit and close collection points"),
            Permission("waste_sorting:ingest", "Send deposits from smart bins (devices)"),
        ),
    )


@hookimpl
def register_settings() -> type[WasteSortingSettings]:
    """The hour of the daily summary."""
    return WasteSortingSettings


@hookimpl
def register_models() -> list[str]:
    """The collection points."""
    return ["plugins.waste_sorting.models"]


@hookimpl
def register_migrations() -> Path:
    """Alembic versions of the waste_sorting tables."""
    return Path(__file__).with_name("migrations")


@hookimpl
def register_routes() -> Sequence[object]:
    """Collection-point endpoints under /api/v1/waste-sorting."""
    from plugins.waste_sorting.routes import ROUTES

    return ROUTES


@hookimpl
def register_jobs(plugin_settings: WasteSortingSettings) -> list[JobSpec]:
    """Roll up the active collection points once a day."""
    from plugins.waste_sorting.jobs import daily_summary

    return [
        JobSpec(
            id="daily_summary",
            func=daily_summary,
            trigger="cron",
            schedule={"hour": plugin_settings.summary_hour, "minute": 0},
            description="Count active collection points per community",
        )
    ]


@hookimpl
def register_demo_data() -> object:
    """Twelve collection points in four communities."""
    from plugins.waste_sorting.demo import load

    return load
