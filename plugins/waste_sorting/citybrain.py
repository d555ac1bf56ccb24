"""City Brain's household registry (dataset ``households``, 一户一码) mapped onto the households table.

The record's ``name`` (e.g. ``王伟户``) names a person: it becomes the encrypted ``contact_name``,
and a record that cannot be stored is quarantined with that name masked (``王**``), so no personal
data lands in the quarantine in the clear. Grids are filled in afterwards from ``lon``/``lat`` by the
nightly rollup job (City Brain's records carry no grid of ours).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from core.security import pii

PERSONAL_FIELDS = ("name", "holder", "phone", "contact", "id_number")
_ADDRESS = re.compile(r"(?P<building>\d+)幢(?P<unit>\d+)单元(?P<room>\d+)室")


def _coordinate(record: Mapping[str, Any], name: str, bound: float) -> float:
    value = record[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if not -bound <= value <= bound:
        raise ValueError(f"{name}: {value} is outside -{bound:g}..{bound:g}")
    return float(value)


def household_values(record: Mapping[str, Any]) -> dict[str, Any]:
    """The household columns of one City Brain household record."""
    external_id, qr_code = record["id"], record["qr_code"]
    if not isinstance(external_id, str) or not external_id:
        raise ValueError(f"id: expected text, got {external_id!r}")
    if not isinstance(qr_code, str) or not re.fullmatch(r"[A-Za-z0-9_-]{2,64}", qr_code):
        raise ValueError("qr_code: expected 2 to 64 letters, digits, _ or -")
    name = record["name"]
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name: expected the household's name")
    members = record.get("members", 1)
    if isinstance(members, bool) or not isinstance(members, int) or not 1 <= members <= 50:
        raise ValueError(f"members: expected 1 to 50, got {members!r}")
    community = record["community"]
    if not isinstance(community, str) or not community:
        raise ValueError("community: expected its name")
    place = _ADDRESS.search(str(record.get("address") or ""))
    return {
        "external_id": external_id,
        "qr_code": qr_code,
        "community": community[:100],
        "contact_name": pii.normalise("name", name)[:100],
        "residents": members,
        "building": place["building"] if place else None,
        "unit": place["unit"] if place else None,
        "room": place["room"] if place else None,
        "lon": _coordinate(record, "lon", 180),
        "lat": _coordinate(record, "lat", 90),
        "source": "citybrain",
        "active": True,
    }


def redact(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record as it may be quarantined: personal fields masked."""
    return {
        key: (pii.mask("name", value) if key in PERSONAL_FIELDS and isinstance(value, str) else value)
        for key, value in record.items()
    }
