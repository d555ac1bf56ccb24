"""Staff accounts, API keys, permissions and the audit log, under /api/v1."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from api.auth import API_KEY_CACHE
from core.db import utcnow
from core.errors import InputError
from core.pagination import OffsetPagination, paginate
from core.security.accounts import create_api_key, create_user
from core.security.models import ApiKey, AuditEntry, User, UserGrid
from core.security.passwords import hash_password, password_problem
from core.security.permissions import Authorizer
from core.security.principal import Principal
from core.web import Caller, DbSession, Page, one_or_404, requires, shown


class UserIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new staff account."""

    username: str
    password: str
    role: str
    grid_ids: list[int] = []
    full_name: str | None = None
    phone: str | None = None


class UserChange(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to an account; fields left out stay as they are."""

    role: str | None = None
    active: bool | None = None
    grid_ids: list[int] | None = None
    password: str | None = None


class UserOut(msgspec.Struct):
    """A staff account (personal data masked without ``pii:read``)."""

    id: int
    username: str
    role: str
    active: bool
    grid_ids: list[int]
    full_name: str | None
    phone: str | None
    locked_until: datetime | None
    created_at: datetime
    last_login_at: datetime | None


def user_out(user: User, caller: Principal) -> UserOut:
    """The API view of an account as ``caller`` may see it."""
    return UserOut(
        id=user.id,
        username=user.username,
        role=user.role,
        active=user.active,
        grid_ids=user.grid_ids,
        full_name=shown(caller, "name", user.full_name),
        phone=shown(caller, "phone", user.phone),
        locked_until=user.locked_until,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


@get("/api/v1/users", tags=["admin"], summary="List staff accounts", guards=[requires("users:read")])
async def list_users(
    db_session: DbSession, caller: Caller, page: Page, role: FromQuery[str | None] = None
) -> OffsetPagination[UserOut]:
    """Accounts in username order, optionally of one role."""
    query = select(User).order_by(User.username)
    if role:
        query = query.where(User.role == role)
    return await paginate(db_session, query, page, lambda user: user_out(user, caller))


@post("/api/v1/users", tags=["admin"], summary="Create a staff account", guards=[requires("users:manage")])
async def add_user(db_session: DbSession, caller: Caller, state: State, data: JSONBody[UserIn]) -> UserOut:
    """Create an account; 422 names a bad field, 409 a username in use."""
    user = await create_user(db_session, state.authorizer, **msgspec.structs.asdict(data))
    return user_out(user, caller)


@get("/api/v1/users/{user_id:int}", tags=["admin"], summary="One staff account", guards=[requires("users:read")])
async def get_user(db_session: DbSession, caller: Caller, user_id: FromPath[int]) -> UserOut:
    """The account with this id."""
    return user_out(await one_or_404(db_session, User, "user", id=user_id), caller)


@patch(
    "/api/v1/users/{user_id:int}", tags=["admin"], summary="Change a staff account", guards=[requires("users:manage")]
)
async def change_user(
    db_session: DbSession, caller: Caller, state: State, user_id: FromPath[int], data: JSONBody[UserChange]
) -> UserOut:
    """Change role, grids, active flag or password. Role, password and deactivation end existing sessions."""
    user = await one_or_404(db_session, User, "user", id=user_id)
    authorizer: Authorizer = state.authorizer
    if data.role is not None and data.role not in authorizer.roles:
        raise InputError("role", f"expected one of {', '.join(sorted(authorizer.roles))}")
    if data.password is not None and (problem := password_problem(data.password)):
        raise InputError("password", problem)
    ends_sessions = (data.role not in (None, user.role)) or data.active is False or data.password is not None
    if data.role is not None:
        user.role = data.role
    if data.active is not None:
        user.active = data.active
    if data.password is not None:
        user.password_hash = hash_password(data.password)
        user.locked_until, user.failed_logins = None, 0
    if data.grid_ids is not None:
        user.grids = [UserGrid(grid_id=grid) for grid in sorted(set(data.grid_ids))]
    if ends_sessions:
        user.token_version += 1
    await db_session.flush()
    return user_out(user, caller)


# -- API keys --------------------------------------------------------------------------------------


class ApiKeyIn(msgspec.Struct, forbid_unknown_fields=True):
    """A key for a device or an integration."""

    name: Annotated[str, msgspec.Meta(max_length=100)]
    scopes: list[str]


class ApiKeyOut(msgspec.Struct):
    """An API key (without the key itself)."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewApiKey(msgspec.Struct):
    """A new key: ``key`` is shown this once and never again."""

    key: str
    api_key: ApiKeyOut


def key_out(key: ApiKey) -> ApiKeyOut:
    """The API view of a key row."""
    return msgspec.convert(key, ApiKeyOut, from_attributes=True)


@get("/api/v1/apikeys", tags=["admin"], summary="List API keys", guards=[requires("apikeys:manage")])
async def list_api_keys(db_session: DbSession, page: Page) -> OffsetPagination[ApiKeyOut]:
    """Keys, newest first."""
    return await paginate(db_session, select(ApiKey).order_by(ApiKey.id.desc()), page, key_out)


@post("/api/v1/apikeys", tags=["admin"], summary="Create an API key", guards=[requires("apikeys:manage")])
async def add_api_key(db_session: DbSession, caller: Caller, state: State, data: JSONBody[ApiKeyIn]) -> NewApiKey:
    """Create a key scoped to permissions (e.g. ``video_net:ingest``); the key is in this answer only."""
    key, plaintext = await create_api_key(
        db_session, state.authorizer, name=data.name, scopes=data.scopes, created_by=caller.label
    )
    return NewApiKey(key=plaintext, api_key=key_out(key))


@post(
    "/api/v1/apikeys/{key_id:int}/revoke",
    tags=["admin"],
    summary="Revoke an API key",
    guards=[requires("apikeys:manage")],
    status_code=200,
)
async def revoke_api_key(db_session: DbSession, key_id: FromPath[int]) -> ApiKeyOut:
    """Revoke a key; it stops working at once."""
    key = await one_or_404(db_session, ApiKey, "API key", id=key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    await db_session.commit()
    API_KEY_CACHE.clear()  # this process forgets it now; others within the cache's lifetime
    return key_out(key)


# -- permissions and audit -------------------------------------------------------------------------


@get("/api/v1/permissions", tags=["admin"], summary="Permissions and roles", guards=[requires("users:read")])
async def list_permissions(state: State) -> dict[str, object]:
    """Every permission of the platform and its plugins, and what each role is granted."""
    authorizer: Authorizer = state.authorizer
    return {
        "permissions": dict(sorted(authorizer.permissions.items())),
        "roles": {role: sorted(perms) for role, perms in authorizer.roles.items()},
    }


class AuditOut(msgspec.Struct):
    """One audit entry."""

    id: int
    at: datetime
    actor: str
    action: str
    resource: str
    resource_id: str | None
    before: dict[str, object] | None
    after: dict[str, object] | None
    request_id: str | None
    client_addr: str | None


@get("/api/v1/audit", tags=["admin"], summary="The audit log", guards=[requires("audit:read")])
async def list_audit(
    db_session: DbSession,
    page: Page,
    actor: FromQuery[str | None] = None,
    resource: FromQuery[str | None] = None,
    resource_id: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    since: FromQuery[datetime | None] = None,
    until: FromQuery[datetime | None] = None,
) -> OffsetPagination[AuditOut]:
    """Entries newest first; ``actor`` matches a prefix (``user:3`` or ``api_key``); [since, until)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if actor:
        query = query.where(AuditEntry.actor.startswith(actor, autoescape=True))
    for column, value in ((AuditEntry.resource, resource), (AuditEntry.resource_id, resource_id)):
        if value:
            query = query.where(column == value)
    if action:
        query = query.where(AuditEntry.action == action)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    return await paginate(db_session, query, page, lambda row: msgspec.convert(row, AuditOut, from_attributes=True))


ADMIN_ROUTES = [
    list_users,
    add_user,
    get_user,
    change_user,
    list_api_keys,
    add_api_key,
    revoke_api_key,
    list_permissions,
    list_audit,
]
