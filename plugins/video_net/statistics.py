"""Statistics of the video network, per calendar day of the platform's time zone (Asia/Shanghai):

- online rate (在线率): the share of enabled cameras' time spent online, from the status history
  (seconds online / (cameras x seconds of the day observed so far)); a camera counts from its first
  status change on, so it is neither online nor offline before it was ever heard of;
- alerts per type and day, with how many opened incidents;
- false-positive rate per camera and type: incidents marked false positive / incidents reviewed
  (closed or false positive);
- a suggested confidence threshold per type: the lowest threshold at which the reviewed incidents
  whose best confidence reaches it have at most ``1 - target_precision`` false positives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import utcnow
from plugins.video_net.alert_types import AlertType
from plugins.video_net.models import Alert, Camera, Incident, StatusChange

GroupBy = Literal["owner", "grid", "camera", "all"]


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The half-open UTC interval of one local calendar day."""
    start = datetime.combine(day, time(), tz)
    return start, datetime.combine(day + timedelta(days=1), time(), tz)


def days(start: date, end: date) -> list[date]:
    """The days of [start, end)."""
    return [start + timedelta(days=n) for n in range((end - start).days)]


def _group(camera: Camera, group_by: GroupBy) -> str:
    if group_by == "owner":
        return camera.owner
    if group_by == "grid":
        return "" if camera.grid_id is None else str(camera.grid_id)
    if group_by == "camera":
        return camera.code
    return "all"


