"""``streetbrain citybrain ...`` (sync, status, outbox, deliver) and ``streetbrain citybrain-sim``."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import click
from sqlalchemy import func, select, update

from api.cli import Runtime, UserError
from core.citybrain.client import CityBrainError
from core.citybrain.jobs import CityBrainService
from core.citybrain.models import OutboxItem, SyncRun, SyncState
from core.citybrain.outbox import stuck_condition
from core.config import env_name

pass_runtime = click.make_pass_decorator(Runtime, ensure=True)


def _service(runtime: Runtime, *, needs_connection: bool = True) -> CityBrainService:
    service = CityBrainService(runtime.settings, runtime.database, runtime.plugins.ok_plugins())
    if needs_connection and not service.enabled:
        raise UserError(
            f"City Brain is not configured: set {env_name('citybrain_base_url')}, {env_name('citybrain_app_key')} "
            f"and {env_name('citybrain_app_secret')} (for `streetbrain citybrain-sim`: http://127.0.0.1:9100, "
            "streetbrain-dev, streetbrain-dev-secret)"
        )
    return service


@click.group("citybrain")
def citybrain() -> None:
    """Pull datasets from City Brain and push the outbox up to it."""


@citybrain.command("sync")
@click.argument("dataset")
@click.option("--full", is_flag=True, help="Forget the watermark and pull the whole dataset again.")
@pass_runtime
def sync_command(runtime: Runtime, dataset: str, full: bool) -> None:
    """Run one sync of DATASET now, with a progress bar; a run that stopped resumes where it stopped."""
    service = _service(runtime)
    service.source(dataset)  # an unknown dataset ends here, naming the known ones
    bar: Any = None

    def progress(count: int, total: int | None) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total or 0, label=f"sync {dataset}", show_pos=True, file=None)
            bar.__enter__()
        bar.update(count)

    async def _go() -> Any:
        try:
            if full:
                async with runtime.database.session() as session:
                    await session.execute(
                        update(SyncState)
                        .where(SyncState.dataset == dataset)
                        .values(updated_since=None, cursor=None, high_water=None)
                    )
            return await service.sync(dataset, trigger="cli", progress=progress)
        finally:
            await service.aclose()

    try:
        result = runtime.run(_go())
    except CityBrainError as exc:
        raise UserError(f"{exc}. The next sync resumes after the last page stored.") from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(
        f"{dataset}: {result.fetched} fetched, {result.upserted} upserted, {result.quarantined} quarantined, "
        f"{result.duplicates} duplicates in {result.pages} page(s){' (resumed)' if result.resumed else ''}"
    )


@citybrain.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_runtime
def status_command(runtime: Runtime, as_json: bool) -> None:
    """Each dataset's watermark and last run, and the outbox by status."""
    service = _service(runtime, needs_connection=False)
    stuck_after = timedelta(minutes=runtime.settings.citybrain_outbox_stuck_minutes)

    async def _go() -> dict[str, Any]:
        async with runtime.database.session() as session:
            datasets = []
            for dataset in sorted(service.sources):
                state = await session.get(SyncState, dataset)
                run = await session.get(SyncRun, state.last_run_id) if state and state.last_run_id else None
                datasets.append(
                    {
                        "dataset": dataset,
                        "updated_since": state.updated_since.isoformat() if state and state.updated_since else None,
                        "resumes_from_cursor": bool(state and state.cursor),
                        "last_run": None
                        if run is None
                        else {
                            "status": run.status,
                            "started_at": run.started_at.isoformat(),
                            "fetched": run.fetched,
                            "upserted": run.upserted,
                            "quarantined": run.quarantined,
                            "error": run.error,
                        },
                    }
                )
            rows = await session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status))
            counts: dict[str, int] = {status: count for status, count in rows}
            stuck = await session.scalar(
                select(func.count()).select_from(OutboxItem).where(stuck_condition(stuck_after))
            )
        return {"enabled": service.enabled, "datasets": datasets, "outbox": {**counts, "stuck": stuck or 0}}

    report = runtime.run(_go())
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    click.echo(f"City Brain: {runtime.settings.citybrain_base_url or 'not configured'}")
    for row in report["datasets"]:
        run = row["last_run"]
        last = "never run" if run is None else f"last run {run['status']} at {run['started_at']}"
        click.echo(f"  {row['dataset']:<20} since {row['updated_since'] or '-'}  {last}")
    click.echo("outbox: " + ", ".join(f"{key} {value}" for key, value in sorted(report["outbox"].items())))


