"""fused.tiles against mercantile 1.2.1 (the oracle), on seeded random and edge inputs."""

import itertools
import math
import pickle
import random
import warnings

import mercantile
import numpy as np
import pytest

import fused.tiles as ft

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")

NAN, INF = math.nan, math.inf
EDGE_LATS = [
    -90.0,
    -89.9999999,
    -89.99,
    -85.06,
    -85.0511287798066,
    -85.051128779806,
    -45.0,
    -1e-12,
    0.0,
    1e-12,
    45.0,
    85.051128779806,
    85.0511287798066,
    85.06,
    89.99,
    89.9999999,
    90.0,
]
EDGE_LNGS = [-540.0, -180.0000001, -180.0, -179.9999999999, -1e-12, 0.0, 1e-12, 179.99999999999]
EDGE_LNGS += [179.9999999999999, 180.0, 180.0000001, 540.0]


def rng(seed):
    return random.Random(seed)


def random_tile(r, zmin=0, zmax=30):
    z = r.randint(zmin, zmax)
    return mercantile.Tile(r.randint(0, 2**z - 1), r.randint(0, 2**z - 1), z)


def oracle_tile(lng, lat, zoom, truncate=False):
    """mercantile.tile, with its out-of-range 2**z index clamped (a documented fix).

    Returns None where mercantile raises (our tile() raises ValueError there)."""
    try:
        t = mercantile.tile(lng, lat, zoom, truncate=truncate)
    except (mercantile.InvalidLatitudeError, ValueError):
        return None
    top = 2**zoom - 1
    return (min(t.x, top), min(t.y, top), t.z)


def assert_names(excinfo, name):
    assert f"invalid {name}:" in str(excinfo.value), str(excinfo.value)


# ---------------------------------------------------------------------------- types


def test_the_oracle_is_the_real_mercantile():
    # tests/mercantile_suite swaps fused.tiles in for mercantile while importing its modules
    # only; here the comparisons must be against the real library.
    assert mercantile.__name__ == "mercantile" and mercantile.tiles is not ft.tiles
    assert mercantile.__version__ == "1.2.1"


def test_tile_is_a_namedtuple_compatible_with_mercantile():
    t = ft.Tile(1, 2, 3)
    assert t == (1, 2, 3) and isinstance(t, tuple)
    assert (t.x, t.y, t.z) == (1, 2, 3)
    x, y, z = t
    assert (x, y, z) == (1, 2, 3)
    assert t._fields == ("x", "y", "z") and t._asdict() == {"x": 1, "y": 2, "z": 3}
    assert mercantile.Tile(*t) == t and t == mercantile.Tile(1, 2, 3)
    assert hash(t) == hash((1, 2, 3))
    assert repr(t) == "Tile(x=1, y=2, z=3)"
    assert pickle.loads(pickle.dumps(t)) == t and type(pickle.loads(pickle.dumps(t))) is ft.Tile
    # Tiles built in Rust are real instances of the Python class.
    made = ft.tile(0.0, 0.0, 3)
    assert type(made) is ft.Tile and made == (4, 4, 3) and made.z == 3
    assert {made: 1}[(4, 4, 3)] == 1
    assert not hasattr(made, "__dict__")


def test_other_namedtuples():
    b = ft.bounds(0, 0, 0)
    assert type(b) is ft.LngLatBbox and b._fields == ("west", "south", "east", "north")
    assert type(ft.ul(0, 0, 0)) is ft.LngLat and ft.ul(0, 0, 0)._fields == ("lng", "lat")
    xb = ft.xy_bounds(0, 0, 0)
    assert type(xb) is ft.Bbox and xb._fields == ("left", "bottom", "right", "top")
    assert type(ft.lnglat(0, 0)) is ft.LngLat
    assert ft.LngLatBbox(1, 2, 3, 4) == mercantile.LngLatBbox(1, 2, 3, 4)


# ---------------------------------------------------------------------------- tile()


@pytest.mark.parametrize("truncate", [False, True])
def test_tile_random_points(truncate):
    r = rng(1)
    for _ in range(20000):
        lng, lat, z = r.uniform(-180, 180), r.uniform(-89.9, 89.9), r.randint(0, 30)
        assert ft.tile(lng, lat, z, truncate=truncate) == oracle_tile(lng, lat, z, truncate)


def test_tile_of_tile_corners_hits_the_epsilon_paths():
    r = rng(2)
    for _ in range(5000):
        t = random_tile(r)
        w, s, e, n = mercantile.bounds(t)
        for lng, lat in [(w, n), (e, s), (w, s), (e, n)]:
            for z in {t.z, min(t.z + 1, 30), max(t.z - 1, 0), 30}:
                expected = oracle_tile(lng, lat, z)
                if expected is None:
                    with pytest.raises(ft.InvalidLatitudeError):
                        ft.tile(lng, lat, z)
                else:
                    assert ft.tile(lng, lat, z) == expected, (lng, lat, z)


