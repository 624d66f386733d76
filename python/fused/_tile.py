"""Tile mode: the ways a call names a tile, and the shape the UDF's tile parameter gets.

A call names a tile with `x=, y=, z=`, with `lat=, lng=, z=`, or with `bbox=` (a shapely
geometry, a GeoDataFrame/GeoSeries, a list/tuple of 4 numbers, a `Tile`, or a string
"w,s,e,n"). The tile reaches the parameter named `bounds`, else `bbox`, else the first
parameter, shaped by its annotation (see `fused.types`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

from fused import _coerce, tiles

if TYPE_CHECKING:
    from fused._execute import Prepared

__all__ = ["TileArg", "extract_tile", "in_grid", "shape_tile"]


class TileArg(NamedTuple):
    """The tile a call asked for: its x/y/z (for a bbox: the bounding tile), its bounds
    and geometry in EPSG:4326."""

    x: int
    y: int
    z: int
    bounds: tuple[float, float, float, float]
    geometry: Any  # shapely geometry, built lazily when None
    from_bbox: bool = False  # named by a bbox (bounds/geometry are the bbox's), not a tile

    def shapely(self) -> Any:
        if self.geometry is not None:
            return self.geometry
        from shapely.geometry import box

        return box(*self.bounds)


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"invalid {name}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    if hasattr(value, "__index__"):
        return int(value.__index__())
    raise ValueError(f"invalid {name}: expected an integer, got {value!r}")


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"invalid {name}: expected a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"invalid {name}: expected a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"invalid {name}: expected a finite number, got {value!r}")
    return out


def _from_xyz(x: Any, y: Any, z: Any) -> TileArg:
    """A tile from its indices. Integer indices outside the grid are run as mercantile and
    Fused do (bounds extrapolated) after one FutureWarning, from `tiles.bounds`."""
    xi, yi, zi = _as_int("x", x), _as_int("y", y), _as_int("z", z)
    b = tiles.bounds(xi, yi, zi)
    return TileArg(xi, yi, zi, (b.west, b.south, b.east, b.north), None)


def in_grid(tile: TileArg) -> bool:
    """Whether a tile's x and y are within 0..2**z (always so for a tile named by a bbox)."""
    top = 2**tile.z
    return 0 <= tile.x < top and 0 <= tile.y < top


def _from_lnglat(lat: Any, lng: Any, z: Any) -> TileArg:
    latf, lngf, zi = _as_float("lat", lat), _as_float("lng", lng), _as_int("z", z)
    if not -90.0 <= latf <= 90.0:
        raise ValueError(f"invalid lat: expected a latitude in [-90, 90], got {lat!r}")
    if not -180.0 <= lngf <= 180.0:
        raise ValueError(f"invalid lng: expected a longitude in [-180, 180], got {lng!r}")
    t = tiles.tile(lngf, latf, zi)
    return _from_xyz(t.x, t.y, t.z)


def _check_bounds(name: str, values: Any) -> tuple[float, float, float, float]:
    try:
        items = list(values)
    except TypeError:
        items = []
    if len(items) != 4:
        raise ValueError(
            f"invalid {name}: expected 4 numbers [west, south, east, north], got {values!r}"
        )
    w, s, e, n = (_as_float(name, v) for v in items)
    if not (-180.0 <= w <= 180.0 and -180.0 <= e <= 180.0):
        raise ValueError(f"invalid {name}: longitudes must be within [-180, 180], got {values!r}")
    if not (-90.0 <= s <= n <= 90.0):
        raise ValueError(f"invalid {name}: expected -90 <= south <= north <= 90, got {values!r}")
    return (w, s, e, n)


