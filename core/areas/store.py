"""Reading and writing the area tree: GeoJSON import (all or nothing, idempotent by code) and export.

Every write to streets, communities or grids goes through :func:`import_features`, which bumps
the one ``area_revision`` counter in the same transaction; processes compare it with the revision
their point-to-grid index was built from (see :mod:`core.areas.index`). The counter's row is also
locked first, so two imports never interleave.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Select, and_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.areas.geo import EARTH_RADIUS_M, Crs, polygons_area_m2
from core.areas.geojson import (
    PARENT_LEVEL,
    AreaFeature,
    GeoJSONError,
    Level,
    bounds,
    feature,
    feature_collection,
    parse_feature_collection,
    to_shape,
)
from core.areas.models import AreaRevision, Community, Grid, Street
from core.db import utcnow

MAX_WARNINGS = 100
SAME_POSITION_DEG = 1e-8  # about a millimetre: closer positions are the same
MIN_OVERLAP_M2 = 1.0  # smaller overlaps of neighbours are rounding, not a mistake in the data


@dataclass
class ImportResult:
    """What an import did, per level, and what it noticed without refusing (overlapping grids)."""

    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    revision: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return bool(self.created or self.updated)


# -- the revision counter ----------------------------------------------------------------------------


async def current_revision(session: AsyncSession) -> int:
    """The revision of the area tree (0 before the first write)."""
    return await session.scalar(select(AreaRevision.revision).where(AreaRevision.id == 1)) or 0


async def _lock_revision(session: AsyncSession) -> AreaRevision:
    """The counter row, created if missing and locked (``FOR UPDATE`` on PostgreSQL) for this transaction."""
    dialect = (await session.connection()).dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(AreaRevision).values(id=1, revision=0, changed_at=utcnow()).on_conflict_do_nothing(index_elements=["id"])
    )
    row = await session.scalar(
        select(AreaRevision).where(AreaRevision.id == 1).with_for_update().execution_options(populate_existing=True)
    )
    assert row is not None
    return row


# -- import ---------------------------------------------------------------------------------------


def _same_geometry(a: Any, b: Any) -> bool:
    """Equal structure and every coordinate within :data:`SAME_POSITION_DEG` (so that a GCJ-02 export,
    converted back, is the same geometry although its last digits differ)."""
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return False
        if a and not isinstance(a[0], list):
            return all(abs(x - y) <= SAME_POSITION_DEG for x, y in zip(a, b, strict=True))
        return all(_same_geometry(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.get("type") == b.get("type") and _same_geometry(a.get("coordinates"), b.get("coordinates"))
    return bool(a is None and b is None)


def _geometry(row: Any, item: AreaFeature) -> dict[str, Any] | None:
    """The feature's geometry, or the stored one when they are the same (see :func:`_same_geometry`)."""
    if row is not None and _same_geometry(row.geometry, item.geometry):
        return row.geometry  # type: ignore[no-any-return]
    return item.geometry


def _grid_values(geometry: dict[str, Any] | None, item: AreaFeature, community_id: int) -> dict[str, Any]:
    assert geometry is not None
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    min_lon, min_lat, max_lon, max_lat = bounds(geometry)
    return {
        "name": item.name,
        "community_id": community_id,
        "geometry": geometry,
        "min_lon": min_lon,
        "min_lat": min_lat,
        "max_lon": max_lon,
        "max_lat": max_lat,
        "area_m2": round(polygons_area_m2(polygons), 1),
        "active": item.active,
    }


def _apply(row: Any, values: dict[str, Any]) -> bool:
    """Set the values that differ; whether any did."""
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


