"""Tile export: `fused.tiles.export` vs a Python loop of `fused.run` per tile written with the
`pmtiles` Python writer, and the share of the export's time spent in the archive writer.

A vector Tile UDF (20,000 synthetic building footprints over San Francisco and Oakland,
the ones in the tile returned as a GeoDataFrame) over z 10-14 of the cities. Both sides run
the UDF in this process with a cold run cache (each in its own `FUSED_CACHE_DIR`) and encode
MVT with the same Rust encoder; they differ in the driver and the writer:

* fused: `fused.tiles.export(..., engine="local")` (tile plan in Rust, `udf.map`, Rust
  PMTiles writer: dedup, gzip, directories);
* baseline: `for tile in mercantile.tiles(...)`: `fused.run(udf, x=, y=, z=)`, encode, gzip
  in Python, `pmtiles.writer.Writer.write_tile` in tile id order, `finalize`.

Then the writers alone on the same MVT tiles: `TilesetWriter` vs the pmtiles writer (+ gzip).

    .venv/bin/python bench/bench_tilesets.py [--maxzoom 14]
"""

from __future__ import annotations

import argparse
import gzip
import os
import tempfile
import time
from pathlib import Path

BBOX = (-122.55, 37.60, -122.15, 37.90)  # San Francisco and Oakland

UDF = """
@fused.udf
def udf(bounds: fused.types.Bounds = None, n: int = 20000):
    import geopandas as gpd
    import numpy as np
    from shapely import box

    rng = np.random.default_rng(7)
    xs = rng.uniform(-122.55, -122.15, n)
    ys = rng.uniform(37.60, 37.90, n)
    w, s, e, north = bounds
    keep = (xs >= w) & (xs <= e) & (ys >= s) & (ys <= north)
    x, y = xs[keep], ys[keep]
    size = 0.0002
    geoms = box(x, y, x + size, y + size)
    return gpd.GeoDataFrame(
        {"height": (rng.uniform(3, 60, n)[keep]).round(1), "id": np.nonzero(keep)[0]},
        geometry=geoms,
        crs="EPSG:4326",
    )
"""


def run_fused(udf, out: Path, minzoom: int, maxzoom: int):
    import fused

    t0 = time.perf_counter()
    result = fused.tiles.export(udf, BBOX, minzoom, maxzoom, out, engine="local", progress=False)
    return time.perf_counter() - t0, result


def run_baseline(udf, out: Path, minzoom: int, maxzoom: int):
    import mercantile
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    import fused
    from fused import _native
    from fused._canonical import canonical

    t0 = time.perf_counter()
    writer_s = 0.0
    tiles = sorted(
        mercantile.tiles(*BBOX, zooms=range(minzoom, maxzoom + 1)),
        key=lambda t: zxy_to_tileid(t.z, t.x, t.y),
    )
    with open(out, "wb") as f:
        w0 = time.perf_counter()
        writer = Writer(f)
        writer_s += time.perf_counter() - w0
        stored = 0
        for t in tiles:
            gdf = fused.run(udf, x=t.x, y=t.y, z=t.z)
            if gdf is None or len(gdf) == 0:
                continue
            _, ipc = canonical(gdf)
            mvt = _native.encode_table(bytes(ipc), "mvt", (t.x, t.y, t.z))
            w0 = time.perf_counter()
            writer.write_tile(zxy_to_tileid(t.z, t.x, t.y), gzip.compress(mvt))
            writer_s += time.perf_counter() - w0
            stored += 1
        w0 = time.perf_counter()
        writer.finalize(
            {
                "tile_type": TileType.MVT,
                "tile_compression": Compression.GZIP,
                "min_zoom": minzoom,
                "max_zoom": maxzoom,
                "min_lon_e7": int(BBOX[0] * 1e7),
                "min_lat_e7": int(BBOX[1] * 1e7),
                "max_lon_e7": int(BBOX[2] * 1e7),
                "max_lat_e7": int(BBOX[3] * 1e7),
                "center_zoom": minzoom,
                "center_lon_e7": int((BBOX[0] + BBOX[2]) / 2 * 1e7),
                "center_lat_e7": int((BBOX[1] + BBOX[3]) / 2 * 1e7),
            },
            {"name": "bench", "vector_layers": [{"id": "udf", "fields": {}}]},
        )
        writer_s += time.perf_counter() - w0
    return time.perf_counter() - t0, writer_s, len(tiles), stored


def writers_alone(pmtiles_path: Path, tmp: Path):
    """Re-write the tiles of an export with each writer (MVT in, archive out)."""
    from pmtiles.reader import MmapSource, Reader, all_tiles
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    from fused import _native

    with open(pmtiles_path, "rb") as f:
        reader = Reader(MmapSource(f))
        tiles = sorted(
            ((z, x, y), gzip.decompress(d)) for (z, x, y), d in all_tiles(reader.get_bytes)
        )
    tiles.sort(key=lambda item: zxy_to_tileid(*item[0]))
    out = tmp / "alone-rust.pmtiles"
    t0 = time.perf_counter()
    w = _native.TilesetWriter(str(out), "mvt", True)
    for (z, x, y), data in tiles:
        w.add(x, y, z, data)
    w.finish("bench", 10, 14, BBOX)
    rust_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with open(tmp / "alone-py.pmtiles", "wb") as f:
        pw = Writer(f)
        for (z, x, y), data in tiles:
            pw.write_tile(zxy_to_tileid(z, x, y), gzip.compress(data))
        pw.finalize(
            {"tile_type": TileType.MVT, "tile_compression": Compression.GZIP},
            {"name": "bench"},
        )
    py_s = time.perf_counter() - t0
    mb = sum(len(d) for _, d in tiles) / 1e6
    return len(tiles), mb, rust_s, py_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minzoom", type=int, default=10)
    parser.add_argument("--maxzoom", type=int, default=14)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-tilesets-"))
    os.environ["FUSED_HOME"] = str(tmp / "home")
    os.environ.pop("FUSED_SERVER_URL", None)
    import fused

    udf = fused.load(UDF)
    udf.run_local(x=163, y=395, z=10, cache=False)  # warm the imports for both sides

    os.environ["FUSED_CACHE_DIR"] = str(tmp / "cache-baseline")
    base_s, base_writer_s, total, base_stored = run_baseline(
        udf, tmp / "baseline.pmtiles", args.minzoom, args.maxzoom
    )
    os.environ["FUSED_CACHE_DIR"] = str(tmp / "cache-fused")
    ours_s, result = run_fused(udf, tmp / "fused.pmtiles", args.minzoom, args.maxzoom)
    assert result.total == total and result.tiles == base_stored, (result, base_stored)

    n, mb, rust_s, py_s = writers_alone(tmp / "fused.pmtiles", tmp)
    print(f"tiles: {total} over z{args.minzoom}-{args.maxzoom} of {BBOX}; {result.tiles} non-empty")
    print("| case | fused | baseline | ratio |")
    print("|---|---:|---:|---:|")
    print(
        f"| export, tiles/s | {total / ours_s:.1f} | {total / base_s:.1f} | "
        f"{base_s / ours_s:.2f}x |"
    )
    print(
        f"| writer share of the export | {result.writer_s / ours_s:.1%} | "
        f"{base_writer_s / base_s:.1%} | |"
    )
    print(
        f"| writer alone, {n} tiles ({mb:.1f} MB MVT) | {rust_s * 1e3:.1f} ms | "
        f"{py_s * 1e3:.1f} ms | {py_s / rust_s:.1f}x |"
    )


if __name__ == "__main__":
    main()
