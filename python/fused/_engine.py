"""Running a `Udf` (taken duck-typed): pick the engine, find the tile, bind and convert
parameters, run locally (through the run cache) or on the server. `fused.run` (`fused._run`)
and `Udf`'s methods call `run_udf`; this module never imports `fused._udf` at run time."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any, Optional, Union

from fused import _coerce
from fused._definition import parse_cache_max_age
from fused._execute import prepare
from fused._runcache import cached_call
from fused._tile import extract_tile, in_grid, shape_tile

if TYPE_CHECKING:
    from fused._udf import Udf

__all__ = ["ENGINES", "MAP_ENGINES", "run_udf"]

ENGINES = ("local", "remote")
# `udf.map` / `fused.submit` also run on a Dask cluster (`fused._mapdask`)
MAP_ENGINES = (*ENGINES, "dask")


def _resolve_engine(engine: Optional[str], engines: tuple[str, ...] = ENGINES) -> str:
    if engine is None:
        from fused._client import has_server

        return "remote" if has_server() else "local"
    if engine not in engines:
        raise ValueError(f"invalid engine: expected one of {', '.join(engines)}, got {engine!r}")
    return engine


def run_udf(
    udf: Udf,
    *args: Any,
    x: Any = None,
    y: Any = None,
    z: Any = None,
    engine: Optional[str] = None,
    parameters: Optional[dict[str, Any]] = None,
    cache_max_age: Union[str, int, None] = None,
    cache: bool = True,
    **params: Any,
) -> Any:
    """`fused.run(udf, ...)` for a `Udf` (see `fused._run.run`)."""
    if not isinstance(cache, bool):
        raise ValueError(f"invalid cache: expected True or False, got {cache!r}")
    if parameters:
        if not isinstance(parameters, dict):
            raise ValueError(
                f"invalid parameters: expected a dict, got {type(parameters).__name__}"
            )
        both = sorted(set(parameters) & set(params))
        if both:
            raise TypeError(f"parameter(s) given twice: {', '.join(both)}")
        params = {**parameters, **params}
    max_age = parse_cache_max_age(cache_max_age)
    prepared = prepare(udf)
    if _resolve_engine(engine) == "remote":
        return _run_remote(udf, prepared, args, x, y, z, params, max_age, cache)
    tile = extract_tile(prepared, x, y, z, params)
    given = _with_positional(udf, prepared.param_names, args, params)
    kwargs = _bind(udf, prepared, given, tile)
    depth = _run_depth.get() + 1
    if depth > MAX_RUN_DEPTH:
        raise RecursionError(
            f"fused.run of {udf.name!r} is nested {depth} levels deep: local runs may nest at "
            f"most {MAX_RUN_DEPTH} levels (does the UDF run itself without a stopping condition?)"
        )
    token = _run_depth.set(depth)
    try:
        if not cache or max_age == 0:
            return prepared.call(kwargs)
        return cached_call(udf, prepared, kwargs, given, tile, max_age)
    finally:
        _run_depth.reset(token)


#: How deep local runs may nest (a UDF that calls `fused.run` while it runs, in process).
MAX_RUN_DEPTH = 5
_run_depth: contextvars.ContextVar[int] = contextvars.ContextVar("fused_run_depth", default=0)


def _with_positional(
    udf: Udf, names: list[str], args: tuple[Any, ...], params: dict[str, Any]
) -> dict[str, Any]:
    """`params` plus the positional `args`, named by the UDF's parameter order."""
    if len(args) > len(names):
        raise TypeError(
            f"UDF {udf.name!r} takes {len(names)} parameter(s) but {len(args)} were given"
        )
    given: dict[str, Any] = {}
    for name, value in zip(names, args):
        if name in params:
            raise TypeError(f"UDF {udf.name!r} got parameter {name!r} twice")
        given[name] = value
    given.update(params)
    return given


def _bind(
    udf: Udf,
    prepared: Any,
    given: dict[str, Any],
    tile: Optional[tuple[str, Any]],
) -> dict[str, Any]:
    """Keyword arguments for the entrypoint: the call's values (positional ones named by
    `_with_positional`), then default_parameters; every external value converted by its
    parameter's spec."""
    parameters = prepared.parameters
    names = prepared.param_names
    if not prepared.var_keyword:
        unknown = [k for k in given if k not in parameters]
        if unknown:
            raise TypeError(
                f"UDF {udf.name!r} got unexpected parameter(s): {', '.join(unknown)} "
                f"(it takes: {', '.join(names) or 'no parameters'})"
            )
    kwargs: dict[str, Any] = {}
    if udf.default_parameters:
        for key, value in udf.default_parameters.items():
            if key in parameters or prepared.var_keyword:
                kwargs[key] = value
    kwargs.update(given)
    for key, value in kwargs.items():
        param = parameters.get(key)
        if param is not None and value is not None:
            kwargs[key] = _coerce.coerce(key, param.spec, value)
    if tile is not None:
        name, arg = tile
        if name in given:
            raise TypeError(f"UDF {udf.name!r}: parameter {name!r} was given and also a tile")
        kwargs[name] = shape_tile(parameters[name].spec, arg)
    missing = [n for n in prepared.required if n not in kwargs]
    if missing:
        raise TypeError(f"UDF {udf.name!r} is missing required parameter(s): {', '.join(missing)}")
    return kwargs


def _run_remote(
    udf: Udf,
    prepared: Any,
    args: tuple[Any, ...],
    x: Any,
    y: Any,
    z: Any,
    params: dict[str, Any],
    max_age: Optional[int],
    cache: bool,
) -> Any:
    """Ship the run to the server: the tile as z/x/y in the URL, a bbox as the tile
    parameter's value (4 numbers for a bounds-like annotation, else WKT)."""
    from fused._remote import run_remote

    params = _with_positional(udf, prepared.param_names, args, params)
    tile = extract_tile(prepared, x, y, z, params)
    xyz = None
    if tile is not None:
        name, arg = tile
        if not arg.from_bbox:
            if not in_grid(arg):
                raise ValueError(
                    f"tile ({arg.x}, {arg.y}, {arg.z}) is outside the grid (x and y in "
                    f"0..={2**arg.z - 1} at zoom {arg.z}): the server's tile endpoints refuse "
                    "it; run it with engine='local'"
                )
            xyz = (arg.x, arg.y, arg.z)
        else:
            spec = prepared.parameters[name].spec
            shaped = shape_tile(spec, arg)
            params[name] = list(arg.bounds) if isinstance(shaped, list) else arg.shapely().wkt
    return run_remote(udf, xyz, params, cache_max_age=max_age, cache=cache)
