"""Point -> grid: an in-memory index of the active grids, and the live copy each process keeps.

:class:`AreaIndex` is an immutable snapshot. ``grid_for(lon, lat)`` (WGS84) answers through a
spatial hash: the plane is cut into cells about a third of a typical grid wide; a cell that lies
whole inside one grid answers at once, any other lists the grids that meet it and the point is
tested against those candidates' prepared shapely polygons. ``grids_for(lons, lats)`` answers
many points at once through a shapely STRtree (vectorised). Both give the same answer:

**The edge rule.** A point belongs to the grid whose polygon contains it, boundary included; when
several do (a point on an edge or corner shared by neighbouring grids, or inside grids that
overlap), the grid with the **lowest id** wins. Holes belong to no grid (unless another grid
fills them). Inactive grids are not looked up, but ``community_for_grid`` and ``street_for_grid``
still know them, so records located before a grid was retired still group by community.

:class:`LiveAreaIndex` is what ``app.state.areas`` holds: it answers from its current snapshot and
rebuilds it (in a worker thread) when the database's area revision moves: right after an import
through this process's API, and otherwise within ``poll_seconds`` (10 s) for changes made by other
processes. ``await areas.fresh()`` checks the revision first, for a caller that cannot wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.areas.geojson import to_shape
from core.areas.models import Community, Grid, Street
from core.areas.store import current_revision
from core.db import Database
from core.logs import get_logger

log = get_logger(__name__)

CELLS_PER_GRID_SIDE = 3  # a cell is a third of a typical grid: most cells then lie inside one grid
MAX_CELLS_PER_GRID_ON_AVERAGE = 24  # coarser cells where grids differ wildly in size
DEFAULT_POLL_SECONDS = 10.0


@dataclass(frozen=True)
class AreaRef:
    """A street or community: id, code and name."""

    id: int
    code: str
    name: str


@dataclass(frozen=True)
class GridRef:
    """A grid with its community and street ids."""

    id: int
    code: str
    name: str
    community_id: int
    street_id: int
    active: bool


@dataclass(frozen=True)
class GridShape:
    """What the index needs of a grid: its reference and its WGS84 shapely geometry (active grids only)."""

    ref: GridRef
    shape: BaseGeometry | None


class AreaIndex:
    """An immutable point-to-grid index, with the grid -> community -> street tree."""

    def __init__(
        self,
        grids: Iterable[GridShape],
        communities: Iterable[AreaRef] = (),
        streets: Iterable[AreaRef] = (),
        revision: int = 0,
    ) -> None:
        every = sorted(grids, key=lambda g: g.ref.id)
        self.revision = revision
        self._grids = {g.ref.id: g.ref for g in every}
        self._communities = {c.id: c for c in communities}
        self._streets = {s.id: s for s in streets}
        located = [g for g in every if g.ref.active and g.shape is not None]
        self._ids: list[int] = [g.ref.id for g in located]  # ascending: a lower position is a lower id
        self._shapes = np.array([g.shape for g in located], dtype=object)
        shapely.prepare(self._shapes)
        self._geoms: list[BaseGeometry] = list(self._shapes)
        self._tree = shapely.STRtree(self._shapes)
        self._build_cells()

    @classmethod
    def from_geometries(cls, geometries: Sequence[tuple[int, BaseGeometry]], revision: int = 0) -> AreaIndex:
        """An index of bare ``(grid id, shapely geometry)`` pairs (no communities): tests and benchmarks."""
        refs = (GridShape(GridRef(gid, str(gid), str(gid), 0, 0, True), geom) for gid, geom in geometries)
        return cls(refs, revision=revision)

    def _build_cells(self) -> None:
        """Cut the plane into cells and list, per cell, the grids that meet it (see the module docstring).

        A cell whose lowest-id grid covers it whole answers without any point-in-polygon test. A
        grid is listed in a cell only when its polygon meets the cell's box enlarged by a hair, so
        rounding in the cell arithmetic can never hide a grid from a point it contains.
        """
        self._cells: dict[tuple[int, int], int | tuple[int, ...]] = {}
        self._origin, self._cell = (0.0, 0.0), (1.0, 1.0)
        if not self._ids:
            return
        box = shapely.bounds(self._shapes)
        cell_w = float(np.median(box[:, 2] - box[:, 0])) / CELLS_PER_GRID_SIDE or 1e-4
        cell_h = float(np.median(box[:, 3] - box[:, 1])) / CELLS_PER_GRID_SIDE or 1e-4
        self._origin = ox, oy = float(box[:, 0].min()), float(box[:, 1].min())
        while True:  # grow the cells until each grid meets a handful of them on average
            columns = np.floor((box[:, 2] - ox) / cell_w) - np.floor((box[:, 0] - ox) / cell_w) + 1
            rows = np.floor((box[:, 3] - oy) / cell_h) - np.floor((box[:, 1] - oy) / cell_h) + 1
            if (columns * rows).sum() <= MAX_CELLS_PER_GRID_ON_AVERAGE * len(self._ids):
                break
            cell_w, cell_h = cell_w * 2, cell_h * 2
        self._cell = (cell_w, cell_h)
        positions, keys = [], []
        for position, (x0, y0, x1, y1) in enumerate(box.tolist()):
            (ix0, iy0), (ix1, iy1) = self._key(x0, y0), self._key(x1, y1)
            for ix in range(ix0, ix1 + 1):
                for iy in range(iy0, iy1 + 1):
                    positions.append(position)
                    keys.append((ix, iy))
        grid_at = np.array(positions)
        cx, cy = np.array([k[0] for k in keys], dtype=float), np.array([k[1] for k in keys], dtype=float)
        hair_w, hair_h = cell_w * 1e-6, cell_h * 1e-6
        boxes = shapely.box(
            ox + cx * cell_w - hair_w,
            oy + cy * cell_h - hair_h,
            ox + (cx + 1) * cell_w + hair_w,
            oy + (cy + 1) * cell_h + hair_h,
        )
        meets = shapely.intersects(self._shapes[grid_at], boxes)
        covers = shapely.covers(self._shapes[grid_at], boxes)
        cells: dict[tuple[int, int], list[tuple[int, bool]]] = defaultdict(list)
        for key, position, whole, hit in zip(keys, positions, covers.tolist(), meets.tolist(), strict=True):
            if hit:
                cells[key].append((position, whole))
        for key, found in cells.items():
            found.sort()
            first, whole = found[0]
            self._cells[key] = self._ids[first] if whole else tuple(position for position, _ in found)

    def _key(self, lon: float, lat: float) -> tuple[int, int]:
        return math.floor((lon - self._origin[0]) / self._cell[0]), math.floor((lat - self._origin[1]) / self._cell[1])

    # -- lookups ------------------------------------------------------------------------------

    def grid_for(self, lon: float, lat: float) -> int | None:
        """The id of the active grid containing the WGS84 point, or None (lowest id on shared edges)."""
        (ox, oy), (width, height) = self._origin, self._cell
        entry = self._cells.get((math.floor((lon - ox) / width), math.floor((lat - oy) / height)))
        if entry is None:
            return None
        if type(entry) is int:  # the cell lies whole inside this grid
            return entry
        geoms, contains = self._geoms, shapely.intersects_xy
        for position in entry:  # type: ignore[union-attr]  # ascending, so the first hit is the lowest id
            if contains(geoms[position], lon, lat):
                return self._ids[position]
        return None

    def grids_for(self, lons: Sequence[float], lats: Sequence[float]) -> list[int | None]:
        """:meth:`grid_for` of many WGS84 points at once (vectorised; same edge rule)."""
        points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        found = np.full(len(points), len(self._ids), dtype=np.int64)
        if len(self._ids):
            which, position = self._tree.query(points, predicate="intersects")
            np.minimum.at(found, which, position)
        ids = self._ids
        return [ids[p] if p < len(ids) else None for p in found.tolist()]

    def grid(self, grid_id: int) -> GridRef | None:
        """The grid with this id (active or not), or None."""
        return self._grids.get(grid_id)

    def community_for_grid(self, grid_id: int | None) -> int | None:
        """The id of the grid's community, or None for an unknown grid."""
        ref = self._grids.get(grid_id) if grid_id is not None else None
        return ref.community_id if ref else None

    def street_for_grid(self, grid_id: int | None) -> int | None:
        """The id of the grid's street, or None for an unknown grid."""
        ref = self._grids.get(grid_id) if grid_id is not None else None
        return ref.street_id if ref else None

    def community(self, community_id: int | None) -> AreaRef | None:
        """The community with this id, or None."""
        return self._communities.get(community_id) if community_id is not None else None

    def street(self, street_id: int | None) -> AreaRef | None:
        """The street with this id, or None."""
        return self._streets.get(street_id) if street_id is not None else None

    def grids_of_community(self, community_id: int) -> list[int]:
        """The ids of a community's grids (active or not), ascending."""
        return [gid for gid, ref in self._grids.items() if ref.community_id == community_id]

    def __len__(self) -> int:
        """How many grids points are looked up in (the active ones)."""
        return len(self._ids)