@pytest.mark.parametrize("truncate", [False, True])
@pytest.mark.parametrize("zoom", [0, 1, 2, 15, 29, 30])
def test_tile_edges(zoom, truncate):
    for lng in EDGE_LNGS:
        for lat in EDGE_LATS:
            expected = oracle_tile(lng, lat, zoom, truncate)
            if expected is None:
                with pytest.raises(ft.InvalidLatitudeError) as excinfo:
                    ft.tile(lng, lat, zoom, truncate=truncate)
                assert_names(excinfo, "lat")
            else:
                assert ft.tile(lng, lat, zoom, truncate=truncate) == expected, (lng, lat)


def test_tile_edge_clamps_where_mercantile_overflows():
    # mercantile returns the invalid x = 2**z here; we return the last tile.
    assert mercantile.tile(179.9999999999999, 0.0, 1).x == 2
    assert ft.tile(179.9999999999999, 0.0, 1) == (1, 1, 1)


def test_tile_refuses_latitudes_beyond_the_poles():
    # mercantile folds lat 100 back to lat 80 through sin(); we refuse it.
    for lat in (90.0001, 100.0, -100.0, 1e6):
        with pytest.raises(ft.InvalidLatitudeError) as excinfo:
            ft.tile(0.0, lat, 5)
        assert_names(excinfo, "lat")
        with pytest.raises(ValueError):
            ft.tile(0.0, lat, 5, truncate=True)  # truncated to ±90: mercantile raises too


def test_tile_accepts_numpy_scalars_and_integral_float_zoom():
    assert ft.tile(np.float64(10.5), np.float32(20.25), np.int64(7)) == mercantile.tile(
        10.5, 20.25, 7
    )
    assert ft.tile(10.5, 20.25, 7.0) == mercantile.tile(10.5, 20.25, 7)
    assert ft.tile(10, 20, 7, truncate=1) == mercantile.tile(10, 20, 7)


# ---------------------------------------------------------------------------- per-tile functions


def test_bounds_ul_xy_bounds_exact():
    r = rng(3)
    tiles = [random_tile(r) for _ in range(5000)]
    tiles += [mercantile.Tile(0, 0, 0), mercantile.Tile(2**30 - 1, 2**30 - 1, 30)]
    for t in tiles:
        assert ft.bounds(t) == mercantile.bounds(t)
        assert ft.bounds(*t) == mercantile.bounds(*t)
        assert ft.bounds(list(t)) == mercantile.bounds(t)
        assert ft.ul(t) == mercantile.ul(t)
        assert ft.xy_bounds(*t) == mercantile.xy_bounds(*t)


@pytest.mark.parametrize("truncate", [False, True])
def test_xy_and_lnglat(truncate):
    r = rng(4)
    points = [(r.uniform(-200, 200), r.uniform(-95, 95)) for _ in range(5000)]
    points += [(lng, lat) for lng in EDGE_LNGS for lat in EDGE_LATS]
    for lng, lat in points:
        try:
            expected = mercantile.xy(lng, lat, truncate=truncate)
        except ValueError:  # log(0) within an ulp of -90: we return -inf
            assert ft.xy(lng, lat, truncate=truncate)[1] == -INF
            continue
        got = ft.xy(lng, lat, truncate=truncate)
        assert type(got) is tuple
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-9)
    for _ in range(5000):
        x, y = r.uniform(-3e7, 3e7), r.uniform(-3e7, 3e7)
        expected = mercantile.lnglat(x, y, truncate=truncate)
        assert ft.lnglat(x, y, truncate=truncate) == pytest.approx(expected, rel=1e-12)
    assert ft.xy(0, 90) == (0.0, INF) and ft.xy(0, -90)[1] == -INF


def test_truncate_lnglat():
    for lng, lat in [(200, 100), (-200, -100), (10, 20)]:
        assert ft.truncate_lnglat(lng, lat) == mercantile.truncate_lnglat(lng, lat)


def test_parent_multi_level():
    r = rng(5)
    for _ in range(3000):
        t = random_tile(r, 1, 30)
        assert ft.parent(t) == mercantile.parent(t)
        for zoom in {0, r.randint(0, t.z - 1), t.z - 1}:
            assert ft.parent(*t, zoom=zoom) == mercantile.parent(*t, zoom=zoom)
    assert ft.parent(0, 0, 0) is None and mercantile.parent(0, 0, 0) is None
    assert ft.parent(0, 0, 0, zoom=0) is None


