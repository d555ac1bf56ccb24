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
import hashlib
import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import Any, cast

from sqlalchemy import Boolean, Float, Integer, Numeric, String, Table, UniqueConstraint, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.processors import to_float
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.citybrain.client import CityBrainClient, CityBrainError, DatasetPage
from core.citybrain.models import QuarantinedRecord, SyncRun, SyncState
from core.contracts import CityBrainSource
from core.db import Database, utcnow
from core.logs import get_logger

log = get_logger(__name__)

Progress = Callable[[int, int | None], None]
"""Called after each stored page with (records in the page, records remaining when the run began)."""


class SyncConfigError(Exception):
    """A City Brain source cannot be synced as declared (a plugin bug); the message says what to fix."""


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


def _table(source: CityBrainSource) -> Table:
    table = getattr(source.model, "__table__", None)
    if not isinstance(table, Table):
        raise SyncConfigError(f"source {source.dataset}: model {source.model!r} is not a mapped SQLAlchemy model")
    return table


def _is_unique(table: Table, columns: tuple[str, ...]) -> bool:
    wanted = set(columns)
    if {c.name for c in table.primary_key.columns} == wanted:
        return True
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and {c.name for c in constraint.columns} == wanted:
            return True
    return any(index.unique and {c.name for c in index.columns} == wanted for index in table.indexes)


