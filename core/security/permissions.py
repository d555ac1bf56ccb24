"""Roles and permissions.

Permissions are named ``<area>:<action>``: the core's below, plus those every plugin declares in
``plugin_info().permissions``. A role is a list of patterns over permission names (``*`` matches
anything, a leading ``!`` excludes); the defaults below can be replaced per role in the TOML file::

    [roles]
    viewer = ["*:read", "!audit:read", "!pii:read", "!users:read"]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from core.contracts import Permission

CORE_PERMISSIONS: tuple[Permission, ...] = (
    Permission("users:read", "See staff accounts"),
    Permission("users:manage", "Create, change and deactivate staff accounts"),
    Permission("apikeys:manage", "Create and revoke API keys"),
    Permission("audit:read", "Read the audit log"),
    Permission("pii:read", "See personal data unmasked"),
    Permission("jobs:read", "See scheduled jobs and their runs"),
    Permission("jobs:run", "Run, pause and resume jobs"),
    Permission("reports:read", "Run reports"),
    Permission("citybrain:read", "See City Brain sync state, quarantine and outbox"),
    Permission("citybrain:sync", "Start City Brain syncs and deliveries"),
    Permission("areas:read", "See streets, communities and grids; locate points"),
    Permission("areas:manage", "Import streets, communities and grids; assign grid workers"),
    Permission("events:read", "See events"),
    Permission("events:report", "Report events (staff, devices, integrations)"),
    Permission("cases:read", "See cases, their history, comments and attachments"),
    Permission("cases:report", "Open a case by hand"),
    Permission("cases:accept", "Accept (立案), reject or link reported cases"),
    Permission("cases:dispatch", "Dispatch cases to a handler"),
    Permission("cases:handle", "Work on and resolve cases assigned to you"),
    Permission("cases:verify", "Verify resolved cases: close them or return them for rework"),
    Permission("cases:comment", "Comment on cases and attach files"),
    Permission("inbox:read", "Read your own notifications"),
)

ROLES: tuple[str, ...] = ("admin", "commander", "supervisor", "grid_worker", "inspector", "viewer")

_STAFF_ONLY = ("!audit:read", "!users:*", "!apikeys:*", "!*:ingest")

DEFAULT_ROLES: dict[str, tuple[str, ...]] = {
    "admin": ("*",),
    "commander": ("*:read", "*:manage", "cases:report", "cases:accept", "cases:dispatch", "cases:comment",
                  "events:report", "jobs:run", "citybrain:sync", *_STAFF_ONLY),
    "supervisor": ("*:read", "cases:report", "cases:verify", "cases:comment", "events:report", *_STAFF_ONLY),
    "grid_worker": ("*:read", "*:patrol", "*:inspect", "cases:report", "cases:handle", "cases:comment",
                    "events:report", "!jobs:*", "!citybrain:*", *_STAFF_ONLY),
    "inspector": ("*:read", "*:patrol", "*:inspect", "cases:report", "events:report", "!pii:read", "!jobs:*",
                  "!citybrain:*", *_STAFF_ONLY),
    "viewer": ("*:read", "!pii:read", *_STAFF_ONLY),
}  # fmt: skip

GRID_SCOPED_ROLES: frozenset[str] = frozenset({"grid_worker"})


def matches(patterns: Iterable[str], permission: str) -> bool:
    """Whether ``permission`` is granted by ``patterns`` (an exclusion wins over an inclusion)."""
    patterns = list(patterns)
    excluded = any(fnmatchcase(permission, p[1:]) for p in patterns if p.startswith("!"))
    return not excluded and any(fnmatchcase(permission, p) for p in patterns if not p.startswith("!"))


@dataclass(frozen=True)
class Authorizer:
    """Every known permission and what each role is granted, resolved once at start-up."""

    permissions: Mapping[str, str]
    roles: Mapping[str, frozenset[str]]

    @classmethod
    def build(cls, declared: Iterable[Permission], overrides: Mapping[str, list[str]] | None = None) -> Authorizer:
        """Resolve the roles over the core's and the plugins' ``declared`` permissions."""
        known = {p.name: p.description for p in (*CORE_PERMISSIONS, *declared)}
        patterns = {**DEFAULT_ROLES, **{role: tuple(p) for role, p in (overrides or {}).items()}}
        roles = {role: frozenset(name for name in known if matches(pats, name)) for role, pats in patterns.items()}
        return cls(permissions=known, roles=roles)

    def unknown(self, names: Iterable[str]) -> list[str]:
        """The names that are not permissions of this platform."""
        return sorted(set(names) - set(self.permissions))