def test_children_multi_level():
    r = rng(6)
    for _ in range(300):
        t = random_tile(r, 0, 26)
        assert ft.children(t) == mercantile.children(t)
        for levels in (0, 1, 2, 3):
            zoom = t.z + levels
            got = ft.children(*t, zoom=zoom)
            assert got == mercantile.children(*t, zoom=zoom)
            assert all(type(c) is ft.Tile for c in got)
            assert all(ft.parent(c, zoom=t.z) == t for c in got if c.z > t.z)


def test_neighbors():
    r = rng(7)
    corner = [mercantile.Tile(0, 0, z) for z in range(4)]
    corner += [mercantile.Tile(2**z - 1, 2**z - 1, z) for z in range(4)]
    for t in corner + [random_tile(r) for _ in range(2000)]:
        assert ft.neighbors(t) == mercantile.neighbors(t)


def test_quadkeys():
    r = rng(8)
    for _ in range(5000):
        t = random_tile(r)
        qk = ft.quadkey(t)
        assert qk == mercantile.quadkey(t)
        assert ft.quadkey_to_tile(qk) == mercantile.quadkey_to_tile(qk) == t
    assert ft.quadkey(0, 0, 0) == "" and ft.quadkey_to_tile("") == (0, 0, 0)


def test_simplify():
    r = rng(9)
    for _ in range(200):
        root = random_tile(r, 0, 10)
        tiles = ft.children(root, zoom=root.z + 2)
        tiles = r.sample(tiles, r.randint(1, len(tiles)))
        tiles += [r.choice(ft.children(root, zoom=root.z + 3)) for _ in range(3)]
        got = ft.simplify(tiles)
        assert isinstance(got, list) and set(got) == set(mercantile.simplify(tiles))
        assert got == sorted(got, key=lambda t: (t.z, t.x, t.y))


def test_feature():
    r = rng(10)
    for _ in range(200):
        t = random_tile(r, 0, 20)
        for kwargs in [
            {},
            {"fid": "a", "props": {"k": 1}},
            {"projected": "mercator", "buffer": 10.0, "precision": 3},
        ]:
            assert ft.feature(ft.Tile(*t), **kwargs) == mercantile.feature(t, **kwargs)


def test_minmax():
    for z in range(31):
        assert ft.minmax(z) == mercantile.minmax(z)


# ---------------------------------------------------------------------------- areas


def random_bbox(r):
    kind = r.random()
    if kind < 0.2:  # antimeridian-crossing
        west, east = r.uniform(100, 180), r.uniform(-180, -100)
    elif kind < 0.3:  # degenerate: a point or a line
        west = east = r.uniform(-180, 180)
    elif kind < 0.4:  # beyond the world's edges
        west, east = r.uniform(-400, -170), r.uniform(170, 400)
    else:
        west = r.uniform(-180, 179)
        east = min(180.0, west + r.expovariate(0.2))
    south = r.uniform(-90, 89.9)
    north = min(90.0, south + r.expovariate(0.1)) if r.random() > 0.1 else south
    return west, south, east, north


def zoom_with_at_most(bbox, limit, truncate=False):
    z = 0
    while z < 30 and ft.count_tiles(*bbox, z + 1, truncate=truncate) <= limit:
        z += 1
    return z


@pytest.mark.parametrize("truncate", [False, True])
def test_tiles_random_boxes(truncate):
    r = rng(11)
    for _ in range(400):
        bbox = random_bbox(r)
        z = zoom_with_at_most(bbox, 1500, truncate)
        zooms = sorted({max(0, z - 2), z}) if r.random() < 0.5 else z
        expected = list(mercantile.tiles(*bbox, zooms, truncate=truncate))
        got = list(ft.tiles(*bbox, zooms, truncate=truncate))
        assert got == expected, (bbox, zooms)
        assert all(type(t) is ft.Tile for t in got)
        assert ft.count_tiles(*bbox, zooms, truncate=truncate) == len(expected)
        if isinstance(zooms, int):
            xs, ys = ft.tiles_array(*bbox, zooms, truncate=truncate)
            assert xs.dtype == np.int64 and ys.dtype == np.int64
            assert list(zip(xs.tolist(), ys.tolist())) == [(t.x, t.y) for t in expected]


def test_tiles_of_a_tiles_bounds_is_that_tile():
    r = rng(12)
    for _ in range(2000):
        t = random_tile(r)
        assert (
            list(ft.tiles(*ft.bounds(t), t.z)) == [t] == list(mercantile.tiles(*ft.bounds(t), t.z))
        )