# -- loading -----------------------------------------------------------------------------------------


async def _read(session: AsyncSession) -> tuple[int, Sequence[Any], list[AreaRef], list[AreaRef]]:
    revision = await current_revision(session)  # first: data newer than the revision only causes a rebuild
    rows = (
        await session.execute(
            select(Grid.id, Grid.code, Grid.name, Grid.community_id, Community.street_id, Grid.active, Grid.geometry)
            .join(Community, Grid.community_id == Community.id)
            .order_by(Grid.id)
        )
    ).all()
    communities = [
        AreaRef(*row) for row in (await session.execute(select(Community.id, Community.code, Community.name)))
    ]
    streets = [AreaRef(*row) for row in (await session.execute(select(Street.id, Street.code, Street.name)))]
    return revision, rows, communities, streets


def _build(revision: int, rows: Sequence[Any], communities: list[AreaRef], streets: list[AreaRef]) -> AreaIndex:
    grids = [
        GridShape(GridRef(gid, code, name, cid, sid, active), to_shape(geometry) if active else None)
        for gid, code, name, cid, sid, active, geometry in rows
    ]
    return AreaIndex(grids, communities, streets, revision)


async def load_area_index(database: Database) -> AreaIndex:
    """An index of the areas in the database now (the polygons are built in a worker thread)."""
    async with database.session() as session:
        data = await _read(session)
    return await asyncio.to_thread(_build, *data)


