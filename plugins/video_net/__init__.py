"""video_net (视频一张网): one camera network across owners. The hookimpls, read top to bottom."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.contracts import CityBrainSource, JobSpec, Permission, PluginInfo
from core.hookspecs import hookimpl

NAME = "video_net"
__version__ = "0.1.0"


@hookimpl
def plugin_info() -> PluginInfo:
    """Who this plugin is and the permissions it defines."""
    return PluginInfo(
        name=NAME,
        title="Video network (视频一张网)",
        version=__version__,
        description="Cameras of every owner as one network: registry, heartbeats, alerts and incidents.",
        permissions=(
            Permission("video_net:read", "See cameras, alerts and incidents"),
            Permission("video_net:manage", "Register and edit cameras"),
            Permission("video_net:ingest", "Send heartbeats and alerts (devices)"),
        ),
    )


@hookimpl
def register_settings() -> type:
    """Heartbeat interval and tolerance."""
    from plugins.video_net.settings import VideoNetSettings

    return VideoNetSettings


@hookimpl
def register_models() -> Sequence[object]:
    """The camera registry."""
    from plugins.video_net import models

    return [models]


@hookimpl
def register_migrations() -> Path:
    """This plugin's Alembic versions."""
    return Path(__file__).parent / "migrations"


@hookimpl
def register_routes() -> Sequence[object]:
    """Camera endpoints under /api/v1/video-net."""
    from plugins.video_net.routes import ROUTES

    return ROUTES


@hookimpl
def register_jobs(plugin_settings) -> list[JobSpec]:  # type: ignore[no-untyped-def]
    """Mark cameras offline once per keepalive interval."""
    from plugins.video_net.jobs import mark_offline

    return [
        JobSpec(
            id="mark_offline",
            func=mark_offline,
            trigger="interval",
            schedule={"seconds": plugin_settings.keepalive_seconds},
            description="Mark cameras offline after missed heartbeats",
            misfire_grace_seconds=30,
        )
    ]


@hookimpl
def register_citybrain_sources() -> list[CityBrainSource]:
    """City Brain's camera list fills the registry; status and heartbeats stay the street's own."""
    from plugins.video_net.citybrain import camera_values
    from plugins.video_net.models import Camera

    return [CityBrainSource(dataset="cameras", natural_key=("code",), model=Camera, map_record=camera_values)]


@hookimpl
def register_demo_data() -> object:
    """Sixty cameras of three owners."""
    from plugins.video_net.demo import load

    return load
