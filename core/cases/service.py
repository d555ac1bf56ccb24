"""Creating, routing, moving and escalating cases, and notifying the people concerned."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.cases.models import Case, CaseTransition, Notification
from core.cases.numbers import next_case_number
from core.cases.sla import SlaPolicy, WorkCalendar
from core.cases.workflow import OPEN_STATUSES, TRANSITIONS
from core.contracts import EventType
from core.db import Database, utcnow
from core.errors import InputError
from core.events import SEVERITIES, EventRecord
from core.logs import get_logger
from core.security.models import User, UserGrid
from core.security.permissions import Authorizer
from core.security.principal import Principal

log = get_logger(__name__)

DEFAULT_SLA = SlaPolicy(accept=timedelta(hours=2), resolve=timedelta(hours=24))
SYSTEM = "system:routing"


class Forbidden(Exception):
    """The caller may not make this transition (403)."""


@dataclass(frozen=True)
class RoutingRule:
    """What an event type becomes: whether a case is made, of which category and severity, and its SLA."""

    creates_case: bool
    category: str
    severity: str
    sla: SlaPolicy
    auto_dispatch: bool = True


class CaseService:
    """The case workflow of the platform: one instance per process, shared by the API and the jobs."""

    def __init__(
        self,
        database: Database,
        authorizer: Authorizer,
        calendar: WorkCalendar,
        sla_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        routing_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        community_of: Callable[[int], int | None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``sla_overrides`` per category and ``routing_overrides`` per event type come from the settings."""
        self.database = database
        self.authorizer = authorizer
        self.calendar = calendar
        self.sla_overrides = dict(sla_overrides or {})
        self.routing_overrides = dict(routing_overrides or {})
        self.community_of = community_of
        self.clock = clock

    # -- policy -----------------------------------------------------------------------------------

    def sla_for(self, category: str, default: SlaPolicy = DEFAULT_SLA) -> SlaPolicy:
        """The SLA of ``category``: the settings' override, else ``default``."""
        override = self.sla_overrides.get(category)
        if not override:
            return default
        return SlaPolicy(
            accept=timedelta(hours=float(override.get("accept_hours", default.accept.total_seconds() / 3600))),
            resolve=timedelta(hours=float(override.get("resolve_hours", default.resolve.total_seconds() / 3600))),
            working_hours=bool(override.get("working_hours", default.working_hours)),
        )

    def rule_for(self, event_type: EventType) -> RoutingRule:
        """The routing rule of an event type: its defaults, overridden by ``[routing."<type>"]``."""
        override = self.routing_overrides.get(event_type.type, {})
        category = str(override.get("category", event_type.case_category))
        default_sla = SlaPolicy(event_type.accept_sla, event_type.sla, event_type.working_hours)
        return RoutingRule(
            creates_case=bool(override.get("create_case", event_type.creates_case)),
            category=category,
            severity=str(override.get("severity", event_type.severity)),
            sla=self.sla_for(category, default_sla),
            auto_dispatch=bool(override.get("auto_dispatch", True)),
        )

    # -- creation and routing ---------------------------------------------------------------------

    async def create(
        self,
        session: AsyncSession,
        *,
        title: str,
        category: str,
        severity: str,
        reporter: str,
        description: str | None = None,
        grid_id: int | None = None,
        lon: float | None = None,
        lat: float | None = None,
        event: EventRecord | None = None,
        sla: SlaPolicy | None = None,
    ) -> Case:
        """A new case in status ``reported``, numbered, with its accept deadline."""
        if severity not in SEVERITIES:
            raise InputError("severity", f"expected one of {', '.join(SEVERITIES)}")
        if not title.strip():
            raise InputError("title", "expected a short description of the problem")
        now = self.clock()
        policy = sla or self.sla_for(category)
        case = Case(
            number=await next_case_number(session, now, self.calendar.tz),
            title=title.strip()[:300],
            description=description,
            category=category,
            severity=severity,
            status="reported",
            event_type=event.type if event else None,
            event_id=event.id if event else None,
            grid_id=grid_id,
            community_id=self.community_of(grid_id) if grid_id is not None and self.community_of else None,
            lon=lon,
            lat=lat,
            reporter=reporter,
            created_at=now,
            accept_due_at=self.calendar.due(now, policy.accept, policy.working_hours),
            working_hours=policy.working_hours,
        )
        session.add(case)
        await session.flush()
        session.add(CaseTransition(case_id=case.id, action="report", from_status=None, to_status="reported",
                                   actor=reporter, at=now))  # fmt: skip
        return case

    async def route_event(self, session: AsyncSession, record: EventRecord, event_type: EventType) -> int | None:
        """Make the case of a new event and send it to the worker of its grid (else the command-centre queue)."""
        rule = self.rule_for(event_type)
        if not rule.creates_case:
            return None
        case = await self.create(
            session,
            title=record.title or event_type.title,
            category=rule.category,
            severity=record.severity if record.severity in SEVERITIES else rule.severity,
            reporter=f"event:{record.source}"[:160],
            description=None,
            grid_id=record.grid_id,
            lon=record.lon,
            lat=record.lat,
            event=record,
            sla=rule.sla,
        )
        worker = await self.worker_for(session, record.grid_id) if rule.auto_dispatch else None
        if worker is not None:
            system = Principal("system", 0, "routing", "admin", self.authorizer.roles.get("admin", frozenset()))
            await self.transition(session, case, "accept", system, comment="routed automatically", sla=rule.sla)
            await self.transition(
                session, case, "dispatch", system, assignee_id=worker.id, comment="worker of the grid"
            )
        else:
            await self.notify_role(session, "commander", "case_reported", f"{case.number} {case.title}", case)
        return case.id

    async def worker_for(self, session: AsyncSession, grid_id: int | None) -> User | None:
        """The active grid worker of ``grid_id`` with the fewest open cases (then the lowest id)."""
        if grid_id is None:
            return None
        open_cases = (
            select(func.count(Case.id))
            .where(Case.assignee_id == User.id, Case.status.in_(OPEN_STATUSES))
            .scalar_subquery()
        )
        return await session.scalar(
            select(User)
            .join(UserGrid, UserGrid.user_id == User.id)
            .where(UserGrid.grid_id == grid_id, User.active.is_(True), User.role == "grid_worker")
            .order_by(open_cases, User.id)
            .limit(1)
        )

    # -- transitions ------------------------------------------------------------------------------

    async def transition(
        self,
        session: AsyncSession,
        case: Case,
        action: str,
        caller: Principal,
        *,
        comment: str | None = None,
        assignee_id: int | None = None,
        main_case_id: int | None = None,
        sla: SlaPolicy | None = None,
    ) -> CaseTransition:
        """Apply ``action`` to ``case`` as ``caller``, record it, set due times and notify.

        Raises :class:`InputError` (422/409, naming the field) or :class:`Forbidden`.
        """
        step = TRANSITIONS.get(action)
        if step is None:
            raise InputError("action", f"expected one of {', '.join(TRANSITIONS)}")
        if case.status not in step.sources:
            raise InputError("action", f"cannot {action} a case that is {case.status}", status=409)
        if not caller.can(step.permission):
            raise Forbidden(f"{action} needs the permission {step.permission}")
        if (
            step.handler_only
            and caller.role != "admin"
            and not (caller.kind == "user" and caller.id == case.assignee_id)
        ):
            raise Forbidden(f"only the case's assignee may {action} it")
        now = self.clock()
        notify: list[tuple[int, str]] = []
        if step.needs_assignee:
            assignee = await self._assignee(session, assignee_id)
            case.assignee_id = assignee.id
            case.dispatched_at = now
            notify.append((assignee.id, "case_dispatched"))
        if step.needs_main_case:
            case.main_case_id = await self._main_case(session, case, main_case_id)
        if action == "accept":
            case.accepted_at = now
            policy = sla or self.sla_for(case.category)
            case.working_hours = policy.working_hours
            case.resolve_due_at = self.calendar.due(now, policy.resolve, policy.working_hours)
        elif action == "resolve":
            case.resolved_at = now
            case.first_resolved_at = case.first_resolved_at or now
            await self.notify_role(session, "supervisor", "case_resolved", f"{case.number} resolved: verify it", case)
        elif action == "return":
            case.rework_count += 1
            case.resolved_at = None
            if case.assignee_id:
                notify.append((case.assignee_id, "case_returned"))
        elif action == "close":
            case.closed_at = now
        from_status, case.status = case.status, step.target
        history = CaseTransition(
            case_id=case.id, action=action, from_status=from_status, to_status=step.target, actor=caller.label,
            comment=comment, assignee_id=case.assignee_id if step.needs_assignee else None, at=now,
        )  # fmt: skip
        session.add(history)
        for user_id, kind in notify:
            session.add(Notification(user_id=user_id, kind=kind, title=f"{case.number} {case.title}", case_id=case.id,
                                     body=comment))  # fmt: skip
        await session.flush()
        return history

    async def _assignee(self, session: AsyncSession, assignee_id: int | None) -> User:
        if assignee_id is None:
            raise InputError("assignee_id", "dispatch needs the id of the user who will handle the case")
        user = await session.get(User, assignee_id)
        if user is None or not user.active:
            raise InputError("assignee_id", f"no active user {assignee_id}")
        if "cases:handle" not in self.authorizer.roles.get(user.role, frozenset()):
            raise InputError("assignee_id", f"{user.username} ({user.role}) cannot handle cases")
        return user

    async def _main_case(self, session: AsyncSession, case: Case, main_case_id: int | None) -> int:
        if main_case_id is None or main_case_id == case.id:
            raise InputError("main_case_id", "link needs the id of another case this one duplicates")
        main = await session.get(Case, main_case_id)
        if main is None or main.status == "duplicate":
            raise InputError("main_case_id", f"no case {main_case_id} to link to (a duplicate cannot be the main case)")
        return main.id

    # -- notifications ----------------------------------------------------------------------------

    async def notify_role(self, session: AsyncSession, role: str, kind: str, title: str, case: Case) -> int:
        """Put a notification in the inbox of every active user of ``role``; returns how many."""
        users = list(await session.scalars(select(User.id).where(User.role == role, User.active.is_(True))))
        for user_id in users:
            session.add(Notification(user_id=user_id, kind=kind, title=title, case_id=case.id))
        return len(users)

    # -- overdue and escalation -------------------------------------------------------------------

    @staticmethod
    def overdue(case: Case, now: datetime) -> bool:
        """Whether the case has missed its current deadline (accept while reported, else resolve)."""
        if case.status in ("reported",):
            return case.accept_due_at is not None and now > case.accept_due_at
        if case.status in ("accepted", "dispatched", "in_progress"):
            return case.resolve_due_at is not None and now > case.resolve_due_at
        return False

    async def escalate_overdue(self) -> dict[str, int]:
        """Raise the severity of each newly overdue case one step and notify supervisors and the assignee.

        A case is escalated once per deadline it misses (level 1 for accept, 2 for resolve).
        """
        now = self.clock()
        escalated = 0
        async with self.database.session() as session:
            candidates = await session.scalars(
                select(Case).where(Case.status.in_(("reported", "accepted", "dispatched", "in_progress")))
            )
            for case in candidates:
                if not self.overdue(case, now):
                    continue
                level = 1 if case.status == "reported" else 2
                if case.escalation_level >= level:
                    continue
                case.escalation_level = level
                index = SEVERITIES.index(case.severity) if case.severity in SEVERITIES else 1
                case.severity = SEVERITIES[min(index + 1, len(SEVERITIES) - 1)]
                title = f"{case.number} is overdue ({'accept' if level == 1 else 'resolve'}): {case.title}"
                await self.notify_role(session, "supervisor", "case_overdue", title, case)
                if case.assignee_id:
                    session.add(Notification(user_id=case.assignee_id, kind="case_overdue", title=title,
                                             case_id=case.id))  # fmt: skip
                escalated += 1
        if escalated:
            log.info("cases_escalated", count=escalated)
        return {"escalated": escalated}