async def online_rate(
    session: AsyncSession,
    tz: ZoneInfo,
    start: date,
    end: date,
    group_by: GroupBy = "owner",
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Rows ``{day, group, cameras, online_hours, observed_hours, online_rate}`` for each day of [start, end)."""
    now = now or utcnow()
    cameras = {c.id: c for c in await session.scalars(select(Camera).where(Camera.enabled.is_(True)))}
    period_end = min(day_bounds(end - timedelta(days=1), tz)[1], now)
    changes: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    rows = await session.execute(
        select(StatusChange.camera_id, StatusChange.changed_at, StatusChange.status)
        .where(StatusChange.changed_at < period_end)
        .order_by(StatusChange.camera_id, StatusChange.changed_at, StatusChange.id)
    )
    for camera_id, at, status in rows:
        if camera_id in cameras:
            changes[camera_id].append((at, status))
    out = []
    for day in days(start, end):
        lo, hi = day_bounds(day, tz)
        hi = min(hi, now)
        if hi <= lo:
            continue
        online: dict[str, float] = defaultdict(float)
        observed: dict[str, float] = defaultdict(float)
        counted: dict[str, int] = defaultdict(int)
        for camera_id, camera in cameras.items():
            history = changes.get(camera_id, [])
            if not history or history[0][0] >= hi:
                continue
            group = _group(camera, group_by)
            counted[group] += 1
            observed[group] += (hi - max(lo, history[0][0])).total_seconds()
            online[group] += _seconds_online(history, lo, hi)
        for group in sorted(counted):
            rate = online[group] / observed[group] if observed[group] else None
            out.append({
                "day": day.isoformat(), "group": group, "cameras": counted[group],
                "online_hours": round(online[group] / 3600, 3), "observed_hours": round(observed[group] / 3600, 3),
                "online_rate": None if rate is None else round(rate, 4),
            })  # fmt: skip
    return out


def _seconds_online(history: list[tuple[datetime, str]], lo: datetime, hi: datetime) -> float:
    total = 0.0
    for index, (at, status) in enumerate(history):
        until = history[index + 1][0] if index + 1 < len(history) else hi
        if status == "online":
            begin, finish = max(at, lo), min(until, hi)
            if finish > begin:
                total += (finish - begin).total_seconds()
    return total


async def alerts_per_type_and_day(session: AsyncSession, tz: ZoneInfo, start: date, end: date) -> list[dict[str, Any]]:
    """Rows ``{day, alert_type, alerts, incidents, below_threshold, suppressed}`` for [start, end)."""
    lo, hi = day_bounds(start, tz)[0], day_bounds(end - timedelta(days=1), tz)[1]
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = await session.execute(
        select(Alert.alert_type, Alert.occurred_at, Alert.outcome).where(
            Alert.occurred_at >= lo, Alert.occurred_at < hi
        )
    )
    for alert_type, at, outcome in rows:
        entry = counts[(at.astimezone(tz).date().isoformat(), alert_type)]
        entry["alerts"] += 1
        entry[outcome] += 1
    return [
        {"day": day, "alert_type": alert_type, "alerts": entry["alerts"], "incidents": entry["new_incident"],
         "merged": entry["merged"], "below_threshold": entry["below_threshold"], "suppressed": entry["suppressed"]}
        for (day, alert_type), entry in sorted(counts.items())
    ]  # fmt: skip


async def false_positive_rates(
    session: AsyncSession, group_by: Literal["camera", "type", "camera_type"] = "camera_type"
) -> list[dict[str, Any]]:
    """Rows ``{camera, alert_type, incidents, reviewed, false_positives, false_positive_rate}``."""
    columns = {
        "camera": (Camera.code,),
        "type": (Incident.alert_type,),
        "camera_type": (Camera.code, Incident.alert_type),
    }[group_by]
    rows = await session.execute(
        select(
            *columns,
            func.count(),
            func.count().filter(Incident.status != "open"),
            func.count().filter(Incident.status == "false_positive"),
        )
        .join(Camera, Camera.id == Incident.camera_id)
        .group_by(*columns)
        .order_by(*columns)
    )
    out = []
    for row in rows:
        keys, (total, reviewed, false) = row[: len(columns)], row[len(columns) :]
        named = dict(zip([c.key if c.key != "code" else "camera" for c in columns], keys, strict=True))
        out.append({**named, "incidents": total, "reviewed": reviewed, "false_positives": false,
                    "false_positive_rate": round(false / reviewed, 4) if reviewed else None})  # fmt: skip
    return out


def suggest_threshold(
    reviewed: list[tuple[float, bool]], current: float, target_precision: float, min_reviewed: int
) -> dict[str, Any]:
    """The lowest threshold keeping precision >= ``target_precision`` over ``(best confidence, false positive)``."""
    if len(reviewed) < min_reviewed:
        return {"suggested": None, "reason": f"only {len(reviewed)} reviewed incidents; {min_reviewed} needed"}
    candidates = sorted({confidence for confidence, _ in reviewed} | {current})
    for threshold in candidates:
        kept = [false for confidence, false in reviewed if confidence >= threshold]
        if not kept:
            break
        precision = 1 - sum(kept) / len(kept)
        if precision >= target_precision:
            lost = sum(1 for confidence, false in reviewed if confidence < threshold and not false)
            removed = sum(1 for confidence, false in reviewed if confidence < threshold and false)
            return {"suggested": round(threshold, 4), "precision": round(precision, 4),
                    "false_positives_removed": removed, "true_incidents_lost": lost, "reason": None}  # fmt: skip
    return {"suggested": None, "reason": f"no threshold reaches a precision of {target_precision}"}


async def suggested_thresholds(
    session: AsyncSession, types: Mapping[str, AlertType], target_precision: float = 0.9, min_reviewed: int = 20
) -> list[dict[str, Any]]:
    """One row per alert type: its current threshold, reviewed incidents, false positives and the suggestion."""
    reviewed: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    rows = await session.execute(
        select(Incident.alert_type, Incident.best_confidence, Incident.status).where(Incident.status != "open")
    )
    for alert_type, confidence, status in rows:
        reviewed[alert_type].append((confidence, status == "false_positive"))
    out = []
    for key, kind in sorted(types.items()):
        history = reviewed.get(key, [])
        suggestion = suggest_threshold(history, kind.min_confidence, target_precision, min_reviewed)
        out.append({"alert_type": key, "current": kind.min_confidence, "reviewed": len(history),
                    "false_positives": sum(f for _, f in history), **suggestion})  # fmt: skip
    return out
