"""Authentication: bearer tokens for staff, ``X-API-Key`` for devices, and the token endpoints."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from datetime import timedelta
from typing import Annotated, Any

import msgspec
from litestar import get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.params import JSONBody

from core.config import Settings
from core.errors import InputError
from core.security.accounts import LockoutPolicy, api_key_principal, authenticate, user_principal
from core.security.audit import audit_context
from core.security.models import User
from core.security.passwords import hash_password, password_problem, verify_password
from core.security.permissions import Authorizer
from core.security.principal import Principal
from core.security.tokens import TokenError, issue, verify
from core.web import Caller, DbSession


class ApiKeyCache:
    """Recently verified API keys, so that a device's every request does not cost a database round trip.

    An entry lives ``ttl`` seconds: a key revoked through another process stops working within that
    time; a revocation through this process clears the cache at once. Keys are held by their hash.
    """

    def __init__(self, ttl: float = 10.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, Principal]] = {}

    @staticmethod
    def _key(api_key: str) -> str:
        return hashlib.sha256(api_key.encode()).hexdigest()

    def get(self, api_key: str) -> Principal | None:
        """The cached principal of a key verified less than ``ttl`` seconds ago."""
        entry = self._entries.get(self._key(api_key))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, api_key: str, principal: Principal) -> None:
        """Remember a verified key."""
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[self._key(api_key)] = (time.monotonic() + self.ttl, principal)

    def clear(self) -> None:
        """Forget every key (after a revocation)."""
        self._entries.clear()


API_KEY_CACHE = ApiKeyCache()

PUBLIC_PATHS = ["^/health$", "^/schema", "^/api/v1/auth/token$", "^/api/v1/auth/refresh$"]
BAD_CREDENTIALS = "invalid username or password"


async def resolve_caller(state: State, authorization: str | None, api_key: str | None) -> Principal:
    """The principal behind a bearer token or an API key; 401 with what to send otherwise."""
    authorizer: Authorizer = state.authorizer
    if api_key:
        cached = API_KEY_CACHE.get(api_key)
        if cached is not None:
            return cached
    async with state.database.sessionmaker() as session:
        if api_key:
            principal = await api_key_principal(session, api_key, authorizer)
            await session.commit()  # its last-used time
            if principal is None:
                raise NotAuthorizedException("invalid or revoked API key")
            API_KEY_CACHE.put(api_key, principal)
            return principal
        if authorization and authorization[:7].lower() == "bearer ":
            try:
                claims = verify(authorization[7:].strip(), "access")
            except TokenError as exc:
                raise NotAuthorizedException(str(exc)) from None
            user = await session.get(User, claims.user_id)
            if user is None or not user.active or user.token_version != claims.version:
                raise NotAuthorizedException("the token is no longer valid; sign in again")
            return user_principal(user, authorizer)
    raise NotAuthorizedException("authentication required: send 'Authorization: Bearer <token>' or 'X-API-Key'")


class AuthenticationMiddleware(AbstractAuthenticationMiddleware):
    """Puts the :class:`Principal` on ``request.user`` and into the audit context of the request."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        """Resolve the caller from ``Authorization`` or ``X-API-Key``."""
        principal = await resolve_caller(
            connection.app.state, connection.headers.get("authorization"), connection.headers.get("x-api-key")
        )
        current = audit_context.get()
        if current is not None:
            audit_context.set(dataclasses.replace(current, actor=principal.label))
        return AuthenticationResult(user=principal, auth=None)


# -- token endpoints -------------------------------------------------------------------------------


class Credentials(msgspec.Struct, forbid_unknown_fields=True):
    """A username and password."""

    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A refresh token from an earlier sign-in."""

    refresh_token: str


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    """The caller's current password and the new one."""

    current_password: str
    new_password: str


class TokenPair(msgspec.Struct):
    """Bearer tokens: send ``access_token`` as ``Authorization: Bearer``; trade ``refresh_token`` for new ones."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


def _tokens(user: User, settings: Settings) -> TokenPair:
    access = timedelta(minutes=settings.access_token_minutes)
    return TokenPair(
        access_token=issue(user.id, user.token_version, "access", access),
        refresh_token=issue(user.id, user.token_version, "refresh", timedelta(days=settings.refresh_token_days)),
        expires_in=int(access.total_seconds()),
    )


@post("/api/v1/auth/token", tags=["auth"], summary="Sign in", status_code=200)
async def sign_in(db_session: DbSession, state: State, data: JSONBody[Credentials]) -> TokenPair:
    """Exchange username and password for tokens. Every failure gives the same 401 after the same work;
    failures in a row lock the account for a while."""
    settings: Settings = state.settings
    policy = LockoutPolicy(settings.login_max_failures, timedelta(minutes=settings.login_lock_minutes))
    user = await authenticate(db_session, data.username, data.password, policy)
    if user is None:
        await db_session.commit()  # keep the failure count even though the answer is an error
        raise NotAuthorizedException(BAD_CREDENTIALS)
    return _tokens(user, settings)


@post("/api/v1/auth/refresh", tags=["auth"], summary="Refresh tokens", status_code=200)
async def refresh(db_session: DbSession, state: State, data: JSONBody[RefreshRequest]) -> TokenPair:
    """New tokens for a valid refresh token of an active user."""
    try:
        claims = verify(data.refresh_token, "refresh")
    except TokenError as exc:
        raise NotAuthorizedException(str(exc)) from None
    user = await db_session.get(User, claims.user_id)
    if user is None or not user.active or user.token_version != claims.version:
        raise NotAuthorizedException("the refresh token is no longer valid; sign in again")
    return _tokens(user, state.settings)


@get("/api/v1/auth/me", tags=["auth"], summary="Who am I")
async def me(caller: Caller) -> dict[str, Any]:
    """The caller: kind, name, role, permissions and grids."""
    return {
        "kind": caller.kind,
        "id": caller.id,
        "name": caller.name,
        "role": caller.role,
        "permissions": sorted(caller.permissions),
        "grid_ids": None if caller.grid_ids is None else sorted(caller.grid_ids),
    }


@post("/api/v1/auth/password", tags=["auth"], summary="Change my password", status_code=204)
async def change_password(db_session: DbSession, caller: Caller, data: JSONBody[PasswordChange]) -> None:
    """Change the caller's own password; every token issued before stops working."""
    user = await db_session.get(User, caller.id) if caller.kind == "user" else None
    if user is None:
        raise NotAuthorizedException("only staff accounts have passwords")
    if not verify_password(data.current_password, user.password_hash):
        raise InputError("current_password", "does not match")
    problem = password_problem(data.new_password)
    if problem:
        raise InputError("new_password", problem)
    user.password_hash = hash_password(data.new_password)
    user.token_version += 1


AUTH_ROUTES = [sign_in, refresh, me, change_password]
