"""Accounts and API keys: creating them, signing in (with lockout) and resolving a caller."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import utcnow
from core.errors import InputError
from core.security import pii
from core.security.crypto import key_ring
from core.security.models import ApiKey, User, UserGrid
from core.security.passwords import hash_password, password_problem, verify_password
from core.security.permissions import GRID_SCOPED_ROLES, Authorizer
from core.security.principal import Principal

API_KEY_PREFIX = "sbk"
API_KEY_TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class LockoutPolicy:
    """How many failed sign-ins in a row lock an account, and for how long."""

    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=15)


async def create_user(
    session: AsyncSession,
    authorizer: Authorizer,
    *,
    username: str,
    password: str,
    role: str,
    grid_ids: Iterable[int] = (),
    full_name: str | None = None,
    phone: str | None = None,
) -> User:
    """Add a staff account; :class:`InputError` names the field that is wrong (409 for a taken username)."""
    username = username.strip()
    if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").isalnum():
        raise InputError("username", "expected 1-64 letters, digits, '.' or '_'")
    if role not in authorizer.roles:
        raise InputError("role", f"expected one of {', '.join(sorted(authorizer.roles))}")
    problem = password_problem(password)
    if problem:
        raise InputError("password", problem)
    if await session.scalar(select(User.id).where(User.username == username)):
        raise InputError("username", f"{username} is taken", status=409)
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        full_name=pii.checked("full_name", "name", full_name),
        phone=pii.checked("phone", "phone", phone),
        grids=[UserGrid(grid_id=grid) for grid in sorted(set(grid_ids))],
    )
    session.add(user)
    await session.flush()
    return user


async def authenticate(session: AsyncSession, username: str, password: str, policy: LockoutPolicy) -> User | None:
    """The user when the password is right and the account active and not locked; else None.

    Unknown users, wrong passwords, inactive and locked accounts all take the same time and give
    the same answer. Failures in a row lock the account for ``policy.lock_for``.
    """
    user = await session.scalar(select(User).where(User.username == username.strip()))
    ok = verify_password(password, user.password_hash if user else None)
    if user is None:
        return None
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        return None
    if not ok or not user.active:
        user.failed_logins += 1
        if user.failed_logins >= policy.max_failures:
            user.locked_until = now + policy.lock_for
            user.failed_logins = 0
        return None
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return user


def user_principal(user: User, authorizer: Authorizer) -> Principal:
    """The principal of a signed-in user: the role's permissions, grid-limited for grid roles."""
    grids = frozenset(user.grid_ids) if user.role in GRID_SCOPED_ROLES else None
    return Principal("user", user.id, user.username, user.role, authorizer.roles.get(user.role, frozenset()), grids)


async def create_api_key(
    session: AsyncSession, authorizer: Authorizer, *, name: str, scopes: Iterable[str], created_by: str
) -> tuple[ApiKey, str]:
    """A new key scoped to permissions; returns the row and the key itself, which is shown only once."""
    scopes = sorted(set(scopes))
    if not name.strip():
        raise InputError("name", "expected a name saying which device or integration uses the key")
    if not scopes:
        raise InputError("scopes", "expected at least one permission, e.g. video_net:ingest")
    unknown = authorizer.unknown(scopes)
    if unknown:
        raise InputError("scopes", f"unknown permission(s) {', '.join(unknown)}")
    prefix = secrets.token_hex(4)
    plaintext = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        name=name.strip(),
        prefix=prefix,
        key_hash=key_ring().api_key_hash(plaintext),
        scopes=scopes,
        created_by=created_by,
    )
    session.add(key)
    await session.flush()
    return key, plaintext


async def api_key_principal(session: AsyncSession, plaintext: str, authorizer: Authorizer) -> Principal | None:
    """The principal of a valid, unrevoked API key (its last use is recorded once a minute), else None."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    key = await session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None or key.revoked_at is not None:
        return None
    if not key_ring().api_key_matches(plaintext, key.key_hash):
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > API_KEY_TOUCH_INTERVAL:
        key.last_used_at = now
    permissions = frozenset(scope for scope in key.scopes if scope in authorizer.permissions)
    return Principal("api_key", key.id, key.name, None, permissions, None)
