"""Cases under /api/v1/cases: open, list, move through the loop, history, comments, attachments,
indicators; and the caller's notification inbox under /api/v1/notifications."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from litestar import get, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import Body, FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import File
from sqlalchemy import Select, or_, select

from core.cases.indicators import case_indicators
from core.cases.models import Case, CaseAttachment, CaseComment, CaseTransition, Notification
from core.cases.service import CaseService, Forbidden
from core.cases.workflow import OPEN_STATUSES, STATUSES, allowed_actions
from core.db import utcnow
from core.errors import InputError
from core.pagination import OffsetPagination, paginate, rows_response
from core.security.principal import Principal
from core.web import Caller, DbSession, Page, requires

ATTACHMENT_TYPES = {
    "image/jpeg": b"\xff\xd8\xff",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "application/pdf": b"%PDF-",
}


class CaseIn(msgspec.Struct, forbid_unknown_fields=True):
    """A case opened by hand (from a hotline call, a walk-in, an inspection)."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    category: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] = "general"
    severity: str = "medium"
    description: str | None = None
    grid_id: int | None = None
    lon: float | None = None
    lat: float | None = None


class TransitionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A step of the loop: ``action`` is accept, reject, link, dispatch, start, resolve, return or close."""

    action: str
    comment: Annotated[str, msgspec.Meta(max_length=4000)] | None = None
    assignee_id: int | None = None
    main_case_id: int | None = None


class CommentIn(msgspec.Struct, forbid_unknown_fields=True):
    """A comment."""

    body: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class CaseOut(msgspec.Struct):
    """A case with its deadlines and what may happen to it next."""

    id: int
    number: str
    title: str
    description: str | None
    category: str
    severity: str
    status: str
    event_type: str | None
    event_id: int | None
    grid_id: int | None
    community_id: int | None
    lon: float | None
    lat: float | None
    reporter: str
    assignee_id: int | None
    main_case_id: int | None
    created_at: datetime
    accepted_at: datetime | None
    dispatched_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    accept_due_at: datetime | None
    resolve_due_at: datetime | None
    overdue: bool
    escalation_level: int
    rework_count: int
    next_actions: list[str]


class TransitionOut(msgspec.Struct):
    """A step of a case's history."""

    id: int
    action: str
    from_status: str | None
    to_status: str
    actor: str
    comment: str | None
    assignee_id: int | None
    at: datetime


class CommentOut(msgspec.Struct):
    """A comment."""

    id: int
    author: str
    body: str
    at: datetime


class AttachmentOut(msgspec.Struct):
    """An attachment (download it at ``/api/v1/cases/{id}/attachments/{attachment_id}``)."""

    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    at: datetime


_CASE_COLUMNS = tuple(field for field in CaseOut.__struct_fields__ if field not in ("overdue", "next_actions"))


def case_out(case: Case, now: datetime | None = None) -> CaseOut:
    """The API view of a case."""
    values = {field: getattr(case, field) for field in _CASE_COLUMNS}
    return CaseOut(
        **values, overdue=CaseService.overdue(case, now or utcnow()), next_actions=allowed_actions(case.status)
    )


def scoped(statement: Select[Any], caller: Principal) -> Select[Any]:
    """Cases the caller may see: a grid worker's grids, and whatever is assigned to them."""
    if caller.grid_ids is None:
        return statement
    return statement.where(or_(Case.grid_id.in_(sorted(caller.grid_ids)), Case.assignee_id == caller.id))


async def visible_case(db_session: DbSession, caller: Principal, case_id: int) -> Case:
    """The case, or 404 when it does not exist or is outside the caller's grids."""
    case = await db_session.scalar(scoped(select(Case).where(Case.id == case_id), caller))
    if case is None:
        raise NotFoundException(f"no case {case_id}")
    return case


@post("/api/v1/cases", tags=["cases"], summary="Open a case", guards=[requires("cases:report")])
async def open_case(db_session: DbSession, state: State, caller: Caller, data: JSONBody[CaseIn]) -> CaseOut:
    """Open a case by hand; it waits in the command-centre queue for acceptance."""
    service: CaseService = state.cases
    grid_id = data.grid_id
    if grid_id is None and data.lon is not None and data.lat is not None:
        grid_id = state.events.locate_grid(data.lon, data.lat) if state.events.locate_grid else None
    case = await service.create(
        db_session, title=data.title, category=data.category, severity=data.severity, reporter=caller.label,
        description=data.description, grid_id=grid_id, lon=data.lon, lat=data.lat,
    )  # fmt: skip
    return case_out(case)


