"""The City Brain client: one shared ``httpx.AsyncClient`` per process, signed, with retries and pagination.

Every request is signed (:mod:`core.citybrain.signing`), has connect and read timeouts, and is
retried with exponential backoff and jitter (stamina) on connection errors, timeouts, 5xx and
429; a ``Retry-After`` header sets the wait instead (capped at ``citybrain_retry_max_wait``).
Every call is logged as ``citybrain_call`` with method, path, query, status, attempt and
milliseconds; headers (and so the signature) and secrets are never logged.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import msgspec
import stamina

from core.citybrain.signing import CityBrainAuth
from core.citybrain.typed import page_decoder
from core.config import ConfigError, Settings, env_name
from core.db import utcnow
from core.logs import get_logger

log = get_logger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "StreetBrain-CityBrain/1"


class CityBrainError(Exception):
    """City Brain refused a request or could not be reached after every retry.

    ``status`` is the HTTP status (None when no answer came); ``detail`` what City Brain said.
    """

    def __init__(self, message: str, *, status: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail

    @property
    def retryable(self) -> bool:
        """Whether trying again later may succeed (no answer, 429 or 5xx)."""
        return self.status is None or self.status in RETRY_STATUSES


class _RetryableStatus(Exception):
    """An answer worth retrying (429 or 5xx); carries the response for its Retry-After."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    """The wait a ``Retry-After`` header asks for (seconds or an HTTP date), or None without one."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or utcnow())).total_seconds())


def make_http_client(settings: Settings, **kwargs: Any) -> httpx.AsyncClient:
    """The process's one ``httpx.AsyncClient`` for City Brain: base URL, signing, timeouts, pooling.

    Raises :class:`ConfigError` naming the variable when City Brain is not configured.
    """
    if not settings.citybrain_base_url:
        raise ConfigError(
            f"{env_name('citybrain_base_url')} is not set; e.g. http://127.0.0.1:9100 for `streetbrain citybrain-sim`"
        )
    assert settings.citybrain_app_key and settings.citybrain_app_secret  # checked by Settings
    timeout = httpx.Timeout(
        connect=settings.citybrain_connect_timeout,
        read=settings.citybrain_read_timeout,
        write=settings.citybrain_read_timeout,
        pool=settings.citybrain_read_timeout,
    )
    return httpx.AsyncClient(
        base_url=settings.citybrain_base_url,
        auth=CityBrainAuth(settings.citybrain_app_key, settings.citybrain_app_secret.get_secret_value().encode()),
        timeout=timeout,
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        **kwargs,
    )


@dataclass(frozen=True)
class DatasetPage:
    """One page of a dataset: its records, the cursor of the next page (None at the end) and what remains."""

    items: list[Any]  # JSON objects (dicts), or records of the record_type asked for
    next_cursor: str | None
    remaining: int | None
    cursor: str | None


