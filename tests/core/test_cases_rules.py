"""The case rules on their own: the working calendar, the transition table per role, numbering
under concurrency (SQLite and PostgreSQL) and the indicators on a hand-built dataset."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.cases.indicators import case_indicators
from core.cases.models import Case, CaseTransition
from core.cases.numbers import next_case_number
from core.cases.service import CaseService, Forbidden
from core.cases.sla import WorkCalendar
from core.cases.workflow import STATUSES, TRANSITIONS
from core.errors import InputError
from core.security.permissions import ROLES
from core.security.principal import Principal
from tests.conftest import Platform

PlatformFactory = Callable[..., AbstractAsyncContextManager[Platform]]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


# -- working calendar ----------------------------------------------------------------------------------

CALENDAR = WorkCalendar.of(SHANGHAI, "09:00", "18:00", holidays=["2026-10-01"], workdays_extra=["2026-10-10"])


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        (local(2026, 11, 25, 10, 0), 2, local(2026, 11, 25, 12, 0)),  # Wednesday, inside the day
        (local(2026, 11, 25, 17, 0), 2, local(2026, 11, 26, 10, 0)),  # runs past the evening
        (local(2026, 11, 25, 22, 30), 1, local(2026, 11, 26, 10, 0)),  # reported at night: starts at 09:00
        (local(2026, 11, 27, 17, 30), 1, local(2026, 11, 30, 9, 30)),  # Friday evening -> Monday
        (local(2026, 11, 28, 12, 0), 9, local(2026, 11, 30, 18, 0)),  # Saturday: a whole Monday
        (local(2026, 11, 25, 18, 0), 0.5, local(2026, 11, 26, 9, 30)),  # exactly at closing time
        (local(2026, 9, 30, 17, 0), 2, local(2026, 10, 2, 10, 0)),  # over a holiday
        (local(2026, 10, 9, 17, 0), 2, local(2026, 10, 10, 10, 0)),  # onto a make-up working Saturday
    ],
)
def test_working_hours_skip_nights_weekends_and_holidays(start: datetime, hours: float, expected: datetime) -> None:
    assert CALENDAR.add(start, timedelta(hours=hours)) == expected


def test_calendar_hours_run_through_the_night() -> None:
    start = local(2026, 11, 27, 23, 0)
    assert CALENDAR.due(start, timedelta(hours=2), working_hours=False) == local(2026, 11, 28, 1, 0)
    assert CALENDAR.due(start, timedelta(hours=2), working_hours=True) == local(2026, 11, 30, 11, 0)


def test_overdue_follows_the_current_deadline() -> None:
    due = local(2026, 11, 25, 12, 0)
    case = Case(status="reported", accept_due_at=due, resolve_due_at=None)
    assert not CaseService.overdue(case, due)
    assert CaseService.overdue(case, due + timedelta(seconds=1))
    case.status, case.resolve_due_at = "in_progress", due + timedelta(days=1)
    assert not CaseService.overdue(case, due + timedelta(hours=1))
    case.status = "resolved"
    assert not CaseService.overdue(case, due + timedelta(days=9))


# -- transitions per role ------------------------------------------------------------------------------


async def test_every_transition_is_allowed_or_forbidden_per_role_as_the_table_says(platform: PlatformFactory) -> None:
    async with platform(plugins="none") as p:
        service: CaseService = p.client.app.state.cases
        worker = await p.user("grid_worker", grid_ids=(1,))
        other_worker = await p.user("grid_worker", grid_ids=(1,))
        async with p.database.session() as session:
            main = await service.create(session, title="main", category="general", severity="low", reporter="test")
        outcomes: list[tuple[str, str, str, str]] = []
        for action in TRANSITIONS:
            for source in STATUSES:
                for role in ROLES:
                    caller = Principal("user", worker.id if role == "grid_worker" else 10_000, role, role,
                                       p.authorizer.roles[role])  # fmt: skip
                    async with p.database.session() as session:
                        case = await service.create(session, title="t", category="general", severity="low",
                                                    reporter="test", grid_id=1)  # fmt: skip
                        case.status, case.assignee_id = source, worker.id
                        try:
                            await service.transition(session, case, action, caller, assignee_id=other_worker.id,
                                                     main_case_id=main.id)  # fmt: skip
                            outcome = "allowed"
                        except InputError as exc:
                            outcome = f"{exc.status}"
                        except Forbidden:
                            outcome = "403"
                        await session.rollback()
                    outcomes.append((action, source, role, outcome))
    for action, source, role, outcome in outcomes:
        step = TRANSITIONS[action]
        if source not in step.sources:
            expected = "409"
        elif step.permission not in p.authorizer.roles[role]:
            expected = "403"
        else:
            expected = "allowed"
        assert outcome == expected, (action, source, role)
    allowed = {(a, r) for a, s, r, o in outcomes if o == "allowed"}
    assert ("accept", "commander") in allowed and ("accept", "supervisor") not in allowed
    assert ("close", "supervisor") in allowed and ("close", "commander") not in allowed
    assert ("resolve", "grid_worker") in allowed and ("resolve", "viewer") not in allowed


async def test_only_the_assignee_may_work_on_a_case(platform: PlatformFactory) -> None:
    async with platform(plugins="none") as p:
        service: CaseService = p.client.app.state.cases
        assignee, colleague = await p.user("grid_worker", (1,)), await p.user("grid_worker", (1,))
        viewer = await p.user("viewer")
        as_colleague = Principal(
            "user", colleague.id, colleague.username, "grid_worker", p.authorizer.roles["grid_worker"]
        )
        async with p.database.session() as session:
            case = await service.create(session, title="t", category="general", severity="low", reporter="t")
            case.status, case.assignee_id = "dispatched", assignee.id
            with pytest.raises(Forbidden, match="only the case's assignee"):
                await service.transition(session, case, "start", as_colleague)
            with pytest.raises(InputError) as missing:
                await service.transition(session, case, "dispatch", _admin(p), assignee_id=None)
            with pytest.raises(InputError) as cannot:
                await service.transition(session, case, "dispatch", _admin(p), assignee_id=viewer.id)
    assert missing.value.field == "assignee_id"
    assert cannot.value.field == "assignee_id" and "cannot handle cases" in cannot.value.message


def _admin(p: Platform) -> Principal:
    return Principal("user", 1, "admin", "admin", p.authorizer.roles["admin"])


# -- numbers ---------------------------------------------------------------------------------------------


async def test_concurrent_creation_gives_unique_consecutive_numbers(
    platform: PlatformFactory, backend: dict[str, Any]
) -> None:
    async with platform(plugins="none", **backend) as p:
        now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai

        async def one() -> str:
            for attempt in range(20):
                try:
                    async with p.database.session() as session:
                        return await next_case_number(session, now, SHANGHAI)
                except Exception:  # SQLite answers "database is locked" to a writer that waited too long
                    await asyncio.sleep(0.01 * (attempt + 1))
            raise AssertionError("no number after 20 tries")

        numbers = await asyncio.gather(*(one() for _ in range(40)))
        late = await one()
    assert len(set(numbers)) == 40
    assert sorted(numbers) == [f"SB-20261129-{n:04d}" for n in range(1, 41)]
    assert late == "SB-20261129-0041"


# -- indicators ------------------------------------------------------------------------------------------


async def test_indicators_on_a_hand_built_dataset(platform: PlatformFactory, backend: dict[str, Any]) -> None:
    start, end = local(2026, 11, 1), local(2026, 12, 1)
    h = timedelta(hours=1)
    # (category, created, accepted, first resolved, closed, resolve due, returned, rejected)
    cases = [
        ("roads", start + h, start + 2 * h, start + 5 * h, start + 6 * h, start + 10 * h, False, False),  # on time
        (
            "roads",
            start + h,
            start + 3 * h,
            start + 20 * h,
            start + 30 * h,
            start + 10 * h,
            True,
            False,
        ),  # late, rework
        ("roads", start + h, start + 4 * h, None, None, start + 10 * h, False, False),  # overdue
        ("waste", start - 48 * h, start - 47 * h, start + h, start + 2 * h, start, False, False),  # earlier cohort
        ("waste", start + h, None, None, None, None, False, True),  # rejected
        ("waste", end - h, end + h, end + 2 * h, end + 3 * h, end + 5 * h, False, False),  # accepted after the period
    ]
    async with platform(plugins="none", **backend) as p, p.database.session() as session:
        for n, (category, created, accepted, resolved, closed, due, returned, rejected) in enumerate(cases):
            case = Case(number=f"T-{n}", title="t", category=category, severity="low", reporter="t",
                        status="rejected" if rejected else ("closed" if closed else "in_progress"),
                        created_at=created, accepted_at=accepted, first_resolved_at=resolved, resolved_at=resolved,
                        closed_at=closed, resolve_due_at=due)  # fmt: skip
            session.add(case)
            await session.flush()
            if returned:
                session.add(CaseTransition(case_id=case.id, action="return", from_status="resolved",
                                           to_status="in_progress", actor="t", at=resolved + h))  # fmt: skip
        now = end + 30 * 24 * h
        result = await case_indicators(session, start, end, "category", now)
        empty = await case_indicators(session, local(2025, 1, 1), local(2025, 2, 1), "category", now)
        as_of_mid = await case_indicators(session, start, end, None, start + 8 * h)
    total = result["total"]
    assert (total["reported"], total["rejected"], total["registered"]) == (5, 1, 3)
    assert (total["closed"], total["closure_rate"]) == (2, round(2 / 3, 4))
    assert (total["on_time_closed"], total["on_time_closure_rate"]) == (1, round(1 / 3, 4))
    assert (total["resolved"], total["reworked"], total["rework_rate"]) == (2, 1, 0.5)
    assert total["mean_hours_to_accept"] == 2.0  # (1 + 2 + 3) / 3
    assert total["mean_hours_to_resolve"] == 10.0  # (3 + 17) / 2
    assert total["overdue"] == 1
    groups = {g["group"]: g for g in result["groups"]}
    assert groups["roads"]["registered"] == 3 and groups["waste"]["registered"] == 0
    assert groups["waste"]["closure_rate"] is None and groups["waste"]["reported"] == 2
    assert empty["total"]["registered"] == 0 and empty["total"]["closure_rate"] is None and empty["groups"] == []
    mid = as_of_mid["total"]  # seen at 08:00 on the first day: one closed, one resolved but open, one not yet
    assert (mid["closed"], mid["resolved"], mid["overdue"]) == (1, 1, 0)
