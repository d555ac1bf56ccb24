"""The City Brain jobs (one sync per dataset, the outbox delivery) and the per-process service behind them.

``CityBrainService`` owns the process's one :class:`~core.citybrain.client.CityBrainClient`
(created on first use inside the running event loop, closed by :meth:`CityBrainService.aclose`).
The app registers :meth:`CityBrainService.job_specs` with ``scheduler.add_jobs("citybrain", ...)``,
so the jobs are ``citybrain:sync_<dataset>`` and ``citybrain:deliver_outbox``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.citybrain.client import CityBrainClient
from core.citybrain.outbox import DeliveryResult, deliver_due
from core.citybrain.sync import Progress, SyncResult, collect_sources, sync_dataset
from core.config import ConfigError, Settings
from core.contracts import CityBrainSource, JobContext, JobFunc, JobSpec
from core.db import Database


class CityBrainService:
    """The City Brain sources of the loaded plugins, and the client that syncs and delivers them."""

    def __init__(self, settings: Settings, database: Database, plugins: Iterable[Any]) -> None:
        """Collect the sources of the loaded plugin records; nothing is connected yet."""
        self.settings = settings
        self.database = database
        self.sources: dict[str, CityBrainSource] = collect_sources(plugins)
        self._client: CityBrainClient | None = None

    @property
    def enabled(self) -> bool:
        """Whether City Brain is configured (``STREETBRAIN_CITYBRAIN_BASE_URL``)."""
        return bool(self.settings.citybrain_base_url)

    def client(self) -> CityBrainClient:
        """The process's one client (created on first use)."""
        if self._client is None:
            self._client = CityBrainClient(self.settings)
        return self._client

    def source(self, dataset: str) -> CityBrainSource:
        """The source of ``dataset``; :class:`ConfigError` naming the known ones otherwise."""
        try:
            return self.sources[dataset]
        except KeyError:
            known = ", ".join(sorted(self.sources)) or "none (no enabled plugin declares one)"
            raise ConfigError(f"no City Brain source for dataset {dataset!r}; known: {known}") from None

    async def sync(
        self, dataset: str, *, trigger: str = "schedule", progress: Progress | None = None, page_size: int | None = None
    ) -> SyncResult:
        """Run one sync of ``dataset`` (``page_size`` default: ``citybrain_page_size``)."""
        return await sync_dataset(
            self.database, self.client(), self.source(dataset), trigger=trigger, progress=progress, page_size=page_size
        )

    async def deliver(self) -> DeliveryResult:
        """Run one outbox delivery round."""
        return await deliver_due(self.database, self.client())

    async def aclose(self) -> None:
        """Close the client (and its connections)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _sync_job(self, dataset: str) -> JobFunc:
        async def sync_job(ctx: JobContext) -> dict[str, Any]:
            return (await self.sync(dataset)).summary()

        return sync_job

    async def _deliver_job(self, ctx: JobContext) -> dict[str, Any]:
        return (await self.deliver()).summary()

    def job_specs(self) -> list[JobSpec]:
        """The jobs to schedule: a sync per dataset and the outbox delivery (none when City Brain is off)."""
        if not self.enabled:
            return []
        specs = [
            JobSpec(
                id=f"sync_{dataset}",
                func=self._sync_job(dataset),
                trigger="interval",
                schedule={"minutes": self.settings.citybrain_sync_minutes},
                description=f"Pull the City Brain dataset {dataset}",
            )
            for dataset in sorted(self.sources)
        ]
        specs.append(
            JobSpec(
                id="deliver_outbox",
                func=self._deliver_job,
                trigger="interval",
                schedule={"seconds": self.settings.citybrain_outbox_seconds},
                description="Push the outbox up to City Brain",
                misfire_grace_seconds=self.settings.citybrain_outbox_seconds,
            )
        )
        return specs
