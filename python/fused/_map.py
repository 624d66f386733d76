"""`udf.map(arg_list)`: one run of a UDF per element of `arg_list`, returned as a `JobPool`.

`arg_list` forms: a list (or tuple, range) of scalars (each bound to the UDF's first
parameter), of dicts (keyword arguments), a DataFrame (one run per row), or tiles
(`fused.tiles.Tile`, `mercantile.Tile`, `(x, y, z)` triples for a UDF with a tile parameter,
or any iterable of tiles such as `fused.tiles.tiles(...)`): a tile is one Tile-mode run, as
`fused.run(udf, x=, y=, z=)` would run it. Every element is checked before any task starts
(unknown parameter, value that does not convert by the parameter's rules, missing required
parameter: `UdfParameterError` naming the index and the parameter).

Every run goes through the run result cache with the key a single `fused.run` would use
(`fused._runcache`), so a map re-run computes only what is missing or failed. Engines:
`local` runs on the warm worker pool (`fused._mapbackends.LocalBackend`); `remote` on the
configured server, one `fused.run(engine="remote")` per task from a thread pool; `dask` on a
Dask cluster (`fused._mapdask.DaskBackend`: `dask_client=`, `$FUSED_DASK_SCHEDULER` or a
session LocalCluster; the same run cache as `local`). Inside a
worker (a UDF that maps while it runs) the map runs inline in that worker, so the pool never
waits on itself; maps nested deeper than 5 levels raise `RecursionError`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional, Union

from fused._jobpool import Call, JobPool

if TYPE_CHECKING:
    from fused._udf import Udf

__all__ = ["MAX_DEPTH", "map_udf"]

MAX_DEPTH = 5
_TILE_SPECS = {"bounds", "bbox", "tilexyz", "tile", "tilegdf", "viewportgdf"}
_TILE_KEYS = ("x", "y", "z")


def _param_error(index: int, exc: BaseException, name: Optional[str] = None) -> Exception:
    from fused.types import UdfParameterError

    err = UdfParameterError(f"arg_list[{index}]: {exc}")
    err.index = index  # type: ignore[attr-defined]
    err.parameter = str(getattr(exc, "parameter", None) or name or "")
    err.expected = str(getattr(exc, "expected", None) or "")
    err.value = str(getattr(exc, "value", None) or "")
    return err


def _is_tile(item: Any) -> bool:
    from fused import tiles

    return isinstance(item, tiles.Tile)


def _rows(udf: Udf, prepared: Any, arg_list: Any) -> list[dict[str, Any]]:
    """`arg_list` as one dict of arguments per run (tiles as x/y/z)."""
    import pandas as pd

    if isinstance(arg_list, pd.DataFrame):
        return [dict(r) for r in arg_list.to_dict(orient="records")]
    if isinstance(arg_list, (str, bytes, dict)) or not hasattr(arg_list, "__iter__"):
        raise TypeError(
            "arg_list: expected a list, tuple, DataFrame or iterable of tiles, got "
            f"{type(arg_list).__name__}"
        )
    items = list(arg_list)
    if not isinstance(arg_list, (list, tuple, range)) and not all(_is_tile(i) for i in items):
        raise TypeError(
            "arg_list: expected a list, tuple, DataFrame or iterable of tiles, got a "
            f"{type(arg_list).__name__} of other values"
        )
    from fused._tile import _strip_optional, tile_parameter

    target = tile_parameter(prepared)
    tile_udf = target in ("bounds", "bbox") or (
        target is not None and _strip_optional(prepared.parameters[target].spec) in _TILE_SPECS
    )
    names = prepared.param_names
    rows: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            rows.append(dict(item))
        elif _is_tile(item) or (
            tile_udf
            and type(item) is tuple
            and len(item) == 3
            and all(type(v) is int for v in item)
        ):
            rows.append({"x": int(item[0]), "y": int(item[1]), "z": int(item[2])})
        elif names:
            rows.append({names[0]: item})
        else:
            raise _param_error(i, TypeError(f"UDF {udf.name!r} takes no parameters to map over"))
    return rows


def _plan(
    udf: Udf, prepared: Any, rows: list[dict[str, Any]], fixed: dict[str, Any]
) -> list[tuple[dict[str, Any], Any, Optional[tuple[int, int, int]]]]:
    """Per run: (parameters, tile argument for the cache key, tile x/y/z), checked by the
    same rules `fused.run` applies; the first bad element raises `UdfParameterError`."""
    from fused import _coerce
    from fused._tile import extract_tile

    parameters = prepared.parameters
    out = []
    for i, row in enumerate(rows):
        params = {**fixed, **row}
        xyz_params = "x" in parameters or "y" in parameters
        x, y, z = (None, None, None) if xyz_params else (params.pop(k, None) for k in _TILE_KEYS)
        try:
            tile = extract_tile(prepared, x, y, z, params)
        except (TypeError, ValueError) as exc:
            raise _param_error(i, exc) from None
        if not prepared.var_keyword:
            unknown = [k for k in params if k not in parameters]
            if unknown:
                raise _param_error(
                    i,
                    ValueError(
                        f"UDF {udf.name!r} has no parameter {unknown[0]!r} (it takes: "
                        f"{', '.join(prepared.param_names) or 'no parameters'})"
                    ),
                    unknown[0],
                )
        for key, value in params.items():
            param = parameters.get(key)
            if param is not None and value is not None:
                try:
                    _coerce.coerce(key, param.spec, value)
                except Exception as exc:  # noqa: BLE001 - named with its index
                    raise _param_error(i, exc, key) from None
        defaults = udf.default_parameters or {}
        missing = [
            n
            for n in prepared.required
            if n not in params and n not in defaults and (tile is None or tile[0] != n)
        ]
        if missing:
            raise _param_error(
                i, TypeError(f"missing required parameter {missing[0]!r}"), missing[0]
            )
        xyz = None
        if tile is not None:
            arg = tile[1]
            if arg.from_bbox:
                # a bbox tile travels as the parameter's value, as the remote engine sends it
                from fused._tile import shape_tile

                shaped = shape_tile(parameters[tile[0]].spec, arg)
                params[tile[0]] = list(arg.bounds) if isinstance(shaped, list) else shaped
            else:
                if arg.x < 0 or arg.y < 0:
                    raise _param_error(
                        i, ValueError(f"tile ({arg.x}, {arg.y}, {arg.z}) is outside the grid")
                    )
                xyz = (arg.x, arg.y, arg.z)
        out.append((params, tile, xyz))
    return out


def map_udf(
    udf: Udf,
    arg_list: Any,
    *,
    engine: Optional[str] = None,
    max_workers: Optional[int] = None,
    max_retry: int = 2,
    debug_mode: bool = False,
    cache_max_age: Union[str, int, None] = None,
    cache: bool = True,
    timeout: Optional[float] = None,
    _decode: bool = True,
    **kwargs: Any,
) -> JobPool:
    """`udf.map(...)`: see the module docstring. Returns the `JobPool` at once.
    `_decode=False` (tile exports): on the local pool, table results are left as Arrow IPC
    in `JobPool._raw` (their `results()` are None)."""
    from fused import _mapbackends as backends
    from fused._definition import parse_cache_max_age
    from fused._engine import MAP_ENGINES, _resolve_engine
    from fused._execute import prepare

    if max_workers is not None and (type(max_workers) is not int or max_workers < 1):
        raise ValueError(f"max_workers: expected an integer >= 1, got {max_workers!r}")
    if type(max_retry) is not int or max_retry < 0:
        raise ValueError(f"max_retry: expected an integer >= 0, got {max_retry!r}")
    if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
        raise ValueError(f"timeout: expected a number of seconds > 0, got {timeout!r}")
    if not isinstance(cache, bool):
        raise ValueError(f"invalid cache: expected True or False, got {cache!r}")
    max_age = 0 if not cache else parse_cache_max_age(cache_max_age)
    engine = _resolve_engine(engine, MAP_ENGINES)
    dask_client = kwargs.pop("dask_client", None)
    if dask_client is not None and engine != "dask":
        raise ValueError(f"dask_client: only used with engine='dask', got engine={engine!r}")
    prepared = prepare(udf)
    rows = _rows(udf, prepared, arg_list)
    if debug_mode:
        rows = rows[:1]
    planned = _plan(udf, prepared, rows, kwargs)
    depth = backends.map_depth() + 1
    if depth > MAX_DEPTH:
        raise RecursionError(
            f"udf.map of {udf.name!r} is nested {depth} levels deep: maps may nest at most "
            f"{MAX_DEPTH} levels (does the UDF map itself without a stopping condition?)"
        )
    hits: dict[int, Any] = {}
    plans: dict[int, Any] = {}
    calls: list[Call] = []
    if engine in ("local", "dask") and max_age != 0:
        from fused._runcache import lookup

        for i, (params, tile, xyz) in enumerate(planned):
            given = {k: v for k, v in params.items() if tile is None or k != tile[0]}
            hit, value, plan = lookup(udf, prepared, given, tile, max_age)
            if hit:
                hits[i] = value
                continue
            if plan is not None:
                plans[i] = plan
            calls.append(Call(i, params, xyz))
    else:
        calls = [Call(i, params, xyz) for i, (params, _, xyz) in enumerate(planned)]
    backend: Any = None
    if calls:
        if debug_mode or (engine == "local" and backends.in_worker()):
            backend = backends.InlineBackend(udf, depth)
        elif engine == "local":
            workers = max_workers or os.cpu_count() or 1
            backend = backends.LocalBackend(udf, workers, timeout, decode=_decode)
        elif engine == "dask":
            from fused._mapdask import DaskBackend

            backend = DaskBackend(udf, timeout, dask_client=dask_client, workers=max_workers)
        else:
            from fused._mapremote import JobsBackend

            backend = JobsBackend(
                udf,
                max_retry=max_retry,
                cache=cache,
                cache_max_age=max_age if cache else None,
                timeout=timeout,
            )

    on_success = None
    if plans:
        from fused._runcache import store, store_table

        def on_success(index: int, value: Any, raw: Any) -> None:
            plan = plans.pop(index, None)
            if plan is None:
                return
            # write-behind: served at once, written by the run cache's Rust thread
            if raw is not None and raw[0] == "table":
                # the worker's own Arrow IPC: what this run returned is what a hit returns
                store_table(plan, raw[1])
            else:
                store(plan, value)

    return JobPool(
        udf.name,
        rows,
        calls,
        backend,
        max_retry=max_retry,
        done=hits,
        on_success=on_success,
    )
