"""BatchTimes (per-minute conversion of a batch's times) gives what converting each time on its own gives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from plugins.waste_sorting.batch_times import BatchTimes
from plugins.waste_sorting.ingest_sql import CompiledInsert

ZONES = ("Asia/Shanghai", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Europe/Amsterdam")


def _times() -> list[datetime]:
    """Random times with random offsets, and the minutes around daylight-saving and older transitions."""
    rng = random.Random(7)
    found = []
    for _ in range(3000):
        moment = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(30 * 365 * 86400), microseconds=rng.choice((0, rng.randrange(1_000_000)))
        )
        found.append(moment.astimezone(timezone(timedelta(minutes=rng.randrange(-14 * 60, 14 * 60 + 1, 15)))))
    for edge in ("2026-03-08T06:59:30+00:00", "2026-11-01T05:59:59+00:00", "2026-04-04T14:59:45+00:00",
                 "2026-10-03T15:29:58+00:00", "2026-11-28T15:59:59.999999+00:00", "2026-11-28T16:00:00+00:00",
                 "1901-01-01T00:00:00+00:00", "1937-06-30T23:59:40+00:00", "1940-05-15T23:59:58+00:00"):  # fmt: skip
        start = datetime.fromisoformat(edge)
        found.extend(start + timedelta(seconds=step) for step in range(-90, 90, 7))
    return found


def _one_by_one(value: datetime, tz: ZoneInfo, as_time: Any) -> tuple[Any, Any, int]:
    local = value.astimezone(tz)
    return as_time(value), local.date(), local.hour * 3600 + local.minute * 60 + local.second


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.asyncpg.dialect()], ids=["sqlite", "postgresql"])
@pytest.mark.parametrize("zone", ZONES)
def test_per_minute_conversion_equals_one_by_one(dialect: Any, zone: str) -> None:
    tz = ZoneInfo(zone)
    as_time = CompiledInsert.of(dialect).processor("deposited_at")
    times = BatchTimes(tz, as_time)
    for value in _times():
        assert times.convert(value) == _one_by_one(value, tz, as_time), value


def test_sqlite_text_shortcut_is_used_and_a_foreign_format_is_not_guessed() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    moment = datetime(2026, 11, 29, 7, 30, 5, tzinfo=UTC)
    sqlite_times = BatchTimes(tz, CompiledInsert.of(sqlite.dialect()).processor("deposited_at"))
    assert sqlite_times.convert(moment)[0] == "2026-11-29 07:30:05.000000"
    assert next(iter(sqlite_times._minutes.values()))[0] == "2026-11-29 07:30:"  # type: ignore[index]

    def other_format(value: datetime) -> str:
        return value.astimezone(UTC).strftime("%d/%m/%Y %H:%M:%S")

    other_times = BatchTimes(tz, other_format)
    assert other_times.convert(moment)[0] == "29/11/2026 07:30:05"
    assert next(iter(other_times._minutes.values()))[0] is None  # type: ignore[index]
