"""The City Brain camera source: ``CameraRecord`` (decoded and checked in C) agrees with ``camera_values``.

A sync stores a page decoded into ``CameraRecord`` without calling ``camera_values``, so the struct
must accept nothing that ``camera_values`` and the column checks refuse, and give the same values.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec

from core.citybrain.checks import record_type_disagreements
from core.citybrain.simulator.app import SimulatorState
from core.citybrain.simulator.faults import MALFORMATIONS, malform
from core.contracts import CityBrainSource
from plugins.video_net import register_citybrain_sources
from plugins.video_net.citybrain import CameraRecord

GOOD = {
    "id": "33010952134000000001",
    "name": "宁围街道市心北路与金城路交叉口1号枪机",
    "owner": "community",
    "lon": 120.27,
    "lat": 30.22,
    "updated_at": "2026-11-01T08:00:00Z",
}
EDGES: list[dict[str, Any]] = [
    GOOD,
    {**GOOD, "extra": {"ignored": True}},
    {**GOOD, "id": "３３０１０９５２１３４０００００００１"},  # full-width digits: str.isdigit takes them
    {**GOOD, "id": 33010952134000000001},
    {**GOOD, "id": "3301095213400000001"},
    {**GOOD, "id": "330109521340000000011"},
    {**GOOD, "id": "3301095213400000000X"},
    {**GOOD, "id": None},
    {key: value for key, value in GOOD.items() if key != "id"},
    {**GOOD, "owner": "police"},
    {**GOOD, "owner": None},
    {key: value for key, value in GOOD.items() if key != "owner"},
    {**GOOD, "name": None},
    {**GOOD, "name": 7},
    {**GOOD, "name": "枪" * 200},
    {**GOOD, "name": "枪" * 201},
    {**GOOD, "lon": 120},
    {**GOOD, "lon": True},
    {**GOOD, "lon": "120.27"},
    {**GOOD, "lon": 180.0},
    {**GOOD, "lon": -180},
    {**GOOD, "lon": 180.0001},
    {**GOOD, "lat": 90.0},
    {**GOOD, "lat": -90.0001},
    {**GOOD, "lat": None},
    {**GOOD, "updated_at": "2026-11-01T08:00:00"},  # no zone: UTC either way
    {**GOOD, "updated_at": "2026-11-01T16:00:00+08:00"},
    {**GOOD, "updated_at": "2026-11-01t08:00:00z"},
    {**GOOD, "updated_at": "2026-11-01T08:00:00.123456789Z"},
    {**GOOD, "updated_at": "2026-11-01T08:00Z"},
    {**GOOD, "updated_at": "2026-11-01"},
    {**GOOD, "updated_at": "yesterday"},
    {**GOOD, "updated_at": 1761984000},
    {key: value for key, value in GOOD.items() if key != "updated_at"},
]


def camera_source() -> CityBrainSource:
    """The source exactly as the plugin declares it."""
    (source,) = register_citybrain_sources()
    return source


def simulated_cameras() -> list[dict[str, Any]]:
    """The simulator's camera records, each also in every broken form it can serve."""
    records = SimulatorState(seed=3, sizes={"cameras": 300}).datasets["cameras"].records
    return [*records, *(malform(record, kind) for record in records[:50] for kind in MALFORMATIONS)]


def test_the_camera_source_decodes_pages_into_camera_record() -> None:
    assert camera_source().record_type is CameraRecord


def test_camera_record_accepts_only_what_camera_values_accepts_and_gives_the_same_values() -> None:
    records = [*EDGES, *simulated_cameras()]
    decodable = sum(1 for record in records if _decodes(CameraRecord, record))

    assert record_type_disagreements(camera_source(), records) == []
    assert 300 <= decodable < len(records)  # the comparison covered both sides


class LooseCameraRecord(CameraRecord):
    """CameraRecord without the check of the id's digits: what the test above must catch."""

    def __post_init__(self) -> None:
        """Takes any 20 characters as the id."""


def test_a_record_type_looser_than_camera_values_is_caught() -> None:
    loose = replace(camera_source(), record_type=LooseCameraRecord)

    found = record_type_disagreements(loose, EDGES)

    assert len(found) == 1 and "3301095213400000000X" in found[0] and "id: expected" in found[0]


def _decodes(record_type: type[Any], record: dict[str, Any]) -> bool:
    try:
        msgspec.json.decode(msgspec.json.encode(record), type=record_type)
    except msgspec.ValidationError:
        return False
    return True
