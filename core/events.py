"""Events: what plugins, devices and City Brain report. This module holds the event value and
its delivery to the plugins' ``on_event`` hooks; storage, dedup and routing build on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.db import utcnow
from core.plugins import PluginManager


@dataclass(frozen=True)
class Event:
    """One event: ``type`` is ``<plugin>.<kind>``; ``payload`` is free-form JSON."""

    type: str
    source: str
    payload: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime = field(default_factory=utcnow)
    lon: float | None = None
    lat: float | None = None
    severity: str = "medium"
    dedup_key: str | None = None


async def deliver(plugins: PluginManager, event: Event) -> list[str]:
    """Hand ``event`` to every plugin's ``on_event``; return the plugins that took it without error.

    A plugin that raises is logged and skipped; the others still receive the event.
    """
    delivered = await plugins.acall("on_event", event=event)
    return [name for name, _ in delivered]