class RecordChecker:
    """Checks mapped values against the model's columns: unknown, missing, null, type and length."""

    def __init__(self, source: CityBrainSource) -> None:
        """Compile the checks of ``source``'s model; raise :class:`SyncConfigError` for a bad declaration."""
        self.source = source
        self.table = _table(source)
        missing = [name for name in source.natural_key if name not in self.table.columns]
        if missing or not source.natural_key:
            raise SyncConfigError(f"source {source.dataset}: natural_key {source.natural_key} are not all columns")
        if not _is_unique(self.table, source.natural_key):
            raise SyncConfigError(
                f"source {source.dataset}: natural_key {source.natural_key} must be the primary key or a "
                f"unique constraint of {self.table.name} (it is the upsert's conflict target)"
            )
        self.types: dict[str, tuple[type, ...] | None] = {}
        self.lengths: dict[str, int] = {}
        self.nullable: set[str] = set()
        self.required: list[str] = []
        for column in self.table.columns:
            kind = column.type
            if isinstance(kind, Boolean):
                self.types[column.name] = (bool,)
            elif isinstance(kind, Integer):
                self.types[column.name] = (int,)
            elif isinstance(kind, Float | Numeric):
                self.types[column.name] = (float, int)
            elif isinstance(kind, String):
                self.types[column.name] = (str,)
                if kind.length is not None:
                    self.lengths[column.name] = kind.length
            else:
                self.types[column.name] = None  # JSON, dates, ...: the database adapter decides
            if column.nullable:
                self.nullable.add(column.name)
            has_default = column.default is not None or column.server_default is not None
            auto = column.primary_key and column.autoincrement in (True, "auto") and isinstance(kind, Integer)
            if not column.nullable and not has_default and not auto:
                self.required.append(column.name)

    def problem(self, values: Mapping[str, Any]) -> str | None:
        """Why ``values`` cannot be stored (unknown column, null, type, length, missing), or None."""
        types, lengths = self.types, self.lengths
        for name, value in values.items():
            if name not in types:
                raise SyncConfigError(
                    f"source {self.source.dataset}: map_record gave {name!r}, which is no column of {self.table.name}"
                )
            if value is None:
                if name not in self.nullable:
                    return f"{name}: must not be null"
                continue
            allowed = types[name]
            if allowed is None:
                continue
            kind = type(value)
            if kind not in allowed:
                return f"{name}: expected {_DESCRIBED[allowed]}, got {value!r}"
            if kind is float and not math.isfinite(value):
                return f"{name}: expected a finite number, got {value!r}"
            if name in lengths and len(value) > lengths[name]:
                return f"{name}: longer than {lengths[name]} characters"
        for name in self.required:
            if name not in values:
                return f"{name}: missing"
        return None

    def problems(self, rows: list[dict[str, Any]]) -> list[str | None]:
        """:meth:`problem` of each row; a page whose columns all pass is checked column by column.

        Nearly every page has one set of columns and nothing wrong: then each column is checked
        whole (its value types, nulls, lengths and finiteness in C), and only a page with a
        failing column is checked row by row, which gives each row its exact reason.
        """
        column_sets = set(map(tuple, rows))
        if len(column_sets) == 1 and self._columns_pass(column_sets.pop(), rows):
            return [None] * len(rows)
        return [self.problem(values) for values in rows]

    def _columns_pass(self, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> bool:
        """Whether every row of ``rows`` (all with ``columns``) passes :meth:`problem`; False when one may not."""
        types, lengths, nullable = self.types, self.lengths, self.nullable
        for name in columns:
            if name not in types:
                raise SyncConfigError(
                    f"source {self.source.dataset}: map_record gave {name!r}, which is no column of {self.table.name}"
                )
        if any(name not in columns for name in self.required):
            return False
        for name in columns:
            values: list[Any] = list(map(itemgetter(name), rows))
            kinds = set(map(type, values))
            if _NONE in kinds:
                if name not in nullable:
                    return False
                kinds.discard(_NONE)
                values = [value for value in values if value is not None]
            allowed = types[name]
            if allowed is None or not kinds:
                continue
            if not kinds.issubset(allowed):
                return False
            if float in kinds:
                try:
                    if not all(map(math.isfinite, values)):
                        return False
                except OverflowError:  # an int too large for a float: the row check says nothing of it
                    return False
            if name in lengths and max(map(len, values)) > lengths[name]:
                return False
        return True


_NONE = type(None)
_DESCRIBED = {(bool,): "true or false", (int,): "an integer", (float, int): "a number", (str,): "text"}


# -- a page ----------------------------------------------------------------------------------------


@dataclass
class PreparedPage:
    """A page split into rows to upsert (one per natural key), records to quarantine and the newest update."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    keys: list[Any] = field(default_factory=list)  # the natural key of each row, in the same (sorted) order
    bad: dict[str, tuple[Any, str]] = field(default_factory=dict)  # record hash -> (record, reason)
    duplicates: int = 0
    newest: datetime | None = None


def record_hash(record: Any) -> str:
    """SHA-256 of the record's canonical JSON: one quarantine row per distinct record."""
    text = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _updated_at(record: Mapping[str, Any]) -> datetime:
    raw = record.get("updated_at")
    if not isinstance(raw, str):
        raise ValueError(f"updated_at: expected an ISO 8601 date-time, got {raw!r}")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"updated_at: expected an ISO 8601 date-time, got {raw!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def prepare_page(source: CityBrainSource, checker: RecordChecker, items: list[Any]) -> PreparedPage:
    """Map, check and de-duplicate one page's records.

    First each record is mapped (a record that cannot be is quarantined), then the mapped values
    are checked against the columns (a page at a time, :meth:`RecordChecker.problems`), then
    ``validate`` runs on the values that passed. A page with nothing wrong (nearly every page) is
    done a step at a time over the whole page (:func:`_prepare_clean_page`); a page where any step
    fails is done again record by record, which gives each bad record its reason.
    """
    clean = _prepare_clean_page(source, checker, items)
    return clean if clean is not None else _prepare_records(source, checker, items)


def _prepare_records(source: CityBrainSource, checker: RecordChecker, items: list[Any]) -> PreparedPage:
    """:func:`prepare_page` record by record: each bad record is quarantined with its reason."""
    page = PreparedPage()
    bad = page.bad
    map_record, validate = source.map_record, source.validate
    mapped: list[tuple[dict[str, Any], datetime, dict[str, Any]]] = []
    for record in items:
        try:
            if not isinstance(record, dict):
                raise TypeError(f"expected a JSON object, got {type(record).__name__}")
            moment = _updated_at(record)
            mapped.append((record, moment, dict(map_record(record))))
        except SyncConfigError:
            raise
        except KeyError as exc:
            bad[record_hash(record)] = (_kept(source, record), f"{exc.args[0] if exc.args else exc}: missing")
        except (ValueError, TypeError, AttributeError) as exc:
            bad[record_hash(record)] = (_kept(source, record), str(exc) or type(exc).__name__)
    natural_key = source.natural_key
    single = natural_key[0] if len(natural_key) == 1 else None
    by_key: dict[Any, dict[str, Any]] = {}
    newest: datetime | None = None
    problems = checker.problems([values for _record, _moment, values in mapped])
    for (record, moment, values), reason in zip(mapped, problems, strict=True):
        try:
            if reason is None and validate is not None:
                reason = validate(values)
            if reason is not None:
                raise ValueError(reason)
            key = values[single] if single is not None else tuple([values[name] for name in natural_key])
        except SyncConfigError:
            raise
        except KeyError as exc:
            bad[record_hash(record)] = (_kept(source, record), f"{exc.args[0] if exc.args else exc}: missing")
            continue
        except (ValueError, TypeError, AttributeError) as exc:
            bad[record_hash(record)] = (_kept(source, record), str(exc) or type(exc).__name__)
            continue
        if key in by_key:
            page.duplicates += 1
        by_key[key] = values
        if newest is None or moment > newest:
            newest = moment
    page.newest = newest
    # In key order: the B-tree of the natural key takes a sorted batch several times faster.
    try:
        keys = sorted(by_key)
    except TypeError:  # keys of mixed types (or None): order them by their text
        keys = sorted(by_key, key=_sort_key)
    page.keys = keys
    page.rows = [by_key[key] for key in keys]
    return page


def _prepare_clean_page(source: CityBrainSource, checker: RecordChecker, items: list[Any]) -> PreparedPage | None:
    """:func:`prepare_page` of a page whose every record is good, or None when one may not be.

    Each step runs over the whole page (``map``, ``set`` and ``dict`` in C) instead of once per
    record with its own ``try``: the dates are parsed in one pass, ``map_record`` is called in one
    pass, the columns are checked whole and the natural keys de-duplicated by one ``dict``. Any
    failure (an exception of a record, a column that does not pass, a ``validate`` reason) gives
    up and leaves the page to the record-by-record path, which finds the reasons; so the result is
    the same, only sooner.
    """
    if not items or set(map(type, items)) != _DICTS:
        return None
    raws: list[Any] = list(map(dict.get, items, repeat("updated_at")))
    if set(map(type, raws)) != _STRS:
        return None
    try:
        moments = list(map(datetime.fromisoformat, raws))
        mapped: list[Any] = list(map(source.map_record, items))
    except (KeyError, ValueError, TypeError, AttributeError):
        return None
    if None in set(map(_TZINFO, moments)):
        moments = [moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in moments]
    # prepare_page copies each mapped record; a dict of its own is not copied again.
    if set(map(type, mapped)) != _DICTS or len(set(map(id, mapped))) != len(mapped):
        mapped = list(map(dict, mapped))
    column_sets = set(map(tuple, mapped))
    if len(column_sets) != 1 or not checker._columns_pass(column_sets.pop(), mapped):
        return None
    natural_key = source.natural_key
    try:
        if source.validate is not None and set(map(source.validate, mapped)) != _NONES:
            return None
        keys = list(map(itemgetter(*natural_key), mapped))
    except (KeyError, ValueError, TypeError, AttributeError):
        return None
    by_key = dict(zip(keys, mapped, strict=True))  # the last of a key wins, as record by record
    page = PreparedPage(duplicates=len(keys) - len(by_key), newest=max(moments))
    try:
        page.keys = sorted(by_key)
    except TypeError:
        page.keys = sorted(by_key, key=_sort_key)
    page.rows = [by_key[key] for key in page.keys]
    return page


_DICTS = {dict}
_STRS = {str}
_NONES = {None}
_TZINFO = attrgetter("tzinfo")


def _kept(source: CityBrainSource, record: Any) -> Any:
    """What the quarantine stores of a bad record: the source's redaction of it, or the record."""
    if source.redact is None or not isinstance(record, dict):
        return record
    return dict(source.redact(record))


def _sort_key(key: Any) -> tuple[str, ...]:
    return tuple(str(part) for part in key) if isinstance(key, tuple) else (str(key),)


def _insert(dialect: str, table: Table) -> Any:
    return pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)


