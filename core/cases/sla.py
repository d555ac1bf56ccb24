"""SLA clocks: due times in calendar hours or in working hours of the street office's calendar."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class SlaPolicy:
    """How long a category may wait to be accepted and then to be resolved."""

    accept: timedelta
    resolve: timedelta
    working_hours: bool = False


@dataclass(frozen=True)
class WorkCalendar:
    """Working hours: ``day_start``-``day_end`` on ``workdays`` (0 = Monday) in ``tz``.

    ``holidays`` are days off that would be working days; ``workdays_extra`` are make-up working
    days (调休) that fall on a weekend.
    """

    tz: ZoneInfo
    day_start: time = time(9, 0)
    day_end: time = time(18, 0)
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays_extra: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls, tz: ZoneInfo, start: str, end: str, holidays: Iterable[str] = (), workdays_extra: Iterable[str] = ()
    ) -> WorkCalendar:
        """A calendar from settings strings (``"09:00"``, ISO dates)."""
        return cls(
            tz=tz,
            day_start=time.fromisoformat(start),
            day_end=time.fromisoformat(end),
            holidays=frozenset(date.fromisoformat(d) for d in holidays),
            workdays_extra=frozenset(date.fromisoformat(d) for d in workdays_extra),
        )

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` has working hours."""
        if day in self.workdays_extra:
            return True
        return day.weekday() in self.workdays and day not in self.holidays

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start`` (UTC-aware in, UTC-aware out)."""
        local = start.astimezone(self.tz)
        remaining = duration
        day = local.date()
        cursor = local
        for _ in range(3700):  # ten years of days at most
            if self.is_working_day(day):
                opens = datetime.combine(day, self.day_start, self.tz)
                closes = datetime.combine(day, self.day_end, self.tz)
                begin = max(cursor, opens)
                if begin < closes:
                    available = closes - begin
                    if remaining <= available:
                        return (begin + remaining).astimezone(start.tzinfo)
                    remaining -= available
            day += timedelta(days=1)
            cursor = datetime.combine(day, time(0), self.tz)
        raise ValueError("no working time within ten years; check the working calendar settings")

    def due(self, start: datetime, duration: timedelta, working_hours: bool) -> datetime:
        """``start`` plus ``duration``, in working hours or in calendar time."""
        return self.add(start, duration) if working_hours else start + duration
