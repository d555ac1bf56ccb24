"""Metric cells (about ``size_m`` a side) and the hour of the week, the keys of hotspots and suggestions.

Rows of cells are ``size_m`` of latitude apart; within a row, a cell is ``size_m`` wide at the row's
middle latitude, so cells are squares of ``size_m`` to within a fraction of a percent anywhere in
China. A cell's id is ``"<size>m:<row>:<column>"``; the same position always gets the same cell.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

METRES_PER_DEGREE = 111_320.0


def _steps(row: int, size_m: float) -> tuple[float, float]:
    dlat = size_m / METRES_PER_DEGREE
    middle = (row + 0.5) * dlat
    return size_m / (METRES_PER_DEGREE * math.cos(math.radians(middle))), dlat


def cell_of(lon: float, lat: float, size_m: float) -> str:
    """The id of the cell holding the WGS84 position."""
    dlat = size_m / METRES_PER_DEGREE
    row = math.floor(lat / dlat)
    dlon, _ = _steps(row, size_m)
    return f"{size_m:g}m:{row}:{math.floor(lon / dlon)}"


def _parse(cell: str) -> tuple[float, int, int]:
    size, row, column = cell.split(":")
    return float(size.removesuffix("m")), int(row), int(column)


def cell_bounds(cell: str) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of a cell."""
    size_m, row, column = _parse(cell)
    dlon, dlat = _steps(row, size_m)
    return column * dlon, row * dlat, (column + 1) * dlon, (row + 1) * dlat


def cell_centre(cell: str) -> tuple[float, float]:
    """``(lon, lat)`` of a cell's centre."""
    west, south, east, north = cell_bounds(cell)
    return round((west + east) / 2, 7), round((south + north) / 2, 7)


def cell_polygon(cell: str) -> dict[str, Any]:
    """A cell as a GeoJSON Polygon."""
    west, south, east, north = (round(v, 7) for v in cell_bounds(cell))
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def hour_of_week(local: datetime) -> int:
    """0 (Monday 00:00-01:00) to 167 (Sunday 23:00-24:00) of a local time."""
    return (local.isoweekday() - 1) * 24 + local.hour
