"""Fixtures of the built-in plugins' tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings overrides putting a test on the SQLite default, then on a fresh PostgreSQL database."""
    if request.param == "postgresql":
        return {"database_url": request.getfixturevalue("postgres_url")}
    return {}
