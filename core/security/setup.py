"""Security set-up of a process: the key ring from the settings and the permissions of the plugins."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.config import Settings
from core.security import crypto
from core.security.permissions import Authorizer


def set_up_security(settings: Settings, plugins: Iterable[Any]) -> Authorizer:
    """Install the key ring and resolve the roles over the core's and the loaded plugins' permissions."""
    crypto.configure(settings.secret_key_bytes(), settings.previous_secret_key_bytes())
    declared = [permission for record in plugins if record.info for permission in record.info.permissions]
    return Authorizer.build(declared, settings.roles)
