"""The household registry (一户一码): register, move, and import from CSV or XLSX with a row-level report.

A household's place comes from, in order: ``grid`` (a grid code: the grid and its community),
``lon``/``lat`` (the grid the point lies in), its ``point`` (that collection point's grid), or
``community`` (a community code or name, no grid). The readable community name is stored too.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import msgspec
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InputError
from core.security import pii
from plugins.waste_sorting.models import CollectionPoint, Household
from plugins.waste_sorting.places import Place, community_by_code_or_name, grid_by_code, locate
from plugins.waste_sorting.schemas import HouseholdIn

COLUMNS = ("qr_code", "community", "grid", "point", "building", "unit", "room", "residents", "contact_name",
           "contact_phone", "lon", "lat", "active")  # fmt: skip
MAX_IMPORT_ROWS = 50_000


@dataclass(frozen=True)
class Resolved:
    """Where a household belongs: its place, its own point and the community name to show."""

    place: Place
    point_id: int | None
    community: str


async def resolve(
    session: AsyncSession,
    areas: Any,
    *,
    community: str | None,
    grid: str | None,
    point: str | None,
    lon: float | None,
    lat: float | None,
) -> Resolved:
    """The place of a household from what was given; :class:`InputError` naming the field that is wrong."""
    point_row = None
    if point:
        point_row = await session.scalar(select(CollectionPoint).where(CollectionPoint.code == point))
        if point_row is None:
            raise InputError("point", f"no collection point with code {point}")
    place: Place | None = None
    if grid:
        place = await grid_by_code(session, grid)
        if place is None:
            raise InputError("grid", f"no grid with code {grid}")
    elif lon is not None and lat is not None:
        place = locate(areas, lon, lat)
    elif point_row is not None and point_row.grid_id is not None:
        place = Place(point_row.grid_id, point_row.community_id)
    if (place is None or place.community_id is None) and community:
        found = await community_by_code_or_name(session, community)
        if found is not None:
            place = found
        elif place is None:
            place = Place(None, None, community)  # a street without areas yet: keep the name
    if place is None:
        raise InputError("community", "give grid, lon/lat, point or community")
    name = place.community_name or community or (point_row.community if point_row else None)
    return Resolved(place, point_row.id if point_row else None, name or "-")


async def household_values(session: AsyncSession, areas: Any, data: HouseholdIn) -> dict[str, Any]:
    """The column values of a household to register; :class:`InputError` naming a bad field."""
    if (data.lon is None) != (data.lat is None):
        raise InputError("lat" if data.lat is None else "lon", "give both lon and lat, or neither")
    resolved = await resolve(
        session, areas, community=data.community, grid=data.grid, point=data.point, lon=data.lon, lat=data.lat
    )
    return {
        "qr_code": data.qr_code,
        "community": resolved.community,
        "community_id": resolved.place.community_id,
        "grid_id": resolved.place.grid_id,
        "point_id": resolved.point_id,
        "building": data.building,
        "unit": data.unit,
        "room": data.room,
        "residents": data.residents,
        "contact_name": pii.checked("contact_name", "name", data.contact_name),
        "contact_phone": pii.checked("contact_phone", "phone", data.contact_phone),
        "lon": data.lon,
        "lat": data.lat,
        "active": data.active,
    }


# -- import ------------------------------------------------------------------------------------------


def read_rows(content: bytes, filename: str) -> list[dict[str, Any]]:
    """The rows of a CSV (UTF-8, with or without BOM) or XLSX file as dicts keyed by the header row."""
    if filename.lower().endswith(".xlsx") or content[:2] == b"PK":
        try:
            sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).active
        except Exception as exc:  # openpyxl raises many kinds for a file that is no workbook
            raise InputError("file", f"not a readable XLSX workbook: {exc}") from None
        if sheet is None:
            raise InputError("file", "the workbook has no sheet")
        values = list(sheet.iter_rows(values_only=True))
        header = [str(cell).strip() if cell is not None else "" for cell in (values[0] if values else ())]
        body = [dict(zip(header, row, strict=False)) for row in values[1:] if any(c is not None for c in row)]
    else:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError("file", "expected a UTF-8 CSV file or an XLSX workbook") from None
        reader = csv.DictReader(io.StringIO(text))
        header = [name.strip() for name in reader.fieldnames or ()]
        body = [{(k or "").strip(): v for k, v in row.items()} for row in reader]
    if "qr_code" not in header:
        raise InputError("file", f"the header row must name qr_code; columns: {', '.join(COLUMNS)}")
    unknown = [name for name in header if name and name not in COLUMNS]
    if unknown:
        raise InputError("file", f"unknown columns {unknown}; expected some of {', '.join(COLUMNS)}")
    if len(body) > MAX_IMPORT_ROWS:
        raise InputError("file", f"at most {MAX_IMPORT_ROWS} rows per file")
    return body


def _cleaned(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, str):
            value = value.strip()
        if key == "active" and isinstance(value, str):
            value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(
                value.lower(), value
            )
        if key in ("qr_code", "building", "unit", "room", "contact_phone", "grid", "point") and not isinstance(
            value, str
        ):
            value = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        out[key] = value
    return out


async def import_households(
    session: AsyncSession, areas: Any, rows: list[dict[str, Any]], *, skip_invalid: bool
) -> dict[str, Any]:
    """Create or update (by ``qr_code``) the households of ``rows``; report every bad row.

    Rows are numbered as in a spreadsheet (the header is row 1). Without ``skip_invalid`` any bad
    row stores nothing; with it the good rows are stored and the bad ones reported.
    """
    errors: list[dict[str, Any]] = []
    prepared: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        try:
            data = msgspec.convert(_cleaned(row), HouseholdIn, strict=False)
        except msgspec.ValidationError as exc:
            message = str(exc)
            field = message.split("`$.", 1)[1].split("`", 1)[0] if "`$." in message else "row"
            errors.append({"row": number, "field": field, "message": message})
            continue
        if data.qr_code in seen:
            errors.append({"row": number, "field": "qr_code", "message": f"repeats row {seen[data.qr_code]}"})
            continue
        seen[data.qr_code] = number
        try:
            prepared.append((number, await household_values(session, areas, data)))
        except InputError as exc:
            errors.append({"row": number, "field": exc.field, "message": exc.message})
    if errors and not skip_invalid:
        return {"created": 0, "updated": 0, "errors": errors}
    existing = {
        h.qr_code: h
        for h in await session.scalars(
            select(Household).where(Household.qr_code.in_([v["qr_code"] for _, v in prepared]))
        )
    }
    created = updated = 0
    for _, values in prepared:
        household = existing.get(values["qr_code"])
        if household is None:
            session.add(Household(**values, source="import"))
            created += 1
        else:
            for key, value in values.items():
                setattr(household, key, value)
            updated += 1
    await session.flush()
    return {"created": created, "updated": updated, "errors": errors}
