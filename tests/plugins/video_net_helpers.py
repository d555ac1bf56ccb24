"""Shared pieces of the video_net tests: bodies, images and a platform with video_net alone."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from PIL import Image

from tests.conftest import Platform

BASE = "/api/v1/video-net"


def code(n: int, owner: int = 131) -> str:
    """A GB/T 28181 device id."""
    return f"3301090000{owner:03d}{n:07d}"


def camera(n: int, **more: Any) -> dict[str, Any]:
    """A valid camera body."""
    return {"code": code(n), "name": f"Camera {n}", "owner": "urban_management", "lon": 120.2655 + n * 1e-4,
            "lat": 30.186, **more}  # fmt: skip


def alert(cam: int, alert_id: str, at: datetime, kind: str = "street_vendor", confidence: float = 0.9,
          **more: Any) -> dict[str, Any]:  # fmt: skip
    """A valid alert body."""
    return {"camera": code(cam), "alert_id": alert_id, "type": kind, "confidence": confidence,
            "occurred_at": at.isoformat(), **more}  # fmt: skip


def image(fmt: str = "PNG", size: tuple[int, int] = (8, 6), colour: str = "red") -> bytes:
    """A small real image."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt)
    return buffer.getvalue()


async def register(p: Platform, *numbers: int, **more: Any) -> None:
    """Register cameras ``numbers`` through the API."""
    for n in numbers:
        response = await p.client.post(f"{BASE}/cameras", json=camera(n, **more))
        assert response.status_code == 201, response.text