class CityBrainClient:
    """Signed, retrying calls to City Brain over one shared ``httpx.AsyncClient``."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None, logger: Any = None) -> None:
        """Use ``http`` (else a new client from :func:`make_http_client`, closed by :meth:`aclose`).

        ``logger`` (a structlog logger, default this module's) receives the ``citybrain_call`` lines.
        """
        self.settings = settings
        self.log = logger or log
        self._owns_http = http is None
        self.http = http or make_http_client(settings)

    async def aclose(self) -> None:
        """Close the HTTP client when this object created it."""
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> CityBrainClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    def _backoff(self, exc: Exception) -> bool | float:
        """stamina's hook: retry transport errors and 429/5xx; a Retry-After sets the wait."""
        if isinstance(exc, _RetryableStatus):
            wait = retry_after_seconds(exc.response)
            return True if wait is None else min(wait, self.settings.citybrain_retry_max_wait)
        return isinstance(exc, httpx.TransportError)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        attempts: int | None = None,
        on_sent: Callable[[], None] | None = None,
    ) -> httpx.Response:
        """Send a signed request, retrying as configured; return the 2xx response.

        ``on_sent`` is called each time the request has been written to the connection (before
        its answer). Raises :class:`CityBrainError` for a 4xx other than 429, and when every
        attempt failed.
        """
        settings = self.settings
        query = {key: value for key, value in (params or {}).items() if value is not None}
        attempt = 0
        try:
            async for retrying in stamina.retry_context(
                on=self._backoff,
                attempts=attempts or settings.citybrain_retry_attempts,
                timeout=settings.citybrain_retry_timeout,
                wait_initial=settings.citybrain_retry_initial_wait,
                wait_max=settings.citybrain_retry_max_wait,
                wait_jitter=settings.citybrain_retry_initial_wait,
            ):
                with retrying:
                    attempt += 1
                    response = await self._send(method, path, query, json, headers, attempt, on_sent)
                    if response.status_code in RETRY_STATUSES:
                        raise _RetryableStatus(response)
        except _RetryableStatus as exc:
            raise CityBrainError(
                f"City Brain answered {method} {path} with HTTP {exc.response.status_code} after {attempt} attempt(s)",
                status=exc.response.status_code,
                detail=_detail(exc.response),
            ) from None
        except httpx.TransportError as exc:
            raise CityBrainError(
                f"City Brain did not answer {method} {path} after {attempt} attempt(s): {type(exc).__name__}: {exc}"
            ) from None
        if response.is_error:
            raise CityBrainError(
                f"City Brain refused {method} {path} with HTTP {response.status_code}: {_detail(response)}",
                status=response.status_code,
                detail=_detail(response),
            )
        return response

    async def _send(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any],
        json: Any,
        headers: Mapping[str, str] | None,
        attempt: int,
        on_sent: Callable[[], None] | None = None,
    ) -> httpx.Response:
        started = time.perf_counter()
        extensions = None if on_sent is None else {"trace": _sent_trace(on_sent)}
        try:
            response = await self.http.request(
                method, path, params=query or None, json=json, headers=headers, extensions=extensions
            )
        except httpx.TransportError as exc:
            self.log.warning(
                "citybrain_call",
                method=method,
                path=path,
                query=dict(query),
                attempt=attempt,
                error=type(exc).__name__,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
            raise
        self.log.info(
            "citybrain_call",
            method=method,
            path=path,
            query=dict(query),
            attempt=attempt,
            status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return response

    # -- datasets ---------------------------------------------------------------------------------

    async def get_page(
        self,
        dataset: str,
        *,
        cursor: str | None = None,
        updated_since: datetime | None = None,
        limit: int | None = None,
        on_sent: Callable[[], None] | None = None,
        record_type: type[Any] | None = None,
    ) -> DatasetPage:
        """One page of ``dataset`` after ``cursor``, of records updated at or after ``updated_since``.

        With ``record_type`` (a ``msgspec.Struct``) the records are decoded into it; a page it
        refuses anywhere comes as JSON objects (dicts), as without it. ``on_sent``: see :meth:`request`.
        """
        params = {
            "limit": limit or self.settings.citybrain_page_size,
            "cursor": cursor,
            "updated_since": updated_since.isoformat() if updated_since else None,
        }
        response = await self.request("GET", f"/v1/datasets/{dataset}", params=params, on_sent=on_sent)
        if record_type is not None:
            try:
                page = page_decoder(record_type).decode(response.content)
            except msgspec.MsgspecError:
                pass  # a record (or the page) it refuses: the page comes as JSON objects, checked one by one
            else:
                return DatasetPage(page.items, page.next_cursor or None, page.remaining, cursor)
        try:
            body = msgspec.json.decode(response.content)
            items = body["items"]
            if not isinstance(items, list):
                raise TypeError("items is not a list")
        except (msgspec.DecodeError, KeyError, TypeError) as exc:
            raise CityBrainError(f"City Brain sent a page of {dataset} that is not a page: {exc}") from None
        return DatasetPage(
            items=items, next_cursor=body.get("next_cursor") or None, remaining=body.get("remaining"), cursor=cursor
        )

    async def iter_pages(
        self,
        dataset: str,
        *,
        cursor: str | None = None,
        updated_since: datetime | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[DatasetPage]:
        """Every page of ``dataset`` from ``cursor`` on, following ``next_cursor`` to the end."""
        while True:
            page = await self.get_page(dataset, cursor=cursor, updated_since=updated_since, limit=limit)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # -- pushes ---------------------------------------------------------------------------------

    async def push(
        self, path: str, payload: Mapping[str, Any], idempotency_key: str, *, attempts: int | None = None
    ) -> Any:
        """POST ``payload`` to ``path`` with an ``Idempotency-Key``; return City Brain's JSON answer."""
        response = await self.request(
            "POST", path, json=dict(payload), headers={"Idempotency-Key": idempotency_key}, attempts=attempts
        )
        return response.json() if response.content else None


_SENT_EVENTS = frozenset({"http11.send_request_body.complete", "http2.send_request_body.complete"})


def _sent_trace(on_sent: Callable[[], None]) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """An httpcore ``trace`` extension that calls ``on_sent`` once the request is written."""

    async def trace(event: str, _info: dict[str, Any]) -> None:
        if event in _SENT_EVENTS:
            on_sent()

    return trace


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return body.get("detail") or body
    return body
