"""Idempotency keys: a replayed request gets the first answer and writes nothing.

The key is remembered in the same transaction as the writes it answers for, so either both are
stored or neither. Keys are scoped to the caller; a key reused for a different body is refused.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow
from core.errors import InputError

HEADER = "Idempotency-Key"


class IdempotencyRecord(Base):
    """The first answer given to a request with an idempotency key."""

    __tablename__ = "idempotency_keys"
    __audit__ = False

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


async def replay(session: AsyncSession, scope: str, key: str, body: bytes) -> IdempotencyRecord | None:
    """The remembered answer for ``key``, or None; :class:`InputError` if the key came with another body."""
    if not key or len(key) > 200:
        raise InputError(HEADER, "expected 1 to 200 characters")
    record = await session.get(IdempotencyRecord, (scope, key))
    if record is not None and record.request_hash != _digest(body):
        raise InputError(HEADER, "this key was used before for a different request; use a new key", status=409)
    return record


def remember(
    session: AsyncSession, scope: str, key: str, body: bytes, status_code: int, response: dict[str, Any]
) -> None:
    """Store the answer to give to replays of ``key`` (in the caller's transaction)."""
    session.add(
        IdempotencyRecord(scope=scope, key=key, request_hash=_digest(body), status_code=status_code, response=response)
    )
