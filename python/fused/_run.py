"""`fused.run`: a UDF (or anything `fused.load` accepts), run by `fused._engine`."""

from __future__ import annotations

from typing import Any, Optional, Union

from fused._engine import run_udf
from fused._load import load
from fused._udf import Udf

__all__ = ["run"]


def run(
    udf: Union[Udf, str, None] = None,
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
    """Run a UDF and return its result.

    - `udf`: a `Udf`, or anything `fused.load` accepts (path, zip, code)
    - File mode when no tile is named; Tile mode with `x=, y=, z=`, `lat=, lng=, z=` or
      `bbox=` (shapely geometry, GeoDataFrame, 4 numbers)
    - `engine`: `"local"` (in this process) or `"remote"` (a fused-rs server); default:
      local unless a server is configured
    - `parameters` and keyword arguments: the UDF's parameters, converted by annotation
    - `cache_max_age`, `cache`: the result cache's lifetime for this call ("10s", "30m",
      "48h", "90d" or seconds; default: the UDF's, else 90 days) and whether to use it;
      `cache=False` or `cache_max_age=0` runs the code. Local runs use a cache under
      `$FUSED_CACHE_DIR/runs` (see `fused._runcache`), remote runs the server's.
    """
    if udf is None:
        raise TypeError("fused.run() needs a UDF: fused.run(udf, ...) or fused.run(udf=...)")
    if isinstance(udf, str):
        udf = load(udf)
    if not isinstance(udf, Udf):
        raise TypeError(
            f"fused.run() expected a Udf (from @fused.udf or fused.load), got {type(udf).__name__}"
        )
    return run_udf(
        udf,
        *args,
        x=x,
        y=y,
        z=z,
        engine=engine,
        parameters=parameters,
        cache_max_age=cache_max_age,
        cache=cache,
        **params,
    )
