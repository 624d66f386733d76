"""Type stubs for `fused._native`, the PyO3 module over fused-core (see crates/fused-py)."""

from os import PathLike
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

from fused.tiles import Bbox, LngLat, LngLatBbox, Tile

__version__: str
ERROR_CODES: tuple[str, ...]
WORKER_ERROR_KINDS: tuple[str, ...]

# errors -------------------------------------------------------------------------------------
class UdfParameterError(ValueError):
    parameter: str
    expected: str
    value: str

class MercantileError(ValueError): ...
class InvalidLatitudeError(MercantileError): ...
class InvalidZoomError(MercantileError): ...
class ParentTileError(MercantileError): ...
class QuadKeyError(MercantileError): ...
class TileArgParsingError(MercantileError): ...
class TileError(MercantileError): ...

# durations ----------------------------------------------------------------------------------
def parse_max_age(value: str) -> int: ...

# tiles --------------------------------------------------------------------------------------
def tile(lng: float, lat: float, zoom: int, truncate: bool = False) -> Tile: ...
def bounds(*tile: Any) -> LngLatBbox: ...
def ul(*tile: Any) -> LngLat: ...
def xy_bounds(*tile: Any) -> Bbox: ...
def xy(lng: float, lat: float, truncate: bool = False) -> tuple[float, float]: ...
def lnglat(x: float, y: float, truncate: bool = False) -> LngLat: ...
def truncate_lnglat(lng: float, lat: float) -> tuple[float, float]: ...
def bounding_tile(*bbox: Any, truncate: bool = False) -> Tile: ...
def parent(*tile: Any, zoom: Optional[int] = None) -> Optional[Tile]: ...
def children(*tile: Any, zoom: Optional[int] = None) -> list[Tile]: ...
def neighbors(*tile: Any) -> list[Tile]: ...
def quadkey(*tile: Any) -> str: ...
def quadkey_to_tile(qk: str) -> Tile: ...
def simplify(tiles: Iterable[Any]) -> list[Tile]: ...
def minmax(zoom: int) -> tuple[int, int]: ...
def tile_many(
    lngs: npt.ArrayLike, lats: npt.ArrayLike, zoom: int, truncate: Optional[bool] = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def tiles_array(
    west: float, south: float, east: float, north: float, zoom: int, truncate: bool = False
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def count_tiles(
    west: float,
    south: float,
    east: float,
    north: float,
    zooms: Union[int, Sequence[int]],
    truncate: bool = False,
) -> int: ...
def _tile_ranges(
    west: float,
    south: float,
    east: float,
    north: float,
    zooms: Union[int, Iterable[int]],
    truncate: Optional[bool] = None,
) -> list[Any]: ...
def _tile_block(range: Any, start: int, count: int) -> list[Tile]: ...

# parameters ---------------------------------------------------------------------------------
def check_spec(spec: str) -> str: ...
def parse_spec(spec: str) -> Any: ...
def convert_param(
    name: str, spec: str, raw: str, finish: Optional[Callable[..., Any]] = None
) -> Any: ...

# packages -----------------------------------------------------------------------------------
def read_package(path: Union[str, PathLike[str]]) -> dict[str, Any]: ...
def write_package(
    pkg: dict[str, Any],
    path: Union[str, PathLike[str]],
    *,
    overwrite: bool = False,
    as_zip: bool = False,
) -> None: ...
def package_from_code(name: str, code: str) -> dict[str, Any]: ...

# github -------------------------------------------------------------------------------------
def github_fetch(
    url: str,
    *,
    cache_dir: Union[str, PathLike[str]],
    api_url: str,
    raw_url: str,
    token: Optional[str] = None,
    revalidate_s: int = 60,
) -> dict[str, Any]: ...
def github_create_gist(
    files: dict[str, str],
    *,
    description: str,
    public: bool,
    api_url: str,
    token: Optional[str],
) -> dict[str, str]: ...
def parse_github_url(url: str) -> dict[str, Optional[str]]: ...

# server -------------------------------------------------------------------------------------
def serve(args: list[str], *, python: str, data_dir: Union[str, PathLike[str]]) -> None: ...
def admin_create_user(email: str, data_dir: Union[str, PathLike[str]]) -> str: ...

# encoders -----------------------------------------------------------------------------------
def _xy(lng: Any, lat: Any, truncate: Any = None) -> tuple[float, float]: ...
def encode_table(ipc: bytes, format: str, tile: Optional[tuple[int, int, int]] = None) -> bytes: ...
def encode_result(
    kind: str,
    format: str,
    *,
    payload: Optional[bytes] = None,
    value: Any = None,
    dtype: Optional[str] = None,
    shape: Optional[list[int]] = None,
    bounds: Optional[list[float]] = None,
    content_type: Optional[str] = None,
    tile: Optional[tuple[int, int, int]] = None,
) -> bytes: ...

# tilesets (fused._export)
def tileset_count(bbox: tuple[float, float, float, float], minzoom: int, maxzoom: int) -> int: ...
def tileset_plan(
    bbox: tuple[float, float, float, float], minzoom: int, maxzoom: int
) -> list[tuple[int, int, int]]:
    """(x, y, z) of the tiles covering bbox, in PMTiles tile id order."""

def tileset_tile_id(z: int, x: int, y: int) -> int: ...
def mvt_layers(data: bytes) -> list[tuple[str, int, dict[str, str]]]: ...

class TilesetWriter:
    """A .pmtiles / .mbtiles archive being written (temporary name until finish())."""

    def __init__(self, path: str, format: str, overwrite: bool = ...) -> None: ...
    def add(self, x: int, y: int, z: int, data: bytes) -> bool: ...
    def stats(self) -> dict[str, int]: ...
    def vector_layers(self) -> dict[str, dict[str, str]]: ...
    def finish(
        self,
        name: str,
        minzoom: int,
        maxzoom: int,
        bounds: tuple[float, float, float, float],
        description: Optional[str] = None,
        center: Optional[tuple[float, float, float]] = None,
    ) -> dict[str, int]: ...
    def abort(self) -> None: ...

# @fused.cache disk store --------------------------------------------------------------------
class CacheLock:
    """Exclusive lock on one cache key, shared across processes; a context manager whose
    `__enter__` returns whether the lock was obtained within the timeout."""

    @property
    def acquired(self) -> bool: ...
    def acquire(self) -> bool: ...
    def release(self) -> None: ...
    def __enter__(self) -> bool: ...
    def __exit__(self, *args: object) -> bool: ...

def cache_get(
    dir: Union[str, PathLike[str]], key: str, max_age_s: Optional[float] = None
) -> Optional[bytes]: ...
def cache_put(dir: Union[str, PathLike[str]], key: str, data: bytes) -> None: ...
def cache_remove(dir: Union[str, PathLike[str]], key: str) -> bool: ...
def cache_lock(dir: Union[str, PathLike[str]], key: str, timeout_s: float) -> CacheLock: ...

# run result cache (local engine) -------------------------------------------------------------
class RunKeyer:
    """The UDF part of run keys (code, entrypoint, headers, default parameters), hashed once;
    the same keys as the server's. `defaults` must hold JSON values (else TypeError/ValueError)."""

    def __init__(
        self,
        code: str,
        entrypoint: str,
        headers: list[tuple[str, str]],
        defaults: Optional[dict[str, Any]] = None,
    ) -> None: ...
    @property
    def namespace(self) -> str:
        """The code namespace (hex), the folder of this code's entries."""
    def key(
        self,
        params: list[tuple[str, Optional[str], str]],
        tile: Optional[tuple[int, int, int]] = None,
    ) -> str:
        """64 hex digits. `params`: (name, kind, text); kind None keys a str parameter as the
        server does, else a non-str value of that kind by its canonical text. `tile`: z, x, y."""

# ("table", ipc) | ("raster", data, dtype, shape, bounds) | ("json", value) | ("bytes", data, ct)
CachedResult = tuple[Any, ...]

class RunStore:
    """Run results under `dir/<namespace>/<key>` (checksummed files, written atomically) with a
    memory tier of `memory_bytes` that serves an entry only while its file is unchanged."""

    def __init__(self, dir: Union[str, PathLike[str]], memory_bytes: int = ...) -> None: ...
    @property
    def dir(self) -> Path: ...
    def get(
        self, namespace: str, key: str, max_age_s: int
    ) -> tuple[Literal["hit", "missing", "stale", "expired", "corrupt"], Any]:
        """("hit", CachedResult), ("corrupt", reason) (removed), or (status, None)."""
    def put(
        self,
        namespace: str,
        key: str,
        max_age_s: int,
        kind: Literal["table", "raster", "json", "bytes"],
        *,
        payload: Optional[bytes] = None,
        value: Any = None,
        dtype: Optional[str] = None,
        shape: Optional[list[int]] = None,
        bounds: Optional[Sequence[float]] = None,
        content_type: Optional[str] = None,
        tile: Optional[tuple[int, int, int]] = None,
        behind: bool = False,
    ) -> None:
        """Store a result for `max_age_s` seconds; OSError when it cannot be written.
        `behind=True` returns before the disk write (a background thread writes it, in put
        order); OSError then reports an earlier write that failed."""
    def flush(self) -> None:
        """Wait until every result put behind is on disk; OSError names a failed write."""
    def pending_usage(self) -> tuple[int, int]:
        """(entries, bytes) put behind and not yet written."""
    def path(self, namespace: str, key: str) -> Optional[Path]: ...
    def remove(self, namespace: str, key: str) -> bool: ...
    def clear_memory(self) -> None: ...
    def memory_usage(self) -> tuple[int, int]:
        """(entries, bytes) of the memory tier."""

# the local worker pool of udf.map(engine="local") -------------------------------------------

class WorkerPool:
    """The server's supervised pool of `python -m fused._worker` processes, in process."""

    def __init__(
        self,
        python: str,
        workers: int,
        result_dir: str,
        *,
        timeout_s: float = 120.0,
        memory_mb: Optional[int] = None,
        env: list[tuple[str, str]] = ...,
        spares: int = 1,
    ) -> None: ...
    def submit(
        self,
        udf_json: str,
        tasks: Sequence[tuple[int, str, Optional[tuple[int, int, int]], Optional[float]]],
    ) -> None: ...
    def wait(
        self, timeout_s: float, limit: int = 100000
    ) -> list[tuple[int, str, Any, Optional[dict[str, Any]], str, str, float]]: ...
    def cancel(self, ids: Optional[list[int]] = None) -> None: ...
    def running(self) -> list[int]: ...
    def unfinished(self) -> int: ...
    def stats(self) -> dict[str, int]: ...
    @property
    def open(self) -> bool: ...
    def close(self, grace_s: float = 0.0) -> None: ...
