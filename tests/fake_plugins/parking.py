"""A test-only plugin that implements every hook, sync and async mixed, and records what it saw."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import pandas as pd
from litestar import get
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.contracts import CityBrainSource, EventType, JobContext, JobSpec, Permission, PluginInfo, ReportSpec
from core.hookspecs import hookimpl
from core.web import DbSession, requires
from tests.fake_plugins import parking_models
from tests.fake_plugins.parking_models import ParkingSpace


class ParkingSettings(BaseModel):
    """Settings of the test plugin."""

    overstay_minutes: int = 120


@get("/spaces", guards=[requires("parking:read")])
async def list_spaces(db_session: DbSession) -> dict[str, int]:
    """Count parking spaces."""
    return {"spaces": await db_session.scalar(select(func.count()).select_from(ParkingSpace)) or 0}


@get("/boom", guards=[requires("parking:read")])
async def boom() -> None:
    """Always fails, to test error handling."""
    raise RuntimeError("secret internal detail")


async def sweep(ctx: JobContext) -> dict[str, Any]:
    """Count spaces; the summary goes into the run history."""
    async with ctx.database.session() as session:
        total = await session.scalar(select(func.count()).select_from(ParkingSpace))
    return {"spaces": total, "overstay_minutes": ctx.plugin_settings.overstay_minutes}


async def occupancy(session: AsyncSession, params: Any) -> pd.DataFrame:
    """Spaces per zone."""
    rows = (await session.execute(select(ParkingSpace.zone, func.count()).group_by(ParkingSpace.zone))).all()
    return pd.DataFrame(rows, columns=["zone", "spaces"])


async def load_demo(session: AsyncSession) -> dict[str, int]:
    """Five spaces, once."""
    if await session.scalar(select(func.count()).select_from(ParkingSpace)):
        return {}
    session.add_all(ParkingSpace(code=f"P{i}", zone="north" if i % 2 else "south") for i in range(5))
    return {"spaces": 5}


@click.command("recount")
def recount() -> None:
    """Print a fixed word so the test sees the command ran."""
    click.echo("recounted parking")


class ParkingPlugin:
    """Implements every hook of core/hookspecs.py."""

    def __init__(self, migrations_dir: Path | None = None) -> None:
        self.migrations_dir = migrations_dir
        self.events: list[Any] = []
        self.started: list[Any] = []
        self.stopped: list[Any] = []

    @hookimpl
    async def plugin_info(self) -> PluginInfo:
        return PluginInfo(
            name="parking",
            title="Parking",
            version="9.9.9",
            permissions=(Permission("parking:read", "See"), Permission("parking:manage", "Edit")),
        )

    @hookimpl
    def register_settings(self) -> type[ParkingSettings]:
        return ParkingSettings

    @hookimpl
    def register_models(self) -> list[Any]:
        return [parking_models]

    @hookimpl
    def register_migrations(self) -> Path | None:
        return self.migrations_dir

    @hookimpl
    async def register_routes(self) -> list[Any]:
        return [list_spaces, boom]

    @hookimpl
    def register_jobs(self, plugin_settings: ParkingSettings) -> list[JobSpec]:
        return [JobSpec(id="sweep", func=sweep, trigger="interval", schedule={"minutes": 5}, description="Sweep")]

    @hookimpl
    def register_event_types(self) -> list[EventType]:
        return [EventType(type="parking.overstay", title="Overstay", case_category="traffic", sla=timedelta(hours=4))]

    @hookimpl
    def register_citybrain_sources(self) -> list[CityBrainSource]:
        return [
            CityBrainSource(
                dataset="parking_lots",
                natural_key=("code",),
                model=ParkingSpace,
                map_record=lambda r: {"code": r["id"], "zone": r["area"]},
            )
        ]

    @hookimpl
    def register_reports(self) -> list[ReportSpec]:
        return [ReportSpec(name="occupancy", title="Spaces per zone", build=occupancy)]

    @hookimpl
    def register_cli_commands(self) -> list[click.Command]:
        return [recount]

    @hookimpl
    def register_demo_data(self) -> Any:
        return load_demo

    @hookimpl
    async def on_event(self, event: Any) -> None:
        self.events.append(event)

    @hookimpl
    async def on_startup(self, app: Any) -> None:
        self.started.append(app)

    @hookimpl
    def on_shutdown(self, app: Any) -> None:
        self.stopped.append(app)
