"""A source's ``record_type``: pages decoded and checked in C, the slower way kept for pages it refuses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

import msgspec
import pytest
from sqlalchemy import select

from core.citybrain import checks
from core.citybrain.checks import RecordChecker, SyncConfigError
from core.citybrain.client import CityBrainClient
from core.citybrain.models import SyncState
from core.citybrain.simulator.server import SimulatorServer
from core.citybrain.upsert import upsert_rows
from core.config import Settings
from core.contracts import CityBrainSource
from plugins.video_net.citybrain import CameraRecord, Owner, camera_values
from plugins.video_net.models import Camera
from tests.core.citybrain.conftest import FAULTS_20_PERCENT, Street, citybrain_overrides
from tests.core.citybrain.test_sync import cameras_in_db, quarantined

Text20 = Annotated[str, msgspec.Meta(max_length=20)]
Text200 = Annotated[str, msgspec.Meta(max_length=200)]
Lon = Annotated[float, msgspec.Meta(ge=-180, le=180)]


def typed_source(record_type: type[Any], **changes: Any) -> CityBrainSource:
    """The camera source with ``record_type`` (and any other field changed)."""
    source = CityBrainSource(
        dataset="cameras", natural_key=("code",), model=Camera, map_record=camera_values, record_type=record_type
    )
    return replace(source, **changes)


class UnknownColumn(msgspec.Struct):
    code: Text20
    name: Text200
    owner: Owner
    lon: Lon
    lat: Lon
    colour: str
    updated_at: datetime


class Unbounded(msgspec.Struct):
    code: Text20
    name: str  # the column is VARCHAR(200)
    owner: Owner
    lon: Lon | None  # the column is NOT NULL
    lat: str  # the column is a number
    updated_at: datetime


class MissingColumns(msgspec.Struct):
    name: Text200
    lon: Lon
    lat: Lon
    updated_at: datetime


class NoUpdatedAt(msgspec.Struct):
    code: Text20
    name: Text200
    owner: Owner
    lon: Lon
    lat: Lon
    updated_at: str


@pytest.mark.parametrize(
    ("source", "named"),
    [
        (typed_source(UnknownColumn), ["colour: no column of the model"]),
        (
            typed_source(Unbounded),
            [
                "name: give it msgspec.Meta(max_length=200)",
                "lon: may be null, and the column is NOT NULL",
                "lat: StrType does not fit the column (a number)",
            ],
        ),
        (typed_source(MissingColumns), ["code: a column every row needs, missing", "owner: a column every row needs"]),
        (typed_source(NoUpdatedAt), ["needs a field for the record's 'updated_at', typed datetime"]),
        (typed_source(dict), ["is not a msgspec.Struct"]),
        (typed_source(CameraRecord, validate=lambda values: None), ["validate cannot be combined with record_type"]),
    ],
    ids=["unknown-column", "looser-than-the-columns", "missing-columns", "no-updated-at", "no-struct", "validate"],
)
def test_a_record_type_that_does_not_fit_the_model_is_refused_naming_each_field(
    source: CityBrainSource, named: list[str]
) -> None:
    with pytest.raises(SyncConfigError) as refused:
        RecordChecker(source)
    assert str(refused.value).startswith("source cameras: ")
    for words in named:
        assert words in str(refused.value)


def test_the_camera_record_fits_and_stores_its_columns_but_not_updated_at() -> None:
    layout = RecordChecker(typed_source(CameraRecord)).layout

    assert layout is not None
    assert (layout.columns, layout.updated_at) == (("code", "name", "owner", "lon", "lat"), "updated_at")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_client_decodes_pages_into_the_record_type_and_a_page_it_refuses_into_objects(
    street: Street, simulator: SimulatorServer, make_settings: Callable[..., Settings]
) -> None:
    simulator.set_faults(malformed_rate=0.08)
    good, bad = simulator.state.expected("cameras")
    kinds = {True: 0, False: 0}
    seen: dict[str, Any] = {}
    async with CityBrainClient(make_settings(**citybrain_overrides(simulator.url))) as client:
        cursor = None
        while True:
            page = await client.get_page("cameras", cursor=cursor, limit=10, record_type=CameraRecord)
            typed = {type(item) for item in page.items} == {CameraRecord}
            kinds[typed] += 1
            assert typed or {type(item) for item in page.items} == {dict}
            # A page of objects is one with a broken record; a page of records has none.
            assert typed != any(isinstance(item, dict) and item.get("id") not in good for item in page.items)
            for item in page.items:
                if typed:
                    seen[item.code] = {name: getattr(item, name) for name in ("code", "name", "owner", "lon", "lat")}
                elif item.get("id") in good:
                    seen[item["id"]] = camera_values(item)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor

    assert kinds[True] > 0 and kinds[False] > 0 and bad
    assert seen == {code: camera_values(record) for code, record in good.items()}


async def test_a_sync_decodes_clean_pages_into_the_record_type_and_stores_the_same_as_record_by_record(
    street: Street, simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 20% faults, broken and doubled records: the typed pages and the others give the exact result."""
    assert street.service.sources["cameras"].record_type is CameraRecord
    simulator.set_faults(**FAULTS_20_PERCENT)
    good, bad = simulator.state.expected("cameras")
    typed_pages = 0
    prepare_typed_page = checks._prepare_typed_page

    def counting(*args: Any) -> Any:
        nonlocal typed_pages
        typed_pages += 1
        return prepare_typed_page(*args)

    monkeypatch.setattr(checks, "_prepare_typed_page", counting)
    monkeypatch.setattr(street.settings, "citybrain_commit_records", 40)  # batches mix both kinds of page

    result = await street.service.sync("cameras", page_size=8)

    assert 0 < typed_pages < result.pages
    assert result.duplicates > 0 and result.quarantined == len(bad)
    assert await cameras_in_db(street) == {code: camera_values(record) for code, record in good.items()}
    assert len(await quarantined(street)) == len(bad)
    async with street.database.session() as session:
        state = await session.get(SyncState, "cameras")
    assert state is not None and state.updated_since is not None
    assert state.updated_since.isoformat().replace("+00:00", "Z") == max(r["updated_at"] for r in good.values())


async def test_upsert_rows_takes_records_of_the_record_type_and_dicts_in_one_call(street: Street) -> None:
    source = typed_source(CameraRecord)
    encoded = [
        {"id": f"3301095213402{i:07d}", "name": f"camera {i}", "owner": "community", "lon": 120.0 + i / 1e4}
        | {"lat": 30.2, "updated_at": "2026-11-01T08:00:00Z"}
        for i in range(1203)
    ]
    records = msgspec.json.decode(msgspec.json.encode(encoded), type=list[CameraRecord])
    pairs = enumerate(zip(encoded, records, strict=True))
    rows = [camera_values(record) if i % 4 == 0 else decoded for i, (record, decoded) in pairs]  # 1 in 4 a dict

    async with street.database.engine.begin() as connection:
        await upsert_rows(connection, source, rows)

    assert await cameras_in_db(street) == {record["id"]: camera_values(record) for record in encoded}
    async with street.database.session() as session:
        statuses = set((await session.scalars(select(Camera.status))).all())
    assert statuses == {"unknown"}  # the column defaults were filled for both kinds of row
