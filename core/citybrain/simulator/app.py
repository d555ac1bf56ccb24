"""The simulator's Litestar app: signed dataset pages and pushes, plus unsigned ``/_sim`` controls.

``/v1/...`` is the City Brain contract of ``docs/citybrain.md``; ``/_sim/...`` belongs to the
simulator only (faults, what was received, touching records), for tests and demos.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import random
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, Router, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery

from core.citybrain.signing import NonceCache, SignatureError, verify
from core.citybrain.simulator.data import Dataset, generate_all
from core.citybrain.simulator.faults import Faults, is_duplicated, malform, malformation
from core.logs import get_logger

log = get_logger(__name__)

DEFAULT_APP_KEY = "streetbrain-dev"
DEFAULT_APP_SECRET = "streetbrain-dev-secret"  # the simulator's own dev secret, documented
MAX_LIMIT = 5000


@dataclass
class SimulatorState:
    """Everything the simulator knows; it outlives the app, so a restarted server keeps what it received."""

    seed: int = 7
    sizes: dict[str, int] | None = None
    apps: dict[str, bytes] = field(default_factory=lambda: {DEFAULT_APP_KEY: DEFAULT_APP_SECRET.encode()})
    faults: Faults = field(default_factory=Faults)
    datasets: dict[str, Dataset] = field(init=False)
    nonces: NonceCache = field(default_factory=NonceCache)
    received: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: int = 0
    replays: int = 0
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=10_000))
    counts: dict[str, int] = field(default_factory=dict)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.datasets = generate_all(self.seed, self.sizes)
        self.rng = random.Random(self.seed)

    def count(self, what: str) -> None:
        """Count one ``what`` (``refused``, ``error``, ``throttle``, ``timeout``, ``lost_answer``)."""
        self.counts[what] = self.counts.get(what, 0) + 1

    def expected(self, dataset: str) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        """What a correct sync of ``dataset`` ends with under the current faults.

        Returns ``(good, bad)``: good records by id, and the malformation of each bad record by id.
        """
        good: dict[str, dict[str, Any]] = {}
        bad: dict[str, str] = {}
        for record in self.datasets[dataset].records:
            kind = malformation(self.seed, dataset, record["id"], self.faults.malformed_rate)
            if kind is None:
                good[record["id"]] = record
            else:
                bad[record["id"]] = kind
        return good, bad


def _problem(
    status: int, detail: str, field_name: str | None = None, headers: dict[str, str] | None = None
) -> Response[Any]:
    body: dict[str, Any] = {"type": "about:blank", "status": status, "detail": detail}
    if field_name:
        body["errors"] = [{"field": field_name, "message": detail}]
    return Response(body, status_code=status, media_type="application/problem+json", headers=headers)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def encode_cursor(key: tuple[str, str]) -> str:
    """The opaque cursor after the record with sort key ``(updated_at, id)``."""
    return base64.urlsafe_b64encode(f"{key[0]}|{key[1]}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The sort key a cursor points after; ValueError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("not a cursor this server gave out") from None
    updated_at, sep, record_id = raw.partition("|")
    if not sep or not record_id:
        raise ValueError("not a cursor this server gave out")
    return updated_at, record_id


async def check_signature_and_faults(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """``before_request`` of ``/v1``: 401 on a bad signature, then the request faults."""
    sim: SimulatorState = request.app.state.sim
    body = await request.body()
    try:
        verify(
            request.headers,
            request.method,
            request.scope["raw_path"].decode("ascii"),
            request.scope.get("query_string", b"").decode("ascii"),
            body,
            sim.apps.get,
            sim.nonces,
        )
    except SignatureError as exc:
        log.info("citybrain_sim_refused", path=request.url.path, reason=str(exc))
        sim.count("refused")
        return _problem(401, f"bad signature: {exc}")
    faults = sim.faults
    if faults.latency:
        await asyncio.sleep(faults.latency)
    roll = sim.rng.random()
    if roll < faults.error_rate:
        if request.method == "POST" and sim.rng.random() < 0.5:
            request.state.fail_after_write = True  # the write happens, the answer is lost
            sim.count("lost_answer")
            return None
        sim.count("error")
        return _problem(503 if roll < faults.error_rate / 2 else 500, "simulated server error")
    roll -= faults.error_rate
    if roll < faults.throttle_rate:
        sim.count("throttle")
        return _problem(429, "simulated rate limit", headers={"Retry-After": f"{faults.retry_after:g}"})
    roll -= faults.throttle_rate
    if roll < faults.timeout_rate:
        sim.count("timeout")
        await asyncio.sleep(faults.hang_seconds)
        return _problem(504, "simulated timeout")
    return None


@get("/v1/datasets")
async def list_datasets(state: State) -> dict[str, Any]:
    """The datasets served, with their sizes."""
    sim: SimulatorState = state.sim
    return {"items": [{"name": name, "records": len(ds.records)} for name, ds in sorted(sim.datasets.items())]}


@get("/v1/datasets/{name:str}")
async def dataset_page(
    state: State,
    name: FromPath[str],
    limit: FromQuery[int] = 500,
    cursor: FromQuery[str | None] = None,
    updated_since: FromQuery[str | None] = None,
) -> Response[Any]:
    """One page of a dataset in ``(updated_at, id)`` order, with ``next_cursor`` and ``remaining``."""
    sim: SimulatorState = state.sim
    dataset = sim.datasets.get(name)
    if dataset is None:
        return _problem(404, f"no dataset {name!r}; there are {', '.join(sorted(sim.datasets))}")
    if not 1 <= limit <= MAX_LIMIT:
        return _problem(400, f"expected 1..{MAX_LIMIT}", "limit")
    since = None
    if updated_since:
        try:
            moment = datetime.fromisoformat(updated_since)
        except ValueError:
            return _problem(400, "expected an ISO 8601 date-time", "updated_since")
        since = _iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    after = None
    if cursor:
        try:
            after = decode_cursor(cursor)
        except ValueError as exc:
            return _problem(400, str(exc), "cursor")
    start = dataset.start_of(since, after)
    chosen = dataset.records[start : start + limit]
    faults, seed = sim.faults, sim.seed
    items: list[dict[str, Any]] = []
    if (
        start > 0
        and after is not None
        and is_duplicated(seed, name, dataset.records[start - 1]["id"], faults.duplicate_rate)
    ):
        items.append(dataset.records[start - 1])  # a record of the previous page, again
    for record in chosen:
        kind = malformation(seed, name, record["id"], faults.malformed_rate)
        served = malform(record, kind) if kind else record
        items.append(served)
        if is_duplicated(seed, name, record["id"], faults.duplicate_rate):
            items.append(served)
    end = start + len(chosen)
    next_cursor = encode_cursor(dataset.keys[end - 1]) if chosen and end < len(dataset.records) else None
    sim.requests.append({"dataset": name, "cursor": cursor, "updated_since": since, "served": len(items)})
    body = {"items": items, "next_cursor": next_cursor, "remaining": len(dataset.records) - start}
    return Response(msgspec.json.encode(body), media_type="application/json")


async def _receive(request: Request[Any, Any, Any], kind: str, name: str | None) -> Response[Any]:
    sim: SimulatorState = request.app.state.sim
    key = request.headers.get("idempotency-key")
    if not key or len(key) > 200:
        return _problem(400, "an Idempotency-Key header (1..200 characters) is required", "Idempotency-Key")
    try:
        payload = msgspec.json.decode(await request.body())
    except msgspec.DecodeError:
        return _problem(400, "expected a JSON object", "body")
    if not isinstance(payload, dict):
        return _problem(400, "expected a JSON object", "body")
    if kind == "event" and not isinstance(payload.get("type"), str):
        return _problem(422, "expected the event type as a string", "type")
    if kind == "metric" and not isinstance(payload.get("values"), dict):
        return _problem(422, "expected the metric values as an object", "values")
    sim.deliveries += 1
    path = request.url.path
    first = sim.received.get(key)
    if first is not None:
        if first["path"] != path or first["payload"] != payload:
            return _problem(422, "this Idempotency-Key was used with another request", "Idempotency-Key")
        sim.replays += 1
        answer, status, headers = first["answer"], 200, {"Idempotent-Replayed": "true"}
    else:
        answer = {"id": len(sim.received) + 1, "idempotency_key": key, "received_at": _iso(datetime.now(UTC))}
        sim.received[key] = {"kind": kind, "name": name, "path": path, "payload": payload, "answer": answer}
        status, headers = 202, {}
    if getattr(request.state, "fail_after_write", False):
        return _problem(500, "simulated error after the write")
    return Response(answer, status_code=status, headers=headers)


@post("/v1/events", status_code=202)
async def push_event(request: Request[Any, Any, Any]) -> Response[Any]:
    """Receive one event (``type`` required), once per ``Idempotency-Key``."""
    return await _receive(request, "event", None)


@post("/v1/metrics/{name:str}", status_code=202)
async def push_metric(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[Any]:
    """Receive one statistic (``values`` required), once per ``Idempotency-Key``."""
    return await _receive(request, "metric", name)


# -- /_sim: the simulator's own controls ---------------------------------------------------------


@get("/_sim/faults")
async def get_faults(state: State) -> dict[str, Any]:
    """The fault switches in force."""
    return msgspec.structs.asdict(state.sim.faults)


@put("/_sim/faults")
async def set_faults(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """Change some fault switches (a JSON object of the fields to change)."""
    try:
        changes = msgspec.json.decode(await request.body())
        if not isinstance(changes, dict):
            raise ValueError("body: expected a JSON object of fault switches")
        merged = {**msgspec.structs.asdict(state.sim.faults), **changes}
        state.sim.faults = msgspec.convert(merged, Faults)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        message = str(exc)
        named = re.search(r"`\$\.(\w+)`|unknown field `(\w+)`|^(\w+):", message)
        field_name = next((group for group in named.groups() if group), "body") if named else "body"
        return _problem(422, message, field_name)
    log.info("citybrain_sim_faults", **msgspec.structs.asdict(state.sim.faults))
    return Response(msgspec.structs.asdict(state.sim.faults))


@get("/_sim/received")
async def get_received(state: State) -> dict[str, Any]:
    """Every distinct push received, with the count of deliveries and of replays."""
    sim: SimulatorState = state.sim
    return {
        "items": list(sim.received.values()),
        "deliveries": sim.deliveries,
        "replays": sim.replays,
        "faults": dict(sim.counts),
    }


@get("/_sim/requests")
async def get_requests(state: State) -> dict[str, Any]:
    """The dataset requests served (the last 10,000): dataset, cursor, updated_since, records served."""
    return {"items": list(state.sim.requests)}


@post("/_sim/datasets/{name:str}/touch", status_code=200)
async def touch_records(state: State, name: FromPath[str], count: FromQuery[int] = 10) -> Response[Any]:
    """Change ``count`` records of a dataset now (a new ``updated_at``); returns their ids."""
    sim: SimulatorState = state.sim
    if name not in sim.datasets:
        return _problem(404, f"no dataset {name!r}")
    if not 1 <= count <= 100_000:
        return _problem(400, "expected 1..100000", "count")
    return Response({"ids": sim.datasets[name].touch(count, sim.rng, datetime.now(UTC))})


@get("/health")
async def sim_health(state: State) -> dict[str, Any]:
    """Liveness of the simulator."""
    return {"status": "ok", "seed": state.sim.seed}


def create_simulator_app(sim: SimulatorState | None = None) -> Litestar:
    """The simulator's app around ``sim`` (a new state with seed 7 by default)."""
    contract = Router(
        path="/",
        route_handlers=[list_datasets, dataset_page, push_event, push_metric],
        before_request=check_signature_and_faults,
    )
    return Litestar(
        route_handlers=[contract, get_faults, set_faults, get_received, get_requests, touch_records, sim_health],
        state=State({"sim": sim or SimulatorState()}),
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