@get("/api/v1/cases", tags=["cases"], summary="List cases", guards=[requires("cases:read")])
async def list_cases(
    db_session: DbSession,
    caller: Caller,
    page: Page,
    status: FromQuery[str | None] = None,
    category: FromQuery[str | None] = None,
    assignee_id: FromQuery[int | None] = None,
    grid_id: FromQuery[int | None] = None,
    open_only: FromQuery[bool] = False,
    overdue: FromQuery[bool] = False,
) -> OffsetPagination[CaseOut]:
    """Cases, newest first, filtered; ``overdue=true`` keeps those past their current deadline now."""
    if status is not None and status not in STATUSES:
        raise InputError("status", f"expected one of {', '.join(STATUSES)}")
    query = scoped(select(Case).order_by(Case.id.desc()), caller)
    for column, value in ((Case.status, status), (Case.category, category), (Case.assignee_id, assignee_id),
                          (Case.grid_id, grid_id)):  # fmt: skip
        if value is not None:
            query = query.where(column == value)
    if open_only:
        query = query.where(Case.status.in_(OPEN_STATUSES))
    if overdue:
        now = utcnow()
        query = query.where(
            or_(
                (Case.status == "reported") & (Case.accept_due_at < now),
                Case.status.in_(("accepted", "dispatched", "in_progress")) & (Case.resolve_due_at < now),
            )
        )
    return await paginate(db_session, query, page, case_out)


@get("/api/v1/cases/{case_id:int}", tags=["cases"], summary="One case", guards=[requires("cases:read")])
async def get_case(db_session: DbSession, caller: Caller, case_id: FromPath[int]) -> CaseOut:
    """The case (404 for a grid worker when it is outside their grids and not assigned to them)."""
    return case_out(await visible_case(db_session, caller, case_id))


@post(
    "/api/v1/cases/{case_id:int}/transitions",
    tags=["cases"],
    summary="Move a case through the loop",
    guards=[requires("cases:read")],
    status_code=200,
)
async def transition_case(
    db_session: DbSession, state: State, caller: Caller, case_id: FromPath[int], data: JSONBody[TransitionIn]
) -> CaseOut:
    """Apply an action; 409 when the case's status does not allow it, 403 when the caller may not make it.
    Each action's permission is in core/cases/workflow.py."""
    case = await visible_case(db_session, caller, case_id)
    try:
        await state.cases.transition(
            db_session, case, data.action, caller, comment=data.comment, assignee_id=data.assignee_id,
            main_case_id=data.main_case_id,
        )  # fmt: skip
    except Forbidden as exc:
        raise PermissionDeniedException(str(exc)) from None
    return case_out(case)


@get("/api/v1/cases/{case_id:int}/history", tags=["cases"], summary="A case's history", guards=[requires("cases:read")])
async def case_history(db_session: DbSession, caller: Caller, case_id: FromPath[int]) -> list[TransitionOut]:
    """Every step, oldest first."""
    await visible_case(db_session, caller, case_id)
    rows = await db_session.scalars(
        select(CaseTransition).where(CaseTransition.case_id == case_id).order_by(CaseTransition.id)
    )
    return [msgspec.convert(row, TransitionOut, from_attributes=True) for row in rows]


@post("/api/v1/cases/{case_id:int}/comments", tags=["cases"], summary="Comment", guards=[requires("cases:comment")])
async def add_comment(
    db_session: DbSession, caller: Caller, case_id: FromPath[int], data: JSONBody[CommentIn]
) -> CommentOut:
    """Add a comment to a case."""
    await visible_case(db_session, caller, case_id)
    comment = CaseComment(case_id=case_id, author=caller.label, body=data.body)
    db_session.add(comment)
    await db_session.flush()
    return msgspec.convert(comment, CommentOut, from_attributes=True)


@get("/api/v1/cases/{case_id:int}/comments", tags=["cases"], summary="Comments", guards=[requires("cases:read")])
async def list_comments(db_session: DbSession, caller: Caller, case_id: FromPath[int]) -> list[CommentOut]:
    """A case's comments, oldest first."""
    await visible_case(db_session, caller, case_id)
    rows = await db_session.scalars(select(CaseComment).where(CaseComment.case_id == case_id).order_by(CaseComment.id))
    return [msgspec.convert(row, CommentOut, from_attributes=True) for row in rows]


def _media_path(state: State, sha256: str) -> Path:
    return Path(state.settings.data_dir) / "media" / sha256[:2] / sha256


