"""Records decoded and checked in C: a City Brain source's ``record_type`` (a ``msgspec.Struct``).

A source whose records become rows by renaming and checking alone can declare ``record_type``. The
client then decodes each page straight into it, the checks running in C as the JSON is read, and
the sync stores the decoded records as they are, with no Python call per record. A page the struct
refuses anywhere is decoded again as plain JSON and checked record by record through
``map_record``, which gives each bad record its reason. So the struct decides only how fast a page
is stored, provided it accepts nothing ``map_record`` refuses and gives the same values:
:func:`core.citybrain.checks.record_type_disagreements` tells, for a plugin's tests.

:func:`record_layout` checks the struct against the model's columns when a sync starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
from msgspec import inspect

UPDATED_AT = "updated_at"
"""The record field a ``record_type`` must decode as a ``datetime``: the sync's high-water mark."""


@dataclass(frozen=True)
class RecordLayout:
    """How the records of a ``record_type`` become rows."""

    record_type: type[Any]
    columns: tuple[str, ...]
    """The struct's fields that are columns of the model (attribute names), in the struct's order."""
    updated_at: str
    """The attribute that holds the record's ``updated_at``."""


class ColumnRules(Protocol):
    """What the record checks know of the model's columns (see ``RecordChecker``)."""

    types: dict[str, tuple[type, ...] | None]
    lengths: dict[str, int]
    nullable: set[str]
    required: list[str]


def record_layout(record_type: Any, rules: ColumnRules, natural_key: Iterable[str]) -> RecordLayout:
    """The layout of ``record_type``; raise ``ValueError`` naming each field that does not fit the columns.

    A field fits its column when every value it can decode to passes the column checks: its type
    (``str`` or a ``Literal`` of text for text, ``int``, ``float`` or ``int`` for numbers, ``bool``),
    ``None`` only for a nullable column, and a ``max_length`` within the column's length.
    """
    if not (isinstance(record_type, type) and issubclass(record_type, msgspec.Struct)):
        raise ValueError(f"record_type {record_type!r} is not a msgspec.Struct")
    info = inspect.type_info(record_type)
    assert isinstance(info, inspect.StructType)
    if info.array_like:
        raise ValueError("record_type must not be array_like: City Brain sends each record as a JSON object")
    updated = [field for field in info.fields if field.encode_name == UPDATED_AT]
    if not updated or not isinstance(_unwrapped(updated[0].type), inspect.DateTimeType):
        raise ValueError(f"record_type needs a field for the record's {UPDATED_AT!r}, typed datetime")
    columns: list[str] = []
    problems: list[str] = []
    for field in info.fields:
        if field.name not in rules.types:
            if field is not updated[0]:
                problems.append(f"{field.name}: no column of the model")
            continue
        problems.extend(_field_problems(field.name, field.type, rules))
        columns.append(field.name)
    problems.extend(f"{name}: a column every row needs, missing" for name in rules.required if name not in columns)
    problems.extend(f"{name}: part of the natural key, missing" for name in natural_key if name not in columns)
    if problems:
        raise ValueError("record_type does not fit the model's columns: " + "; ".join(problems))
    return RecordLayout(record_type, tuple(columns), updated[0].name)


def _unwrapped(kind: inspect.Type) -> inspect.Type:
    return kind.type if isinstance(kind, inspect.Metadata) else kind


def _field_problems(name: str, kind: inspect.Type, rules: ColumnRules) -> list[str]:
    kind = _unwrapped(kind)
    members = [_unwrapped(member) for member in kind.types] if isinstance(kind, inspect.UnionType) else [kind]
    problems = []
    if any(isinstance(member, inspect.NoneType) for member in members) and name not in rules.nullable:
        problems.append(f"{name}: may be null, and the column is NOT NULL")
    allowed = rules.types[name]
    if allowed is None:  # JSON, dates, ...: the database adapter decides, as for map_record's values
        return problems
    limit = rules.lengths.get(name)
    for member in members:
        if isinstance(member, inspect.NoneType):
            continue
        if isinstance(member, inspect.LiteralType):
            fits = all(type(value) in allowed for value in member.values)
            too_long = limit is not None and any(
                isinstance(value, str) and len(value) > limit for value in member.values
            )
        else:
            fits = type(member) in _FITTING[allowed]
            too_long = (
                isinstance(member, inspect.StrType)
                and limit is not None
                and (member.max_length is None or member.max_length > limit)
            )
        if not fits:
            problems.append(f"{name}: {type(member).__name__} does not fit the column ({DESCRIBED[allowed]})")
        elif too_long:
            problems.append(f"{name}: give it msgspec.Meta(max_length={limit}), the column's length")
    return problems


_FITTING: dict[tuple[type, ...], tuple[type, ...]] = {
    (str,): (inspect.StrType,),
    (int,): (inspect.IntType,),
    (bool,): (inspect.BoolType,),
    (float, int): (inspect.FloatType, inspect.IntType),
}
DESCRIBED = {(bool,): "true or false", (int,): "an integer", (float, int): "a number", (str,): "text"}
"""What a column of each kind takes, for the reasons given."""


def page_decoder(record_type: type[Any]) -> msgspec.json.Decoder[Any]:
    """A decoder of a dataset page (``items``, ``next_cursor``, ``remaining``) whose items are ``record_type``."""
    decoder = _PAGE_DECODERS.get(record_type)
    if decoder is None:
        page = msgspec.defstruct(
            f"{record_type.__name__}Page",
            [("items", list[record_type]), ("next_cursor", str | None, None), ("remaining", int | None, None)],  # type: ignore[valid-type]
            gc=False,
        )
        decoder = _PAGE_DECODERS[record_type] = msgspec.json.Decoder(page)
    return decoder


_PAGE_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}
