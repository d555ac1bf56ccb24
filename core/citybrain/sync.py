"""Pull a City Brain dataset into a plugin's model: resume from the watermark, upsert, quarantine.

A run reads the dataset's :class:`~core.citybrain.models.SyncState` (``updated_since`` plus the
cursor of an unfinished run), fetches pages, checks each page, and stores the checked pages in
batches (``citybrain_commit_records`` records, or whatever arrived within
``citybrain_commit_seconds``), each batch in one transaction: upserts the valid records on the
source's natural key (``INSERT .. ON CONFLICT DO UPDATE`` on SQLite and PostgreSQL), quarantines the
invalid ones with the reason, and stores the cursor after the batch's last page and the high-water
mark. A run that dies therefore resumes after the last batch it stored (the pages of the batch it
was filling are fetched again), and a page stored twice changes nothing. When the last page is
stored, ``updated_since`` becomes the newest ``updated_at`` seen.

Why batches: each commit writes every index page the batch touched to the SQLite WAL, and the
natural keys arrive in random order, so a commit per page of 1,000 wrote about 1.7 MB; ten pages
per commit write most of those pages once instead of ten times.

The stages overlap: while a batch is written (one transaction on the run's one connection), the
next pages are fetched (one ahead: the next page's request is sent before the page in hand is
checked, so City Brain prepares it meanwhile) and checked. A batch's transaction starts only once the one
before has committed, so the stored cursor never runs ahead of the stored rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.citybrain.checks import PreparedPage, RecordChecker, prepare_page, sort_key
from core.citybrain.client import CityBrainClient, CityBrainError, DatasetPage
from core.citybrain.models import SyncRun, SyncState
from core.citybrain.upsert import quarantine, upsert_rows
from core.contracts import CityBrainSource
from core.db import Database, utcnow
from core.logs import get_logger

log = get_logger(__name__)

Progress = Callable[[int, int | None], None]
"""Called after each stored page with (records in the page, records remaining when the run began)."""


@dataclass
class SyncResult:
    """What one sync run did."""

    dataset: str
    run_id: int
    resumed: bool = False
    pages: int = 0
    fetched: int = 0
    upserted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    updated_since: str | None = None

    def summary(self) -> dict[str, Any]:
        """The counts, for the job's run history."""
        return asdict(self)


# -- sources ---------------------------------------------------------------------------------------


def collect_sources(plugins: Iterable[Any]) -> dict[str, CityBrainSource]:
    """The City Brain sources of loaded plugin records by dataset; a dataset claimed twice keeps the first."""
    sources: dict[str, CityBrainSource] = {}
    owners: dict[str, str] = {}
    for record in plugins:
        for source in record.citybrain_sources:
            if source.dataset in sources:
                log.error(
                    "citybrain_source_conflict",
                    dataset=source.dataset,
                    plugin=record.name,
                    kept=owners[source.dataset],
                )
                continue
            sources[source.dataset] = source
            owners[source.dataset] = record.name
    return sources


# -- a run -----------------------------------------------------------------------------------------


async def _start_run(database: Database, dataset: str, trigger: str) -> tuple[SyncRun, SyncState]:
    async with database.session() as session:
        # A run still marked running died with its process (a job runs one instance at a time).
        await session.execute(
            update(SyncRun)
            .where(SyncRun.dataset == dataset, SyncRun.status == "running")
            .values(status="interrupted", finished_at=utcnow(), error="the process stopped during the run")
        )
        state = await session.get(SyncState, dataset)
        if state is None:
            state = SyncState(dataset=dataset)
            session.add(state)
        run = SyncRun(
            dataset=dataset,
            trigger=trigger,
            status="running",
            started_at=utcnow(),
            updated_since=state.updated_since,
            resumed_cursor=state.cursor,
            pages=0,
            fetched=0,
            upserted=0,
            quarantined=0,
            duplicates=0,
        )
        session.add(run)
        await session.flush()
        state.last_run_id = run.id
    return run, state


async def _finish_run(database: Database, run_id: int, error: str | None) -> None:
    async with database.session() as session:
        await session.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(status="failed" if error else "succeeded", finished_at=utcnow(), error=error)
        )


_STATE = cast(Table, SyncState.__table__)
_RUNS = cast(Table, SyncRun.__table__)
_PAGE_STATE = {
    last: update(_STATE)
    .where(_STATE.c.dataset == bindparam("p_dataset"))
    .values(
        cursor=bindparam("p_cursor", type_=_STATE.c.cursor.type),
        high_water=bindparam("p_high_water", type_=_STATE.c.high_water.type),
        updated_at=bindparam("p_now", type_=_STATE.c.updated_at.type),
        **({"updated_since": bindparam("p_high_water", type_=_STATE.c.updated_since.type)} if last else {}),
    )
    for last in (False, True)
}
"""The cursor and high-water mark after a page; with the last page, ``updated_since`` moves too."""
_PAGE_COUNTS = (
    update(_RUNS)
    .where(_RUNS.c.id == bindparam("p_run"))
    .values(
        pages=_RUNS.c.pages + bindparam("p_pages"),
        fetched=_RUNS.c.fetched + bindparam("p_fetched"),
        upserted=_RUNS.c.upserted + bindparam("p_upserted"),
        quarantined=_RUNS.c.quarantined + bindparam("p_quarantined"),
        duplicates=_RUNS.c.duplicates + bindparam("p_duplicates"),
    )
)
"""A batch's counts added to its run."""