@post(
    "/api/v1/cases/{case_id:int}/attachments",
    tags=["cases"],
    summary="Attach a photo or file",
    guards=[requires("cases:comment")],
)
async def add_attachment(
    db_session: DbSession,
    state: State,
    caller: Caller,
    case_id: FromPath[int],
    data: Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> AttachmentOut:
    """Upload a JPEG, PNG or PDF (multipart field ``data``), checked by its first bytes and size-limited;
    stored once under the data dir by the SHA-256 of its content."""
    await visible_case(db_session, caller, case_id)
    content = await data.read()
    limit = state.settings.attachment_max_bytes
    if len(content) > limit:
        raise InputError("data", f"the file is larger than {limit} bytes", status=413)
    kind = next((t for t, magic in ATTACHMENT_TYPES.items() if content.startswith(magic)), None)
    if kind is None:
        raise InputError("data", f"expected one of {', '.join(ATTACHMENT_TYPES)} (checked by content)", status=415)
    digest = hashlib.sha256(content).hexdigest()
    path = _media_path(state, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(content)
        partial.replace(path)
    filename = Path(data.filename or "upload").name[:255]
    attachment = CaseAttachment(case_id=case_id, sha256=digest, filename=filename, content_type=kind, size=len(content),
                                uploaded_by=caller.label)  # fmt: skip
    db_session.add(attachment)
    await db_session.flush()
    return msgspec.convert(attachment, AttachmentOut, from_attributes=True)


@get("/api/v1/cases/{case_id:int}/attachments", tags=["cases"], summary="Attachments", guards=[requires("cases:read")])
async def list_attachments(db_session: DbSession, caller: Caller, case_id: FromPath[int]) -> list[AttachmentOut]:
    """A case's attachments."""
    await visible_case(db_session, caller, case_id)
    rows = await db_session.scalars(
        select(CaseAttachment).where(CaseAttachment.case_id == case_id).order_by(CaseAttachment.id)
    )
    return [msgspec.convert(row, AttachmentOut, from_attributes=True) for row in rows]


@get(
    "/api/v1/cases/{case_id:int}/attachments/{attachment_id:int}",
    tags=["cases"],
    summary="Download an attachment",
    guards=[requires("cases:read")],
)
async def download_attachment(
    db_session: DbSession, state: State, caller: Caller, case_id: FromPath[int], attachment_id: FromPath[int]
) -> File:
    """The file, to callers who may see the case."""
    await visible_case(db_session, caller, case_id)
    attachment = await db_session.scalar(
        select(CaseAttachment).where(CaseAttachment.id == attachment_id, CaseAttachment.case_id == case_id)
    )
    if attachment is None:
        raise NotFoundException(f"no attachment {attachment_id} on case {case_id}")
    return File(
        path=_media_path(state, attachment.sha256), filename=attachment.filename, media_type=attachment.content_type
    )


@get("/api/v1/cases/indicators", tags=["cases"], summary="Case indicators", guards=[requires("cases:read")])
async def indicators(
    db_session: DbSession,
    start: Annotated[datetime, QueryParameter(name="from", description="Start of the period (ISO, with offset)")],
    end: Annotated[datetime | None, QueryParameter(name="to", description="End of the period (default: now)")] = None,
    group_by: FromQuery[Literal["grid", "community", "category", "assignee"] | None] = None,
    format: FromQuery[Literal["json", "csv", "xlsx"]] = "json",
) -> Any:
    """Closure rate, on-time closure rate, rework rate, mean hours to accept and to resolve, overdue
    count, for the cases accepted in [from, to), in total and per group (formulas in docs/cases.md).
    ``format=csv|xlsx`` gives the groups (or the total) as a file."""
    now = utcnow()
    end = end or now
    if start.tzinfo is None or end.tzinfo is None:
        raise InputError("from", "expected times with their offset, e.g. 2026-11-01T00:00:00+08:00")
    if start >= end:
        raise InputError("to", "must be after from")
    result = await case_indicators(db_session, start, end, group_by, now)
    if format == "json":
        return result
    rows = result["groups"] if group_by else [{"group": "total", **result["total"]}]
    return rows_response(rows, format, "case-indicators")


@get("/api/v1/notifications", tags=["cases"], summary="My notifications", guards=[requires("inbox:read")])
async def my_notifications(
    db_session: DbSession, caller: Caller, page: Page, unread: FromQuery[bool] = False
) -> OffsetPagination[dict[str, Any]]:
    """The caller's inbox, newest first."""
    query = select(Notification).where(Notification.user_id == caller.id).order_by(Notification.id.desc())
    if caller.kind != "user":
        query = query.where(Notification.id < 0)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    return await paginate(
        db_session,
        query,
        page,
        lambda n: {"id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "case_id": n.case_id,
                   "created_at": n.created_at, "read_at": n.read_at},
    )  # fmt: skip


@post(
    "/api/v1/notifications/{notification_id:int}/read",
    tags=["cases"],
    summary="Mark read",
    guards=[requires("inbox:read")],
    status_code=204,
)
async def mark_read(db_session: DbSession, caller: Caller, notification_id: FromPath[int]) -> None:
    """Mark one of the caller's notifications read."""
    notification = await db_session.get(Notification, notification_id)
    if notification is None or notification.user_id != caller.id or caller.kind != "user":
        raise NotFoundException(f"no notification {notification_id}")
    notification.read_at = notification.read_at or utcnow()


CASE_ROUTES = [
    open_case, list_cases, get_case, transition_case, case_history, add_comment, list_comments, add_attachment,
    list_attachments, download_attachment, indicators, my_notifications, mark_read,
]  # fmt: skip