def test_tiles_large_and_edge_boxes():
    cases = [
        ((-180, -90, 180, 90), [0, 1, 2, 3, 4]),
        ((-180, -85.0511287798066, 180, 85.0511287798066), range(6)),
        ((170, -10, -170, 10), (5, 6)),  # antimeridian
        ((10, 10, 10, 10), 8),  # a point
        ((0, 0, 0, 0), [1, 2]),  # a point on tile edges: nothing, as in mercantile
        ((-300, 0, -200, 10), 4),  # entirely west of the world: mercantile's first column
        ((2.2, 48.8, 2.5, 48.95), 15),  # Paris at z15, 588 tiles
    ]
    for bbox, zooms in cases:
        expected = list(mercantile.tiles(*bbox, zooms))
        assert list(ft.tiles(*bbox, zooms)) == expected, bbox
        assert ft.count_tiles(*bbox, zooms) == len(expected)


def test_tiles_is_lazy_and_chunked():
    gen = ft.tiles(-180, -85, 180, 85, 30)
    assert iter(gen) is gen  # an iterator (itertools.chain), not a list
    first = [next(gen) for _ in range(3)]
    assert first == list(itertools.islice(mercantile.tiles(-180, -85, 180, 85, 30), 3))
    # A box spanning several Rust chunks, checked against mercantile tile by tile.
    bbox = (2.0, 48.5, 3.0, 49.5)
    assert ft.count_tiles(*bbox, 16) > 3 * ft._CHUNK
    for a, b in zip(ft.tiles(*bbox, 16), mercantile.tiles(*bbox, 16)):
        assert a == b
    assert ft.count_tiles(-180, -90, 180, 90, 30) == 2**60
    assert ft.count_tiles(-180, -90, 180, 90, range(31)) == sum(4**z for z in range(31))


def test_zooms_forms():
    bbox = (-10, -10, 10, 10)
    expected = list(mercantile.tiles(*bbox, [1, 3]))
    for zooms in ([1, 3], (1, 3), np.array([1, 3]), (z for z in (1, 3))):
        assert list(ft.tiles(*bbox, zooms)) == expected
    assert list(ft.tiles(*bbox, range(4))) == list(mercantile.tiles(*bbox, range(4)))
    assert list(ft.tiles(*bbox, np.int64(2))) == list(mercantile.tiles(*bbox, 2))


def test_bounding_tile():
    r = rng(13)
    boxes = [random_bbox(r) for _ in range(3000)]
    for _ in range(3000):  # small boxes: deep bounding tiles
        w, s = r.uniform(-180, 179), r.uniform(-85, 84)
        size = 10 ** r.uniform(-9, 0)
        boxes.append((w, s, w + size, s + size))
    boxes += [
        (-10, -10, 10, 10),  # spans both hemispheres
        (10, -10, 20, 10),  # spans the equator
        (-10, 10, 10, 20),  # spans lng 0
        (1, 1, 2, 90),  # touches the north pole
        (1, -90, 2, 1),  # touches the south pole
        (-180, -85, 180, 85),
        (179.9999, 1, 180, 2),
        (5, 5, 5, 5),
    ]
    for truncate in (False, True):
        for bbox in boxes:
            if any(abs(v) > 90 for v in bbox[1::2]) and not truncate:
                continue  # mercantile folds such latitudes (see the next test)
            expected = mercantile.bounding_tile(*bbox, truncate=truncate)
            assert ft.bounding_tile(*bbox, truncate=truncate) == expected, bbox
    for _ in range(2000):  # points
        lng, lat = r.uniform(-180, 180), r.uniform(-85, 85)
        assert ft.bounding_tile(lng, lat) == mercantile.bounding_tile(lng, lat)
    assert ft.bounding_tile((1.0, 2.0, 3.0, 4.0)) == mercantile.bounding_tile(1.0, 2.0, 3.0, 4.0)


def test_bounding_tile_beyond_the_poles_is_the_world():
    assert ft.bounding_tile(1, 1, 2, 95) == (0, 0, 0)
    assert ft.bounding_tile(1, -95, 2, 1) == (0, 0, 0)


# ---------------------------------------------------------------------------- numpy bulk