async def _existing(session: AsyncSession, model: Any, codes: set[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    ordered = sorted(codes)
    for start in range(0, len(ordered), 1000):
        chunk = ordered[start : start + 1000]
        found.update((row.code, row) for row in await session.scalars(select(model).where(model.code.in_(chunk))))
    return found


async def import_features(session: AsyncSession, document: Any, crs: Crs | None = None) -> ImportResult:
    """Create or update the streets, communities and grids of a FeatureCollection, matched by code.

    All or nothing: every feature is checked (see :func:`core.areas.geojson.parse_feature_collection`)
    and every parent code resolved, in the collection or in the database, before anything is
    written; :class:`GeoJSONError` names each problem by feature index and field. Importing the same
    collection again changes nothing. The caller commits.
    """
    features = parse_feature_collection(document, crs)
    revision = await _lock_revision(session)
    by_level: dict[Level, list[AreaFeature]] = {"street": [], "community": [], "grid": []}
    for item in features:
        by_level[item.level].append(item)

    streets = await _existing(
        session, Street, {f.code for f in by_level["street"]} | {f.parent for f in by_level["community"] if f.parent}
    )
    communities = await _existing(
        session, Community, {f.code for f in by_level["community"]} | {f.parent for f in by_level["grid"] if f.parent}
    )
    grids = await _existing(session, Grid, {f.code for f in by_level["grid"]})

    known = {
        "street": set(streets) | {f.code for f in by_level["street"]},
        "community": set(communities) | {f.code for f in by_level["community"]},
    }
    problems = [
        (f"{item.path}.properties.parent", f"no {PARENT_LEVEL[item.level]} with code {item.parent}")
        for item in features
        if item.level in PARENT_LEVEL and item.parent not in known[PARENT_LEVEL[item.level]]
    ]
    if problems:
        raise GeoJSONError(problems)

    result = ImportResult()

    def upsert(level: Level, model: Any, existing: dict[str, Any], item: AreaFeature, values: dict[str, Any]) -> None:
        row = existing.get(item.code)
        if row is None:
            existing[item.code] = row = model(code=item.code, **values)
            session.add(row)
            result.created[level] += 1
        elif _apply(row, values):
            result.updated[level] += 1
        else:
            result.unchanged[level] += 1

    for item in by_level["street"]:
        geometry = _geometry(streets.get(item.code), item)
        upsert("street", Street, streets, item, {"name": item.name, "geometry": geometry})
    await session.flush()
    for item in by_level["community"]:
        geometry = _geometry(communities.get(item.code), item)
        values = {"name": item.name, "street_id": streets[item.parent].id, "geometry": geometry}  # type: ignore[index]
        upsert("community", Community, communities, item, values)
    await session.flush()
    for item in by_level["grid"]:
        community_id = communities[item.parent].id  # type: ignore[index]
        upsert("grid", Grid, grids, item, _grid_values(_geometry(grids.get(item.code), item), item, community_id))
    await session.flush()

    if result.changed:
        revision.revision += 1
        revision.changed_at = utcnow()
        await session.flush()
        touched = [grids[item.code] for item in by_level["grid"] if grids[item.code].active]
        result.warnings = await overlap_warnings(session, touched)
    result.revision = revision.revision
    return result


async def overlap_warnings(session: AsyncSession, grids: list[Grid]) -> list[str]:
    """Pairs of active grids whose interiors overlap, among ``grids`` and the grids around them.

    Overlaps are allowed (a point in both goes to the lower id) but are almost always a mistake
    in the data, so an import reports them.
    """
    if not grids:
        return []
    min_lon, min_lat = min(g.min_lon for g in grids), min(g.min_lat for g in grids)
    max_lon, max_lat = max(g.max_lon for g in grids), max(g.max_lat for g in grids)
    around = (
        await session.scalars(
            select(Grid).where(
                and_(
                    Grid.active,
                    Grid.min_lon <= max_lon,
                    Grid.max_lon >= min_lon,
                    Grid.min_lat <= max_lat,
                    Grid.max_lat >= min_lat,
                )
            )
        )
    ).all()
    others = sorted({g.id: g for g in (*around, *grids)}.values(), key=lambda g: g.id)
    shapes = np.array([to_shape(g.geometry) for g in others])
    mine = np.array([to_shape(g.geometry) for g in grids])
    tree = shapely.STRtree(shapes)
    left, right = tree.query(mine, predicate="intersects")
    interiors_meet = shapely.relate_pattern(mine[left], shapes[right], "T********")
    left, right = left[interiors_meet], right[interiors_meet]
    # slivers from rounding (neighbours whose shared edge differs in the last digits) are not overlaps
    common = shapely.intersection(mine[left], shapes[right])
    latitude = np.radians(shapely.get_y(shapely.centroid(common)))
    area_m2 = shapely.area(common) * (np.pi / 180 * EARTH_RADIUS_M) ** 2 * np.cos(np.nan_to_num(latitude))
    pairs = sorted(
        {
            tuple(sorted((grids[i].code, others[j].code)))
            for i, j, area in zip(left.tolist(), right.tolist(), area_m2.tolist(), strict=True)
            if area >= MIN_OVERLAP_M2 and grids[i].id != others[j].id
        }
    )
    warnings = [f"grids {a} and {b} overlap; a point in both is given to the one with the lower id" for a, b in pairs]
    if len(warnings) > MAX_WARNINGS:
        warnings = [*warnings[:MAX_WARNINGS], f"... and {len(warnings) - MAX_WARNINGS} more overlapping pairs"]
    return warnings


# -- export ---------------------------------------------------------------------------------------


def street_feature(street: Street, crs: Crs) -> dict[str, Any]:
    """A street as a GeoJSON Feature."""
    return feature({"level": "street", "code": street.code, "name": street.name, "id": street.id}, street.geometry, crs)


def community_feature(community: Community, street_code: str, crs: Crs) -> dict[str, Any]:
    """A community as a GeoJSON Feature (``parent`` is its street's code)."""
    properties = {"level": "community", "code": community.code, "name": community.name, "parent": street_code}
    return feature({**properties, "id": community.id}, community.geometry, crs)


def grid_feature(grid: Grid, community_code: str, street_code: str, crs: Crs) -> dict[str, Any]:
    """A grid as a GeoJSON Feature (``parent`` is its community's code; ``street``, ``id`` and ``area_m2`` inform)."""
    properties = {
        "level": "grid",
        "code": grid.code,
        "name": grid.name,
        "parent": community_code,
        "active": grid.active,
        "id": grid.id,
        "street": street_code,
        "area_m2": grid.area_m2,
    }
    return feature(properties, grid.geometry, crs)


async def export_grids(
    session: AsyncSession,
    crs: Crs = "wgs84",
    *,
    community: str | None = None,
    street: str | None = None,
    active: bool | None = None,
) -> dict[str, Any]:
    """The grids as a FeatureCollection in id order, optionally of one community or street, or by ``active``."""
    grids = (await session.scalars(grid_query(community=community, street=street, active=active))).all()
    return feature_collection([grid_feature(g, g.community.code, g.community.street.code, crs) for g in grids], crs)


def grid_query(
    *, community: str | None = None, street: str | None = None, active: bool | None = None
) -> Select[tuple[Grid]]:
    """Grids in id order (their community and street loaded), filtered by community or street code or ``active``."""
    query = select(Grid).order_by(Grid.id)
    if community:
        query = query.where(Grid.community_id.in_(select(Community.id).where(Community.code == community)))
    if street:
        in_street = select(Community.id).join(Street, Community.street_id == Street.id).where(Street.code == street)
        query = query.where(Grid.community_id.in_(in_street))
    if active is not None:
        query = query.where(Grid.active == active)
    return query


async def export_all(session: AsyncSession, crs: Crs = "wgs84") -> dict[str, Any]:
    """Every street, community and grid in one FeatureCollection (parents first): an import restores it."""
    streets = (await session.scalars(select(Street).order_by(Street.id))).all()
    communities = (await session.scalars(select(Community).order_by(Community.id))).all()
    grids = await export_grids(session, crs)
    features = [street_feature(s, crs) for s in streets]
    features += [community_feature(c, c.street.code, crs) for c in communities]
    return feature_collection([*features, *grids["features"]], crs)
