"""Benchmark fused.tiles against mercantile 1.2.1 in the same process (not a test).

Run from the repository root with the project's venv (mercantile installed):

    .venv/bin/python bench/bench_tiles.py [--repeats 5]

Prints a markdown table of median times and the ratio mercantile / fused. Times are the
process's CPU time (user + system, `time.process_time`): everything here runs on one thread,
and on a shared machine CPU time is what other processes disturb least.
"""

import argparse
import gc
import platform
import random
import statistics
import sys
import time
import warnings

import mercantile
import numpy as np

import fused.tiles as ft

# Greater Los Angeles at zoom 15: about 104k tiles.
BBOX = (-119.6, 33.0, -115.6, 35.6)
ZOOM = 15


def median_time(func, repeats):
    gc.collect()  # neither side pays for the other's garbage
    times = []
    for _ in range(repeats):
        start = time.process_time()
        func()
        times.append(time.process_time() - start)
    return statistics.median(times)


def fmt(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.1f} µs"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # mercantile's FutureWarnings
    repeats = args.repeats

    r = random.Random(42)
    points = [(r.uniform(-180, 180), r.uniform(-85, 85)) for _ in range(100_000)]
    tiles_100k = []
    for _ in range(100_000):
        z = r.randint(0, 22)
        tiles_100k.append((r.randint(0, 2**z - 1), r.randint(0, 2**z - 1), z))
    gen = np.random.default_rng(42)
    lngs = gen.uniform(-180, 180, 1_000_000)
    lats = gen.uniform(-85, 85, 1_000_000)

    # Same answers first.
    expected = list(mercantile.tiles(*BBOX, ZOOM))
    assert list(ft.tiles(*BBOX, ZOOM)) == expected
    xs, ys = ft.tiles_array(*BBOX, ZOOM)
    assert list(zip(xs.tolist(), ys.tolist())) == [(t.x, t.y) for t in expected]
    assert ft.count_tiles(*BBOX, ZOOM) == len(expected)
    assert [ft.tile(a, b, ZOOM) for a, b in points[:1000]] == [
        mercantile.tile(a, b, ZOOM) for a, b in points[:1000]
    ]
    assert [ft.bounds(t) for t in tiles_100k[:1000]] == [
        mercantile.bounds(t) for t in tiles_100k[:1000]
    ]
    mx, my = ft.tile_many(lngs[:1000], lats[:1000], ZOOM)
    assert list(zip(mx.tolist(), my.tolist())) == [
        mercantile.tile(a, b, ZOOM)[:2] for a, b in zip(lngs[:1000], lats[:1000])
    ]
    n = len(expected)
    # Small boxes: the tiles of a z12 tile's bounds at z15 (64 tiles), as map code asks them.
    small = [mercantile.bounds(mercantile.tile(a, b, 12)) for a, b in points[:2000]]
    assert [list(ft.tiles(*b, 15)) for b in small[:200]] == [
        list(mercantile.tiles(*b, 15)) for b in small[:200]
    ]

    def merc_tile_many():
        tile = mercantile.tile
        xs = np.empty(len(lngs), dtype=np.int64)
        ys = np.empty(len(lngs), dtype=np.int64)
        for i, (a, b) in enumerate(zip(lngs.tolist(), lats.tolist())):
            xs[i], ys[i], _ = tile(a, b, ZOOM)
        return xs, ys

    cases = [
        (
            f"`list(tiles(bbox, {ZOOM}))`",
            f"{n:,} tiles",
            lambda: list(mercantile.tiles(*BBOX, ZOOM)),
            lambda: list(ft.tiles(*BBOX, ZOOM)),
            max(repeats, 11),
        ),
        (
            "`list(tiles(box, 15))` of 2,000 small boxes",
            "64 tiles each",
            lambda: [list(mercantile.tiles(*b, 15)) for b in small],
            lambda: [list(ft.tiles(*b, 15)) for b in small],
            repeats,
        ),
        (
            f"`tiles_array(bbox, {ZOOM})` vs `list(mercantile.tiles(...))`",
            f"{n:,} tiles",
            lambda: list(mercantile.tiles(*BBOX, ZOOM)),
            lambda: ft.tiles_array(*BBOX, ZOOM),
            repeats,
        ),
        (
            f"`count_tiles(bbox, {ZOOM})` vs `len(list(mercantile.tiles(...)))`",
            f"{n:,} tiles",
            lambda: len(list(mercantile.tiles(*BBOX, ZOOM))),
            lambda: ft.count_tiles(*BBOX, ZOOM),
            repeats,
        ),
        (
            "`tile(lng, lat, 15)` loop",
            "100,000 calls",
            lambda: [mercantile.tile(a, b, ZOOM) for a, b in points],
            lambda: [ft.tile(a, b, ZOOM) for a, b in points],
            repeats,
        ),
        (
            "`bounds(tile)` loop",
            "100,000 calls",
            lambda: [mercantile.bounds(t) for t in tiles_100k],
            lambda: [ft.bounds(t) for t in tiles_100k],
            repeats,
        ),
        (
            "`bounds(x, y, z)` loop",
            "100,000 calls",
            lambda: [mercantile.bounds(x, y, z) for x, y, z in tiles_100k],
            lambda: [ft.bounds(x, y, z) for x, y, z in tiles_100k],
            repeats,
        ),
        (
            "`tile_many(lngs, lats, 15)` vs a `mercantile.tile` loop",
            "1,000,000 points",
            merc_tile_many,
            lambda: ft.tile_many(lngs, lats, ZOOM),
            max(3, repeats // 2),
        ),
    ]

    rows = []
    for name, size, merc, ours, reps in cases:
        t_merc = median_time(merc, reps)
        t_ours = median_time(ours, reps)
        rows.append((name, size, t_merc, t_ours, t_merc / t_ours, reps))
        print(f"  {name}: mercantile {fmt(t_merc)}, fused {fmt(t_ours)}", file=sys.stderr)

    print(
        f"Python {platform.python_version()}, {platform.machine()}, mercantile "
        f"{mercantile.__version__}; bbox {BBOX} at z{ZOOM}; median CPU time of the repeats "
        "shown.\n"
    )
    print("| case | size | mercantile | fused.tiles | speed-up | repeats |")
    print("|---|---|---:|---:|---:|---:|")
    for name, size, t_merc, t_ours, ratio, reps in rows:
        print(f"| {name} | {size} | {fmt(t_merc)} | {fmt(t_ours)} | {ratio:,.1f}x | {reps} |")


if __name__ == "__main__":
    main()
