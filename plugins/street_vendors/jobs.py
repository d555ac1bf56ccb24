"""street_vendors jobs: capacity sums, nightly hotspots and suggestions, permit expiry reminders, and the
daily violation summary pushed to City Brain through the outbox."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select

from core.citybrain.outbox import enqueue_metric
from core.contracts import JobContext, JobSpec
from core.db import utcnow
from core.events import Event
from plugins.street_vendors import hotspots
from plugins.street_vendors.models import CATEGORIES, Permit, Suggestion, VendingPoint, Violation
from plugins.street_vendors.rules import RuleBook


def specs(settings: Any) -> list[JobSpec]:
    """The plugin's jobs (ids become ``street_vendors:<id>``)."""
    every = {"minutes": settings.capacity_summary_minutes}
    return [
        JobSpec("capacity_summary", capacity_summary, "interval", every, "Total stalls per category"),
        JobSpec("hotspots", nightly_hotspots, "cron", {"hour": 2, "minute": 10}, "Hotspots and suggested points"),
        JobSpec("permit_reminders", permit_reminders, "cron", {"hour": 8, "minute": 0}, "Permits expiring soon"),
        JobSpec(
            "violation_summary",
            violation_summary,
            "cron",
            {"hour": 1, "minute": 5},
            "Yesterday's violations to City Brain",
        ),
    ]


async def capacity_summary(ctx: JobContext) -> dict[str, Any]:
    """Stalls offered by the active vending points, per category (a point counts for each category it allows)."""
    async with ctx.database.session() as session:
        points = (
            await session.execute(
                select(VendingPoint.capacity, VendingPoint.categories).where(VendingPoint.active.is_(True))
            )
        ).all()
    capacity: Counter[str] = Counter(dict.fromkeys(CATEGORIES, 0))
    for stalls, categories in points:
        capacity.update(dict.fromkeys(categories, stalls))
    return {"active_points": len(points), "capacity": dict(capacity)}


async def nightly_hotspots(ctx: JobContext) -> dict[str, Any]:
    """Compute today's suggestions (replacing any of today's) and summarise the busiest cells of four weeks."""
    tz = ctx.settings.tz
    now = utcnow()
    today = now.astimezone(tz).date()
    async with ctx.database.session() as session:
        book = await RuleBook.load(session, tz, ctx.plugin_settings)
        bus = ctx.services.get("events")
        found = await hotspots.suggestions(session, book, now, ctx.plugin_settings, bus.locate_grid if bus else None)
        await session.execute(delete(Suggestion).where(Suggestion.computed_on == today))
        session.add_all(
            Suggestion(
                computed_on=today,
                rank=item["rank"],
                cell=item["cell"],
                lon=item["lon"],
                lat=item["lat"],
                grid_id=item["grid_id"],
                days=item["days"],
                sightings=item["sightings"],
                opens=item["opens"],
                closes=item["closes"],
                categories=item["categories"],
            )
            for item in found
        )
        cells = await hotspots.tallies_by_cell(
            session, now - timedelta(weeks=4), now, tz, ctx.plugin_settings.cell_size_m
        )
    busiest = sorted(cells.items(), key=lambda kv: -kv[1].sightings)[:5]
    return {
        "cells": len(cells),
        "busiest": [{"cell": c, "sightings": t.sightings, "days": len(t.days)} for c, t in busiest],
        "suggestions": [{"cell": s["cell"], "opens": s["opens"], "closes": s["closes"]} for s in found[:5]],
    }


async def permit_reminders(ctx: JobContext) -> dict[str, Any]:
    """An event ``street_vendors.permit_expiring`` for each active permit ending within the next
    ``permit_reminder_days`` local days, once per permit and end date (a renewed permit is reminded again)."""
    tz = ctx.settings.tz
    today = utcnow().astimezone(tz).date()
    horizon = today + timedelta(days=ctx.plugin_settings.permit_reminder_days)
    bus = ctx.services["events"]
    results = []
    async with ctx.database.session() as session:
        permits = list(
            await session.scalars(
                select(Permit)
                .where(Permit.status == "active", Permit.valid_to >= today, Permit.valid_to <= horizon)
                .order_by(Permit.id)
            )
        )
        codes = dict((await session.execute(select(VendingPoint.id, VendingPoint.code))).tuples().all())
        for permit in permits:
            if permit.reminded_for == permit.valid_to:
                continue
            event = Event(
                type="street_vendors.permit_expiring",
                source="street_vendors:permit_reminders",
                dedup_key=f"permit:{permit.id}:{permit.valid_to.isoformat()}",
                payload={
                    "permit_id": permit.id,
                    "vendor_id": permit.vendor_id,
                    "point": codes.get(permit.point_id),
                    "valid_to": permit.valid_to.isoformat(),
                    "days_left": (permit.valid_to - today).days,
                },
            )
            results.append(await bus.emit(session, event))
            permit.reminded_for = permit.valid_to
    bus.after_commit(results)
    return {"reminded": len(results), "horizon": horizon.isoformat()}


async def violation_summary(ctx: JobContext) -> dict[str, Any]:
    """Yesterday's (local) violations by outcome and stage, queued for City Brain as the metric
    ``street_vendors_violations`` (idempotent per day: a rerun queues nothing new)."""
    tz = ctx.settings.tz
    day = utcnow().astimezone(tz).date() - timedelta(days=1)
    since = datetime.combine(day, time(), tzinfo=tz)
    until = since + timedelta(days=1)
    async with ctx.database.session() as session:
        rows = (
            await session.execute(
                select(Violation.outcome, Violation.stage).where(
                    Violation.observed_at >= since, Violation.observed_at < until
                )
            )
        ).all()
        values = {
            "violations": len(rows),
            "outcomes": dict(Counter(outcome for outcome, _ in rows)),
            "stages": dict(Counter(stage for _, stage in rows)),
        }
        queued = await enqueue_metric(
            session,
            "street_vendors_violations",
            values,
            period=day.isoformat(),
            idempotency_key=f"street_vendors:violations:{day.isoformat()}",
        )
    return {"period": day.isoformat(), "queued": queued, **values}
