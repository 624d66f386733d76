"""Which optional libraries are importable, and their key classes (or stand-ins).

Catalog helper UDFs pinned to old commits import these names from `fused._optional_deps`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "GPD_GEODATAFRAME",
    "HAS_GEOPANDAS",
    "HAS_MERCANTILE",
    "HAS_PANDAS",
    "HAS_SHAPELY",
    "MERCANTILE_TILE",
    "PD_DATAFRAME",
    "SHAPELY_GEOMETRY",
]


class _Missing:
    """Stand-in class for a library that is not installed: nothing is an instance of it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise ImportError(f"{type(self).__name__}: the library providing it is not installed")


try:
    import pandas

    HAS_PANDAS = True
    PD_DATAFRAME: Any = pandas.DataFrame
except ImportError:  # pragma: no cover - pandas is a runtime dependency
    HAS_PANDAS = False
    PD_DATAFRAME = type("DataFrame", (_Missing,), {})

try:
    import geopandas

    HAS_GEOPANDAS = True
    GPD_GEODATAFRAME: Any = geopandas.GeoDataFrame
except ImportError:  # pragma: no cover - geopandas is a runtime dependency
    HAS_GEOPANDAS = False
    GPD_GEODATAFRAME = type("GeoDataFrame", (_Missing,), {})

try:
    import shapely.geometry.base

    HAS_SHAPELY = True
    SHAPELY_GEOMETRY: Any = shapely.geometry.base.BaseGeometry
except ImportError:  # pragma: no cover - shapely is a runtime dependency
    HAS_SHAPELY = False
    SHAPELY_GEOMETRY = type("BaseGeometry", (_Missing,), {})

# Tile math is ours: mercantile-compatible, always available. A real `mercantile.Tile` (when
# mercantile is installed) is an instance too, through `fused.tiles.Tile`'s metaclass.
from fused.tiles import Tile as MERCANTILE_TILE  # noqa: E402

HAS_MERCANTILE = True
