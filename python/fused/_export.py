"""`fused.tiles.export` and `fused tiles export`: run a Tile UDF over every tile of a box and
zoom range and write the tiles as a PMTiles or MBTiles archive.

The tile plan (count, order) and the archive (PMTiles v3 / MBTiles, dedup, gzip, metadata,
temporary name + rename) are Rust (`fused._native.tileset_plan`, `TilesetWriter`). This
module only runs the tiles and hands their bytes over:

* `engine="local"`: through `udf.map` on the warm local worker pool, in parallel; results are
  encoded by the same Rust encoders the server uses (MVT, PNG). Runs go through the local
  run cache, so an interrupted export resumes: finished tiles come from the cache.
* `engine="dask"`: through `udf.map(engine="dask")` on a Dask cluster
  (`$FUSED_DASK_SCHEDULER`, else a session `LocalCluster`), encoded and cached the same way.
* `engine="remote"`: tile requests to the configured server, a few at a time; its result
  cache makes a rerun fast in the same way.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union, cast

from fused import _native

if TYPE_CHECKING:
    from fused._udf import Udf

__all__ = ["ExportError", "ExportResult", "cli_main", "export"]

#: More tiles than this need `yes=True` / `--yes`.
CONFIRM_TILES = 1_000_000
ENGINES = ("local", "remote", "dask")
FORMATS = ("mvt", "png")
#: Tiles handed to one `udf.map` call (progress is updated between calls): the first call
#: is small (a failing UDF stops the export early), then each doubles up to the largest (the
#: workers idle only at the end of a call).
CHUNK = 32
MAX_CHUNK = 256
#: Concurrent tile requests of the remote engine.
REMOTE_WORKERS = 4

Tile = tuple[int, int, int]  # (x, y, z)


class ExportError(RuntimeError):
    """A tile failed (its tile and the UDF error are in the message and in `.failed`)."""

    def __init__(self, message: str, failed: list[tuple[Tile, str]]) -> None:
        super().__init__(message)
        self.failed = failed


@dataclass
class ExportResult:
    """What an export wrote."""

    path: str
    format: str
    total: int
    tiles: int
    unique: int
    empty: int
    bytes: int
    failed: list[tuple[Tile, str]] = field(default_factory=list)
    elapsed_s: float = 0.0
    #: Seconds spent in the archive writer (dedup, gzip, writing, finishing).
    writer_s: float = 0.0

    def __str__(self) -> str:
        rate = self.total / self.elapsed_s if self.elapsed_s > 0 else 0.0
        text = (
            f"wrote {self.path}: {self.tiles} tiles ({self.unique} distinct, {self.empty} "
            f"empty left out) of {self.total} in {self.elapsed_s:.1f} s ({rate:.1f} tiles/s)"
        )
        if self.failed:
            text += f"; {len(self.failed)} failed tile(s) skipped"
        return text


# -- inputs ----------------------------------------------------------------------------------


def _bbox(value: Any) -> tuple[float, float, float, float]:
    parts: Any = value
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
    elif hasattr(value, "total_bounds"):  # GeoDataFrame / GeoSeries
        parts = list(value.total_bounds)
    elif hasattr(value, "bounds") and not isinstance(value, (list, tuple)):  # shapely
        parts = list(value.bounds)
    try:
        nums = [float(p) for p in parts]
    except (TypeError, ValueError):
        nums = []
    if len(nums) != 4:
        raise ValueError(f"invalid bbox: expected W,S,E,N (4 numbers in degrees), got {value!r}")
    return (nums[0], nums[1], nums[2], nums[3])


def _zoom(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value), 10)
        except ValueError:
            raise ValueError(f"invalid {name}: expected an integer 0..30, got {value!r}") from None
    return value


def _engine(engine: Optional[str]) -> str:
    if engine is None:
        from fused._client import has_server

        return "remote" if has_server() else "local"
    if engine not in ENGINES:
        raise ValueError(f"invalid engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    return engine


# -- running tiles ---------------------------------------------------------------------------
# One outcome per tile, in order: (bytes or None for an empty result, error message or None).
Outcome = tuple[Optional[bytes], Optional[str]]


def _encode_local(value: Any, tile: Tile, fmt: Optional[str]) -> tuple[Optional[bytes], str]:
    """Tile bytes of a local result and the format they are in (None: empty result)."""
    import numpy as np
    import pandas as pd

    from fused._canonical import canonical, encode_result

    x, y, z = tile
    if value is None:
        return None, fmt or "mvt"
    is_table = isinstance(value, pd.DataFrame) or type(value).__module__.startswith("shapely")
    if is_table:
        if fmt == "png":
            raise TypeError("the UDF returned a table; format png needs a raster (array)")
        if isinstance(value, pd.DataFrame) and len(value) == 0:
            return None, "mvt"
        _, ipc = canonical(value)
        return bytes(_native.encode_table(bytes(ipc), "mvt", (x, y, z))), "mvt"
    arr = value[0] if isinstance(value, tuple) and len(value) == 2 else value
    if isinstance(arr, np.ndarray):
        if fmt == "mvt":
            raise TypeError("the UDF returned an array; format mvt needs a table (GeoDataFrame)")
        if arr.size == 0:
            return None, "png"
        return bytes(encode_result(arr, "png")), "png"
    raise TypeError(
        f"the UDF returned a {type(value).__name__}; a tile export needs a GeoDataFrame "
        "(mvt) or an array (png)"
    )


def run_tiles_local(
    udf: Udf,
    tiles: Sequence[Tile],
    params: dict[str, Any],
    fmt: Optional[str],
    engine: str = "local",
) -> list[tuple[Optional[bytes], Optional[str], Optional[str]]]:
    """Run `tiles` through `udf.map` (the local worker pool, or a Dask cluster with
    `engine="dask"`; in parallel; a list of tiles in, results in order out) and encode each
    result here: (bytes or None, format, error). A table from a local worker is encoded to
    MVT straight from its Arrow IPC (never made a GeoDataFrame here)."""
    from fused._map import map_udf

    args = [{"x": x, "y": y, "z": z} for x, y, z in tiles]
    mapped = map_udf(udf, args, engine=engine, max_retry=0, _decode=False, **params)
    mapped.wait()
    errors = mapped.errors()
    out: list[tuple[Optional[bytes], Optional[str], Optional[str]]] = []
    for i, tile in enumerate(tiles):
        if i in errors:
            exc = errors[i]
            out.append((None, None, f"{type(exc).__name__}: {exc}"))
            continue
        raw = mapped._raw[i]
        data: Optional[bytes]
        try:
            if raw is not None and raw[0] == "table":
                if fmt == "png":
                    raise TypeError("the UDF returned a table; format png needs a raster (array)")
                data, got = bytes(_native.encode_table(bytes(raw[1]), "mvt", tile)), "mvt"
            else:
                data, got = _encode_local(mapped._results[i], tile, fmt)
        except Exception as exc:  # noqa: BLE001 - named with its tile by the caller
            out.append((None, None, f"{type(exc).__name__}: {exc}"))
            continue
        out.append((data, got, None))
    return out


def _remote_tile(
    payload: dict[str, Any], tile: Tile, params: dict[str, str], fmt: Optional[str]
) -> tuple[Optional[bytes], Optional[str], Optional[str]]:
    from fused._client import ServerError, run_udf
    from fused._remote import run_error

    x, y, z = tile
    body = {
        "udf": payload["package"],
        "schema": payload["schema"],
        "parameters": params,
        "format": f"{fmt},json" if fmt else "mvt,png,json",
    }
    try:
        resp = run_udf(body, (x, y, z), None)
    except ServerError as err:
        named = cast("Udf", _NamedUdf(payload["package"].get("name", "udf")))
        exc = run_error(named, err)
        return None, None, f"{type(exc).__name__}: {exc}"
    except OSError as exc:
        return None, None, f"{type(exc).__name__}: {exc}"
    if resp.status == 204:  # an MVT tile with no feature: left out of the tileset
        return None, "mvt", None
    kind = resp.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/vnd.mapbox-vector-tile":
        return resp.body, "mvt", None
    if kind == "image/png":
        return resp.body, "png", None
    if kind == "application/json":
        value = json.loads(resp.body.decode("utf-8") or "null")
        if value in (None, [], {}):
            return None, fmt, None
    return None, None, f"the UDF returned {kind or 'an unknown type'}, not a table or raster"


class _NamedUdf:
    """What `_remote.run_error` reads of a UDF: its name."""

    def __init__(self, name: str) -> None:
        self.name = name


def run_tiles_remote(
    udf: Udf,
    tiles: Sequence[Tile],
    params: dict[str, Any],
    fmt: Optional[str],
    pool: concurrent.futures.Executor,
) -> list[tuple[Optional[bytes], Optional[str], Optional[str]]]:
    """Request `tiles` from the configured server (a few at a time); results in order."""
    from fused._remote import encode_parameter, udf_payload

    payload = udf_payload(udf)
    texts = {k: encode_parameter(k, v) for k, v in params.items()}
    return list(pool.map(lambda t: _remote_tile(payload, t, texts, fmt), tiles))


# -- the export ------------------------------------------------------------------------------


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="tile", disable=not enabled, smoothing=0.1, file=sys.stderr)


def _center(udf: Udf, bbox: tuple[float, ...], minzoom: int) -> tuple[float, float, float]:
    state = udf.metadata.get("fused:defaultViewState")
    if isinstance(state, dict):
        try:
            lng, lat = float(state["longitude"]), float(state["latitude"])
            zoom = float(state.get("zoom", minzoom))
            if bbox[0] <= lng <= bbox[2] and bbox[1] <= lat <= bbox[3]:
                return (lng, lat, float(min(max(round(zoom), minzoom), 30)))
        except (KeyError, TypeError, ValueError):
            pass
    return ((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2, float(minzoom))


def _description(udf: Udf) -> Optional[str]:
    desc = udf.metadata.get("fused:description")
    if isinstance(desc, str) and desc.strip():
        return desc.strip()
    for para in (udf.readme or "").split("\n\n"):
        text = " ".join(line.strip() for line in para.strip().splitlines())
        if text and not text.startswith(("#", "!", "<")):
            return text
    return None


def export(
    udf: Union[Udf, str],
    bbox: Any,
    minzoom: int,
    maxzoom: int,
    path: Union[str, Path],
    *,
    format: Optional[str] = None,
    engine: Optional[str] = None,
    parameters: Optional[dict[str, Any]] = None,
    skip_errors: bool = False,
    yes: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    **params: Any,
) -> ExportResult:
    """Run a Tile UDF over every tile covering `bbox` (W, S, E, N in degrees, a "W,S,E,N"
    string or a geometry) at zooms `minzoom..maxzoom`, and write `path` (.pmtiles or
    .mbtiles).

    - `format`: "mvt" (tables) or "png" (rasters); default: from the first result
    - `engine`: "local" or "remote" (default: remote when a server is configured);
      "dask" (a Dask cluster: `$FUSED_DASK_SCHEDULER`, else a session `LocalCluster`)
    - `parameters` / keyword arguments: the UDF's parameters, the same for every tile
    - `skip_errors`: a failed tile is listed in the result instead of stopping the export
    - `yes`: confirm an export of more than 1,000,000 tiles
    - `overwrite`: replace an existing `path` (only once the new archive is complete)

    Empty results (None, an empty frame, an MVT without features) are left out. The archive
    is written under a temporary name and renamed at the end; an interrupted export
    resumes from the run cache.
    """
    from fused._udf import Udf

    if isinstance(udf, str):
        from fused._load import load

        udf = load(udf)
    if not isinstance(udf, Udf):
        raise TypeError(f"export() expected a Udf or a path/URL to load, got {type(udf).__name__}")
    box = _bbox(bbox)
    zmin, zmax = _zoom("minzoom", minzoom), _zoom("maxzoom", maxzoom)
    if format is not None and format not in FORMATS:
        raise ValueError(f"invalid format: expected mvt or png, got {format!r}")
    path = Path(path)
    if path.suffix.lower() not in (".pmtiles", ".mbtiles"):
        raise ValueError(
            f"invalid path: expected a file name ending in .pmtiles or .mbtiles, got {str(path)!r}"
        )
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} already exists; pass overwrite=True (--overwrite) to replace it"
        )
    if parameters:
        both = sorted(set(parameters) & set(params))
        if both:
            raise TypeError(f"parameter(s) given twice: {', '.join(both)}")
        params = {**parameters, **params}
    which = _engine(engine)
    total = _native.tileset_count(box, zmin, zmax)
    if total > CONFIRM_TILES and not yes:
        raise ValueError(
            f"the export covers {total:,} tiles (more than {CONFIRM_TILES:,}); "
            "pass yes=True (--yes) to go ahead"
        )
    tiles = _native.tileset_plan(box, zmin, zmax)
    tiles = [(x, y, z) for x, y, z in tiles]

    fmt = format
    writer: Any = None
    writer_s = 0.0
    empty = 0
    failed: list[tuple[Tile, str]] = []
    start = time.perf_counter()
    bar = _progress(total, progress)
    pool = concurrent.futures.ThreadPoolExecutor(REMOTE_WORKERS) if which == "remote" else None
    try:
        i, size = 0, CHUNK
        while i < len(tiles):
            chunk = tiles[i : i + size]
            i, size = i + len(chunk), min(2 * size, MAX_CHUNK)
            if pool is not None:
                outcomes = run_tiles_remote(udf, chunk, params, fmt, pool)
            else:
                outcomes = run_tiles_local(udf, chunk, params, fmt, engine=which)
            for tile, (data, got, error) in zip(chunk, outcomes):
                x, y, z = tile
                if error is not None:
                    failed.append((tile, error))
                    if not skip_errors:
                        raise ExportError(
                            f"tile {z}/{x}/{y} of UDF {udf.name!r} failed: {error} "
                            "(pass skip_errors=True / --skip-errors to leave failed tiles out)",
                            failed,
                        )
                    continue
                if data is None:
                    empty += 1
                    continue
                if writer is None:
                    fmt = fmt or got
                    assert fmt is not None  # a tile with data says its format
                    writer = _native.TilesetWriter(str(path), fmt, overwrite)
                t0 = time.perf_counter()
                try:
                    writer.add(x, y, z, data)
                except ValueError as exc:
                    raise ExportError(
                        f"tile {z}/{x}/{y} of UDF {udf.name!r}: {exc}", failed
                    ) from None
                writer_s += time.perf_counter() - t0
            bar.update(len(chunk))
        if writer is None:
            writer = _native.TilesetWriter(str(path), fmt or "mvt", overwrite)
        t0 = time.perf_counter()
        stats = writer.finish(
            udf.name,
            zmin,
            zmax,
            (box[0], max(box[1], -85.0511287798066), box[2], min(box[3], 85.0511287798066)),
            description=_description(udf),
            center=_center(udf, box, zmin),
        )
        writer_s += time.perf_counter() - t0
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return ExportResult(
        path=str(path),
        format=fmt or "mvt",
        total=total,
        tiles=stats["tiles"],
        unique=stats["unique"],
        empty=stats["empty"] + empty,
        bytes=stats["bytes"],
        failed=failed,
        elapsed_s=time.perf_counter() - start,
        writer_s=writer_s,
    )


# -- the command -----------------------------------------------------------------------------


def _cli_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fused tiles export",
        description="Run a Tile UDF over every tile of a box and zoom range and write a "
        "PMTiles or MBTiles file. Other --NAME VALUE options are UDF parameters.",
    )
    p.add_argument("udf", help="the UDF: a folder, zip, .py file, GitHub URL or saved name")
    p.add_argument("--bbox", required=True, help="W,S,E,N in degrees")
    p.add_argument("--minzoom", required=True, type=int)
    p.add_argument("--maxzoom", required=True, type=int)
    p.add_argument("-o", "--output", required=True, help="out.pmtiles or out.mbtiles")
    p.add_argument("--format", choices=FORMATS, default=None)
    p.add_argument("--engine", choices=ENGINES, default=None)
    p.add_argument("--skip-errors", action="store_true", help="list failed tiles, go on")
    p.add_argument("--yes", action="store_true", help="confirm more than 1,000,000 tiles")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--no-progress", action="store_true")
    return p


def _udf_params(extra: list[str]) -> dict[str, str]:
    """`--NAME VALUE` / `--NAME=VALUE` pairs (values stay strings; the UDF's annotations
    convert them)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(extra):
        arg = extra[i]
        if not arg.startswith("--") or len(arg) < 3:
            raise ValueError(f"unexpected argument {arg!r}: UDF parameters are --NAME VALUE")
        name, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(extra):
                raise ValueError(f"UDF parameter --{name} needs a value")
            value = extra[i + 1]
            i += 1
        name = name.replace("-", "_")
        if not name.isidentifier():
            raise ValueError(f"invalid UDF parameter name {name!r}")
        out[name] = value
        i += 1
    return out