@dataclass
class _Batch:
    """Checked pages not yet stored; they are committed together, in one transaction."""

    pages: list[tuple[DatasetPage, PreparedPage]] = field(default_factory=list)
    records: int = 0
    high_water: datetime | None = None
    started: float = 0.0  # event-loop time of its first page

    def add(self, page: DatasetPage, prepared: PreparedPage, high_water: datetime | None, now: float) -> None:
        """Add a checked page; ``high_water`` is the newest ``updated_at`` seen up to and including it."""
        if not self.pages:
            self.started = now
        self.pages.append((page, prepared))
        self.records += len(page.items)
        self.high_water = high_water

    def rows(self) -> list[Any]:
        """The rows of all its pages in key order, one per natural key (a later page's row wins)."""
        if len(self.pages) == 1:
            return self.pages[0][1].rows
        by_key: dict[Any, Any] = {}
        for _page, prepared in self.pages:
            by_key.update(zip(prepared.keys, prepared.rows, strict=True))
        try:
            keys = sorted(by_key)  # sorted runs, one per page: a merge
        except TypeError:
            keys = sorted(by_key, key=sort_key)
        return [by_key[key] for key in keys]


async def _store_batch(connection: AsyncConnection, source: CityBrainSource, run_id: int, batch: _Batch) -> None:
    """One transaction: the batch's rows, its quarantined records, the cursor after its last page, its counts.

    Core statements (built once above) on the run's one connection: no ORM session, whose
    bookkeeping costs more than the two small updates themselves, and no pool check-out and reset
    per batch.
    """
    last = batch.pages[-1][0]
    async with connection.begin():
        await upsert_rows(connection, source, batch.rows())
        for _page, prepared in batch.pages:  # one row per distinct record, its count bumped per page
            await quarantine(connection, source.dataset, run_id, prepared.bad)
        await connection.execute(
            _PAGE_STATE[last.next_cursor is None],  # the last page: the run is complete, the watermark moves
            {
                "p_dataset": source.dataset,
                "p_cursor": last.next_cursor,
                "p_high_water": batch.high_water,
                "p_now": utcnow(),
            },
        )
        preps = [prepared for _page, prepared in batch.pages]
        await connection.execute(
            _PAGE_COUNTS,
            {
                "p_run": run_id,
                "p_pages": len(batch.pages),
                "p_fetched": batch.records,
                "p_upserted": sum(len(prepared.rows) for prepared in preps),
                "p_quarantined": sum(len(prepared.bad) for prepared in preps),
                "p_duplicates": sum(prepared.duplicates for prepared in preps),
            },
        )


class _BatchWriter:
    """Stores a run's batches one after the other on one connection, each in its own transaction.

    :meth:`write` returns as soon as a batch's transaction has started, so the caller fetches and
    checks the next pages while the database (in its own thread with SQLite, on the server with
    PostgreSQL) writes this one. A batch is only started once the one before it is committed, so
    the stored cursor never runs ahead of the stored rows.
    """

    def __init__(
        self,
        connection: AsyncConnection,
        source: CityBrainSource,
        run_id: int,
        stored: Callable[[DatasetPage, PreparedPage], None],
    ) -> None:
        self.connection = connection
        self.source = source
        self.run_id = run_id
        self.stored = stored
        self._writing: asyncio.Task[None] | None = None
        self._batch: _Batch | None = None

    async def write(self, batch: _Batch) -> None:
        """Wait until the batch before is stored (its failure raises here), then start storing ``batch``."""
        await self.wait()
        self._writing = asyncio.ensure_future(_store_batch(self.connection, self.source, self.run_id, batch))
        self._batch = batch

    async def wait(self) -> None:
        """Wait until the batch being written is committed; its failure raises here."""
        if self._writing is None:
            return
        # Shielded: a cancelled run lets the batch's transaction finish rather than cut it short.
        await asyncio.shield(self._writing)
        self._done()

    async def settle(self) -> None:
        """After a failure elsewhere: let the batch being written finish (or fail), without raising."""
        if self._writing is None:
            return
        await asyncio.wait([self._writing])
        if self._writing.cancelled() or self._writing.exception() is not None:
            self._writing = None
        else:
            self._done()

    def _done(self) -> None:
        self._writing = None
        if self._batch is not None:
            batch, self._batch = self._batch, None
            for page, prepared in batch.pages:
                self.stored(page, prepared)


SEND_TURNS = 20
"""How many turns of the event loop a run lets the next page's request take to be sent."""


