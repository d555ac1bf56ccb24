"""Check a page of City Brain records: map each record, check the values against the model's columns, de-duplicate.

:func:`prepare_page` splits a page into rows to upsert (one per natural key, in key order) and
records to quarantine with their reason. A page with nothing wrong (nearly every page) is checked a
step at a time over the whole page; a page where any step fails is checked again record by record,
which gives each bad record its reason.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import Any

import msgspec
from sqlalchemy import Boolean, Float, Integer, Numeric, String, Table, UniqueConstraint

from core.citybrain.typed import DESCRIBED, RecordLayout, record_layout
from core.contracts import CityBrainSource


class SyncConfigError(Exception):
    """A City Brain source cannot be synced as declared (a plugin bug); the message says what to fix."""


def table_of(source: CityBrainSource) -> Table:
    """The table of ``source``'s model; raise :class:`SyncConfigError` when it is no mapped model."""
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
        self.table = table_of(source)
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
        self.layout: RecordLayout | None = None
        """How records of the source's ``record_type`` become rows (None without one)."""
        if source.record_type is not None:
            if source.validate is not None:
                raise SyncConfigError(
                    f"source {source.dataset}: validate cannot be combined with record_type; "
                    "check in the struct instead (msgspec.Meta constraints, __post_init__)"
                )
            try:
                self.layout = record_layout(source.record_type, self, source.natural_key)
            except ValueError as exc:
                raise SyncConfigError(f"source {source.dataset}: {exc}") from None

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
                return f"{name}: expected {DESCRIBED[allowed]}, got {value!r}"
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


# -- a page ----------------------------------------------------------------------------------------


@dataclass
class PreparedPage:
    """A page split into rows to upsert (one per natural key), records to quarantine and the newest update."""

    rows: list[Any] = field(default_factory=list)  # dicts of column values, or records of the record_type
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
    try:
        moment = msgspec.convert(raw, datetime) if isinstance(raw, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(f"updated_at: expected an RFC 3339 date-time, got {raw!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def prepare_page(source: CityBrainSource, checker: RecordChecker, items: list[Any]) -> PreparedPage:
    """Map, check and de-duplicate one page's records.

    First each record is mapped (a record that cannot be is quarantined), then the mapped values
    are checked against the columns (a page at a time, :meth:`RecordChecker.problems`), then
    ``validate`` runs on the values that passed. A page with nothing wrong (nearly every page) is
    done a step at a time over the whole page (:func:`_prepare_clean_page`); a page where any step
    fails is done again record by record, which gives each bad record its reason. A page decoded
    into the source's ``record_type`` is checked already: it is only de-duplicated.
    """
    layout = checker.layout
    if layout is not None and items and type(items[0]) is layout.record_type:
        return _prepare_typed_page(source, layout, items)
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
        keys = sorted(by_key, key=sort_key)
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
        moments = msgspec.convert(raws, list[datetime])  # RFC 3339, as msgspec reads a record_type's
        mapped: list[Any] = list(map(source.map_record, items))
    except (KeyError, ValueError, TypeError, AttributeError):
        return None
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
    return _keyed_page(keys, mapped, moments)


def _prepare_typed_page(source: CityBrainSource, layout: RecordLayout, items: list[Any]) -> PreparedPage:
    """:func:`prepare_page` of records decoded into the ``record_type``, which checked them as it decoded."""
    moments = list(map(attrgetter(layout.updated_at), items))
    keys = list(map(attrgetter(*source.natural_key), items))
    return _keyed_page(keys, items, moments)


def _keyed_page(keys: list[Any], rows: list[Any], moments: list[datetime]) -> PreparedPage:
    """A page of good rows: one per natural key (the last of a key wins, as record by record), in key order.

    ``moments`` are the rows' ``updated_at``; one without a time zone is taken as UTC.
    """
    if None in set(map(_TZINFO, moments)):
        moments = [moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in moments]
    by_key = dict(zip(keys, rows, strict=True))
    page = PreparedPage(duplicates=len(keys) - len(by_key), newest=max(moments))
    try:
        page.keys = sorted(by_key)
    except TypeError:
        page.keys = sorted(by_key, key=sort_key)
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


def sort_key(key: Any) -> tuple[str, ...]:
    """A key by its text: the order of natural keys whose parts cannot be compared as they are."""
    return tuple(str(part) for part in key) if isinstance(key, tuple) else (str(key),)


def record_type_disagreements(source: CityBrainSource, records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Where ``source.record_type`` accepts a record that ``map_record`` refuses, or gives other values.

    For a plugin's tests: each of ``records`` (JSON objects as City Brain sends them, good and bad)
    goes both ways, the record-by-record checks and the decode into the ``record_type``. A record
    the ``record_type`` refuses is no disagreement: its page only takes the slower way. (Both ways
    read ``updated_at`` with the same parser, so it needs no comparison.)
    """
    checker = RecordChecker(source)
    layout = checker.layout
    if layout is None:
        raise SyncConfigError(f"source {source.dataset} has no record_type")
    found = []
    for record in records:
        try:
            decoded = msgspec.json.decode(msgspec.json.encode(record), type=layout.record_type)
        except msgspec.ValidationError:
            continue
        typed = {name: getattr(decoded, name) for name in layout.columns}
        page = _prepare_records(source, checker, [record])
        if page.bad:
            reason = next(iter(page.bad.values()))[1]
            found.append(f"record_type accepts what map_record refuses ({reason}): {record!r}")
        elif page.rows != [typed]:
            found.append(f"record_type gives {typed!r}, map_record {page.rows[0]!r}")
    return found
