"""Areas: streets (街道) > communities (社区) > grids (网格), point -> grid, GCJ-02 <-> WGS84.

- :mod:`core.areas.models`   the tables (``streets``, ``communities``, ``grids``, ``area_revision``)
- :mod:`core.areas.geo`      GCJ-02 <-> WGS84, distances and areas on the sphere
- :mod:`core.areas.geojson`  FeatureCollections in (validated, with the path of each problem) and out
- :mod:`core.areas.store`    import (all or nothing, idempotent by code) and export
- :mod:`core.areas.index`    the point-to-grid index (``app.state.areas``) and the edge rule
- :mod:`core.areas.workers`  which grid workers work a grid

A plugin or core module that has a located record asks the app's index::

    grid_id = request.app.state.areas.grid_for(lon, lat)          # WGS84; None outside every grid
    community_id = request.app.state.areas.community_for_grid(grid_id)
"""

from core.areas.geo import gcj02_to_wgs84, haversine_m, to_wgs84, wgs84_to_gcj02
from core.areas.geojson import AreaFeature, GeoJSONError, parse_feature_collection
from core.areas.index import AreaIndex, AreaRef, GridRef, LiveAreaIndex, load_area_index
from core.areas.models import Community, Grid, Street
from core.areas.store import ImportResult, export_all, export_grids, import_features
from core.areas.workers import assign_workers, grid_workers

__all__ = [
    "AreaFeature",
    "AreaIndex",
    "AreaRef",
    "Community",
    "GeoJSONError",
    "Grid",
    "GridRef",
    "ImportResult",
    "LiveAreaIndex",
    "Street",
    "assign_workers",
    "export_all",
    "export_grids",
    "gcj02_to_wgs84",
    "grid_workers",
    "haversine_m",
    "import_features",
    "load_area_index",
    "parse_feature_collection",
    "to_wgs84",
    "wgs84_to_gcj02",
]
