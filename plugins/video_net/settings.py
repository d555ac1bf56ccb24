"""video_net settings: ``[plugin_config.video_net]`` or ``STREETBRAIN_VIDEO_NET__<FIELD>``."""

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from plugins.video_net.alert_types import BY_KEY


class AlertTypeSettings(BaseModel):
    """Overrides of one alert type's rules (unset fields keep the registry's default)."""

    min_confidence: float | None = Field(default=None, ge=0, le=1)
    cooldown_seconds: int | None = Field(default=None, ge=0, le=7 * 86400)
    severity: Literal["low", "medium", "high", "critical"] | None = None


class VideoNetSettings(BaseModel):
    """Heartbeat rules (GB/T 28181 keepalive: 60 s, offline after 3 missed), key-camera outages,
    snapshots and per-type alert overrides."""

    keepalive_seconds: int = Field(default=60, ge=5, le=3600)
    missed_heartbeats: int = Field(default=3, ge=1, le=100)
    key_camera_offline_minutes: int = Field(default=30, ge=1, le=7 * 1440)
    snapshot_max_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    snapshot_fetch_timeout: float = Field(default=5.0, gt=0, le=60)
    push_incidents: bool = True
    """Queue every new incident for City Brain in the outbox."""
    alert_types: dict[str, AlertTypeSettings] = Field(default_factory=dict)

    @field_validator("alert_types")
    @classmethod
    def _known_types(cls, value: dict[str, AlertTypeSettings]) -> dict[str, AlertTypeSettings]:
        unknown = sorted(set(value) - set(BY_KEY))
        if unknown:
            raise ValueError(f"unknown alert types {unknown}; known: {sorted(BY_KEY)}")
        return value
