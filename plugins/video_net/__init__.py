"""video_net (视频一张网): one camera network across owners. The hookimpls, read top to bottom.

Where things are: cameras and heartbeats ``routes.py`` and ``status.py``; alerts, dedup into incidents
``dedup.py`` (rules in ``alert_types.py``), snapshots ``snapshots.py``, their endpoints
``routes_alerts.py``; statistics ``statistics.py`` served by ``routes_stats.py`` and ``reports.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.contracts import CityBrainSource, EventType, JobSpec, Permission, PluginInfo, ReportSpec
from core.hookspecs import hookimpl

NAME = "video_net"
__version__ = "0.2.0"


@hookimpl
def plugin_info() -> PluginInfo:
    """Who this plugin is and the permissions it defines."""
    return PluginInfo(
        name=NAME,
        title="Video network (视频一张网)",
        version=__version__,
        description="Cameras of every owner as one network: registry, heartbeats, online rate, alerts deduplicated "
        "into incidents that become cases, snapshots and false-positive statistics.",
        permissions=(
            Permission("video_net:read", "See cameras, alerts, incidents, snapshots and statistics"),
            Permission(
                "video_net:manage", "Register and edit cameras; close incidents, mark false positives, suppress"
            ),
            Permission("video_net:ingest", "Send heartbeats, alerts and snapshots (devices)"),
            Permission("video_net:secrets", "See camera stream URLs (admins)"),
        ),
    )


@hookimpl
def register_settings() -> type:
    """Heartbeat interval and tolerance, key-camera outages, snapshot limits, alert type overrides."""
    from plugins.video_net.settings import VideoNetSettings

    return VideoNetSettings


@hookimpl
def register_models() -> Sequence[object]:
    """Cameras, status changes, alerts, incidents, suppressions, snapshots."""
    from plugins.video_net import models

    return [models]


@hookimpl
def register_migrations() -> Path:
    """This plugin's Alembic versions."""
    return Path(__file__).parent / "migrations"


@hookimpl
def register_routes() -> Sequence[object]:
    """Endpoints under /api/v1/video-net."""
    from plugins.video_net import routes, routes_alerts, routes_stats

    return [*routes.ROUTES, *routes_alerts.ROUTES, *routes_stats.ROUTES]


@hookimpl
def register_event_types() -> list[EventType]:
    """One event type per alert type (each new incident is one event, so one case), and camera status."""
    from plugins.video_net.alert_types import event_types

    return event_types()


@hookimpl
def register_jobs(plugin_settings) -> list[JobSpec]:  # type: ignore[no-untyped-def]
    """Mark cameras offline once per keepalive interval (and report long outages of key cameras)."""
    from plugins.video_net.jobs import mark_offline

    return [
        JobSpec(
            id="mark_offline",
            func=mark_offline,
            trigger="interval",
            schedule={"seconds": plugin_settings.keepalive_seconds},
            description="Mark cameras offline after missed heartbeats; key cameras offline too long become cases",
            misfire_grace_seconds=30,
        )
    ]


@hookimpl
def register_reports() -> list[ReportSpec]:
    """Online rate, alerts per day, false-positive rates, suggested thresholds."""
    from plugins.video_net.reports import REPORTS

    return REPORTS


@hookimpl
def register_citybrain_sources() -> list[CityBrainSource]:
    """City Brain's camera list fills the registry; status and heartbeats stay the street's own."""
    from plugins.video_net.citybrain import CameraRecord, camera_values
    from plugins.video_net.models import Camera

    return [
        CityBrainSource(
            dataset="cameras",
            natural_key=("code",),
            model=Camera,
            map_record=camera_values,
            record_type=CameraRecord,
        )
    ]


@hookimpl
def register_demo_data() -> object:
    """Three hundred cameras of three owners, a week of status history with outages, alerts of every type."""
    from plugins.video_net.demo import load

    return load


@hookimpl
async def on_shutdown(app) -> None:  # type: ignore[no-untyped-def]
    """Stop the alert writer task (requests are answered only after their commit, so nothing is lost)."""
    writer = app.state.get("video_net_writer")
    if writer is not None:
        await writer.close()
