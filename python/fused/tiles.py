"""Web mercator XYZ tile math, mercantile-compatible, computed in Rust.

Names and results follow mercantile 1.2.1 (``tile``, ``bounds``, ``tiles``, ``parent``, ...),
so ``import fused.tiles as mercantile`` works for code written against it. Differences:

* invalid input raises ``ValueError`` naming the argument: a zoom that is not an integer
  0..=30, a non-integer tile x/y, NaN or infinite coordinates, and (in ``tile``) a latitude
  at or beyond a pole. The mercantile exception names exist here as subclasses of
  ``ValueError`` (``InvalidLatitudeError``, ``InvalidZoomError``, ``QuadKeyError``, ...);
* integer tile indices outside the grid (``x`` or ``y`` not in ``0..2**z``) get mercantile's
  ``FutureWarning``; ``bounds``, ``ul`` and ``xy_bounds`` extrapolate them as mercantile
  does, the other functions (``parent``, ``children``, ``neighbors``, ``quadkey``) refuse
  them with ``TileError`` (``ParentTileError`` for ``parent``);
* a point within 1e-14 of the east or south edge of the world is in the last tile
  ``2**z - 1`` (mercantile returns the invalid index ``2**z``);
* ``tiles()`` checks its arguments when called, not on the first ``next()``, and returns an
  iterator that is not a generator (no ``send``/``throw``); ``zooms`` may be any iterable
  of integers;
* ``children()`` refuses to build more than 2**28 tiles.

Bulk helpers without a mercantile equivalent: ``tile_many`` (numpy arrays of points),
``tiles_array`` (numpy arrays of the tiles over a box) and ``count_tiles``.
"""

import sys
import warnings
from collections import namedtuple
from functools import reduce
from itertools import chain

from fused import _native

__all__ = [
    "Bbox",
    "LngLat",
    "LngLatBbox",
    "Tile",
    "bounding_tile",
    "bounds",
    "children",
    "geojson_bounds",
    "count_tiles",
    "feature",
    "lnglat",
    "minmax",
    "neighbors",
    "parent",
    "quadkey",
    "quadkey_to_tile",
    "simplify",
    "tile",
    "tile_many",
    "tiles",
    "tiles_array",
    "truncate_lnglat",
    "ul",
    "xy",
    "xy_bounds",
    "InvalidLatitudeError",
    "InvalidZoomError",
    "MercantileError",
    "ParentTileError",
    "QuadKeyError",
    "TileArgParsingError",
    "TileError",
]


class _TileType(type):
    """Tile's metaclass: a ``mercantile.Tile`` is an instance of ``fused.tiles.Tile`` too, so
    code that checks ``isinstance(t, Tile)`` takes tiles made with mercantile."""

    def __instancecheck__(cls, obj):
        if type.__instancecheck__(cls, obj):
            return True
        merc = sys.modules.get("mercantile")  # no mercantile.Tile exists before its import
        return (
            merc is not None
            and isinstance(getattr(merc, "Tile", None), type)
            and (isinstance(obj, merc.Tile))
        )

    def __subclasscheck__(cls, sub):
        if type.__subclasscheck__(cls, sub):
            return True
        merc = sys.modules.get("mercantile")
        return (
            merc is not None
            and isinstance(getattr(merc, "Tile", None), type)
            and (issubclass(sub, merc.Tile))
        )


_OUTSIDE_GRID = (
    "tile ({}, {}, {}) is outside the grid: x and y must be in 0..={} at zoom {}; its bounds "
    "are extrapolated as mercantile does, and a later version may refuse it"
)


class Tile(namedtuple("Tile", ["x", "y", "z"]), metaclass=_TileType):
    """An XYZ web mercator tile: x and y indexes at zoom level z.

    As in mercantile, ``z`` must be a valid zoom (else ``InvalidZoomError``) and x or y
    outside ``0..2**z`` gets a ``FutureWarning``. Tiles returned by the functions of this
    module are built in Rust, without calling this constructor.
    """

    __slots__ = ()

    def __new__(cls, x, y, z):
        lo, hi = minmax(z)
        if not (lo <= x <= hi and lo <= y <= hi):
            warnings.warn(_OUTSIDE_GRID.format(x, y, z, hi, z), FutureWarning, stacklevel=2)
        return tuple.__new__(cls, (x, y, z))


LngLat = namedtuple("LngLat", ["lng", "lat"], module=__name__)
LngLat.__doc__ = "A longitude and latitude pair in decimal degrees."

LngLatBbox = namedtuple("LngLatBbox", ["west", "south", "east", "north"], module=__name__)
LngLatBbox.__doc__ = "A geographic bounding box in decimal degrees."

Bbox = namedtuple("Bbox", ["left", "bottom", "right", "top"], module=__name__)
Bbox.__doc__ = "A web mercator bounding box in metres."

MercantileError = _native.MercantileError
InvalidLatitudeError = _native.InvalidLatitudeError
InvalidZoomError = _native.InvalidZoomError
ParentTileError = _native.ParentTileError
QuadKeyError = _native.QuadKeyError
TileArgParsingError = _native.TileArgParsingError
TileError = _native.TileError

