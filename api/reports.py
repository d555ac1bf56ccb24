"""Plugin reports (``register_reports``) served as JSON, CSV or XLSX under ``/api/v1/reports``."""

from __future__ import annotations

import io
from typing import Any, Literal

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath, FromQuery

from core.contracts import ReportSpec
from core.web import Caller, DbSession, requires

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _find(state: State, plugin: str, name: str) -> ReportSpec:
    for record in state.plugins.ok_plugins():
        if record.name == plugin:
            for spec in record.reports:
                if spec.name == name:
                    return spec
    raise NotFoundException(f"no report {plugin}/{name}; GET /api/v1/reports lists them")


@get("/api/v1/reports", tags=["platform"], summary="List reports", guards=[requires("reports:read")])
async def list_reports(state: State, caller: Caller) -> list[dict[str, Any]]:
    """The reports of the plugins whose data the caller may read, with their parameters."""
    return [
        {"plugin": record.name, "name": spec.name, "title": spec.title, "params": dict(spec.params)}
        for record in state.plugins.ok_plugins()
        for spec in record.reports
        if caller.can(spec.permission or f"{record.name}:read")
    ]


@get(
    "/api/v1/reports/{plugin:str}/{name:str}",
    tags=["platform"],
    summary="Run a report",
    guards=[requires("reports:read")],
)
async def run_report(
    request: Request[Any, Any, Any],
    state: State,
    caller: Caller,
    db_session: DbSession,
    plugin: FromPath[str],
    name: FromPath[str],
    format: FromQuery[Literal["json", "csv", "xlsx"]] = "json",
) -> Response[Any]:
    """Build the report with the query parameters (other than ``format``) and return it.

    The caller needs ``reports:read`` and the report's permission (default: its plugin's ``:read``).
    """
    spec = _find(state, plugin, name)
    needed = spec.permission or f"{plugin}:read"
    if not caller.can(needed):
        raise PermissionDeniedException(f"this needs the permission {needed}")
    params = {key: value for key, value in request.query_params.items() if key != "format"}
    frame = await spec.build(db_session, params)
    filename = f"{plugin}-{name}.{format}"
    if format == "csv":
        return Response(
            frame.to_csv(index=False),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    if format == "xlsx":
        buffer = io.BytesIO()
        frame.to_excel(buffer, index=False, sheet_name=name[:31], engine="openpyxl")
        return Response(
            buffer.getvalue(), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )
    body = '{"columns": %s, "rows": %s}' % (  # noqa: UP031  (pandas writes the JSON, NaN as null)
        frame.columns.to_series().to_json(orient="values", force_ascii=False),
        frame.to_json(orient="records", date_format="iso", force_ascii=False),
    )
    return Response(body, media_type="application/json")
