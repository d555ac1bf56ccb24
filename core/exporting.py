"""Lists as files: CSV streamed row by row (constant memory), XLSX through openpyxl's write-only mode."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from openpyxl import Workbook

FORMATS = ("json", "csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def flat_all(items: list[Any]) -> list[dict[str, Any]]:
    """Items (Structs, dataclasses, dicts) as one level of column -> value, in one msgspec call;
    nested values become JSON text."""
    out = []
    for data in msgspec.to_builtins(items):
        if not isinstance(data, dict):
            data = {"value": data}
        if any(isinstance(v, dict | list) for v in data.values()):
            data = {k: (msgspec.json.encode(v).decode() if isinstance(v, dict | list) else v) for k, v in data.items()}
        out.append(data)
    return out


async def csv_chunks(rows: AsyncIterator[dict[str, Any]], columns: list[str] | None = None) -> AsyncIterator[bytes]:
    """CSV (UTF-8 with a BOM, which Excel needs for Chinese text) in chunks of about 64 KiB."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header: list[str] | None = columns
    buffer.write("\ufeff")
    if header:
        writer.writerow(header)
    async for row in rows:
        if header is None:
            header = list(row)
            writer.writerow(header)
        writer.writerow([row.get(column) for column in header])
        if buffer.tell() > 65536:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


async def xlsx_bytes(rows: AsyncIterator[dict[str, Any]], sheet: str, columns: list[str] | None = None) -> bytes:
    """An XLSX workbook of ``rows`` (write-only: rows go to a temporary file, not into memory)."""
    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet[:31] or "data")
    header: list[str] | None = columns
    if header:
        worksheet.append(header)
    async for row in rows:
        if header is None:
            header = list(row)
            worksheet.append(header)
        worksheet.append([_cell(row.get(column)) for column in header])
    with tempfile.TemporaryFile() as handle:
        workbook.save(handle)
        handle.seek(0)
        return handle.read()


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float | str | bool) else str(value)