def _upsert_statement(
    dialect: str, source: CityBrainSource, table: Table, columns: tuple[str, ...], names: tuple[str, ...] = ()
) -> Any:
    """``INSERT .. ON CONFLICT (natural key) DO UPDATE`` of ``columns`` (``DO NOTHING`` with nothing to update).

    With ``names`` the values are bind parameters of those names (for a compiled ``executemany``).
    """
    statement = _insert(dialect, table)
    if names:
        statement = statement.values({name: bindparam(name) for name in names})
    update_columns = source.update_columns or tuple(c for c in columns if c not in source.natural_key)
    set_ = {name: statement.excluded[name] for name in update_columns if name in columns}
    if set_:
        return statement.on_conflict_do_update(index_elements=list(source.natural_key), set_=set_)
    return statement.on_conflict_do_nothing(index_elements=list(source.natural_key))


@dataclass(frozen=True)
class _Upsert:
    """An upsert compiled once: driver SQL, the parameter order, batch-constant defaults and bind processors.

    With ``rows_per_statement`` > 1 (SQLite), ``multi_sql`` is the same upsert with that many rows
    in its ``VALUES``, its parameters numbered: first each default once (``?1``, ``?2``, ... in the
    order of ``defaults``), then the columns ``multi_columns`` of each row. See :func:`upsert_rows`.
    """

    sql: str
    order: tuple[str, ...]
    defaults: dict[str, Callable[[], Any]]
    processors: tuple[Callable[[Any], Any] | None, ...]
    rows_per_statement: int = 1
    multi_sql: str = ""
    multi_columns: tuple[str, ...] = ()


