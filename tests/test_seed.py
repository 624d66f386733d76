"""The seed document's snippets (python-sdk-overview.md) that need neither a server nor
GitHub, with the GitHub URLs swapped for the bundled example folders."""

import subprocess
import sys

import numpy as np
import pytest

FILE_UDF = "City_Points"  # stands in for public/DuckDB_NYC_Example
DEM_UDF = "Tile_Hillshade"  # stands in for public/DEM_10m_Tile_Example
LULC_UDF = "Tile_Grid"  # stands in for public/LULC_Tile_Example


def test_get_started(examples):
    import fused

    udf = fused.load(str(examples / FILE_UDF))
    gdf = udf.run_local()
    assert len(gdf) == 8 and gdf.crs.to_epsg() == 4326


def test_get_started_bash_oneliner(examples):
    path = str(examples / FILE_UDF)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import fused; gdf = fused.load({path!r}).run_local(); print(gdf);",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "San Francisco" in out.stdout and "POINT" in out.stdout


def test_load_from_local_path_with_trailing_slash(examples):
    import fused

    udf = fused.load(str(examples / FILE_UDF) + "/")
    assert udf.name == FILE_UDF


def test_run_as_file(examples):
    import fused

    udf = fused.load(str(examples / FILE_UDF))
    gdf = fused.run(udf=udf)
    assert sorted(gdf.region.unique()) == ["africa", "americas", "asia", "europe", "oceania"]


def test_run_as_tile_lat_lng_z(examples):
    import fused

    udf = fused.load(str(examples / DEM_UDF))
    arr = fused.run(udf=udf, lat=37.1, lng=-122.0, z=13)
    assert arr.shape == (256, 256) and arr.dtype == np.uint8
    assert arr.min() == 0 and arr.max() == 255


def test_run_as_tile_x_y_z(examples):
    import fused

    udf = fused.load(str(examples / DEM_UDF))
    a = fused.run(udf=udf, x=2411, y=3079, z=13)
    assert a.shape == (256, 256) and a.dtype == np.uint8
    # lat=37.1, lng=-122.0 lies in tile (1319, 3185, 13): the same pixels as by x/y/z.
    b = fused.run(udf=udf, lat=37.1, lng=-122.0, z=13)
    c = fused.run(udf=udf, x=1319, y=3185, z=13)
    assert np.array_equal(b, c)
    assert not np.array_equal(a, b)


def test_run_as_tile_shapely_box(examples):
    from shapely.geometry import box

    import fused

    udf = fused.load(str(examples / LULC_UDF))
    gdf = fused.run(udf=udf, bbox=box(-77.34375, 38.41055, -77.167968, 38.54816))
    assert len(gdf) == 16
    assert list(gdf.total_bounds) == pytest.approx([-77.34375, 38.41055, -77.167968, 38.54816])


def test_run_as_tile_shapely_polygon(examples):
    from shapely.geometry import Polygon

    import fused

    polygon = Polygon(
        [
            [-77.16796, 38.54816],
            [-77.16796, 38.41055],
            [-77.34375, 38.41055],
            [-77.34375, 38.54816],
            [-77.16796, 38.54816],
        ]
    )
    udf = fused.load(str(examples / LULC_UDF))
    gdf = fused.run(udf=udf, bbox=polygon)
    assert list(gdf.total_bounds) == pytest.approx([-77.34375, 38.41055, -77.16796, 38.54816])


def test_run_as_tile_geodataframe(examples):
    import geopandas as gpd

    import fused

    # The seed's GeoJSON string, made valid (the document's copy has a stray bracket).
    gdf = gpd.read_file(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
        '"geometry": {"type": "Polygon", "coordinates": [[[-77.16796875, 38.54816542304658], '
        "[-77.16796875, 38.410558250946075], [-77.34375, 38.410558250946075], "
        "[-77.34375, 38.54816542304658], [-77.16796875, 38.54816542304658]]]}}]}"
    )
    udf = fused.load(str(examples / LULC_UDF))
    out = fused.run(udf=udf, bbox=gdf)
    assert list(out.total_bounds) == pytest.approx(
        [-77.34375, 38.410558250946075, -77.16796875, 38.54816542304658]
    )
    tile_udf = fused.load(str(examples / "Buffered_Points"))
    tiles = fused.run(udf=tile_udf, bbox=gdf)
    import mercantile

    bt = mercantile.bounding_tile(*gdf.total_bounds)
    assert (tiles.x[0], tiles.y[0], tiles.z[0]) == (bt.x, bt.y, bt.z)


def test_save_a_udf(tmp_path, monkeypatch):
    import fused

    monkeypatch.chdir(tmp_path)

    @fused.udf
    def my_udf():
        return "Hello from Fused!"

    my_udf.to_directory("my_udf")
    my_udf.to_file("my_udf.zip")
    assert sorted(p.name for p in (tmp_path / "my_udf").iterdir()) == [
        "README.md",
        "meta.json",
        "my_udf.py",
    ]
    assert fused.load("my_udf").run_local() == "Hello from Fused!"
    assert fused.load("my_udf.zip").run_local() == "Hello from Fused!"


def test_typing(capsys):
    from typing import Dict

    import fused

    @fused.udf
    def udf(my_param: int, my_dict: Dict):
        print(my_param, type(my_param))  # int
        print(my_dict, type(my_dict))  # Dict

    fused.run(udf, my_param="42", my_dict='{"k": [1, 2]}')
    out = capsys.readouterr().out
    assert "42 <class 'int'>" in out
    assert "{'k': [1, 2]} <class 'dict'>" in out
