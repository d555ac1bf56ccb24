"""Snapshots: images verified by decoding their header (JPEG or PNG only), size-limited, stored once
under ``<data dir>/media/video_net/`` by the SHA-256 of their content, fetched from a URL or uploaded."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image, UnidentifiedImageError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InputError
from plugins.video_net.models import Snapshot

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class CheckedImage:
    """An image that decoded as JPEG or PNG."""

    content: bytes
    sha256: str
    content_type: str
    width: int
    height: int


def checked_image(content: bytes, field: str, max_bytes: int) -> CheckedImage:
    """``content`` as a JPEG or PNG, or :class:`InputError` naming ``field`` (413 when too large, else 422)."""
    if len(content) > max_bytes:
        raise InputError(field, f"the image is larger than {max_bytes} bytes", status=413)
    try:
        with Image.open(io.BytesIO(content)) as image:
            kind, (width, height) = image.format, image.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(field, f"not a JPEG or PNG image ({type(exc).__name__})") from None
    if kind not in FORMATS:
        raise InputError(field, f"expected a JPEG or PNG image, got {kind}")
    if width * height > MAX_PIXELS:
        raise InputError(field, f"the image has {width}x{height} pixels, more than {MAX_PIXELS}")
    return CheckedImage(content, hashlib.sha256(content).hexdigest(), FORMATS[kind], width, height)


def media_path(data_dir: Path | str, sha256: str) -> Path:
    """Where the snapshot with this hash is stored."""
    return Path(data_dir) / "media" / "video_net" / sha256[:2] / sha256


async def store(
    session: AsyncSession, data_dir: Path | str, image: CheckedImage, source_url: str | None = None
) -> Snapshot:
    """Write the file (once; an existing one is kept) and its row (in ``session``'s transaction)."""
    path = media_path(data_dir, image.sha256)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(image.content)
        partial.replace(path)
    row = await session.get(Snapshot, image.sha256)
    if row is None:
        row = Snapshot(sha256=image.sha256, content_type=image.content_type, size=len(image.content),
                       width=image.width, height=image.height, source_url=source_url)  # fmt: skip
        session.add(row)
    return row


async def fetch(url: str, field: str, max_bytes: int, timeout: float) -> CheckedImage:
    """Download an image from an http(s) URL, reading at most ``max_bytes``; :class:`InputError` naming
    ``field`` when it cannot be fetched or is not a JPEG or PNG."""
    if not url.startswith(("http://", "https://")):
        raise InputError(field, "expected an http:// or https:// URL")
    chunks: list[bytes] = []
    size = 0
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise InputError(field, f"the snapshot URL answered {response.status_code}")
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise InputError(field, f"the image is larger than {max_bytes} bytes", status=413)
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise InputError(field, f"could not fetch the snapshot ({type(exc).__name__})") from None
    return checked_image(b"".join(chunks), field, max_bytes)