SQLITE_ROWS_PER_STATEMENT = 500
"""Rows in one SQLite upsert statement (fewer when the columns would pass SQLite's variable limit)."""
_SQLITE_MAX_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999


def _multi_row_sqlite(
    sql: str, order: tuple[str, ...], defaults: Mapping[str, Any]
) -> tuple[int, str, tuple[str, ...]]:
    """``sql`` (one row of ``?``) with many rows in its ``VALUES``: (rows, SQL, the columns of each row).

    The defaults are numbered parameters bound once per statement (``?1`` ...), each row's other
    columns follow; (1, "", ()) when ``sql`` is not of the expected shape.
    """
    values = "(" + ", ".join(["?"] * len(order)) + ")"
    if sql.count(values) != 1 or sql.count("?") != len(order):
        return 1, "", ()
    constant = {name: number for number, name in enumerate(defaults, start=1)}
    varying = tuple(name for name in order if name not in constant)
    rows = min(SQLITE_ROWS_PER_STATEMENT, (_SQLITE_MAX_VARIABLES - len(constant)) // max(1, len(varying)))
    if rows < 2 or not varying:
        return 1, "", ()
    groups = []
    for row in range(rows):
        number = iter(range(len(constant) + row * len(varying) + 1, len(constant) + (row + 1) * len(varying) + 1))
        groups.append("(" + ", ".join(f"?{constant.get(name) or next(number)}" for name in order) + ")")
    return rows, sql.replace(values, ", ".join(groups)), varying


_UPSERTS: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], _Upsert | None] = {}


def _compile_upsert(
    dialect: Dialect, source: CityBrainSource, table: Table, columns: tuple[str, ...]
) -> _Upsert | None:
    """The driver-level upsert of ``columns`` (plus the Python-side defaults of the others), or None.

    None means a default that is no plain value or function: such a table takes the ORM-level path.
    """
    defaults: dict[str, Any] = {}
    for column in table.columns:
        if column.name in columns or column.default is None:
            continue
        default: Any = column.default
        if getattr(default, "is_scalar", False):
            defaults[column.name] = lambda value=default.arg: value
        elif getattr(default, "is_callable", False):
            defaults[column.name] = lambda fn=default.arg: fn(None)
        else:
            return None
    names = (*columns, *defaults)
    statement = _upsert_statement(dialect.name, source, table, columns, names)
    compiled = statement.compile(dialect=dialect)
    order = tuple(compiled.positiontup or ())
    if not order or set(order) != set(names):
        return None
    processors = tuple(table.c[name].type._cached_bind_processor(dialect) for name in order)
    sql = str(compiled)
    if dialect.name == "sqlite" and dialect.paramstyle == "qmark":
        return _Upsert(sql, order, defaults, processors, *_multi_row_sqlite(sql, order, defaults))
    return _Upsert(sql, order, defaults, processors)