@pytest.mark.parametrize("truncate", [False, True])
def test_tile_many_matches_a_mercantile_loop(truncate):
    gen = np.random.default_rng(14)
    lngs = gen.uniform(-200 if truncate else -180, 200 if truncate else 180, 20000)
    lats = gen.uniform(-85.2, 85.2, 20000)
    lngs[: len(EDGE_LNGS)] = EDGE_LNGS
    for zoom in (0, 1, 12, 30):
        xs, ys = ft.tile_many(lngs, lats, zoom, truncate=truncate)
        assert xs.dtype == np.int64 and ys.dtype == np.int64 and xs.shape == lngs.shape
        expected = [oracle_tile(a, b, zoom, truncate) for a, b in zip(lngs, lats)]
        assert list(zip(xs.tolist(), ys.tolist())) == [(t[0], t[1]) for t in expected]


def test_tile_many_input_forms():
    lngs, lats = [[0.0, 10.0], [20.0, -30.0]], [[1.0, 2.0], [3.0, 4.0]]
    xs, ys = ft.tile_many(lngs, lats, 5)
    assert xs.shape == (2, 2)
    assert (xs[1, 1], ys[1, 1]) == mercantile.tile(-30.0, 4.0, 5)[:2]
    a = np.arange(20, dtype=np.float32)
    xs, ys = ft.tile_many(a[::2], a[1::2], 9)  # float32, strided
    assert xs.tolist() == [
        mercantile.tile(float(x), float(y), 9).x for x, y in zip(a[::2], a[1::2])
    ]
    xs, ys = ft.tile_many([], [], 3)
    assert xs.shape == (0,) and ys.shape == (0,)


# ---------------------------------------------------------------------------- invalid input