async def area_revision(database: Database) -> int:
    """The database's area revision."""
    async with database.session() as session:
        return await current_revision(session)


class LiveAreaIndex:
    """The process's index (``app.state.areas``), rebuilt when the area revision in the database moves.

    Lookups answer from the current snapshot, so they never wait; :meth:`refresh` and the watcher
    started by :meth:`start` replace it.
    """

    def __init__(self, database: Database, poll_seconds: float = DEFAULT_POLL_SECONDS) -> None:
        self.database = database
        self.poll_seconds = poll_seconds
        self.index = AreaIndex([], revision=-1)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def refresh(self, *, force: bool = False) -> bool:
        """Rebuild when the database's revision differs from the index's (always with ``force``); whether it did."""
        async with self._lock:
            if not force and await area_revision(self.database) == self.index.revision:
                return False
            self.index = await load_area_index(self.database)
            log.info("area_index_built", revision=self.index.revision, grids=len(self.index))
            return True

    async def fresh(self) -> AreaIndex:
        """The index, rebuilt first if the database has moved on (one small query when it has not)."""
        await self.refresh()
        return self.index

    async def open(self) -> None:
        """Build the index and start watching (the app's start-up); a database that cannot be read now
        leaves the index empty and logged, and the watcher tries again."""
        try:
            await self.refresh(force=True)
        except Exception as exc:
            log.error("area_index_failed", error=f"{type(exc).__name__}: {exc}")
        self.start()

    async def close(self) -> None:
        """Stop watching (the app's shut-down)."""
        await self.stop()

    def start(self) -> None:
        """Watch the revision every ``poll_seconds`` in the background (until :meth:`stop`)."""
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="area-index-watch")

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.refresh()
            except Exception as exc:  # the database may be away for a while; the last index keeps answering
                log.warning("area_index_refresh_failed", error=f"{type(exc).__name__}: {exc}")

    # -- the lookups of the current snapshot ------------------------------------------------------

    def grid_for(self, lon: float, lat: float) -> int | None:
        """See :meth:`AreaIndex.grid_for`."""
        return self.index.grid_for(lon, lat)

    def grids_for(self, lons: Sequence[float], lats: Sequence[float]) -> list[int | None]:
        """See :meth:`AreaIndex.grids_for`."""
        return self.index.grids_for(lons, lats)

    def community_for_grid(self, grid_id: int | None) -> int | None:
        """See :meth:`AreaIndex.community_for_grid`."""
        return self.index.community_for_grid(grid_id)

    def street_for_grid(self, grid_id: int | None) -> int | None:
        """See :meth:`AreaIndex.street_for_grid`."""
        return self.index.street_for_grid(grid_id)

    def grid(self, grid_id: int) -> GridRef | None:
        """See :meth:`AreaIndex.grid`."""
        return self.index.grid(grid_id)

    def community(self, community_id: int | None) -> AreaRef | None:
        """See :meth:`AreaIndex.community`."""
        return self.index.community(community_id)

    def street(self, street_id: int | None) -> AreaRef | None:
        """See :meth:`AreaIndex.street`."""
        return self.index.street(street_id)