async def upsert_rows(
    session: AsyncSession | AsyncConnection, source: CityBrainSource, rows: list[dict[str, Any]]
) -> None:
    """Insert or update ``rows`` of ``source``'s model on its natural key, one ``executemany`` per column set.

    The statement is compiled once per column set and sent to the driver directly; column
    defaults (e.g. ``created_at``) are evaluated once per batch.
    """
    if not rows:
        return
    table = _table(source)
    connection = await session.connection() if isinstance(session, AsyncSession) else session
    dialect = connection.dialect
    column_sets = set(map(tuple, rows))  # one set of columns in nearly every batch: check it in C
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    if len(column_sets) == 1:
        groups[column_sets.pop()] = rows
    else:
        for row in rows:
            groups.setdefault(tuple(row), []).append(row)
    for columns, group in groups.items():
        cache_key = (dialect.name, table.name, source.natural_key, columns)
        if cache_key not in _UPSERTS:
            _UPSERTS[cache_key] = _compile_upsert(dialect, source, table, columns)
        upsert = _UPSERTS[cache_key]
        if upsert is None:
            await connection.execute(_upsert_statement(dialect.name, source, table, columns), group)
            continue
        defaults = _defaults(upsert)  # once for the whole group: one created_at for the batch
        per = upsert.rows_per_statement
        whole = len(group) - len(group) % per if per > 1 else 0
        if whole:
            # SQLite: hundreds of rows per statement, each default bound once per statement. An
            # executemany steps (and takes the GIL back to bind) once per row; this costs SQLite
            # ~25% less CPU here, and half the parameters to build.
            constant = tuple(defaults.values())
            flat = _flat(upsert, group[:whole], upsert.multi_columns, defaults)
            width = per * len(upsert.multi_columns)
            statements = [constant + tuple(flat[start : start + width]) for start in range(0, len(flat), width)]
            await connection.exec_driver_sql(upsert.multi_sql, statements)
        if whole < len(group):
            rest = group[whole:] if whole else group
            await connection.exec_driver_sql(upsert.sql, _parameters(upsert, rest, defaults))


