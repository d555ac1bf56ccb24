"""street_vendors (流动摊贩治理): guide, don't just block (疏堵结合).

The street designates vending points (便民疏导点) with a capacity, allowed categories and
daily hours, so vendors have somewhere to go. The hookimpls below are the whole plugin's outline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.contracts import JobSpec, Permission, PluginInfo
from core.hookspecs import hookimpl
from plugins.street_vendors.settings import StreetVendorsSettings

NAME = "street_vendors"
__version__ = "0.1.0"

MIGRATIONS = Path(__file__).parent / "migrations"


@hookimpl
def plugin_info() -> PluginInfo:
    """Street vendor governance and its permissions (patrol: grid workers who report sightings)."""
    return PluginInfo(
        name=NAME,
        title="Street vendors (流动摊贩治理)",
        version=__version__,
        description="Designated vending points with capacity, categories and hours; guide vendors there.",
        permissions=(
            Permission("street_vendors:read", "See vending points and vendor statistics"),
            Permission("street_vendors:manage", "Designate and edit vending points"),
            Permission("street_vendors:patrol", "Report vendor sightings on patrol"),
        ),
    )


@hookimpl
def register_settings() -> type[StreetVendorsSettings]:
    """How often capacity is summed up."""
    return StreetVendorsSettings


@hookimpl
def register_models() -> list[object]:
    """Vending points."""
    from plugins.street_vendors import models

    return [models]


@hookimpl
def register_migrations() -> Path:
    """The street_vendors Alembic history."""
    return MIGRATIONS


@hookimpl
def register_routes() -> Sequence[object]:
    """Vending-point endpoints under /api/v1/street-vendors."""
    from plugins.street_vendors import routes

    return routes.ROUTES


@hookimpl
def register_jobs(plugin_settings: StreetVendorsSettings) -> list[JobSpec]:
    """Sum the stalls per category on an interval (hourly by default)."""
    from plugins.street_vendors.jobs import capacity_summary

    every = {"minutes": plugin_settings.capacity_summary_minutes}
    return [JobSpec("capacity_summary", capacity_summary, "interval", every, "Total stalls per category")]


@hookimpl
def register_demo_data() -> object:
    """Eight vending points, three of them night markets past midnight."""
    from plugins.street_vendors import demo

    return demo.load