INVALID = [
    # (function, args, kwargs, exception class, argument named in the message)
    (ft.tile, (0, 0, 31), {}, ft.InvalidZoomError, "zoom"),
    (ft.tile, (0, 0, -1), {}, ft.InvalidZoomError, "zoom"),
    (ft.tile, (0, 0, 1.5), {}, ft.InvalidZoomError, "zoom"),
    (ft.tile, (0, 0, "3"), {}, ft.InvalidZoomError, "zoom"),
    (ft.tile, (0, 0, None), {}, ft.InvalidZoomError, "zoom"),
    (ft.tile, (NAN, 0, 1), {}, ValueError, "lng"),
    (ft.tile, (INF, 0, 1), {}, ValueError, "lng"),
    (ft.tile, ("a", 0, 1), {}, ValueError, "lng"),
    (ft.tile, (0, NAN, 1), {}, ft.InvalidLatitudeError, "lat"),
    (ft.tile, (0, -INF, 1), {"truncate": True}, ft.InvalidLatitudeError, "lat"),
    (ft.tile, (0, 90, 1), {}, ft.InvalidLatitudeError, "lat"),
    (ft.tile, (0, -90, 1), {}, ft.InvalidLatitudeError, "lat"),
    (ft.bounds, (0.5, 0, 1), {}, ft.TileError, "x"),
    (ft.bounds, (0, 1.5, 1), {}, ft.TileError, "y"),
    (ft.bounds, (2**53, 0, 3), {}, ft.TileError, "x"),
    (ft.ul, (0, -(2**53), 3), {}, ft.TileError, "y"),
    (ft.bounds, (0, 0, 31), {}, ft.InvalidZoomError, "z"),
    (ft.bounds, (0, 0, -1), {}, ft.InvalidZoomError, "z"),
    (ft.bounds, (1, 2), {}, ft.TileArgParsingError, "tile"),
    (ft.bounds, ((1, 2),), {}, ft.TileArgParsingError, "tile"),
    (ft.bounds, ("abc",), {}, ft.TileArgParsingError, "tile"),
    (ft.bounds, (), {}, ft.TileArgParsingError, "tile"),
    (ft.xy_bounds, (0, 0, 31), {}, ft.InvalidZoomError, "z"),
    (ft.quadkey, (0, 0, 31), {}, ft.InvalidZoomError, "z"),
    (ft.neighbors, (0, 8, 3), {}, ft.TileError, "y"),
    (ft.parent, (2, 0, 1), {}, ft.ParentTileError, "x"),
    (ft.parent, (1, 1, 2), {"zoom": 2}, ft.InvalidZoomError, "zoom"),
    (ft.parent, (1, 1, 2), {"zoom": 3}, ft.InvalidZoomError, "zoom"),
    (ft.parent, (1, 1, 2), {"zoom": -1}, ft.InvalidZoomError, "zoom"),
    (ft.parent, (1, 1, 2), {"zoom": 0.5}, ft.InvalidZoomError, "zoom"),
    (ft.children, (1, 1, 2), {"zoom": 1}, ft.InvalidZoomError, "zoom"),
    (ft.children, (0, 0, 30), {}, ft.InvalidZoomError, "zoom"),
    (ft.children, (0, 0, 0), {"zoom": 31}, ft.InvalidZoomError, "zoom"),
    (ft.children, (0, 0, 0), {"zoom": 20}, ft.InvalidZoomError, "zoom"),  # 4**20 tiles
    (ft.children, (0, 4, 2), {}, ft.TileError, "y"),
    (ft.quadkey_to_tile, ("0124",), {}, ft.QuadKeyError, "quadkey"),
    (ft.quadkey_to_tile, ("1" * 31,), {}, ft.QuadKeyError, "quadkey"),
    (ft.quadkey_to_tile, (123,), {}, ft.QuadKeyError, "quadkey"),
    (ft.xy, (NAN, 0), {}, ValueError, "lng"),
    (ft.xy, (0, INF), {}, ft.InvalidLatitudeError, "lat"),
    (ft.lnglat, (NAN, 0), {}, ValueError, "x"),
    (ft.lnglat, (0, -INF), {}, ValueError, "y"),
    (ft.lnglat, (0, "y"), {}, ValueError, "y"),
    (ft.tiles, (NAN, 0, 1, 1, 3), {}, ValueError, "west"),
    (ft.tiles, (0, INF, 1, 1, 3), {}, ft.InvalidLatitudeError, "south"),
    (ft.tiles, (0, 0, NAN, 1, 3), {}, ValueError, "east"),
    (ft.tiles, (0, 0, 1, NAN, 3), {}, ft.InvalidLatitudeError, "north"),
    (ft.tiles, (0, 0, 1, -95, 3), {}, ft.InvalidLatitudeError, "north"),
    (ft.tiles, (0, 95, 1, 96, 3), {}, ft.InvalidLatitudeError, "south"),
    (ft.tiles, (0, 0, 1, 1, 31), {}, ft.InvalidZoomError, "zooms"),
    (ft.tiles, (0, 0, 1, 1, [1, 31]), {}, ft.InvalidZoomError, "zooms"),
    (ft.tiles, (0, 0, 1, 1, "5"), {}, ft.InvalidZoomError, "zooms"),
    (ft.tiles, (0, 0, 1, 1, None), {}, ft.InvalidZoomError, "zooms"),
    (ft.count_tiles, (0, 0, 1, 1, -1), {}, ft.InvalidZoomError, "zooms"),
    (ft.count_tiles, (0, 0, 1, NAN, 1), {}, ft.InvalidLatitudeError, "north"),
    (ft.tiles_array, (0, 0, 1, 1, 31), {}, ft.InvalidZoomError, "zoom"),
    (ft.tiles_array, (-180, -85, 180, 85, 20), {}, ft.InvalidZoomError, "zoom"),  # 2**40 tiles
    (ft.tiles_array, (INF, 0, 1, 1, 3), {}, ValueError, "west"),
    (ft.bounding_tile, (NAN, 0, 1, 1), {}, ValueError, "west"),
    (ft.bounding_tile, (0, 0, 1, INF), {}, ft.InvalidLatitudeError, "north"),
    (ft.bounding_tile, (1, 2, 3), {}, ValueError, "bbox"),
    (ft.bounding_tile, ("abcd",), {}, ValueError, "bbox"),
    (ft.bounding_tile, (NAN, 1), {}, ValueError, "lng"),
    (ft.bounding_tile, (1, NAN), {}, ft.InvalidLatitudeError, "lat"),
    (ft.tile_many, ([0, NAN], [0, 0], 3), {}, ValueError, "lngs[1]"),
    (ft.tile_many, ([0, 0], [0, 90], 3), {}, ft.InvalidLatitudeError, "lats[1]"),
    (ft.tile_many, ([0, 0, 0], [0, 0, -INF], 3), {}, ft.InvalidLatitudeError, "lats[2]"),
    (ft.tile_many, ([0, 0], [0], 3), {}, ft.InvalidLatitudeError, "lats"),
    (ft.tile_many, ([0], [0], 31), {}, ft.InvalidZoomError, "zoom"),
    (ft.minmax, (31,), {}, ft.InvalidZoomError, "zoom"),
    (ft.simplify, ([(0, 0, 31)],), {}, ft.InvalidZoomError, "z"),
    (ft.simplify, ([(0, 0)],), {}, ft.TileArgParsingError, "tile"),
]


@pytest.mark.parametrize(
    "func, args, kwargs, exc, name",
    INVALID,
    ids=[f"{c[0].__name__}-{c[4]}-{i}" for i, c in enumerate(INVALID)],
)
def test_invalid_input_raises_value_error_naming_the_argument(func, args, kwargs, exc, name):
    with pytest.raises(exc) as excinfo:
        result = func(*args, **kwargs)
        if hasattr(result, "__next__"):
            list(result)
    assert isinstance(excinfo.value, ValueError)
    assert_names(excinfo, name)