def _parameters(
    upsert: _Upsert, group: list[dict[str, Any]], defaults: Mapping[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """The driver parameters of ``group`` in the statement's order, a tuple per row.

    The defaults are evaluated once (or given: :func:`_defaults`).
    """
    return list(_columns(upsert, group, upsert.order, _defaults(upsert) if defaults is None else defaults))


def _defaults(upsert: _Upsert) -> dict[str, Any]:
    """Each default of ``upsert`` evaluated (once, for a batch) and through its bind processor, in order."""
    values: dict[str, Any] = {}
    for name, make in upsert.defaults.items():
        process = upsert.processors[upsert.order.index(name)]
        value = make()
        values[name] = value if process is None else process(value)
    return values


def _columns(
    upsert: _Upsert, group: list[dict[str, Any]], names: tuple[str, ...], defaults: Mapping[str, Any]
) -> Iterator[tuple[Any, ...]]:
    """The driver values of ``names`` for each row of ``group``, a tuple per row (lazily)."""
    return zip(*_column_values(upsert, group, names, defaults), strict=True)


def _flat(
    upsert: _Upsert, group: list[dict[str, Any]], names: tuple[str, ...], defaults: Mapping[str, Any]
) -> list[Any]:
    """The driver values of ``names`` for each row of ``group``, row after row in one list.

    Each column is put in place by one slice assignment, no tuple per row: placing the 100,000
    rows of cameras takes 7 ms instead of 25 through ``zip``.
    """
    width = len(names)
    flat: list[Any] = [None] * (len(group) * width)
    for offset, values in enumerate(_column_values(upsert, group, names, defaults)):
        flat[offset::width] = values
    return flat


def _column_values(
    upsert: _Upsert, group: list[dict[str, Any]], names: tuple[str, ...], defaults: Mapping[str, Any]
) -> list[Iterable[Any]]:
    """The driver values of each of ``names`` over ``group``, a column at a time.

    Built column by column (``map`` runs in C), each bind processor applied to its column only:
    several times faster than a generator per row. A default is the same value in every row. A
    column of floats skips the ``to_float`` processor (it returns each unchanged).
    """
    columns: list[Iterable[Any]] = []
    for name in names:
        if name in defaults:
            columns.append(repeat(defaults[name], len(group)))
            continue
        process = upsert.processors[upsert.order.index(name)]
        values: Iterable[Any] = list(map(itemgetter(name), group))
        if process is to_float and set(map(type, values)) == _FLOATS:
            process = None
        columns.append(values if process is None else map(process, values))
    return columns


_FLOATS = {float}


async def quarantine(
    session: AsyncSession | AsyncConnection, dataset: str, run_id: int | None, bad: Mapping[str, tuple[Any, str]]
) -> None:
    """Store invalid records with their reason; a record seen before only gets its count and time bumped."""
    if not bad:
        return
    now = utcnow()
    rows = []
    for digest, (record, reason) in bad.items():
        key = record.get("id") if isinstance(record, dict) else None
        rows.append(
            {
                "dataset": dataset,
                "record_key": None if key is None else str(key)[:200],
                "record_hash": digest,
                "reason": reason,
                "record": record if isinstance(record, dict) else {"value": record},
                "run_id": run_id,
                "first_seen_at": now,
                "last_seen_at": now,
                "seen_count": 1,
            }
        )
    table = cast(Table, QuarantinedRecord.__table__)
    connection = await session.connection() if isinstance(session, AsyncSession) else session
    statement = _insert(connection.dialect.name, table)
    statement = statement.on_conflict_do_update(
        index_elements=["dataset", "record_hash"],
        set_={
            "last_seen_at": statement.excluded.last_seen_at,
            "run_id": statement.excluded.run_id,
            "reason": statement.excluded.reason,
            "seen_count": table.c.seen_count + 1,
        },
    )
    await connection.execute(statement, rows)


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

    def rows(self) -> list[dict[str, Any]]:
        """The rows of all its pages in key order, one per natural key (a later page's row wins)."""
        if len(self.pages) == 1:
            return self.pages[0][1].rows
        by_key: dict[Any, dict[str, Any]] = {}
        for _page, prepared in self.pages:
            by_key.update(zip(prepared.keys, prepared.rows, strict=True))
        try:
            keys = sorted(by_key)  # sorted runs, one per page: a merge
        except TypeError:
            keys = sorted(by_key, key=_sort_key)
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

    pending: asyncio.Task[DatasetPage] | None = None  # the next page, fetched while this one is checked
    try:
        async with database.engine.connect() as connection:
            writer = _BatchWriter(connection, source, run.id, stored)
            batch = _Batch()
            try:
                try:
                    page = await client.get_page(source.dataset, cursor=cursor, updated_since=since, limit=limit)
                except CityBrainError as exc:
                    if not (cursor and exc.status == 400 and "cursor" in str(exc.detail)):
                        raise
                    log.warning("citybrain_sync_cursor_refused", dataset=source.dataset, run=run.id)
                    result.resumed = False
                    page = await client.get_page(source.dataset, updated_since=since, limit=limit)
                total = page.remaining
                while True:
                    if page.next_cursor is not None:
                        sent: list[bool] = []
                        pending = asyncio.ensure_future(
                            client.get_page(
                                source.dataset,
                                cursor=page.next_cursor,
                                updated_since=since,
                                limit=limit,
                                on_sent=partial(sent.append, True),
                            )
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