tile = _native.tile
bounds = _native.bounds
ul = _native.ul
xy_bounds = _native.xy_bounds
xy = _native.xy
lnglat = _native.lnglat
truncate_lnglat = _native.truncate_lnglat
parent = _native.parent
children = _native.children
neighbors = _native.neighbors
quadkey = _native.quadkey
quadkey_to_tile = _native.quadkey_to_tile
bounding_tile = _native.bounding_tile
minmax = _native.minmax
simplify = _native.simplify
count_tiles = _native.count_tiles
tiles_array = _native.tiles_array

_xy = _native._xy

# Tiles handed from Rust to the tiles() iterator per call.
_CHUNK = 16384


def tiles(west, south, east, north, zooms, truncate=False):
    """The tiles overlapped by a geographic bounding box, as a lazy iterator of Tiles.

    ``zooms`` is one zoom or an iterable of zooms. A box with ``west > east`` crosses the
    antimeridian and is split in two, as in mercantile. A small epsilon on the south and east
    edges makes the bounds of a tile yield exactly that tile. Arguments are checked now.
    """
    ranges = _native._tile_ranges(west, south, east, north, zooms, truncate)
    # Rust builds the tiles in blocks of _CHUNK; chain hands them out one by one in C, so no
    # Python frame runs per tile.
    return chain.from_iterable(_blocks(ranges))


def _blocks(ranges):
    block = _native._tile_block
    for r in ranges:
        count = (r[2] - r[1] + 1) * (r[4] - r[3] + 1)
        for start in range(0, count, _CHUNK):
            yield block(r, start, min(_CHUNK, count - start))


def _parse_tile_arg(*args):
    """mercantile's parser of a ``*tile`` argument: a Tile from one tile-like value or x, y, z
    (``TileArgParsingError`` for any other number of values)."""
    if len(args) == 1:
        args = args[0]
    if len(args) == 3:
        return Tile(*args)
    raise TileArgParsingError(
        f"invalid tile: expected 1 or 3 values (a tile, or x, y, z; zoom is keyword-only), "
        f"got {len(args)} values"
    )


def _coords(obj):
    """All coordinate pairs of a GeoJSON geometry, feature or feature collection (as dicts),
    or of nested sequences of coordinates, as tuples."""
    if isinstance(obj, (tuple, list)):
        coordinates = obj
    elif "features" in obj:
        coordinates = [feat["geometry"]["coordinates"] for feat in obj["features"]]
    elif "geometry" in obj:
        coordinates = obj["geometry"]["coordinates"]
    else:
        coordinates = obj.get("coordinates", obj)
    for e in coordinates:
        if isinstance(e, (float, int)):
            yield tuple(coordinates)
            break
        for f in _coords(e):
            yield f[:2]


def geojson_bounds(obj):
    """The bounding box (a LngLatBbox) of a GeoJSON geometry, feature or feature collection.

    An object without coordinates gives mercantile's empty box ``(180, 90, -180, -90)``.
    """

    def grow(box, point):
        w, s, e, n = box
        lng, lat = point
        return min(w, lng), min(s, lat), max(e, lng), max(n, lat)

    return LngLatBbox(*reduce(grow, _coords(obj), (180.0, 90.0, -180.0, -90.0)))


def tile_many(lngs, lats, zoom, truncate=False):
    """The tiles containing many points: int64 numpy arrays ``(xs, ys)`` at ``zoom``.

    ``lngs`` and ``lats`` are array-likes of the same shape; the results have that shape.
    Errors name the offending element, e.g. ``lats[12]`` (flat index).
    """
    import numpy as np

    lngs = np.ascontiguousarray(lngs, dtype=np.float64)
    lats = np.ascontiguousarray(lats, dtype=np.float64)
    if lngs.shape != lats.shape:
        raise InvalidLatitudeError(
            f"invalid lats: expected an array of the shape of lngs {lngs.shape}, "
            f"got shape {lats.shape}"
        )
    xs, ys = _native.tile_many(lngs.reshape(-1), lats.reshape(-1), zoom, truncate)
    return xs.reshape(lngs.shape), ys.reshape(lngs.shape)


def feature(tile, fid=None, props=None, projected="geographic", buffer=None, precision=None):
    """The GeoJSON feature (a dict) of a tile's polygon, as mercantile builds it."""
    west, south, east, north = bounds(tile)
    if projected == "mercator":
        west, south = xy(west, south, truncate=False)
        east, north = xy(east, north, truncate=False)
    if buffer:
        west -= buffer
        south -= buffer
        east += buffer
        north += buffer
    if precision and precision >= 0:
        west, south, east, north = (round(v, precision) for v in (west, south, east, north))
    bbox = [min(west, east), min(south, north), max(west, east), max(south, north)]
    geom = {
        "type": "Polygon",
        "coordinates": [
            [[west, south], [west, north], [east, north], [east, south], [west, south]]
        ],
    }
    xyz = str(tile)
    feat = {
        "type": "Feature",
        "bbox": bbox,
        "id": xyz,
        "geometry": geom,
        "properties": {"title": f"XYZ tile {xyz}"},
    }
    if props:
        feat["properties"].update(props)
    if fid is not None:
        feat["id"] = fid
    return feat
