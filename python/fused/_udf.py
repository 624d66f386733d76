"""The `@fused.udf` decorator and the `Udf` object it returns."""

from __future__ import annotations

import inspect
import os
import textwrap
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from fused import _native
from fused._definition import (
    CACHE_MAX_AGE_KEY,
    DEFAULT_UDF_TYPE,
    Header,
    UdfParameter,
    headers_from,
    load_state,
    package_dict,
    parse_cache_max_age,
)

# Udf's methods that run, save or share it call down into modules that take it duck-typed
# (`_engine`, `_execute`, `_map`, `_account`, `_github`, `_client`); none of them imports this
# module at run time, so the SDK's imports have no cycle (tests/test_import_graph.py).

__all__ = [
    "CACHE_MAX_AGE_KEY",
    "DEFAULT_UDF_TYPE",
    "Header",
    "Udf",
    "UdfParameter",
    "parse_cache_max_age",
    "udf",
]

# Options of the Python `fused` package's decorator that only matter to a hosted
# scheduler: accepted so catalog code runs, kept in metadata, otherwise unused here.
_PASSTHROUGH_OPTIONS = ("schema", "instance_type", "disk_size_gb", "region", "engine")


def _source_of(fn: Callable[..., Any]) -> str:
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError) as exc:
        raise ValueError(
            f"@fused.udf: cannot read the source code of {getattr(fn, '__name__', fn)!r} "
            "(define it in a file, a notebook cell or load it with fused.load(code))"
        ) from exc
    return textwrap.dedent(source)


