"""RFC 9457 problem+json for every error, with the offending fields named."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from advanced_alchemy.exceptions import (
    AdvancedAlchemyError,
    DuplicateKeyError,
    IntegrityError,
    NotFoundError,
)
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, ValidationException
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.exc import OperationalError

from core.errors import InputError
from core.logs import get_logger

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(
    request: Request[Any, Any, Any],
    status: int,
    detail: str | None = None,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    """A problem+json response: ``type``, ``title``, ``status``, ``detail``, ``instance`` and ``errors``."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id:
        body["request_id"] = request_id
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")


def _field_errors(extra: Any) -> list[dict[str, Any]]:
    items = extra if isinstance(extra, list) else [extra] if isinstance(extra, dict) else []
    out = []
    for item in items:
        if isinstance(item, dict):
            message = str(item.get("message", "invalid value"))
            unknown = _UNKNOWN_FIELD.search(message)
            out.append(
                {
                    "field": unknown.group(1) if unknown else item.get("key") or item.get("field") or "body",
                    "source": item.get("source", "body"),
                    "message": message,
                }
            )
    return out


def handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Invalid input: 422 (or the status the raiser chose, e.g. 409) with one entry per offending field."""
    errors = _field_errors(exc.extra)
    fields = ", ".join(sorted({e["field"] for e in errors})) or "request"
    status = 422 if exc.status_code == 400 else exc.status_code
    return problem(request, status, f"invalid {fields}", errors=errors)


def handle_input(request: Request[Any, Any, Any], exc: InputError) -> Response[Any]:
    """A rule of the core broken by the input: 422 (or 409) naming the field."""
    errors = [{"field": exc.field, "source": "body", "message": exc.message}]
    return problem(request, exc.status, f"invalid {exc.field}", errors=errors)


def handle_unauthorized(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """401 with the scheme to use."""
    return problem(request, 401, exc.detail, headers={"WWW-Authenticate": 'Bearer realm="streetbrain"'})


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Any HTTP error raised by a handler or by Litestar itself."""
    detail = exc.detail if exc.detail and exc.detail != HTTPStatus(exc.status_code).phrase else None
    return problem(request, exc.status_code, detail, errors=_field_errors(exc.extra), headers=exc.headers)


def handle_not_found(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A missing resource or route."""
    detail = getattr(exc, "detail", None) or str(exc) or None
    return problem(request, 404, detail if detail != "Not Found" else None)


def handle_conflict(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A write that breaks a unique or foreign-key constraint."""
    log.info("write_conflict", path=request.url.path, error=str(exc).splitlines()[0])
    return problem(request, 409, "the write conflicts with existing data (a duplicate or a missing reference)")


def handle_database_down(request: Request[Any, Any, Any], exc: OperationalError) -> Response[Any]:
    """The database cannot be reached or is locked."""
    log.error("database_error", path=request.url.path, error=str(exc.orig))
    return problem(request, 503, "the database is unavailable; retry later", headers={"Retry-After": "5"})


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Anything else: log it with the request id, tell the client nothing internal."""
    log.exception("unhandled_error", path=request.url.path, method=request.method)
    return problem(request, 500, "internal error; the request id identifies it in the server log")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ValidationException: handle_validation,
    InputError: handle_input,
    NotAuthorizedException: handle_unauthorized,
    NotFoundException: handle_not_found,
    NotFoundError: handle_not_found,
    DuplicateKeyError: handle_conflict,
    IntegrityError: handle_conflict,
    SAIntegrityError: handle_conflict,
    OperationalError: handle_database_down,
    HTTPException: handle_http,
    AdvancedAlchemyError: handle_unexpected,
    Exception: handle_unexpected,
}
