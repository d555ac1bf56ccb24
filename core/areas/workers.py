"""Grid workers (网格员): who works which grid (the ``user_grids`` rows of accounts of a grid role)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InputError
from core.security.models import User, UserGrid
from core.security.permissions import GRID_SCOPED_ROLES


async def grid_workers(session: AsyncSession, grid_id: int) -> list[User]:
    """The active accounts of a grid role (``grid_worker``) assigned to the grid, by id: whom its cases go to."""
    query = (
        select(User)
        .join(UserGrid, UserGrid.user_id == User.id)
        .where(UserGrid.grid_id == grid_id, User.active, User.role.in_(sorted(GRID_SCOPED_ROLES)))
        .order_by(User.id)
    )
    return list((await session.scalars(query)).all())


async def assigned_users(session: AsyncSession, grid_id: int) -> list[User]:
    """Every account assigned to the grid (any role, active or not), by id."""
    query = select(User).join(UserGrid, UserGrid.user_id == User.id).where(UserGrid.grid_id == grid_id)
    return list((await session.scalars(query.order_by(User.id))).all())


async def assign_workers(session: AsyncSession, grid_id: int, user_ids: Iterable[int]) -> list[User]:
    """Make exactly ``user_ids`` the workers of the grid; returns them.

    Each must be an active account of a grid role (422 naming ``user_ids`` otherwise). Accounts no
    longer listed lose the grid (and see its records no more); their other grids stay.
    """
    wanted = sorted(set(user_ids))
    users = {u.id: u for u in (await session.scalars(select(User).where(User.id.in_(wanted)))).all()}
    problems = []
    for user_id in wanted:
        user = users.get(user_id)
        if user is None:
            problems.append(f"no user with id {user_id}")
        elif user.role not in GRID_SCOPED_ROLES:
            problems.append(f"user {user_id} ({user.username}) is a {user.role}, not a grid worker")
        elif not user.active:
            problems.append(f"user {user_id} ({user.username}) is inactive")
    if problems:
        raise InputError("user_ids", "; ".join(problems))
    for user in await assigned_users(session, grid_id):
        if user.id not in users:
            user.grids = [g for g in user.grids if g.grid_id != grid_id]
    for user in users.values():
        if grid_id not in user.grid_ids:
            user.grids.append(UserGrid(grid_id=grid_id))
    await session.flush()
    return [users[user_id] for user_id in wanted]
