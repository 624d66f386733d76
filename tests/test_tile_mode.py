"""Tile mode: every way to name a tile, and the shape each annotation gets."""

import warnings

import geopandas as gpd
import mercantile
import pytest
from shapely.geometry import Polygon, box

import fused


def _bounds(x, y, z):
    b = mercantile.bounds(x, y, z)
    return [b.west, b.south, b.east, b.north]


def make(annotation: str, name: str = "bbox"):
    code = (
        "@fused.udf\n"
        f"def udf({name}{': ' + annotation if annotation else ''} = None, extra: int = 0):\n"
        f"    return {name}\n"
    )
    return fused.load(code)


def test_xyz_bounds():
    got = make("fused.types.Bounds", "bounds").run_local(x=2411, y=3079, z=13)
    assert got == pytest.approx(_bounds(2411, 3079, 13), abs=1e-12)


def test_xyz_tilegdf_and_unannotated():
    for annotation in ("fused.types.TileGDF", "fused.types.Tile", ""):
        gdf = make(annotation).run_local(x=2411, y=3079, z=13)
        assert isinstance(gdf, gpd.GeoDataFrame)
        assert list(gdf.columns) == ["x", "y", "z", "geometry"]
        assert (int(gdf.x[0]), int(gdf.y[0]), int(gdf.z[0])) == (2411, 3079, 13)
        assert gdf.crs.to_epsg() == 4326
        assert list(gdf.total_bounds) == pytest.approx(_bounds(2411, 3079, 13), abs=1e-12)


def test_xyz_bbox_polygon_tilexyz_viewport():
    poly = make("fused.types.Bbox").run_local(x=1, y=2, z=3)
    assert isinstance(poly, Polygon)
    assert list(poly.bounds) == pytest.approx(_bounds(1, 2, 3), abs=1e-12)

    t = make("fused.types.TileXYZ").run_local(x=1, y=2, z=3)
    assert t == fused.tiles.Tile(1, 2, 3)
    assert (t.x, t.y, t.z) == (1, 2, 3)

    vp = make("fused.types.ViewportGDF").run_local(x=1, y=2, z=3)
    assert list(vp.columns) == ["geometry"]
    assert list(vp.total_bounds) == pytest.approx(_bounds(1, 2, 3), abs=1e-12)


def test_lat_lng_z():
    t = make("fused.types.TileXYZ").run_local(lat=37.1, lng=-122.0, z=13)
    expected = mercantile.tile(-122.0, 37.1, 13)
    assert (t.x, t.y, t.z) == (expected.x, expected.y, expected.z)


@pytest.mark.parametrize(
    "bbox",
    [
        box(-77.34375, 38.41055, -77.167968, 38.54816),
        Polygon(
            [
                [-77.16796, 38.54816],
                [-77.16796, 38.41055],
                [-77.34375, 38.41055],
                [-77.34375, 38.54816],
                [-77.16796, 38.54816],
            ]
        ),
        [-77.34375, 38.41055, -77.167968, 38.54816],
        (-77.34375, 38.41055, -77.167968, 38.54816),
        "-77.34375,38.41055,-77.167968,38.54816",
        gpd.GeoDataFrame(geometry=[box(-77.34375, 38.41055, -77.167968, 38.54816)], crs=4326),
    ],
    ids=["shapely-box", "shapely-polygon", "list", "tuple", "string", "geodataframe"],
)
def test_bbox_forms_get_bbox_geometry_and_bounding_tile(bbox):
    gdf = make("fused.types.TileGDF").run_local(bbox=bbox)
    bt = mercantile.bounding_tile(-77.34375, 38.41055, -77.167968, 38.54816)
    assert (int(gdf.x[0]), int(gdf.y[0]), int(gdf.z[0])) == (bt.x, bt.y, bt.z)
    assert list(gdf.total_bounds) == pytest.approx(
        [-77.34375, 38.41055, -77.167968, 38.54816], abs=1e-5
    )
    bounds = make("fused.types.Bounds", "bounds").run_local(bbox=bbox)
    assert bounds == pytest.approx([-77.34375, 38.41055, -77.167968, 38.54816], abs=1e-5)


def test_geodataframe_in_other_crs_is_reprojected():
    frame = gpd.GeoDataFrame(geometry=[box(-77.3, 38.4, -77.2, 38.5)], crs=4326).to_crs(3857)
    bounds = make("fused.types.Bounds", "bounds").run_local(bbox=frame)
    assert bounds == pytest.approx([-77.3, 38.4, -77.2, 38.5], abs=1e-9)


def test_tile_parameter_choice():
    both = fused.load(
        "@fused.udf\ndef udf(first=None, bbox=None, bounds=None):\n"
        "    return (first, bbox, bounds)\n"
    )
    first, bbox, bounds = both.run_local(x=0, y=0, z=0)
    assert first is None and bbox is None
    assert bounds.z[0] == 0  # unannotated: TileGDF form
    only_bbox = fused.load(
        "@fused.udf\ndef udf(a=None, bbox: fused.types.Bounds=None):\n    return (a, bbox)\n"
    )
    assert only_bbox.run_local(x=0, y=0, z=1)[1] == pytest.approx(_bounds(0, 0, 1))
    first_param = fused.load(
        "@fused.udf\ndef udf(area: fused.types.Bounds=None, n: int=1):\n    return area\n"
    )
    assert first_param.run_local(x=0, y=0, z=1) == pytest.approx(_bounds(0, 0, 1))


