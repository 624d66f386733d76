"""Web mercator XYZ tile math, mercantile-compatible, computed in Rust.

Names and results follow mercantile 1.2.1 (``tile``, ``bounds``, ``tiles``, ``parent``, ...),
so ``import fused.tiles as mercantile`` works for code written against it. Differences:

* invalid input raises ``ValueError`` naming the argument: a zoom that is not an integer
  0..=30, a tile x/y outside ``0..2**z``, NaN or infinite coordinates, and (in ``tile``) a
  latitude at or beyond a pole. The mercantile exception names exist here as subclasses of
  ``ValueError`` (``InvalidLatitudeError``, ``InvalidZoomError``, ``QuadKeyError``, ...);
* a point within 1e-14 of the east or south edge of the world is in the last tile
  ``2**z - 1`` (mercantile returns the invalid index ``2**z``);
* ``tiles()`` checks its arguments when called, not on the first ``next()``; ``zooms`` may
  be any iterable of integers;
* ``children()`` refuses to build more than 2**28 tiles.

Bulk helpers without a mercantile equivalent: ``tile_many`` (numpy arrays of points),
``tiles_array`` (numpy arrays of the tiles over a box) and ``count_tiles``.
"""

from collections import namedtuple

from fused import _native

__all__ = [
    "Bbox",
    "LngLat",
    "LngLatBbox",
    "Tile",
    "bounding_tile",
    "bounds",
    "children",
    "count_tiles",
    "export",
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


class Tile(namedtuple("Tile", ["x", "y", "z"])):
    """An XYZ web mercator tile: x and y indexes at zoom level z."""

    __slots__ = ()


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

# Tiles handed from Rust to the tiles() generator per call.
_CHUNK = 16384


def tiles(west, south, east, north, zooms, truncate=False):
    """The tiles overlapped by a geographic bounding box, as a generator of Tiles.

    ``zooms`` is one zoom or an iterable of zooms. A box with ``west > east`` crosses the
    antimeridian and is split in two, as in mercantile. A small epsilon on the south and east
    edges makes the bounds of a tile yield exactly that tile. Arguments are checked now.
    """
    ranges = _native._tile_ranges(west, south, east, north, zooms, truncate)
    return _iter_tiles(ranges)


def _iter_tiles(ranges):
    block = _native._tile_block
    for r in ranges:
        count = (r[2] - r[1] + 1) * (r[4] - r[3] + 1)
        for start in range(0, count, _CHUNK):
            yield from block(r, start, min(_CHUNK, count - start))


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


def export(udf, bbox, minzoom, maxzoom, path, **kwargs):
    """Run a Tile UDF over every tile of ``bbox`` at ``minzoom..maxzoom`` and write a PMTiles
    or MBTiles file; see ``fused._export.export`` for the options."""
    from fused._export import export as _export

    return _export(udf, bbox, minzoom, maxzoom, path, **kwargs)
