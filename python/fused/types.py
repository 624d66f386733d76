"""Types used in UDF annotations, and the errors a UDF run raises.

The tile markers (`Bounds`, `Bbox`, `TileXYZ`, `TileGDF`, `Tile`, `ViewportGDF`) tell
`fused.run` how to shape the tile for the parameter that receives it:

| annotation | the parameter receives |
|---|---|
| `Bounds` | `[west, south, east, north]` (floats, EPSG:4326) |
| `Bbox` | a shapely Polygon of the bounds |
| `TileXYZ` | a `fused.tiles.Tile` |
| `TileGDF` / `Tile` | a one-row GeoDataFrame with columns `x, y, z, geometry` (EPSG:4326) |
| `ViewportGDF` | a one-row GeoDataFrame with only `geometry` |
"""

from __future__ import annotations

from typing import Any, Optional

from fused._native import UdfParameterError

__all__ = [
    "Bbox",
    "Bounds",
    "Tile",
    "TileGDF",
    "TileXYZ",
    "UdfParameterError",
    "UdfRuntimeError",
    "UdfTimeoutError",
    "ViewportGDF",
]


class _TileMarker:
    """Base of the annotation markers; `__fused_marker__` is the spec name the rules use."""

    __fused_marker__ = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)


class Bounds(_TileMarker):
    """`[west, south, east, north]` in EPSG:4326."""

    __fused_marker__ = "bounds"


class Bbox(_TileMarker):
    """A shapely Polygon of the tile or bbox."""

    __fused_marker__ = "bbox"


class TileXYZ(_TileMarker):
    """A `fused.tiles.Tile` (x, y, z)."""

    __fused_marker__ = "tilexyz"


class TileGDF(_TileMarker):
    """A one-row GeoDataFrame with columns x, y, z, geometry."""

    __fused_marker__ = "tilegdf"


class Tile(TileGDF):
    """Alias of `TileGDF`."""


class ViewportGDF(_TileMarker):
    """A one-row GeoDataFrame with only a geometry column."""

    __fused_marker__ = "viewportgdf"


class UdfRuntimeError(RuntimeError):
    """The UDF's own code raised.

    Attributes: `exception_class` (name of the original exception class), `errormsg`,
    `lineno` (line in the UDF code, or None), `traceback` (text, trimmed to UDF frames),
    `stdout`, `stderr`.
    """

    def __init__(
        self,
        message: str,
        *,
        exception_class: str = "",
        errormsg: str = "",
        lineno: Optional[int] = None,
        traceback: str = "",
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        super().__init__(message)
        self.exception_class = exception_class
        self.errormsg = errormsg
        self.lineno = lineno
        self.traceback = traceback
        self.stdout = stdout
        self.stderr = stderr


class UdfTimeoutError(TimeoutError):
    """The UDF did not finish within its time limit."""
