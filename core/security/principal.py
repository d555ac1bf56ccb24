"""Who is calling: a staff user or an API key, with what it may do and which grids it may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request.

    ``grid_ids`` is None when the caller sees every grid, else the grids it is limited to.
    """

    kind: Literal["user", "api_key", "system"]
    id: int
    name: str
    role: str | None
    permissions: frozenset[str]
    grid_ids: frozenset[int] | None = None

    def can(self, permission: str) -> bool:
        """Whether the caller holds ``permission``."""
        return permission in self.permissions

    def sees_grid(self, grid_id: int | None) -> bool:
        """Whether a record of ``grid_id`` is visible to the caller."""
        return self.grid_ids is None or (grid_id is not None and grid_id in self.grid_ids)

    @property
    def label(self) -> str:
        """``user:3:alice`` / ``api_key:2:bin-gateway`` for logs and the audit log."""
        return f"{self.kind}:{self.id}:{self.name}"
