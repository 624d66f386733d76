"""The local engine's run result cache (`fused.run(udf, ...)`, `udf.run_local(...)`).

Key: the server's run key (`fused_core::runcache::key`) over the UDF's code, entrypoint,
headers and default parameters, the call's parameters as given (a str as is, so it keys as the
server keys it; any other value by a type-tagged canonical text: JSON for plain values, else a
content hash: numpy arrays by dtype, shape and bytes, DataFrames by content, geometries by WKB)
and the tile (z/x/y; a bbox also by its bounds and geometry). A parameter value without a
content hash (an arbitrary object) makes the run uncached.

Store: `$FUSED_CACHE_DIR/runs/<code namespace>/<key>` (default `~/.cache/fused/runs`), one
checksummed file per entry written atomically by Rust (write-behind: a miss returns its result
without waiting for the disk; the entry is served from memory at once, written by a Rust
thread in put order, and flushed at interpreter exit), plus an in-process memory tier of
canonical bytes (`FUSED_RUN_CACHE_MEMORY_MB`, default 64; 0 turns it off) that serves an entry
only while its file is unchanged. A hit rebuilds a new Python object each time.

Lifetime: the call's `cache_max_age`, else the UDF's (decorator or meta.json), else 90 days; an
entry is served while younger than that and than the lifetime it was stored with. `cache=False`
or a lifetime of 0 bypasses the cache. Only results that come back identical are stored
(`fused._canonical.for_cache`); exceptions are never stored. Any cache failure (unwritable
folder, corrupt entry) falls back to running the UDF, with one warning per kind of failure.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import warnings
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

from fused import _native
from fused._canonical import for_cache, from_cache

if TYPE_CHECKING:
    from fused._execute import Prepared
    from fused._tile import TileArg
    from fused._udf import Udf

__all__ = ["DEFAULT_MAX_AGE_S", "Plan", "cached_call", "flush_all", "lookup", "run_store", "store"]

DEFAULT_MAX_AGE_S = 90 * 86400
_KEEP_STORES = 4

_stores: dict[str, Any] = {}
_warned: set[str] = set()


def run_store() -> Any:
    """The `RunStore` of the current `FUSED_CACHE_DIR` (one per folder; the memory tier's size
    is read when a folder's store is made)."""
    base = os.environ.get("FUSED_CACHE_DIR") or ""
    store = _stores.get(base)
    if store is None:
        root = os.path.expanduser(base or os.path.join("~", ".cache", "fused"))
        memory = os.environ.get("FUSED_RUN_CACHE_MEMORY_MB") or "64"
        try:
            mb = float(memory)
        except ValueError:
            _warn_once("memory", f"FUSED_RUN_CACHE_MEMORY_MB={memory!r} is not a number; using 64")
            mb = 64.0
        store = _native.RunStore(os.path.join(root, "runs"), max(0, int(mb * 1024 * 1024)))
        while len(_stores) >= _KEEP_STORES:
            _flush(_stores.pop(next(iter(_stores))))
        if not _stores:
            atexit.register(flush_all)
        _stores[base] = store
    return store


def _flush(store: Any) -> None:
    try:
        store.flush()
    except OSError as exc:
        _warn_once("write", f"cannot store a result in {store.dir} ({exc})")


def flush_all() -> None:
    """Wait until every result stored behind (write-behind) is on disk."""
    for store in list(_stores.values()):
        _flush(store)


def _warn_once(kind: str, message: str) -> None:
    if kind not in _warned:
        _warned.add(kind)
        warnings.warn(f"fused run cache: {message}", RuntimeWarning, stacklevel=4)


# -- keys ------------------------------------------------------------------------------------


def _feed(h: Any, value: Any, path: str) -> None:
    """Hash `value` by content, keeping the order of lists, tuples and dicts."""
    t = type(value)
    if t is list or t is tuple or (t is not str and isinstance(value, tuple)):
        h.update(f"{t.__module__}.{t.__qualname__}:{len(value)}[".encode())
        for i, item in enumerate(value):
            _feed(h, item, f"{path}[{i}]")
        h.update(b"]")
    elif t is dict:
        h.update(f"dict:{len(value)}{{".encode())
        for k, v in value.items():
            _feed(h, k, f"{path} key")
            _feed(h, v, f"{path}[{k!r}]")
        h.update(b"}")
    else:
        from fused._cache import hash_into

        hash_into(h, value, path, strict=True)


def _param_text(value: Any) -> tuple[Optional[str], str]:
    """(kind, text) of a parameter value for the key; TypeError when it has no content hash."""
    t = type(value)
    if t is str:
        return None, value
    if value is None:
        return "none", ""
    if t is int or t is float or t is bool:
        return t.__name__, repr(value)
    from fused._canonical import plain_json

    if plain_json(value):
        return "json", json.dumps(value)
    h = hashlib.sha256()
    _feed(h, value, "parameter")
    return "sha256", h.hexdigest()


def _keyer(udf: Udf, prepared: Prepared) -> Any:
    """The UDF part of the key (cached on the compiled UDF, per default parameters); None when
    the default parameters are not JSON."""
    defaults = udf.default_parameters
    if defaults:
        try:
            marker: Optional[str] = json.dumps(defaults, sort_keys=True)
        except (TypeError, ValueError):
            return None
    else:
        marker = None
    keyers = prepared.run_keyers
    keyer = keyers.get(marker)
    if keyer is None:
        headers = [(h.module_name, h.source_code) for h in udf.headers]
        entrypoint = udf.entrypoint or prepared.entrypoint
        try:
            keyer = _native.RunKeyer(udf.code, entrypoint, headers, defaults or None)
        except (TypeError, ValueError):
            return None
        keyers[marker] = keyer
    return keyer


def _run_key(
    keyer: Any, given: dict[str, Any], tile: Optional[tuple[str, TileArg]]
) -> Optional[tuple[str, Optional[tuple[int, int, int]]]]:
    """(key, tile as z/x/y) of a run, or None when a parameter has no content hash."""
    from fused._tile import in_grid

    try:
        params = [(name, *_param_text(value)) for name, value in given.items()]
        xyz = None
        if tile is not None:
            name, arg = tile
            if not in_grid(arg):
                return None  # a tile outside the grid is run, not cached
            xyz = (arg.z, arg.x, arg.y)
            if arg.from_bbox:
                h = hashlib.sha256()
                _feed(h, (list(arg.bounds), arg.geometry), "bbox")
                params.append((name, "bbox", h.hexdigest()))
    except (TypeError, ValueError, RecursionError):
        return None
    return keyer.key(params, xyz), xyz


# -- runs ------------------------------------------------------------------------------------


class Plan(NamedTuple):
    """Where one run's result lives in the cache (`lookup` -> `store`)."""

    store: Any
    namespace: str
    key: str
    lifetime: int
    xyz: Optional[tuple[int, int, int]]


def lookup(
    udf: Udf,
    prepared: Prepared,
    given: dict[str, Any],
    tile: Optional[tuple[str, TileArg]],
    max_age: Optional[int],
) -> tuple[bool, Any, Optional[Plan]]:
    """(hit, value, plan) of one run: a fresh entry's value (hit), else the plan to `store`
    its result under (None when the run is not cached: lifetime 0, a parameter without a
    content hash, a tile outside the grid, an unreadable cache)."""
    lifetime = max_age if max_age is not None else udf.cache_max_age
    if lifetime is None:
        lifetime = DEFAULT_MAX_AGE_S
    keyer = _keyer(udf, prepared) if lifetime > 0 else None
    planned = _run_key(keyer, given, tile) if keyer is not None else None
    if keyer is None or planned is None:
        return False, None, None
    key, xyz = planned
    namespace = keyer.namespace
    try:
        store = run_store()
        status, detail = store.get(namespace, key, lifetime)
    except Exception as exc:  # noqa: BLE001 - the cache never breaks a run
        _warn_once("read", f"cannot read the cache ({exc}); running the UDF")
        return False, None, None
    if status == "hit":
        try:
            return True, from_cache(detail), None
        except Exception as exc:  # noqa: BLE001
            _warn_once("decode", f"cannot decode a cached result ({exc}); running the UDF")
            store.remove(namespace, key)
    elif status == "corrupt":
        _warn_once("corrupt", f"corrupt entry {store.path(namespace, key)} ({detail}); recomputed")
    return False, None, Plan(store, namespace, key, lifetime, xyz)


def store(plan: Plan, result: Any) -> None:
    """Keep `result` under `plan` when it round-trips exactly (else nothing is stored)."""
    try:
        pieces = for_cache(result)
    except Exception:  # noqa: BLE001 - not representable: returned as is, not cached
        pieces = None
    if pieces is not None:
        try:
            plan.store.put(
                plan.namespace, plan.key, plan.lifetime, tile=plan.xyz, behind=True, **pieces
            )
        except Exception as exc:  # noqa: BLE001
            _warn_once("write", f"cannot store a result in {plan.store.dir} ({exc})")


def store_table(plan: Plan, ipc: bytes) -> None:
    """Keep a table result given as the Arrow IPC it was decoded from (a worker's answer):
    a hit decodes the same bytes, so it needs no round-trip check."""
    try:
        plan.store.put(
            plan.namespace,
            plan.key,
            plan.lifetime,
            tile=plan.xyz,
            behind=True,
            kind="table",
            payload=bytes(ipc),
        )
    except Exception as exc:  # noqa: BLE001
        _warn_once("write", f"cannot store a result in {plan.store.dir} ({exc})")


def cached_call(
    udf: Udf,
    prepared: Prepared,
    kwargs: dict[str, Any],
    given: dict[str, Any],
    tile: Optional[tuple[str, TileArg]],
    max_age: Optional[int],
) -> Any:
    """Run `prepared` with `kwargs` through the run cache: a fresh entry is returned without
    running the code; otherwise the result is stored when it round-trips exactly."""
    hit, value, plan = lookup(udf, prepared, given, tile, max_age)
    if hit:
        return value
    result = prepared.call(kwargs)
    if plan is not None:
        store(plan, result)
    return result
