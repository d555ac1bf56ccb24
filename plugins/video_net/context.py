"""What the route handlers read from the running app: this plugin's settings, its alert types, the event bus."""

from __future__ import annotations

from typing import Any

from litestar.datastructures import State

from core.events import EventBus
from plugins.video_net.alert_types import AlertType, resolved
from plugins.video_net.settings import VideoNetSettings

_types_cache: dict[int, dict[str, AlertType]] = {}


def settings_of(state: State) -> VideoNetSettings:
    """The validated ``[plugin_config.video_net]`` of the running app (defaults when unset)."""
    record = state.plugins.records.get("video_net")
    settings: Any = record.settings if record is not None else None
    return settings if isinstance(settings, VideoNetSettings) else VideoNetSettings()


def alert_types_of(state: State) -> dict[str, AlertType]:
    """The alert type registry with the settings' overrides."""
    settings = settings_of(state)
    key = id(settings)
    if key not in _types_cache:
        _types_cache[key] = resolved(settings.alert_types)
    return _types_cache[key]


def bus_of(state: State) -> EventBus:
    """The platform's event bus."""
    bus: EventBus = state.events
    return bus
