"""Personal data (names, mobile numbers, ID-card numbers): validation, encryption at rest,
search hashes and masking.

A model declares a personal-data column and, beside it, the column of its search hash::

    phone: Mapped[str | None] = mapped_column(PersonalData("phone", hash_column="phone_hash"))
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)

The value is encrypted when written and decrypted when read; the hash column is filled on every
flush, so ``where(Vendor.phone_hash == search_hash("phone", "13812345678"))`` finds it.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from sqlalchemy import String, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from core.errors import InputError
from core.security.crypto import key_ring

Kind = Literal["name", "phone", "id_number"]

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def normalise(kind: Kind, value: str) -> str:
    """The canonical form: no spaces; ID numbers upper-case; phones without +86."""
    value = re.sub(r"[\s-]", "", value) if kind != "name" else value.strip()
    if kind == "phone":
        value = value.removeprefix("+86").removeprefix("0086")
    if kind == "id_number":
        value = value.upper()
    return value


def id_number_problem(value: str) -> str | None:
    """Why ``value`` is not a valid mainland ID-card number (GB 11643-1999), or None."""
    if not _ID_NUMBER.match(value):
        return "expected 18 characters: 17 digits and a check digit (0-9 or X)"
    total = sum(int(digit) * weight for digit, weight in zip(value[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != value[17]:
        return "the check digit does not match (GB 11643)"
    return None


def phone_problem(value: str) -> str | None:
    """Why ``value`` is not a mainland mobile number (11 digits starting 13-19), or None."""
    return None if _MOBILE.match(value) else "expected a mainland mobile number: 11 digits starting with 13-19"


def problem(kind: Kind, value: str) -> str | None:
    """Why a normalised value of ``kind`` is invalid, or None."""
    if kind == "id_number":
        return id_number_problem(value)
    if kind == "phone":
        return phone_problem(value)
    return None if 0 < len(value) <= 100 else "expected 1 to 100 characters"


def checked(field: str, kind: Kind, value: str | None) -> str | None:
    """``value`` normalised, or :class:`core.errors.InputError` naming ``field`` when it is invalid."""
    if value is None:
        return None
    value = normalise(kind, value)
    reason = problem(kind, value)
    if reason:
        raise InputError(field, reason)
    return value


def mask(kind: Kind, value: str | None) -> str | None:
    """Masked for people without ``pii:read``: ``138****5678``, ``330***********123X``, ``张**``."""
    if value is None:
        return None
    if kind == "phone" and len(value) >= 7:
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    if kind == "id_number" and len(value) > 7:
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    return value[:1] + "*" * max(len(value) - 1, 1)


def search_hash(kind: Kind, value: str) -> str:
    """The keyed hash stored beside a personal-data column, for exact-match search."""
    return key_ring().search_hash(kind, normalise(kind, value))


class PersonalData(TypeDecorator[str]):
    """A string column encrypted at rest (AES-GCM), optionally with a search-hash column beside it."""

    impl = String(400)
    cache_ok = True
    migrate_as_impl = True  # in migrations it is the string column it is stored in

    def __init__(self, kind: Kind, hash_column: str | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.hash_column = hash_column

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        """Encrypt on the way in."""
        return None if value is None else key_ring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        """Decrypt on the way out."""
        return None if value is None else key_ring().decrypt(value)


def personal_columns(obj: Any) -> list[tuple[str, PersonalData]]:
    """The personal-data columns of a mapped object: ``[(attribute, type), ...]``."""
    table = getattr(type(obj), "__table__", None)
    if table is None:
        return []
    return [(column.key, column.type) for column in table.columns if isinstance(column.type, PersonalData)]


@event.listens_for(Session, "before_flush")
def _fill_search_hashes(session: Session, _context: Any, _instances: Any) -> None:
    for obj in (*session.new, *session.dirty):
        for attribute, column_type in personal_columns(obj):
            if column_type.hash_column:
                value = getattr(obj, attribute)
                setattr(obj, column_type.hash_column, None if value is None else search_hash(column_type.kind, value))