class Udf:
    """A user-defined function: its code and what is needed to run it anywhere.

    Created by `@fused.udf` or `fused.load(...)`. Calling it (`my_udf(a=1)`) runs it like
    `fused.run(my_udf, a=1, cache=False)` (a function call always runs the code);
    `run_local()` runs it in this process and returns its result (through the run cache).
    Module-level names of the code are attributes (`common.helper(1)`), header modules too
    (`udf.utils`).
    """

    def __init__(
        self,
        *,
        name: str,
        code: str,
        entrypoint: Optional[str] = None,
        headers: Sequence[Header] = (),
        default_parameters: Optional[dict[str, Any]] = None,
        metadata: Optional[dict[str, Any]] = None,
        cache_max_age: Optional[int] = None,
        udf_type: str = DEFAULT_UDF_TYPE,
        readme: Optional[str] = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"invalid UDF name {name!r}: expected a non-empty string")
        if not isinstance(code, str):
            raise ValueError(f"invalid UDF code for {name!r}: expected a string")
        self.name = name
        self.code = code
        self.entrypoint = entrypoint
        self.headers = list(headers)
        self.default_parameters = dict(default_parameters or {})
        self.metadata = dict(metadata or {})
        self.cache_max_age = cache_max_age
        self.type = udf_type
        self.readme = readme
        self._module: Optional[dict[str, Any]] = None

    # -- running -------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """`fused.run(udf, ...)`, as a plain function call: the code runs every time (no
        result cache) unless the call passes `cache=True` or a `cache_max_age`."""
        from fused._engine import run_udf

        if "cache" not in kwargs and "cache_max_age" not in kwargs:
            kwargs["cache"] = False
        return run_udf(self, *args, **kwargs)

    def run_local(self, *args: Any, **kwargs: Any) -> Any:
        """Run in this process and return the UDF's result itself."""
        from fused._engine import run_udf

        return run_udf(self, *args, engine="local", **kwargs)

    def map(
        self,
        arg_list: Any,
        *,
        engine: Optional[str] = None,
        max_workers: Optional[int] = None,
        max_retry: int = 2,
        debug_mode: bool = False,
        cache_max_age: Union[str, int, None] = None,
        cache: bool = True,
        timeout: Optional[float] = None,
        **kwargs: Any,
    ) -> Any:
        """Run once per element of `arg_list` (scalars bind the first parameter, dicts are
        keyword arguments, DataFrame rows, or tiles); returns a `JobPool` at once (`.wait()`,
        `.collect()`, `.results()`, `.errors()`, ...). `kwargs` are fixed parameters of every
        run; `timeout` is a time limit per run in seconds (`fused._map`)."""
        from fused._map import map_udf

        return map_udf(
            self,
            arg_list,
            engine=engine,
            max_workers=max_workers,
            max_retry=max_retry,
            debug_mode=debug_mode,
            cache_max_age=cache_max_age,
            cache=cache,
            timeout=timeout,
            **kwargs,
        )

    @property
    def parameters(self) -> dict[str, UdfParameter]:
        """The entrypoint's parameters: name -> UdfParameter(name, annotation, default, spec)."""
        from fused._execute import prepare

        return dict(prepare(self).parameters)

    # -- saving --------------------------------------------------------------------------
    def _package(self) -> dict[str, Any]:
        from fused._execute import prepare

        return package_dict(self, self.entrypoint or prepare(self).entrypoint)

    def json(self, **_options: Any) -> str:
        """The UDF as JSON text (code, headers with their source, entrypoint, parameters,
        metadata); `fused.models.udf.udf.GeoPandasUdfV2.parse_raw(text)` rebuilds it."""
        import json

        return json.dumps(self._package(), sort_keys=True)

    model_dump_json = json

    def to_directory(self, path: Union[str, os.PathLike[str]], overwrite: bool = False) -> Path:
        """Write the catalog layout (`README.md`, `<name>.py`, `meta.json`, headers) to `path`."""
        target = Path(path)
        _native.write_package(self._package(), str(target), overwrite=overwrite, as_zip=False)
        return target

    def to_file(self, path: Union[str, os.PathLike[str]], overwrite: bool = False) -> Path:
        """Write the package as a zip file (a `<name>/` folder inside) to `path`."""
        target = Path(path)
        _native.write_package(self._package(), str(target), overwrite=overwrite, as_zip=True)
        return target

    def to_gist(self, public: bool = False, description: Optional[str] = None) -> str:
        """Save as a GitHub gist (needs `GITHUB_TOKEN`); returns the gist's URL, which
        `fused.load` accepts."""
        from fused._github import create_gist

        return create_gist(self, public=public, description=description)

    def to_fused(self, overwrite: bool = False) -> dict[str, Any]:
        """Save to the configured fused-rs server under your account (a new version on each
        save; an existing name needs `overwrite=True`). Returns name, version, owner."""
        from fused._account import save_udf

        return save_udf(self, overwrite=overwrite)

    def invalidate_cache(
        self, x: Optional[int] = None, y: Optional[int] = None, z: Optional[int] = None
    ) -> int:
        """Remove the server's cached results of this UDF, saved under your account (all of
        them, or one tile's with `x`, `y`, `z`). Returns how many entries were removed. The
        saved-UDF and share-token endpoints use these entries."""
        from fused._client import invalidate_saved_cache

        tile = [v for v in (x, y, z) if v is not None]
        if tile and len(tile) != 3:
            raise ValueError("invalid tile: expected all of x, y and z, or none")
        xyz = (int(x), int(y), int(z)) if tile else None  # type: ignore[arg-type]
        return invalidate_saved_cache(self.name, xyz)

    def create_access_token(self) -> Any:
        """A share token for this saved UDF: `.token`, `.shared_url`, `.tile_url`,
        `.revoke()`; its URLs run the UDF with no login."""
        from fused._account import create_access_token

        return create_access_token(self)

    # -- module attributes -----------------------------------------------------------------
    def __getattr__(self, attr: str) -> Any:
        # Only called for names not found normally. Private and dunder names never run code
        # (copy, pickle and notebook display probe those).
        if attr.startswith("_") or "headers" not in self.__dict__:
            raise AttributeError(attr)
        from fused._execute import header_module, module_namespace

        for header in self.headers:
            if header.module_name == attr:
                return header_module(self, header)
        namespace = module_namespace(self)
        if attr in namespace:
            return namespace[attr]
        raise AttributeError(f"UDF {self.name!r} has no attribute {attr!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {h.module_name for h in self.headers})

    def __repr__(self) -> str:
        return f"<Udf {self.name!r} entrypoint={self.entrypoint!r}>"


def udf(
    fn: Optional[Callable[..., Any]] = None,
    *,
    name: Optional[str] = None,
    cache_max_age: Union[str, int, None] = None,
    default_parameters: Optional[dict[str, Any]] = None,
    headers: Optional[Sequence[Any]] = None,
    **options: Any,
) -> Any:
    """Turn a function into a UDF. Use bare (`@fused.udf`) or called (`@fused.udf(name=...)`).

    - `name`: the UDF's name (default: the function's name)
    - `cache_max_age`: `"10s"`, `"30m"`, `"48h"`, `"90d"` or whole seconds
    - `default_parameters`: values used when a call does not give them
    - `headers`: helper modules, as paths to `.py` files (or `Header`s), importable by name
    """
    unknown = sorted(set(options) - set(_PASSTHROUGH_OPTIONS))
    if unknown:
        raise TypeError(f"fused.udf() got unexpected keyword argument(s): {', '.join(unknown)}")
    max_age = parse_cache_max_age(cache_max_age)
    if default_parameters is not None and not isinstance(default_parameters, dict):
        raise ValueError(
            f"invalid default_parameters: expected a dict, got {type(default_parameters).__name__}"
        )
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"invalid name {name!r}: expected a non-empty string")

    def decorate(func: Callable[..., Any]) -> Any:
        if not callable(func):
            raise TypeError(f"@fused.udf decorates a function, got {type(func).__name__}")
        config = {
            "name": name,
            "cache_max_age": max_age,
            "default_parameters": default_parameters,
            "headers": headers,
            "options": options,
        }
        if load_state.frames:
            # fused is executing this code: it already has the source; just record.
            func.__fused_udf__ = config  # type: ignore[attr-defined]
            load_state.frames[-1].append(func)
            return func
        code_file = getattr(getattr(func, "__code__", None), "co_filename", None)
        base_dir = Path(code_file).parent if code_file and os.path.exists(code_file) else None
        obj = Udf(
            name=name or func.__name__,
            code=_source_of(func),
            entrypoint=func.__name__,
            headers=headers_from(headers, base_dir),
            default_parameters=default_parameters,
            metadata={f"fused:{k}": v for k, v in options.items()},
            cache_max_age=max_age,
        )
        obj.__doc__ = func.__doc__
        obj.__wrapped__ = func  # type: ignore[attr-defined]
        return obj

    if fn is not None:
        return decorate(fn)
    return decorate
