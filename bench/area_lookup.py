"""Benchmark: point -> grid over 10,000 grids, ``AreaIndex.grid_for`` beside a brute-force scan.

The grids are a 100 x 100 tiling of irregular quadrilaterals (a lattice whose inner vertices are
jittered by up to 30 % of a cell, about 200 m a side) around Hangzhou; the points are uniform over
the tiling and a margin around it (some fall outside every grid, some exactly on edges).

- ours: ``AreaIndex.grid_for(lon, lat)``, one call per point, over every point;
- reference: the brute-force answer, ``shapely.intersects_xy`` of the point against all 10,000
  prepared polygons (vectorised in C), on a sample of the points: what a lookup costs without
  a spatial index. On that sample both must give the same grid (lowest id on shared edges);
- for context: shapely's own STRtree queried one point at a time, and ``AreaIndex.grids_for``
  (one vectorised STRtree query for all points).

Each side runs ``--rounds`` times after a warm-up; medians are reported.

    .venv/bin/python bench/area_lookup.py [--grids-per-side 100] [--points 100000] [--sample 1000] [--rounds 3]

Last line: ``RESULT area_lookup ours=<lookups/s> reference=<lookups/s> ratio=<ours/reference> ...``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Polygon

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.areas.index import AreaIndex  # noqa: E402

WEST, SOUTH, CELL = 120.0, 30.0, 0.002


def tiling(side: int, rng: random.Random) -> list[Polygon]:
    """``side`` x ``side`` quadrilaterals sharing jittered lattice vertices (no gaps, no overlaps)."""
    jitter = 0.3 * CELL

    def vertex(i: int, j: int) -> tuple[float, float]:
        inner = 0 < i < side and 0 < j < side
        dx, dy = (rng.uniform(-jitter, jitter), rng.uniform(-jitter, jitter)) if inner else (0.0, 0.0)
        return round(WEST + i * CELL + dx, 7), round(SOUTH + j * CELL + dy, 7)

    lattice = [[vertex(i, j) for j in range(side + 1)] for i in range(side + 1)]
    return [
        Polygon([lattice[i][j], lattice[i + 1][j], lattice[i + 1][j + 1], lattice[i][j + 1]])
        for j in range(side)
        for i in range(side)
    ]


def points(count: int, side: int, rng: random.Random) -> list[tuple[float, float]]:
    margin = 2 * CELL
    extent = side * CELL
    out = [
        (rng.uniform(WEST - margin, WEST + extent + margin), rng.uniform(SOUTH - margin, SOUTH + extent + margin))
        for _ in range(count - count // 100)
    ]
    # 1 % exactly on lattice lines of the outer frame and on vertical lines (shared edges)
    out += [(WEST + rng.randrange(side + 1) * CELL, rng.uniform(SOUTH, SOUTH + extent)) for _ in range(count // 100)]
    rng.shuffle(out)
    return out


def timed(run, rounds: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    run()  # warm-up
    rates, answer = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        answer, done = run()
        rates.append(done / (time.perf_counter() - started))
    return statistics.median(rates), answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids-per-side", type=int, default=100)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=1_000, help="points for the brute-force reference")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    rng = random.Random(2026)
    polygons = tiling(args.grids_per_side, rng)
    assert all(p.is_valid for p in polygons)
    started = time.perf_counter()
    index = AreaIndex.from_geometries([(i + 1, p) for i, p in enumerate(polygons)])
    build_s = time.perf_counter() - started
    pts = points(args.points, args.grids_per_side, rng)
    sample = pts[: args.sample]
    lons, lats = [p[0] for p in pts], [p[1] for p in pts]

    def ours() -> tuple[list[int | None], int]:
        grid_for = index.grid_for
        return [grid_for(lon, lat) for lon, lat in pts], len(pts)

    prepared = np.array(polygons, dtype=object)
    shapely.prepare(prepared)

    def brute_force() -> tuple[list[int | None], int]:
        found: list[int | None] = []
        for lon, lat in sample:
            hits = np.flatnonzero(shapely.intersects_xy(prepared, lon, lat))
            found.append(int(hits[0]) + 1 if len(hits) else None)
        return found, len(sample)

    tree = shapely.STRtree(prepared)

    def strtree_per_point() -> tuple[list[int | None], int]:
        found: list[int | None] = []
        for lon, lat in pts:
            hits = tree.query(shapely.Point(lon, lat), predicate="intersects")
            found.append(int(hits.min()) + 1 if len(hits) else None)
        return found, len(pts)

    def bulk() -> tuple[list[int | None], int]:
        return index.grids_for(lons, lats), len(pts)

    our_rate, our_answer = timed(ours, args.rounds)
    ref_rate, ref_answer = timed(brute_force, args.rounds)
    tree_rate, tree_answer = timed(strtree_per_point, args.rounds)
    bulk_rate, bulk_answer = timed(bulk, args.rounds)
    assert our_answer[: len(sample)] == ref_answer, "AreaIndex.grid_for disagrees with the brute-force scan"  # type: ignore[index]
    assert our_answer == tree_answer == bulk_answer, "the lookups disagree"
    outside = sum(1 for g in our_answer if g is None)  # type: ignore[union-attr]

    print(
        f"grids={len(polygons):,} points={len(pts):,} (outside every grid: {outside:,}) "
        f"index build {build_s * 1000:.0f} ms, rounds={args.rounds} (median)"
    )
    print(f"ours       AreaIndex.grid_for, one call per point      {our_rate:>12,.0f} lookups/s")
    print(
        f"reference  brute force over 10,000 prepared polygons   {ref_rate:>12,.0f} lookups/s  ({args.sample:,} points)"
    )
    print(f"context    shapely STRtree.query, one call per point   {tree_rate:>12,.0f} lookups/s")
    print(f"context    AreaIndex.grids_for, all points at once     {bulk_rate:>12,.0f} lookups/s")
    print(
        f"RESULT area_lookup ours={our_rate:.0f} reference={ref_rate:.0f} ratio={our_rate / ref_rate:.1f} "
        f"strtree_per_point={tree_rate:.0f} bulk={bulk_rate:.0f}"
    )


if __name__ == "__main__":
    main()
