"""video_net settings: ``[plugin_config.video_net]`` or ``STREETBRAIN_VIDEO_NET__<FIELD>``."""

from pydantic import BaseModel, Field


class VideoNetSettings(BaseModel):
    """Heartbeat rules (GB/T 28181 keepalive: 60 s, offline after 3 missed)."""

    keepalive_seconds: int = Field(default=60, ge=5, le=3600)
    missed_heartbeats: int = Field(default=3, ge=1, le=100)
