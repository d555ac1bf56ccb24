"""Fixtures shared by the plugins' tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from tests.conftest import Platform


@pytest.fixture
async def vn(
    platform: Callable[..., AbstractAsyncContextManager[Platform]], backend: dict[str, Any]
) -> AsyncIterator[Platform]:
    """The platform with video_net alone, on SQLite and on PostgreSQL (a module may define its own)."""
    async with platform(plugins="video_net", **backend) as p:
        yield p