def test_error_classes_are_value_errors_with_mercantile_names():
    for name in [
        "InvalidLatitudeError",
        "InvalidZoomError",
        "ParentTileError",
        "QuadKeyError",
        "TileArgParsingError",
        "TileError",
    ]:
        cls = getattr(ft, name)
        assert issubclass(cls, ft.MercantileError) and issubclass(cls, ValueError)
        assert hasattr(mercantile, name)


def test_messages_are_specific():
    with pytest.raises(ValueError, match=r"invalid zoom: expected an integer 0..=30, got 31"):
        ft.tile(0, 0, 31)
    with pytest.raises(ValueError, match=r"invalid x: expected an integer 0..=3 for zoom 2, got 4"):
        ft.neighbors(4, 0, 2)
    with pytest.raises(ValueError, match=r"invalid lng: expected a finite number, got NaN"):
        ft.tile(NAN, 0, 1)


def test_results_without_direct_construction():
    """The tuple.__new__ path (used from Python 3.14) gives the same objects."""
    native = ft._native
    was_on = native._tiles_direct_alloc(False)
    try:
        t = ft.tile(0.0, 0.0, 3)
        assert type(t) is ft.Tile and t == (4, 4, 3) and hash(t) == hash((4, 4, 3))
        assert ft.bounds(t) == mercantile.bounds(4, 4, 3)
        assert type(ft.bounds(t)) is ft.LngLatBbox
        bbox = (2.2, 48.8, 2.5, 48.95)
        assert list(ft.tiles(*bbox, 15)) == list(mercantile.tiles(*bbox, 15))
        assert ft.children(0, 0, 0) == mercantile.children(0, 0, 0)
    finally:
        native._tiles_direct_alloc(was_on)


def test_built_tiles_hash_and_compare_like_tuples():
    got = list(ft.tiles(-10, -10, 10, 10, 6))
    assert set(got) == {tuple(t) for t in got}
    assert {t: i for i, t in enumerate(got)}[tuple(got[5])] == 5
    assert sorted(got, reverse=True) == sorted(map(tuple, got), reverse=True)


# ---------------------------------------------------------------------------- mercantile parity


