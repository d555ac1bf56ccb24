"""The audit log: every ORM write, in the same transaction, with who did it and from where.

A listener on every session's flush turns inserts, updates and deletes of mapped objects into
``audit_log`` rows. The actor comes from :data:`audit_context`, which the API sets per request
(the CLI and jobs set their own). Personal data, password hashes and key hashes are redacted.
A model opts out with ``__audit__ = False``; attributes named in ``__audit_ignore__`` alone do not
make an update worth recording.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, UOWTransaction

from core.db import utcnow
from core.security.models import AuditEntry
from core.security.pii import PersonalData

REDACTED = "[redacted]"


@dataclass(frozen=True)
class AuditContext:
    """Who is writing, and from which request."""

    actor: str
    request_id: str | None = None
    client_addr: str | None = None


audit_context: ContextVar[AuditContext | None] = ContextVar("audit_context", default=None)


@contextlib.contextmanager
def acting_as(actor: str, request_id: str | None = None, client_addr: str | None = None) -> Iterator[None]:
    """Attribute the writes inside the block to ``actor`` (e.g. ``cli:admin``, ``job:video_net:mark_offline``)."""
    token = audit_context.set(AuditContext(actor, request_id, client_addr))
    try:
        yield
    finally:
        audit_context.reset(token)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _redacted(obj: Any) -> set[str]:
    table = type(obj).__table__
    return {
        column.key
        for column in table.columns
        if isinstance(column.type, PersonalData) or column.key.endswith(("_hash", "password"))
    }


def _snapshot(obj: Any, which: str) -> dict[str, Any]:
    state = inspect(obj)
    hidden = _redacted(obj)
    out = {}
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history
        values = (history.deleted if which == "before" else history.added) or history.unchanged
        value = values[0] if values else None
        out[attr.key] = REDACTED if attr.key in hidden and value is not None else _plain(value)
    return out


def _changed(obj: Any) -> set[str]:
    state = inspect(obj)
    return {attr.key for attr in state.mapper.column_attrs if state.attrs[attr.key].history.has_changes()}


def _resource(obj: Any) -> str:
    return type(obj).__table__.name


def _identity(obj: Any) -> str | None:
    # The primary key as the INSERT assigned it: a row created in this flush has no identity key yet.
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return None if any(part is None for part in key) else ",".join(str(part) for part in key)


@event.listens_for(Session, "after_flush")
def _record(session: Session, _flush: UOWTransaction) -> None:
    context = audit_context.get() or AuditContext("system")
    rows = []
    for action, objects in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objects:
            if not getattr(type(obj), "__audit__", True) or not hasattr(type(obj), "__table__"):
                continue
            if action == "update":
                changed = _changed(obj)
                if not changed or changed <= getattr(type(obj), "__audit_ignore__", frozenset()):
                    continue
            rows.append(
                {
                    "at": utcnow(),
                    "actor": context.actor,
                    "action": action,
                    "resource": _resource(obj),
                    "resource_id": _identity(obj),
                    "before": None if action == "create" else _snapshot(obj, "before"),
                    "after": None if action == "delete" else _snapshot(obj, "after"),
                    "request_id": context.request_id,
                    "client_addr": context.client_addr,
                }
            )
    if rows:
        session.connection().execute(insert(AuditEntry), rows)