def test_xyz_consumed_not_passed_on():
    u = fused.load("@fused.udf\ndef udf(bbox=None, **kw):\n    return kw\n")
    assert u.run_local(x=1, y=1, z=1, other=5) == {"other": 5}


def test_udf_with_own_x_y_parameters_gets_them():
    u = fused.load(
        "@fused.udf\ndef udf(x: int = 0, y: int = 0, z: int = 0):\n    return (x, y, z)\n"
    )
    assert u.run_local(x="1", y=2, z=3) == (1, 2, 3)


def test_tile_errors():
    u = make("fused.types.Bounds", "bounds")
    with pytest.raises(TypeError, match="missing y"):
        u.run_local(x=1, z=3)
    with pytest.raises(TypeError, match="missing z"):
        u.run_local(lat=1.0, lng=2.0)
    with pytest.raises(ValueError, match="z"):
        u.run_local(x=0, y=0, z=31)
    with pytest.raises(ValueError, match="invalid x: expected an integer"):
        u.run_local(x=0.5, y=0, z=3)
    with pytest.raises(ValueError, match="z"):
        u.run_local(x=0, y=0, z=-1)
    with pytest.raises(ValueError, match="lat"):
        u.run_local(lat=95.0, lng=0.0, z=3)
    with pytest.raises(ValueError, match="bbox"):
        u.run_local(bbox=[1, 2, 3])
    with pytest.raises(ValueError, match="bbox"):
        u.run_local(bbox=[0, 10, 1, 5])
    with pytest.raises(TypeError, match="one way"):
        u.run_local(x=0, y=0, z=0, bbox=[0, 0, 1, 1])
    with pytest.raises(TypeError, match="no parameter"):
        fused.load("@fused.udf\ndef udf():\n    return 1\n").run_local(x=0, y=0, z=0)


def test_tile_and_parameters_together():
    grid = fused.load(fused_examples() / "Tile_Grid")
    gdf = fused.run(grid, x=2411, y=3079, z=13, cells="3")
    assert len(gdf) == 9
    assert list(gdf.total_bounds) == pytest.approx(_bounds(2411, 3079, 13), abs=1e-9)


def fused_examples():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "examples" / "udfs"


def test_tile_outside_the_grid_runs_like_mercantile_with_one_warning():
    """The catalog's CI runs a File-and-Tile UDF with x=1, y=2, z=1 (y is past the last row):
    mercantile extrapolates its bounds with a FutureWarning, and so does fused.run."""
    bounds_udf = make("fused.types.Bounds", "bounds")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        expected = _bounds(1, 2, 1)
        expected_west = _bounds(-1, 0, 2)
    calls = [
        lambda: bounds_udf.run_local(x=1, y=2, z=1),  # through the run cache (not stored)
        lambda: bounds_udf.run_local(x=1, y=2, z=1),
        lambda: fused.run(bounds_udf, x=1, y=2, z=1, cache=False),
    ]
    for call in calls:
        with pytest.warns(FutureWarning, match=r"tile \(1, 2, 1\) is outside the grid") as rec:
            got = call()
        assert [w.category for w in rec] == [FutureWarning]  # once per run
        assert got == expected  # bit for bit
    with pytest.warns(FutureWarning) as rec:
        gdf = make("fused.types.TileGDF").run_local(x=-1, y=0, z=2)
        t = make("fused.types.TileXYZ").run_local(x=-1, y=0, z=2)
    assert len(rec) == 2
    assert (int(gdf.x[0]), int(gdf.y[0]), int(gdf.z[0])) == (-1, 0, 2)
    assert list(gdf.total_bounds) == pytest.approx(expected_west, abs=1e-9)
    assert type(t) is fused.tiles.Tile and t == (-1, 0, 2)


def test_tile_outside_the_grid_is_refused_by_the_remote_engine_before_sending():
    u = make("fused.types.Bounds", "bounds")
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="engine='local'"):
        fused.run(u, x=1, y=2, z=1, engine="remote")


def test_mercantile_tiles_are_accepted_everywhere_a_tile_is():
    from fused._optional_deps import MERCANTILE_TILE

    mt = mercantile.Tile(2411, 3079, 13)
    assert isinstance(mt, MERCANTILE_TILE) and isinstance(
        fused.tiles.Tile(1, 2, 3), MERCANTILE_TILE
    )
    assert not isinstance((2411, 3079, 13), MERCANTILE_TILE)
    # As the tile of a run: bbox=<a mercantile.Tile> names that tile.
    got = make("fused.types.Bounds", "bounds").run_local(bbox=mt)
    assert got == pytest.approx(_bounds(2411, 3079, 13), abs=1e-12)
    t = make("fused.types.TileXYZ").run_local(bbox=mt)
    assert type(t) is fused.tiles.Tile and t == (2411, 3079, 13)
    # As the value of a TileXYZ parameter: converted to a fused.tiles.Tile.
    u = fused.load("@fused.udf\ndef udf(t: fused.types.TileXYZ = None):\n    return t\n")
    got = u.run_local(t=mt)
    assert type(got) is fused.tiles.Tile and got == (2411, 3079, 13)
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="t"):
        u.run_local(t=mercantile.Tile(2, 0, 1))
