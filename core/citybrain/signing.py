"""The City Brain request signature: HMAC-SHA256 with the app secret over a canonical string.

The canonical string is six lines joined by ``\\n``::

    METHOD            upper case, e.g. GET
    PATH              the URL path as sent, e.g. /v1/datasets/cameras
    QUERY             query pairs sorted by name then value, RFC 3986 encoded, joined by &
    TIMESTAMP         Unix seconds, as sent in X-CB-Timestamp
    NONCE             as sent in X-CB-Nonce (unique per request)
    BODY-SHA256       hex SHA-256 of the request body (of the empty string when there is none)

and is sent with the headers ``X-CB-Key``, ``X-CB-Timestamp``, ``X-CB-Nonce`` and
``X-CB-Signature`` (lower-case hex). A server refuses a timestamp more than
:data:`MAX_SKEW_SECONDS` away from its clock and a nonce it has seen within that window.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Mapping
from urllib.parse import parse_qsl, quote

import httpx

KEY_HEADER = "X-CB-Key"
TIMESTAMP_HEADER = "X-CB-Timestamp"
NONCE_HEADER = "X-CB-Nonce"
SIGNATURE_HEADER = "X-CB-Signature"
MAX_SKEW_SECONDS = 300

EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The query pairs sorted by name then value and RFC 3986 encoded: ``a=1&b=x%20y``."""
    encoded = sorted((quote(name, safe="-_.~"), quote(value, safe="-_.~")) for name, value in pairs)
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_string(method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes = b"") -> str:
    """The string that is signed; ``query`` is the raw query string (any order, any encoding)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    body_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_BODY_SHA256
    return "\n".join((method.upper(), path, canonical_query(pairs), timestamp, nonce, body_hash))


def sign(secret: bytes, method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes = b"") -> str:
    """The lower-case hex HMAC-SHA256 of the canonical string under ``secret``."""
    message = canonical_string(method, path, query, timestamp, nonce, body).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def signed_headers(
    app_key: str, secret: bytes, method: str, path: str, query: str, body: bytes = b"", *, now: float | None = None
) -> dict[str, str]:
    """The four signature headers for one request, with a fresh nonce."""
    timestamp = str(int(time.time() if now is None else now))
    nonce = uuid.uuid4().hex
    return {
        KEY_HEADER: app_key,
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: sign(secret, method, path, query, timestamp, nonce, body),
    }


class CityBrainAuth(httpx.Auth):
    """httpx authentication that signs every request it sends (each retry gets a new nonce)."""

    requires_request_body = True

    def __init__(self, app_key: str, secret: bytes) -> None:
        """Sign with ``app_key`` and ``secret``; the secret is never logged or shown in ``repr``."""
        self._app_key = app_key
        self._secret = secret

    def __repr__(self) -> str:
        return f"CityBrainAuth(app_key={self._app_key!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the signature headers to ``request``."""
        headers = signed_headers(
            self._app_key,
            self._secret,
            request.method,
            request.url.raw_path.split(b"?", 1)[0].decode("ascii"),
            request.url.query.decode("ascii"),
            request.content,
        )
        request.headers.update(headers)
        yield request


class SignatureError(Exception):
    """A request's signature is missing, stale, replayed or wrong; the message says which."""


class NonceCache:
    """Nonces seen within the last ``window`` seconds, to refuse replayed requests."""

    def __init__(self, window: float = MAX_SKEW_SECONDS * 2) -> None:
        """Remember nonces for ``window`` seconds."""
        self.window = window
        self._seen: dict[str, float] = {}
        self._next_sweep = 0.0

    def add(self, nonce: str, now: float) -> bool:
        """Record ``nonce``; False when it was already seen within the window."""
        if now >= self._next_sweep:
            self._seen = {n: t for n, t in self._seen.items() if now - t < self.window}
            self._next_sweep = now + 60
        if nonce in self._seen:
            return False
        self._seen[nonce] = now
        return True


def verify(
    headers: Mapping[str, str],
    method: str,
    path: str,
    query: str,
    body: bytes,
    secret_for: Callable[[str], bytes | None],
    nonces: NonceCache,
    *,
    now: float | None = None,
) -> str:
    """Check a request's signature; return its app key or raise :class:`SignatureError` saying why.

    ``secret_for(app_key)`` gives the secret of a known app key, or None.
    """
    now = time.time() if now is None else now
    app_key = headers.get(KEY_HEADER.lower()) or headers.get(KEY_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER.lower()) or headers.get(TIMESTAMP_HEADER)
    nonce = headers.get(NONCE_HEADER.lower()) or headers.get(NONCE_HEADER)
    signature = headers.get(SIGNATURE_HEADER.lower()) or headers.get(SIGNATURE_HEADER)
    if not (app_key and timestamp and nonce and signature):
        raise SignatureError(f"missing signature headers ({KEY_HEADER}, {TIMESTAMP_HEADER}, {NONCE_HEADER}, ...)")
    secret = secret_for(app_key)
    if secret is None:
        raise SignatureError(f"unknown app key {app_key!r}")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        raise SignatureError(f"{TIMESTAMP_HEADER} is more than {MAX_SKEW_SECONDS} s away from the server's clock")
    expected = sign(secret, method, path, query, timestamp, nonce, body)
    if not hmac.compare_digest(expected, signature.lower()):
        raise SignatureError("signature does not match")
    if not nonces.add(nonce, now):
        raise SignatureError(f"{NONCE_HEADER} was already used")
    return app_key