async def _until_sent(task: asyncio.Task[Any], sent: list[bool]) -> None:
    """Let ``task`` run until its request is written (``sent`` filled), it ends, or ``SEND_TURNS`` turns pass.

    A task created with ``ensure_future`` runs only when the run yields, and checking a page
    does not: without this the next page's request would leave only after the page was checked,
    and City Brain would start on it only then. A request on an open connection takes ~4 turns
    (a new connection ~12); one held back (a retry's wait, a pool without a free connection)
    is not waited for.
    """
    for _ in range(SEND_TURNS):
        if sent or task.done():
            return
        await asyncio.sleep(0)


def _discard(task: asyncio.Task[Any]) -> None:
    """Cancel ``task``; if it already failed, take its exception (so asyncio does not report it)."""
    if task.done():
        if not task.cancelled():
            task.exception()
    else:
        task.cancel()


async def sync_dataset(
    database: Database,
    client: CityBrainClient,
    source: CityBrainSource,
    *,
    trigger: str = "schedule",
    page_size: int | None = None,
    progress: Progress | None = None,
    commit_records: int | None = None,
    commit_seconds: float | None = None,
) -> SyncResult:
    """Run one sync of ``source``'s dataset from its stored watermark; return the counts.

    Checked pages are committed together once they hold ``commit_records`` records or the oldest
    of them was fetched ``commit_seconds`` ago (defaults: the client's settings), and when a fetch
    fails, so a run that dies loses at most that much fetched work, which the next run fetches again.

    Raises :class:`CityBrainError` when City Brain fails past the retries (the run is recorded as
    failed and the next run resumes where this one stopped) and :class:`SyncConfigError` for a
    source declared wrongly.
    """
    checker = RecordChecker(source)
    run, state = await _start_run(database, source.dataset, trigger)
    result = SyncResult(source.dataset, run.id, resumed=state.cursor is not None)
    since, cursor, high_water = state.updated_since, state.cursor, state.high_water
    result.updated_since = since.isoformat() if since else None
    log.info(
        "citybrain_sync_started",
        dataset=source.dataset,
        run=run.id,
        updated_since=result.updated_since,
        resumed=result.resumed,
    )
    settings = client.settings
    limit = page_size or settings.citybrain_page_size
    most_records = commit_records or settings.citybrain_commit_records
    most_seconds = commit_seconds or settings.citybrain_commit_seconds
    loop = asyncio.get_running_loop()
    total: int | None = None

    def stored(page: DatasetPage, prepared: PreparedPage) -> None:
        result.pages += 1
        result.fetched += len(page.items)
        result.upserted += len(prepared.rows)
        result.quarantined += len(prepared.bad)
        result.duplicates += prepared.duplicates
        if progress is not None:
            progress(len(page.items), total)

    get_page = partial(
        client.get_page, source.dataset, updated_since=since, limit=limit, record_type=source.record_type
    )
    pending: asyncio.Task[DatasetPage] | None = None  # the next page, fetched while this one is checked
    try:
        async with database.engine.connect() as connection:
            writer = _BatchWriter(connection, source, run.id, stored)
            batch = _Batch()
            try:
                try:
                    page = await get_page(cursor=cursor)
                except CityBrainError as exc:
                    if not (cursor and exc.status == 400 and "cursor" in str(exc.detail)):
                        raise
                    log.warning("citybrain_sync_cursor_refused", dataset=source.dataset, run=run.id)
                    result.resumed = False
                    page = await get_page()
                total = page.remaining
                while True:
                    if page.next_cursor is not None:
                        sent: list[bool] = []
                        pending = asyncio.ensure_future(
                            get_page(cursor=page.next_cursor, on_sent=partial(sent.append, True))
                        )
                        await _until_sent(pending, sent)
                    prepared = prepare_page(source, checker, page.items)  # while the batch before is written
                    if prepared.newest is not None and (high_water is None or prepared.newest > high_water):
                        high_water = prepared.newest
                    now = loop.time()
                    batch.add(page, prepared, high_water, now)
                    if pending is None or batch.records >= most_records or now - batch.started >= most_seconds:
                        await writer.write(batch)
                        batch = _Batch()
                    if pending is None:
                        break
                    if batch.pages:  # wait for the next page no longer than the batch may stay unstored
                        await asyncio.wait([pending], timeout=max(0.0, batch.started + most_seconds - loop.time()))
                        if not pending.done():
                            await writer.write(batch)
                            batch = _Batch()
                    try:
                        page = await pending
                    except Exception:
                        if batch.pages:  # the pages fetched before the failure are stored all the same
                            await writer.write(batch)
                        raise
                    pending = None
                await writer.wait()
            except BaseException:
                if pending is not None:
                    _discard(pending)
                await writer.settle()
                raise
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.warning("citybrain_sync_failed", dataset=source.dataset, run=run.id, error=error, pages=result.pages)
        await asyncio.shield(_finish_run(database, run.id, error))
        raise
    await _finish_run(database, run.id, None)
    log.info("citybrain_sync_finished", **result.summary())
    return result


async def sync_state(session: AsyncSession, dataset: str) -> SyncState | None:
    """The stored state of ``dataset`` (None before its first run)."""
    return (await session.scalars(select(SyncState).where(SyncState.dataset == dataset))).first()
