"""Look up many keys with constant SQL: a list of keys travels as one parameter and is read as rows.

``IN (?, ?, ...)`` built with SQLAlchemy renders, caches and processes every value of the list on
each execution, and SQLite answers a row-value ``(a, b) IN ((?, ?), ...)`` by scanning the table.
A :class:`KeyList` instead is a row source with named columns: ``json_each`` over a JSON array on
SQLite, ``unnest`` of one array per column on PostgreSQL. Join it to a table on its index and each
key is one index search, whatever the number of keys, and the statement text never changes::

    PAIRS = KeyList("k", {"camera_id": "bigint", "alert_id": "text"})
    sql = f"SELECT a.id FROM {PAIRS.source(dialect)} JOIN alerts AS a ON a.camera_id = k.camera_id AND ..."
    rows = await connection.execute(text(sql), PAIRS.parameters(dialect, [(1, "x"), (2, "y")]))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec


@dataclass(frozen=True)
class KeyList:
    """Keys as rows named ``name`` with ``columns`` (column name -> PostgreSQL element type)."""

    name: str
    columns: Mapping[str, str]

    def source(self, dialect: str) -> str:
        """The SQL of the row source (for a FROM or JOIN clause) in ``dialect``."""
        if dialect == "postgresql":
            arrays = ", ".join(f"CAST(:{self.name}_{column} AS {kind}[])" for column, kind in self.columns.items())
            return f"unnest({arrays}) AS {self.name}({', '.join(self.columns)})"
        if len(self.columns) == 1:
            (column,) = self.columns
            return f"(SELECT value AS {column} FROM json_each(:{self.name})) AS {self.name}"
        picked = ", ".join(f"value ->> {index} AS {column}" for index, column in enumerate(self.columns))
        return f"(SELECT {picked} FROM json_each(:{self.name})) AS {self.name}"

    def parameters(self, dialect: str, keys: Sequence[Any]) -> dict[str, Any]:
        """The bound values for ``keys``: values (one column) or tuples in the order of ``columns``."""
        if dialect == "postgresql":
            if len(self.columns) == 1:
                return {f"{self.name}_{next(iter(self.columns))}": list(keys)}
            return {f"{self.name}_{column}": [key[i] for key in keys] for i, column in enumerate(self.columns)}
        return {self.name: msgspec.json.encode(list(keys)).decode()}
