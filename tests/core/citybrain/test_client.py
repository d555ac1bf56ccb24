"""The signed, retrying client against the simulator over real HTTP: signatures, retries, pagination, logs."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import structlog
from structlog.testing import LogCapture

from core.citybrain.client import CityBrainClient, CityBrainError, retry_after_seconds
from core.citybrain.signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    canonical_string,
    sign,
    signed_headers,
)
from core.citybrain.simulator.app import DEFAULT_APP_KEY, DEFAULT_APP_SECRET
from core.citybrain.simulator.server import SimulatorServer
from core.config import Settings
from tests.core.citybrain.conftest import citybrain_overrides

SECRET = DEFAULT_APP_SECRET.encode()
PATH = "/v1/datasets/cameras"


@pytest.fixture
def settings(simulator: SimulatorServer, make_settings: Callable[..., Settings]) -> Settings:
    """Client settings for the simulator."""
    return make_settings(**citybrain_overrides(simulator.url))


def test_the_signature_of_the_documented_example() -> None:
    """docs/citybrain.md works this example through; the code must agree with it."""
    query = "updated_since=2026-11-01T00%3A00%3A00%2B00%3A00&limit=500"
    nonce = "3f2a9c0e5b7d4e1f8a6b2c9d0e1f2a3b"
    assert canonical_string("get", PATH, query, "1795000000", nonce).splitlines() == [
        "GET",
        PATH,
        "limit=500&updated_since=2026-11-01T00%3A00%3A00%2B00%3A00",
        "1795000000",
        nonce,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ]
    assert sign(SECRET, "GET", PATH, query, "1795000000", nonce) == (
        "8d5936fb3c2f7752097676f0bb16988695d4aedec47deb511c01d22a653de210"
    )
    body = b'{"type":"video_net.street_vendor"}'
    assert sign(SECRET, "POST", "/v1/events", "", "1795000000", nonce, body) == (
        "d66b2dc7ba6d80fe72f14022d060ff0587421f3076728e0ba0e1cf669805317b"
    )


def _get(url: str, headers: dict[str, str], query: str = "limit=5") -> httpx.Response:
    return httpx.get(f"{url}{PATH}?{query}", headers=headers, timeout=5)


def test_a_bad_signature_is_refused(simulator: SimulatorServer) -> None:
    url = simulator.url
    good = signed_headers(DEFAULT_APP_KEY, SECRET, "GET", PATH, "limit=5")
    assert _get(url, good).status_code == 200

    wrong_secret = signed_headers(DEFAULT_APP_KEY, b"not-the-secret", "GET", PATH, "limit=5")
    tampered = signed_headers(DEFAULT_APP_KEY, SECRET, "GET", PATH, "limit=5")
    stale = signed_headers(DEFAULT_APP_KEY, SECRET, "GET", PATH, "limit=5", now=time.time() - 3600)
    unknown = signed_headers("someone-else", SECRET, "GET", PATH, "limit=5")
    missing = {
        k: v for k, v in signed_headers(DEFAULT_APP_KEY, SECRET, "GET", PATH, "limit=5").items() if k != NONCE_HEADER
    }
    cases = [
        (wrong_secret, "limit=5", "signature does not match"),
        (tampered, "limit=500", "signature does not match"),
        (good, "limit=5", "already used"),  # the same request replayed
        (stale, "limit=5", TIMESTAMP_HEADER),
        (unknown, "limit=5", "unknown app key"),
        (missing, "limit=5", "missing signature headers"),
    ]
    for headers, query, reason in cases:
        response = _get(url, headers, query)
        assert response.status_code == 401, reason
        assert reason in response.json()["detail"]
    assert simulator.state.counts["refused"] == len(cases)


async def test_a_client_with_the_wrong_secret_gets_401_without_retrying(
    simulator: SimulatorServer, make_settings: Callable[..., Settings]
) -> None:
    overrides = {**citybrain_overrides(simulator.url), "citybrain_app_secret": "wrong-secret-1234"}
    async with CityBrainClient(make_settings(**overrides)) as client:
        with pytest.raises(CityBrainError) as caught:
            await client.get_page("cameras")
    assert caught.value.status == 401 and not caught.value.retryable
    assert simulator.state.counts["refused"] == 1


async def test_pages_follow_the_cursor_through_every_record_once(
    simulator: SimulatorServer, settings: Settings
) -> None:
    dataset = simulator.state.datasets["households"]
    async with CityBrainClient(settings) as client:
        pages = [page async for page in client.iter_pages("households", limit=25)]
    ids = [record["id"] for page in pages for record in page.items]
    assert ids == [record["id"] for record in dataset.records]
    assert len(pages) == -(-len(dataset.records) // 25)
    assert pages[0].remaining == len(dataset.records) and pages[-1].next_cursor is None

    cut = dataset.records[60]["updated_at"]
    async with CityBrainClient(settings) as client:
        since = datetime.fromisoformat(cut)
        later = [r["id"] async for page in client.iter_pages("households", updated_since=since) for r in page.items]
    assert later == [record["id"] for record in dataset.records if record["updated_at"] >= cut]


async def test_on_sent_is_called_once_the_request_is_out_before_the_answer(
    simulator: SimulatorServer, settings: Settings
) -> None:
    simulator.set_faults(latency=0.3)
    sent: list[float] = []
    async with CityBrainClient(settings.model_copy(update={"citybrain_read_timeout": 5.0})) as client:
        started = time.monotonic()
        page = await client.get_page("cameras", limit=5, on_sent=lambda: sent.append(time.monotonic()))
        answered = time.monotonic()
    assert len(page.items) == 5 and len(sent) == 1
    assert sent[0] - started < 0.2 and answered - sent[0] >= 0.25  # out at once, answered after the latency


async def test_retries_ride_out_errors_throttling_and_timeouts(simulator: SimulatorServer, settings: Settings) -> None:
    simulator.set_faults(error_rate=0.3, throttle_rate=0.2, timeout_rate=0.1, hang_seconds=0.6, retry_after=0)
    async with CityBrainClient(settings) as client:
        ids = [r["id"] async for page in client.iter_pages("grids", limit=4) for r in page.items]
    assert ids == [record["id"] for record in simulator.state.datasets["grids"].records]
    counts = simulator.state.counts
    assert counts.get("error", 0) and counts.get("throttle", 0) and counts.get("timeout", 0), counts


async def test_when_every_attempt_fails_the_error_says_so(
    simulator: SimulatorServer, make_settings: Callable[..., Settings]
) -> None:
    simulator.set_faults(error_rate=1.0)
    settings = make_settings(**{**citybrain_overrides(simulator.url), "citybrain_retry_attempts": 3})
    async with CityBrainClient(settings) as client:
        with pytest.raises(CityBrainError, match="after 3 attempt") as caught:
            await client.get_page("grids")
    assert caught.value.status in (500, 503) and caught.value.retryable
    assert simulator.state.counts["error"] == 3

    simulator.set_faults(error_rate=0.0, timeout_rate=1.0, hang_seconds=0.6)
    async with CityBrainClient(settings) as client:
        with pytest.raises(CityBrainError, match="did not answer") as timed_out:
            await client.get_page("grids")
    assert timed_out.value.status is None


async def test_a_bad_request_is_not_retried(simulator: SimulatorServer, settings: Settings) -> None:
    async with CityBrainClient(settings) as client:
        with pytest.raises(CityBrainError) as caught:
            await client.get_page("grids", cursor="not-a-cursor")
    assert caught.value.status == 400
    assert caught.value.detail == "not a cursor this server gave out"
    assert len(simulator.state.requests) == 0


def test_retry_after_in_seconds_or_as_a_date_sets_the_wait(settings: Settings) -> None:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    request = httpx.Request("GET", "http://citybrain.invalid/")
    seconds = httpx.Response(429, headers={"Retry-After": "3"}, request=request)
    date = httpx.Response(503, headers={"Retry-After": format_datetime(now + timedelta(seconds=20), usegmt=True)})
    assert retry_after_seconds(seconds) == 3.0
    assert retry_after_seconds(date, now) == 20.0
    assert retry_after_seconds(httpx.Response(429)) is None
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "soon"})) is None

    from core.citybrain.client import _RetryableStatus

    client = CityBrainClient(settings)
    assert client._backoff(_RetryableStatus(seconds)) == min(3.0, settings.citybrain_retry_max_wait)
    assert client._backoff(_RetryableStatus(httpx.Response(500))) is True
    assert client._backoff(httpx.ConnectError("refused")) is True
    assert client._backoff(ValueError("a bug")) is False


async def test_every_call_is_logged_and_no_secret_is(simulator: SimulatorServer, settings: Settings) -> None:
    simulator.set_faults(throttle_rate=0.5, retry_after=0)
    capture = LogCapture()
    logger = structlog.wrap_logger(None, processors=[capture])
    async with CityBrainClient(settings, logger=logger) as client:
        pages = [page async for page in client.iter_pages("grids", limit=6)]
        await client.push("/v1/events", {"type": "video_net.smoke"}, "log-test-1")
    logs = capture.entries
    calls = [entry for entry in logs if entry["event"] == "citybrain_call"]
    assert len(calls) == len(pages) + 1 + simulator.state.counts.get("throttle", 0)
    assert {call["status"] for call in calls} >= {200, 202}
    assert all({"method", "path", "query", "attempt", "ms"} <= set(call) for call in calls)
    text = repr(logs)
    assert DEFAULT_APP_SECRET not in text and SIGNATURE_HEADER not in text and "X-CB" not in text