def cli_main(argv: Sequence[str]) -> int:
    """`fused tiles export ...`; returns the exit code."""
    parser = _cli_parser()
    # `--bbox -122.5,37.7,...` (a value starting with "-"), as argparse cannot take it.
    argv = list(argv)
    for i, arg in enumerate(argv[:-1]):
        if arg == "--bbox" and argv[i + 1][:2].lstrip("-")[:1].isdigit():
            argv[i : i + 2] = [f"--bbox={argv[i + 1]}"]
            break
    args, extra = parser.parse_known_args(argv)
    try:
        params = _udf_params(extra)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        result = export(
            args.udf,
            args.bbox,
            args.minzoom,
            args.maxzoom,
            args.output,
            format=args.format,
            engine=args.engine,
            parameters=params,
            skip_errors=args.skip_errors,
            yes=args.yes,
            overwrite=args.overwrite,
            progress=not args.no_progress,
        )
    except KeyboardInterrupt:
        print("fused tiles export: interrupted (a rerun resumes from the cache)", file=sys.stderr)
        return 130
    except ExportError as exc:
        print(f"fused tiles export: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError) as exc:
        print(f"fused tiles export: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, (ValueError, TypeError)) else 1
    print(result)
    for (x, y, z), error in result.failed:
        print(f"  failed: tile {z}/{x}/{y}: {error}", file=sys.stderr)
    return 0