def merc(func, *args, **kwargs):
    """mercantile's result or exception class name, with the warnings it gave."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            out = func(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - the class name is what is compared
            out = type(err).__name__
    return out, [w.category for w in rec]


def test_tiles_outside_the_grid_are_extrapolated_like_mercantile():
    cases = [(1, 2, 1), (4, 0, 2), (0, 4, 2), (-1, 0, 2), (-3, 5, 2), (0, 2**30, 30), (7, -9, 0)]
    for xyz in cases:
        for name in ("bounds", "ul", "xy_bounds"):
            want = merc(getattr(mercantile, name), *xyz)
            got = merc(getattr(ft, name), *xyz)
            assert got == want and want[1] == [FutureWarning], (name, xyz, got, want)
            assert type(got[0]) is type(getattr(ft, name)(0, 0, 0))
        # A Tile outside the grid warns like mercantile's, and is accepted afterwards.
        assert merc(ft.Tile, *xyz)[1] == merc(mercantile.Tile, *xyz)[1] == [FutureWarning]
        t = ft.Tile._make(xyz)
        assert merc(ft.bounds, t) == merc(mercantile.bounds, mercantile.Tile._make(xyz))
    # Inside the grid: no warning.
    assert merc(ft.bounds, 3, 1, 2) == (mercantile.bounds(3, 1, 2), [])
    assert merc(ft.Tile, 3, 1, 2) == (mercantile.Tile(3, 1, 2), [])
    # Zoom and non-integer indices stay errors.
    for bad in [(0, 0, -1), (0, 0, 31), (0, 0, 1.5)]:
        with pytest.raises(ft.InvalidZoomError):
            ft.bounds(*bad)
    with pytest.raises(ft.InvalidZoomError):
        ft.Tile(0, 0, 31)
    with pytest.raises(ft.TileError, match="invalid x: expected an integer"):
        ft.bounds(0.5, 0, 1)


def test_mercantile_tiles_are_fused_tiles():
    from fused._optional_deps import HAS_MERCANTILE, MERCANTILE_TILE

    mt = mercantile.Tile(486, 332, 10)
    assert HAS_MERCANTILE
    assert isinstance(mt, ft.Tile) and isinstance(mt, MERCANTILE_TILE)
    assert issubclass(mercantile.Tile, ft.Tile) and not issubclass(tuple, ft.Tile)
    assert not isinstance((486, 332, 10), ft.Tile) and not isinstance(mt, ft.LngLat)
    assert isinstance(ft.Tile(1, 1, 1), MERCANTILE_TILE)
    # Every function taking a tile takes mercantile's.
    assert ft.bounds(mt) == mercantile.bounds(mt) and ft.ul(mt) == mercantile.ul(mt)
    assert ft.xy_bounds(mt) == mercantile.xy_bounds(mt)
    assert ft.parent(mt) == mercantile.parent(mt) and ft.children(mt) == mercantile.children(mt)
    assert ft.neighbors(mt) == mercantile.neighbors(mt) and ft.quadkey(mt) == "0313102310"
    assert ft.simplify([mt, *mercantile.children(mt)]) == [mt]
    assert ft.feature(mt) == mercantile.feature(mt)


def test_exception_classes_and_messages_follow_mercantile():
    from fused.tiles import (  # noqa: F401 - importable under mercantile's names
        InvalidLatitudeError,
        InvalidZoomError,
        MercantileError,
        ParentTileError,
        QuadKeyError,
        TileArgParsingError,
        TileError,
    )

    with pytest.raises(InvalidZoomError, match="zoom must be an integer and less than"):
        ft.parent((243.3, 166.2, 9), zoom=10)  # zoom checked before the tile's x and y
    with pytest.raises(InvalidZoomError, match="zoom must be an integer and less than"):
        ft.parent((243, 166, 9), zoom=1.2)
    with pytest.raises(ParentTileError, match="the parent of a non-integer tile is undefined"):
        ft.parent((243.3, 166.2, 9), zoom=1)
    assert ft.parent((243.0, 166.0, 9.0), zoom=8) == mercantile.parent(243, 166, 9, zoom=8)
    assert ft.parent(5, 7, 0) is None is mercantile.parent(5, 7, 0)
    for zoom in (10.2, 8):
        with pytest.raises(InvalidZoomError, match="zoom must be an integer and greater than"):
            ft.children((243, 166, 9), zoom=zoom)
    assert ft.children((243, 166, 9), zoom=9) == mercantile.children((243, 166, 9), zoom=9)
    for args in [(486, 332, 10, 9), ((486, 332, 10), 9)]:
        with pytest.raises(TileArgParsingError):
            ft.parent(*args)
    for z in (1.2, "lol", -1):
        with pytest.raises(InvalidZoomError):
            ft.minmax(z)
    # quadkey_to_tile: mercantile's DeprecationWarning, then QuadKeyError.
    for qk in ("lolwut", "0124"):
        with pytest.warns(DeprecationWarning) as rec, pytest.raises(QuadKeyError):
            ft.quadkey_to_tile(qk)
        assert len(rec) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ft.quadkey_to_tile("0313102310") == (486, 332, 10)


GEOJSON = [
    {"features": [{"geometry": {"coordinates": (1, 2)}}, {"geometry": {"coordinates": (-1, -2)}}]},
    {"type": "Polygon", "coordinates": [[(1.5, 2), (-1, -2.5), (3, 4), (1.5, 2)]]},
    {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [(7, 8, 9), (1, 1, 1)]}},
    {"coordinates": [[[(1, 2)], [(5, -7)]], [[(0, 0)]]]},
    [(1, 2), (-1, -2)],
    (3, 4),
    {"coordinates": []},
]


@pytest.mark.parametrize("obj", GEOJSON)
def test_geojson_bounds_and_coords(obj):
    assert list(ft._coords(obj)) == list(mercantile._coords(obj))
    got = ft.geojson_bounds(obj)
    assert type(got) is ft.LngLatBbox and got == mercantile.geojson_bounds(obj)


def test_private_helpers_xy_and_parse_tile_arg():
    for lng, lat in [(0.0, 85.0511287798066), (0.0, -85.0511287798066), (0.0, 86.0), (10, -86)]:
        assert ft._xy(lng, lat) == mercantile._xy(lng, lat)
    assert ft._xy(-181.0, 0.0, truncate=True) == mercantile._xy(-181.0, 0.0, truncate=True)
    for lat in (90.0, -90.0):
        with pytest.raises(ft.InvalidLatitudeError):
            ft._xy(0.0, lat)
    for args in [(0, 0, 0), (ft.Tile(0, 0, 0),), ((1, 2, 3),), (mercantile.Tile(1, 2, 3),)]:
        got = ft._parse_tile_arg(*args)
        assert type(got) is ft.Tile and got == mercantile._parse_tile_arg(*args)
    for args in [(0, 0), (0, 0, 0, 0), ((0, 0),)]:
        with pytest.raises(ft.TileArgParsingError):
            ft._parse_tile_arg(*args)
