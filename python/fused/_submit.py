"""`fused.submit(udf, arg_list, ...)`: `udf.map` plus collecting, as Fused's `fused.submit`."""

from __future__ import annotations

import types
from typing import Any, Optional, Union

from fused._udf import Udf
from fused._udf import udf as udf_decorator

__all__ = ["submit"]


def _as_udf(udf: Any) -> Udf:
    if isinstance(udf, Udf):
        return udf
    if isinstance(udf, types.FunctionType):
        if udf.__name__ == "<lambda>":
            raise TypeError(
                "a lambda cannot be submitted: define a function with @fused.udf instead\n"
                "@fused.udf\ndef udf(x):\n    return x\n\nfused.submit(udf, arg_list)"
            )
        wrapped = udf_decorator(udf)
        assert isinstance(wrapped, Udf)
        return wrapped
    if isinstance(udf, str):
        from fused._load import load

        loaded = load(udf)
        if isinstance(loaded, Udf):
            return loaded
    raise TypeError(
        f"udf: expected a UDF (@fused.udf), a function or a UDF path, got {type(udf).__name__}"
    )


def submit(
    udf: Any,
    arg_list: Any,
    *,
    engine: Optional[str] = None,
    max_workers: Optional[int] = None,
    max_retry: int = 2,
    debug_mode: bool = False,
    collect: bool = True,
    cache_max_age: Union[str, int, None] = None,
    cache: bool = True,
    ignore_exceptions: bool = False,
    flatten: bool = True,
    drop_index: bool = False,
    timeout: Optional[float] = None,
    **kwargs: Any,
) -> Any:
    """Run `udf` once per element of `arg_list` (see `Udf.map`). `collect=True` waits and
    returns one DataFrame (`JobPool.collect(ignore_exceptions, flatten, drop_index)`);
    `collect=False` returns the `JobPool` at once. `debug_mode=True` runs only the first
    element, in this process, and returns its result. `kwargs` are fixed parameters."""
    the_udf = _as_udf(udf)
    pool = the_udf.map(
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
    if debug_mode:
        results = pool.results()
        return results[0] if results else None
    if not collect:
        return pool
    return pool.collect(ignore_exceptions=ignore_exceptions, flatten=flatten, drop_index=drop_index)
