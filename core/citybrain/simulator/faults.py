"""Faults the simulator injects, switchable at run time (``PUT /_sim/faults``) for tests and demos.

Per request: ``error_rate`` (HTTP 500/503), ``throttle_rate`` (429 with ``Retry-After``),
``timeout_rate`` (hang for ``hang_seconds``, then 504), ``latency`` (seconds added to every
answer). Per record: ``malformed_rate`` (the record is served broken; which records is fixed by
the seed, so a test can count them) and ``duplicate_rate`` (the record is served twice).
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

MALFORMATIONS = ("missing_id", "null_name", "bad_lon", "lat_out_of_range")


class Faults(msgspec.Struct, forbid_unknown_fields=True):
    """The fault switches; every rate is a probability between 0 and 1."""

    error_rate: float = 0.0
    throttle_rate: float = 0.0
    timeout_rate: float = 0.0
    latency: float = 0.0
    hang_seconds: float = 10.0
    retry_after: float = 1.0
    malformed_rate: float = 0.0
    duplicate_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("error_rate", "throttle_rate", "timeout_rate", "malformed_rate", "duplicate_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: expected a probability between 0 and 1, got {value}")
        for name in ("latency", "hang_seconds", "retry_after"):
            value = getattr(self, name)
            if not 0.0 <= value <= 600:
                raise ValueError(f"{name}: expected seconds between 0 and 600, got {value}")
        if self.error_rate + self.throttle_rate + self.timeout_rate > 1.0:
            raise ValueError("error_rate: error_rate + throttle_rate + timeout_rate must not exceed 1")


def _unit(seed: int, salt: str, record_id: str) -> float:
    digest = hashlib.blake2b(f"{seed}:{salt}:{record_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def malformation(seed: int, dataset: str, record_id: str, rate: float) -> str | None:
    """How the record is broken at ``rate`` (the same for the same seed, dataset and id), or None."""
    if rate <= 0.0 or _unit(seed, "malformed:" + dataset, record_id) >= rate:
        return None
    return MALFORMATIONS[int(_unit(seed, "kind:" + dataset, record_id) * len(MALFORMATIONS))]


def is_duplicated(seed: int, dataset: str, record_id: str, rate: float) -> bool:
    """Whether the record is served twice at ``rate``."""
    return rate > 0.0 and _unit(seed, "duplicate:" + dataset, record_id) < rate


def malform(record: dict[str, Any], kind: str) -> dict[str, Any]:
    """A broken copy of ``record``."""
    broken = dict(record)
    if kind == "missing_id":
        del broken["id"]
    elif kind == "null_name":
        broken["name"] = None
    elif kind == "bad_lon":
        broken["lon"] = "东经120度"
    else:
        broken["lat"] = 999.0
    return broken
