"""``streetbrain users ...``, ``streetbrain apikeys ...`` and ``streetbrain pii rotate``.

Passwords are read from a prompt, or from standard input with ``--password-stdin``; never from
an argument, where they would end up in the shell history and the process list.
"""

from __future__ import annotations

import getpass
import sys
from typing import Any

import click
from sqlalchemy import select

from api.cli import Runtime, UserError, main, pass_runtime
from core.db import utcnow
from core.errors import InputError
from core.security.accounts import create_api_key, create_user
from core.security.audit import acting_as
from core.security.models import ApiKey, User
from core.security.passwords import hash_password, password_problem
from core.security.rotation import rotate_personal_data


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _run(runtime: Runtime, coro: Any) -> Any:
    try:
        return runtime.run(coro)
    except InputError as exc:
        raise UserError(f"{exc.field}: {exc.message}") from None


@main.group()
def users() -> None:
    """Staff accounts."""


@users.command("create")
@click.option("--username", required=True, help="Sign-in name.")
@click.option("--role", required=True, help="admin, commander, supervisor, grid_worker, inspector or viewer.")
@click.option("--grid", "grids", multiple=True, type=int, help="A grid the user works in (repeat).")
@click.option("--full-name", help="The person's name (stored encrypted).")
@click.option("--phone", help="Mainland mobile number (stored encrypted).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_runtime
def users_create(
    runtime: Runtime,
    username: str,
    role: str,
    grids: tuple[int, ...],
    full_name: str | None,
    phone: str | None,
    password_stdin: bool,
) -> None:
    """Create a staff account."""
    password = _read_password(password_stdin)

    async def _create() -> User:
        with acting_as(_actor()):
            async with runtime.database.session() as session:
                return await create_user(
                    session,
                    runtime.authorizer,
                    username=username,
                    password=password,
                    role=role,
                    grid_ids=grids,
                    full_name=full_name,
                    phone=phone,
                )

    user = _run(runtime, _create())
    click.echo(f"created user {user.username} (id {user.id}, role {user.role}, grids {user.grid_ids or '-'})")


@users.command("list")
@pass_runtime
def users_list(runtime: Runtime) -> None:
    """List staff accounts."""

    async def _list() -> list[User]:
        async with runtime.database.session() as session:
            return list(await session.scalars(select(User).order_by(User.username)))

    for user in _run(runtime, _list()):
        state = "active" if user.active else "inactive"
        click.echo(f"{user.id:>5}  {user.username:<24} {user.role:<12} {state:<8} grids {user.grid_ids or '-'}")


@users.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_runtime
def users_password(runtime: Runtime, username: str, password_stdin: bool) -> None:
    """Set a user's password (and lift a lockout); the user's existing sessions end."""
    password = _read_password(password_stdin)
    if problem := password_problem(password):
        raise UserError(f"password: {problem}")

    async def _set() -> None:
        with acting_as(_actor()):
            async with runtime.database.session() as session:
                user = await session.scalar(select(User).where(User.username == username))
                if user is None:
                    raise InputError("username", f"no user {username}; `streetbrain users list` shows them")
                user.password_hash = hash_password(password)
                user.locked_until, user.failed_logins = None, 0
                user.token_version += 1

    _run(runtime, _set())
    click.echo(f"password of {username} changed")


@main.group()
def apikeys() -> None:
    """API keys for devices and integrations."""


@apikeys.command("create")
@click.option("--name", required=True, help="Which device or integration uses the key.")
@click.option("--scope", "scopes", multiple=True, required=True, help="A permission, e.g. video_net:ingest (repeat).")
@pass_runtime
def apikeys_create(runtime: Runtime, name: str, scopes: tuple[str, ...]) -> None:
    """Create a key; it is printed once, store it in the device now."""

    async def _create() -> tuple[ApiKey, str]:
        with acting_as(_actor()):
            async with runtime.database.session() as session:
                return await create_api_key(session, runtime.authorizer, name=name, scopes=scopes, created_by=_actor())

    key, plaintext = _run(runtime, _create())
    click.echo(f"created API key {key.id} '{key.name}' with scopes {', '.join(key.scopes)}", err=True)
    click.echo("send it as the X-API-Key header; it is shown only this once:", err=True)
    click.echo(plaintext)


@apikeys.command("list")
@pass_runtime
def apikeys_list(runtime: Runtime) -> None:
    """List API keys (never the keys themselves)."""

    async def _list() -> list[ApiKey]:
        async with runtime.database.session() as session:
            return list(await session.scalars(select(ApiKey).order_by(ApiKey.id)))

    for key in _run(runtime, _list()):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        click.echo(f"{key.id:>5}  {key.name:<24} {state:<18} last used {used:<16} {', '.join(key.scopes)}")


@apikeys.command("revoke")
@click.argument("key_id", type=int)
@pass_runtime
def apikeys_revoke(runtime: Runtime, key_id: int) -> None:
    """Revoke a key: it stops working at once."""

    async def _revoke() -> None:
        with acting_as(_actor()):
            async with runtime.database.session() as session:
                key = await session.get(ApiKey, key_id)
                if key is None:
                    raise InputError("key_id", f"no API key {key_id}; `streetbrain apikeys list` shows them")
                key.revoked_at = key.revoked_at or utcnow()

    _run(runtime, _revoke())
    click.echo(f"API key {key_id} revoked")


@main.group()
def pii() -> None:
    """Personal data at rest."""


@pii.command("rotate")
@pass_runtime
def pii_rotate(runtime: Runtime) -> None:
    """Re-encrypt personal data and recompute search hashes with the current secret key.

    Run it after setting a new STREETBRAIN_SECRET_KEY with the old one in
    STREETBRAIN_PREVIOUS_SECRET_KEYS; afterwards the old key can be dropped.
    """
    counts = _run(runtime, rotate_personal_data(runtime.database))
    for table, rows in counts.items():
        click.echo(f"{table}: {rows} row(s) re-encrypted")