@citybrain.command("outbox")
@click.option("--stuck", is_flag=True, help="Only items that are dead, or failed and older than the stuck time.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="Items to show.")
@pass_runtime
def outbox_command(runtime: Runtime, stuck: bool, limit: int) -> None:
    """The oldest undelivered outbox items."""
    stuck_after = timedelta(minutes=runtime.settings.citybrain_outbox_stuck_minutes)

    async def _go() -> list[OutboxItem]:
        query = select(OutboxItem).where(OutboxItem.status != "delivered").order_by(OutboxItem.id).limit(limit)
        if stuck:
            query = query.where(stuck_condition(stuck_after))
        async with runtime.database.session() as session:
            return list((await session.scalars(query)).all())

    items = runtime.run(_go())
    if not items:
        click.echo("nothing waiting")
    for item in items:
        click.echo(
            f"{item.id:>6} {item.status:<8} {item.attempts:>3} tries  {item.path:<28} {item.idempotency_key}"
            + (f"  ({item.last_error})" if item.last_error else "")
        )


@citybrain.command("deliver")
@pass_runtime
def deliver_command(runtime: Runtime) -> None:
    """Run one outbox delivery round now."""
    service = _service(runtime)

    async def _go() -> Any:
        try:
            return await service.deliver()
        finally:
            await service.aclose()

    result = runtime.run(_go())
    click.echo(f"delivered {result.delivered}, failed {result.failed}, dead {result.dead}")


@click.command("citybrain-sim")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9100, show_default=True, type=click.IntRange(1, 65535), help="Port.")
@click.option("--seed", default=7, show_default=True, type=int, help="Seed of the generated datasets.")
@click.option(
    "--size", "sizes", multiple=True, metavar="DATASET=N", help="Records of a dataset, e.g. households=100000."
)
@click.option("--error-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of requests answered 500/503.")
@click.option("--throttle-rate", default=0.0, type=click.FloatRange(0, 1), help="Share answered 429 + Retry-After.")
@click.option("--timeout-rate", default=0.0, type=click.FloatRange(0, 1), help="Share that hang, then 504.")
@click.option("--latency", default=0.0, type=click.FloatRange(0, 600), help="Seconds added to every answer.")
@click.option("--malformed-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of records served broken.")
@click.option("--duplicate-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of records served twice.")
def citybrain_sim(
    host: str,
    port: int,
    seed: int,
    sizes: tuple[str, ...],
    error_rate: float,
    throttle_rate: float,
    timeout_rate: float,
    latency: float,
    malformed_rate: float,
    duplicate_rate: float,
) -> None:
    """Serve the City Brain simulator (the contract of docs/citybrain.md) with generated data.

    It accepts the app key and secret of STREETBRAIN_CITYBRAIN_APP_KEY / _APP_SECRET, else
    streetbrain-dev / streetbrain-dev-secret. Faults can be changed while it runs: PUT /_sim/faults.
    """
    from core.citybrain.simulator.app import DEFAULT_APP_KEY, DEFAULT_APP_SECRET, SimulatorState
    from core.citybrain.simulator.data import GENERATORS
    from core.citybrain.simulator.faults import Faults
    from core.citybrain.simulator.server import serve
    from core.logs import configure_logging

    parsed: dict[str, int] = {}
    for item in sizes:
        name, _, count = item.partition("=")
        if name not in GENERATORS or not count.isdigit() or not 0 < int(count) <= 2_000_000:
            raise click.BadParameter(
                f"expected DATASET=N with DATASET one of {', '.join(GENERATORS)}", param_hint="--size"
            )
        parsed[name] = int(count)
    if error_rate + throttle_rate + timeout_rate > 1:
        raise click.BadParameter(
            "error, throttle and timeout rates must add up to at most 1", param_hint="--error-rate"
        )
    configure_logging(os.environ.get("STREETBRAIN_LOG_LEVEL", "INFO").upper(), "auto")
    app_key = os.environ.get(env_name("citybrain_app_key")) or DEFAULT_APP_KEY
    secret = os.environ.get(env_name("citybrain_app_secret")) or DEFAULT_APP_SECRET
    faults = Faults(
        error_rate=error_rate,
        throttle_rate=throttle_rate,
        timeout_rate=timeout_rate,
        latency=latency,
        malformed_rate=malformed_rate,
        duplicate_rate=duplicate_rate,
    )
    state = SimulatorState(seed=seed, sizes=parsed, apps={app_key: secret.encode()}, faults=faults)
    counts = ", ".join(f"{name} {len(ds.records)}" for name, ds in sorted(state.datasets.items()))
    click.echo(f"City Brain simulator at http://{host}:{port} (seed {seed}; {counts}); app key {app_key}")
    serve(state, host, port)
