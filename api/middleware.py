"""The outermost ASGI middleware: a request id on every request, its log lines, its audit entries and
its response, and the security headers on every response.

It runs on every request, so it is one layer with one wrapped ``send`` and does little work: the
response headers are appended as prepared byte pairs, and a made request id is a per-process random
prefix plus a counter (unique across processes, without a call to the OS for randomness each time).
"""

from __future__ import annotations

import itertools
import re
import secrets

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core.security.audit import acting_as

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'"
"""API answers are data, never pages: nothing in them may load or frame anything (not for ``/schema``)."""


def _pairs(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


_DOCS_HEADERS = _pairs(SECURITY_HEADERS)
_API_HEADERS = _pairs({**SECURITY_HEADERS, "Content-Security-Policy": API_CSP})
_REQUEST_ID_NAME = REQUEST_ID_HEADER.lower().encode("latin-1")


class RequestIds:
    """Request ids of this process: ``<12 random hex digits>-<counter in hex>``."""

    def __init__(self) -> None:
        self.prefix = secrets.token_hex(6) + "-"
        self.counter = itertools.count(1)

    def next(self) -> str:
        """A new id, unique across processes."""
        return f"{self.prefix}{next(self.counter):x}"


def request_context_middleware(app: ASGIApp) -> ASGIApp:
    """Take the caller's ``X-Request-ID`` (when sane) or make one; log and audit with it; send it back
    with the security headers (a header the handler set itself is left as it is)."""
    ids = RequestIds()

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == _REQUEST_ID_NAME:
                request_id = value.decode("latin-1") if _VALID_ID.match(value) else ""
                break
        request_id = request_id or ids.next()
        scope.setdefault("state", {})["request_id"] = request_id  # type: ignore[typeddict-item]
        extra = [(_REQUEST_ID_NAME, request_id.encode("latin-1"))]
        extra += _DOCS_HEADERS if scope["path"].startswith("/schema") else _API_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or ())
                present = {name.lower() for name, _ in headers}
                headers += [pair for pair in extra if pair[0] not in present]
                message["headers"] = headers
            await send(message)

        client = scope.get("client")
        with (
            structlog.contextvars.bound_contextvars(request_id=request_id),
            acting_as("anonymous", request_id, client[0] if client else None),
        ):
            await app(scope, receive, send_with_headers)

    return middleware
