"""The one paginated envelope every list endpoint returns, the query that fills it, and its exports.

Every list takes ``?format=csv`` or ``?format=xlsx`` as well: :func:`paginate` then answers the
whole filtered list as a file instead of one page (CSV streamed row by row, in constant memory).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from advanced_alchemy.service import OffsetPagination
from litestar import Response
from litestar.response import Stream
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.exporting import XLSX_TYPE, csv_chunks, flat_all, xlsx_bytes

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
EXPORT_BATCH = 1000

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "OffsetPagination", "PageParams", "export", "paginate", "rows_response"]


@dataclass(frozen=True)
class PageParams:
    """``limit`` (1..500), ``offset`` (>= 0) and ``format`` (json, csv or xlsx) of a list request."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    format: Literal["json", "csv", "xlsx"] = "json"


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    page: PageParams,
    to_item: Callable[[Any], T] = lambda row: row,
) -> OffsetPagination[T]:
    """Run ``statement`` for one page and count its total: ``{items, total, limit, offset}``.

    ``statement`` selects ORM objects (one entity); ``to_item`` turns each into the response item.
    With ``page.format`` csv or xlsx, the answer is the whole list as a file (see :func:`export`).
    """
    if page.format != "json":
        return export(session, statement, to_item, page.format)  # type: ignore[return-value]
    total = await session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = (await session.scalars(statement.limit(page.limit).offset(page.offset))).all()
    return OffsetPagination(
        items=[to_item(row) for row in rows], limit=page.limit, offset=page.offset, total=total or 0
    )


def export(
    session: AsyncSession, statement: Select[Any], to_item: Callable[[Any], Any], fmt: str, name: str | None = None
) -> Response[Any]:
    """Every row of ``statement`` as a CSV stream or an XLSX file, read in batches on a session of its own
    (the request's session is closed before a streamed body is sent)."""
    bind = session.bind
    name = name or str(statement.column_descriptions[0]["name"]).lower()

    async def rows() -> AsyncIterator[dict[str, Any]]:
        async with AsyncSession(bind) as own:
            result = await own.stream_scalars(statement.execution_options(yield_per=EXPORT_BATCH))
            async for batch in result.partitions():  # one await per batch, not per row
                for item in flat_all([to_item(row) for row in batch]):
                    yield item

    return _file(rows(), fmt, name)


def rows_response(rows: Iterable[Any], fmt: str, name: str) -> Response[Any]:
    """A small in-memory list of rows (dicts or Structs) as a CSV or XLSX file."""

    async def flat_rows() -> AsyncIterator[dict[str, Any]]:
        for row in flat_all(list(rows)):
            yield row

    return _file(flat_rows(), fmt, name)


class FileStream(Stream):
    """A streamed file whose own media type wins over the route's (a list route's default is JSON)."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        """Keep this response's media type."""
        kwargs["media_type"] = self.media_type
        return super().to_asgi_response(*args, **kwargs)


def _file(rows: AsyncIterator[dict[str, Any]], fmt: str, name: str) -> Response[Any]:
    disposition = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    if fmt == "csv":
        return FileStream(csv_chunks(rows), media_type="text/csv; charset=utf-8", headers=disposition)

    async def workbook() -> AsyncIterator[bytes]:
        yield await xlsx_bytes(rows, name)

    return FileStream(workbook(), media_type=XLSX_TYPE, headers=disposition)