def _from_bbox(name: str, value: Any) -> TileArg:
    geometry = None
    if isinstance(value, str):
        text = value.strip()
        is_bounds = text[:1] in "[-+.0123456789" and "(" not in text and "{" not in text
        value = _coerce.coerce(name, "bounds" if is_bounds else "geometry", value)
    module = type(value).__module__ or ""
    if isinstance(value, tuple) and hasattr(value, "_fields") and len(value) == 3:
        return _from_xyz(*value)  # a Tile (ours or mercantile's)
    if module.startswith("geopandas"):
        frame = value
        if getattr(frame, "crs", None) is not None and not frame.crs.equals("EPSG:4326"):
            frame = frame.to_crs("EPSG:4326")
        if len(frame) == 0:
            raise ValueError(f"invalid {name}: the GeoDataFrame is empty")
        series = frame.geometry if hasattr(frame, "geometry") else frame
        geometry = series.iloc[0] if len(series) == 1 else series.union_all()
        bounds = _check_bounds(name, tuple(series.total_bounds))
    elif module.startswith("shapely"):
        if value.is_empty:
            raise ValueError(f"invalid {name}: the geometry is empty")
        geometry = value
        bounds = _check_bounds(name, value.bounds)
    else:
        bounds = _check_bounds(name, value)
    t = tiles.bounding_tile(*bounds)
    return TileArg(t.x, t.y, t.z, bounds, geometry, from_bbox=True)


def tile_parameter(prepared: Prepared) -> Optional[str]:
    names = prepared.param_names
    if "bounds" in names:
        return "bounds"
    if "bbox" in names:
        return "bbox"
    return names[0] if names else None


def extract_tile(
    prepared: Prepared, x: Any, y: Any, z: Any, params: dict[str, Any]
) -> Optional[tuple[str, TileArg]]:
    """Find the tile a call names, remove what it consumed from `params`, and return
    (parameter name, tile), or None in File mode."""
    names = prepared.parameters
    forms: list[str] = []
    tile: Optional[TileArg] = None
    # x/y/z are the tile unless the UDF takes parameters of those names itself.
    xyz_are_params = "x" in names or "y" in names
    if not xyz_are_params and (x is not None or y is not None or z is not None):
        if x is not None or y is not None:
            missing = [n for n, v in (("x", x), ("y", y), ("z", z)) if v is None]
            if missing:
                raise TypeError(f"a tile needs x, y and z together: missing {', '.join(missing)}")
            forms.append("x/y/z")
            tile = _from_xyz(x, y, z)
    elif xyz_are_params:
        for key, value in (("x", x), ("y", y), ("z", z)):
            if value is not None:
                params[key] = value
        x = y = z = None
    if "lat" not in names and "lng" not in names and ("lat" in params or "lng" in params):
        lat, lng = params.pop("lat", None), params.pop("lng", None)
        missing = [n for n, v in (("lat", lat), ("lng", lng), ("z", z)) if v is None]
        if missing:
            raise TypeError(f"a tile needs lat, lng and z together: missing {', '.join(missing)}")
        forms.append("lat/lng/z")
        tile = _from_lnglat(lat, lng, z)
    elif z is not None and not forms:
        if "z" in names:
            params["z"] = z
        else:
            raise TypeError("z alone does not name a tile: give x, y and z or lat, lng and z")
    target = tile_parameter(prepared)
    for key in ("bbox", "bounds"):
        if key in params and (key == target or key not in names):
            value = params.pop(key)
            if value is None:
                continue
            forms.append(f"{key}=")
            tile = _from_bbox(key, value)
    if len(forms) > 1:
        raise TypeError(f"name the tile one way only, got {' and '.join(forms)}")
    if tile is None:
        return None
    if target is None:
        raise TypeError(
            f"UDF {prepared.name!r} takes no parameter to receive the tile "
            "(name one `bounds` or `bbox`)"
        )
    return target, tile


def _strip_optional(spec: str) -> str:
    while spec.startswith("optional[") and spec.endswith("]"):
        spec = spec[len("optional[") : -1]
    return spec


def shape_tile(spec: str, tile: TileArg) -> Any:
    """The tile in the form the parameter's annotation asks for."""
    kind = _strip_optional(spec)
    if kind == "bounds" or kind.startswith(("list", "tuple", "iterable")):
        return list(tile.bounds)
    if kind == "bbox" or kind.startswith("geometry"):
        return tile.shapely()
    if kind == "tilexyz":
        # _make skips Tile's range check: a tile outside the grid was warned about already.
        return tiles.Tile._make((tile.x, tile.y, tile.z))
    import geopandas as gpd

    if kind == "viewportgdf":
        return gpd.GeoDataFrame(geometry=[tile.shapely()], crs="EPSG:4326")
    return gpd.GeoDataFrame(
        {"x": [tile.x], "y": [tile.y], "z": [tile.z]},
        geometry=[tile.shapely()],
        crs="EPSG:4326",
    )
