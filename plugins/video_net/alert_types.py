"""The alert type registry: what the video analytics may report, and how each type is handled.

Each type has a confidence threshold (alerts below it are kept but make no incident), a cooldown
(an alert within it of an open incident's last alert merges into that incident), a severity and
the core event type (``video_net.<type>``) its new incidents emit, which makes the case.
Thresholds, cooldowns and severities can be overridden in ``[plugin_config.video_net.alert_types]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from core.contracts import EventType


@dataclass(frozen=True)
class AlertType:
    """One kind of analytics alert and its handling rules."""

    key: str
    title: str
    min_confidence: float
    cooldown: timedelta
    severity: str
    case_category: str
    sla: timedelta

    @property
    def event_type(self) -> str:
        """The core event type a new incident of this type emits."""
        return f"video_net.{self.key}"


ALERT_TYPES: tuple[AlertType, ...] = (
    AlertType("street_vendor", "Street vendor (流动摊贩)", 0.6, timedelta(minutes=10), "low", "city_appearance",
              timedelta(hours=4)),
    AlertType("road_occupation", "Road occupation (占道经营)", 0.6, timedelta(minutes=15), "medium", "city_appearance",
              timedelta(hours=4)),
    AlertType("garbage_overflow", "Garbage overflow (垃圾满溢)", 0.7, timedelta(minutes=30), "medium", "sanitation",
              timedelta(hours=2)),
    AlertType("illegal_parking", "Illegal parking (违章停车)", 0.7, timedelta(minutes=10), "medium", "traffic",
              timedelta(hours=2)),
    AlertType("crowd_gathering", "Crowd gathering (人群聚集)", 0.75, timedelta(minutes=5), "high", "public_safety",
              timedelta(hours=1)),
    AlertType("smoke_fire", "Smoke or fire (烟火)", 0.5, timedelta(minutes=5), "critical", "public_safety",
              timedelta(minutes=30)),
    AlertType("non_motor_parking", "Disorderly bicycle parking (非机动车乱停放)", 0.6, timedelta(minutes=30), "low",
              "city_appearance", timedelta(hours=8)),
    AlertType("illegal_advertising", "Illegal banner or flyer (违规广告)", 0.65, timedelta(hours=1), "low",
              "city_appearance", timedelta(hours=24)),
)  # fmt: skip

BY_KEY: dict[str, AlertType] = {t.key: t for t in ALERT_TYPES}

CAMERA_EVENT_TYPES: tuple[EventType, ...] = (
    EventType("video_net.camera_offline", "Camera went offline", "equipment", "low", creates_case=False),
    EventType("video_net.camera_online", "Camera back online", "equipment", "low", creates_case=False),
    EventType(
        "video_net.key_camera_offline",
        "Key camera offline (重点点位离线)",
        "equipment",
        "high",
        sla=timedelta(hours=8),
    ),
)


def resolved(overrides: Mapping[str, Any] | None) -> dict[str, AlertType]:
    """The registry with the settings' overrides (``min_confidence``, ``cooldown_seconds``, ``severity``)."""
    types = dict(BY_KEY)
    for key, override in (overrides or {}).items():
        base = types[key]
        values: dict[str, Any] = {}
        if override.min_confidence is not None:
            values["min_confidence"] = override.min_confidence
        if override.cooldown_seconds is not None:
            values["cooldown"] = timedelta(seconds=override.cooldown_seconds)
        if override.severity is not None:
            values["severity"] = override.severity
        types[key] = replace(base, **values)
    return types


def event_types() -> list[EventType]:
    """The core event types of this plugin: one per alert type (each new incident is a case), and camera status."""
    return [
        *(
            EventType(t.event_type, t.title, t.case_category, t.severity, sla=t.sla, accept_sla=timedelta(hours=1))  # type: ignore[arg-type]
            for t in ALERT_TYPES
        ),
        *CAMERA_EVENT_TYPES,
    ]
