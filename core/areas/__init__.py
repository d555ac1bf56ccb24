"""Areas: streets (街道) > communities (社区) > grids (网格), point -> grid, GCJ-02 <-> WGS84."""
