"""The reference side of ``bench/export_memory.py``, run as its own process (stdlib only, so that its
peak memory is that of the work and a bare interpreter).

Streams the same columns of every case, newest first, from the SQLite file with plain ``sqlite3``
(``fetchmany`` of 1,000) through ``csv.writer`` into a buffer that is encoded to UTF-8 and dropped
every 64 KiB (what the server does with its chunks, minus the network), then prints one line of
JSON: rows, lines, bytes, seconds and the process's VmHWM / VmRSS in KiB.

    python bench/_csv_reference.py <path to streetbrain.db>
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import sys
import time

# The table columns of what GET /api/v1/cases?format=csv answers (CaseOut, without its two
# computed columns ``overdue`` and ``next_actions``).
COLUMNS = ["id", "number", "title", "description", "category", "severity", "status", "event_type", "event_id",
           "grid_id", "community_id", "lon", "lat", "reporter", "assignee_id", "main_case_id", "created_at",
           "accepted_at", "dispatched_at", "resolved_at", "closed_at", "accept_due_at", "resolve_due_at",
           "escalation_level", "rework_count"]  # fmt: skip
BATCH = 1000
CHUNK = 65536


def status_kib(field: str) -> int:
    """``VmHWM`` or ``VmRSS`` of this process, in KiB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main(path: str) -> None:
    """Stream the rows and print the figures as JSON."""
    started = time.perf_counter()
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    cursor = connection.execute(f"SELECT {', '.join(COLUMNS)} FROM cases ORDER BY id DESC")
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    rows = sent = lines = 0
    while batch := cursor.fetchmany(BATCH):
        writer.writerows(batch)
        rows += len(batch)
        if buffer.tell() > CHUNK:
            chunk = buffer.getvalue().encode()
            sent += len(chunk)
            lines += chunk.count(b"\n")
            buffer.seek(0)
            buffer.truncate()
    chunk = buffer.getvalue().encode()
    sent += len(chunk)
    lines += chunk.count(b"\n")
    connection.close()
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "rows": rows,
                "lines": lines,
                "bytes": sent,
                "seconds": seconds,
                "hwm_kib": status_kib("VmHWM"),
                "rss_kib": status_kib("VmRSS"),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
