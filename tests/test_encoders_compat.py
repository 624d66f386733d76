"""Our outputs read by the tools users open them with (issue 9, items 7, 10, 13).

- GeoTIFFs are georeferenced: rasterio (GDAL inside) reads `crs`, `bounds` and `transform`
  of a tile's `.tiff`, of `(array, bounds)` results and of the Python encoders' output.
- A GeoDataFrame decoded from the server (or from the local run cache) keeps a CRS that
  prints as the user gave it (`EPSG:3857`, not the PROJJSON).
- An empty result is a valid answer: an empty tile is a 204 for MVT, an empty
  FeatureCollection / table with the frame's columns otherwise, cached like any result, and
  `fused.run` returns an empty GeoDataFrame with its columns and crs.

Everything runs against the real `fused-server` binary on 127.0.0.1 (see test_server_run).
"""

from __future__ import annotations

import contextlib
import http.server
import io
import textwrap
import threading
from typing import Any, Iterator

import geopandas as gpd
import mercantile
import numpy as np
import pyarrow as pa
import pytest
import rasterio
from affine import Affine
from harness import Server, binary

import fused
from fused._canonical import encode_result

TILE = (655, 1583, 12)  # x, y, z: San Francisco
TILE_PATH = "/api/v1/run/udf/tiles/12/655/1583"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(binary(), tmp_path_factory.mktemp("encoders-server"), workers=2)
    srv.wait_workers(2)
    yield srv
    srv.stop()


@contextlib.contextmanager
def _open(body: bytes) -> Iterator[Any]:
    """The GeoTIFF `body` opened by rasterio; the MemoryFile lives as long as the dataset
    (a dataset read after its MemoryFile was collected reads freed memory)."""
    assert body[:4] == b"II*\x00", body[:64]
    with rasterio.MemoryFile(body) as mem, mem.open() as ds:
        yield ds


def _assert_placed(ds, bounds, width: int, height: int) -> None:
    west, south, east, north = bounds
    assert ds.crs is not None and ds.crs.to_epsg() == 4326, ds.crs
    assert (ds.width, ds.height) == (width, height)
    assert ds.bounds.left == pytest.approx(west, abs=1e-12)
    assert ds.bounds.bottom == pytest.approx(south, abs=1e-12)
    assert ds.bounds.right == pytest.approx(east, abs=1e-12)
    assert ds.bounds.top == pytest.approx(north, abs=1e-12)
    expected = Affine((east - west) / width, 0, west, 0, -(north - south) / height, north)
    assert ds.transform.almost_equals(expected, precision=1e-12), ds.transform


# ----------------------------------------------------------------------- item 7: GeoTIFF

TILE_ARRAY = """
@fused.udf
def udf(bounds: fused.types.Bounds):
    import numpy as np
    return np.arange(256 * 256, dtype="uint16").reshape(256, 256)
"""


def test_tile_tiff_is_placed_on_the_tile(server):
    tb = mercantile.bounds(*TILE)
    for path in (TILE_PATH + ".tiff", TILE_PATH + "?format=tiff"):
        r = server.run(TILE_ARRAY, path=path, schema={"bounds": "bounds"})
        assert r.status == 200, r.body
        assert r.headers["content-type"] == "image/tiff"
        with _open(r.body) as ds:
            _assert_placed(ds, tb, 256, 256)
            assert ds.dtypes == ("uint16",)
            data = ds.read(1)
        assert data.tolist() == np.arange(256 * 256).reshape(256, 256).tolist()
        # A bare array keeps no bounds in the metadata (fused.run still returns an array).
        assert "bounds" not in r.meta


def test_tile_tiff_rgb_band_first(server):
    code = """
    @fused.udf
    def udf(bounds: fused.types.Bounds):
        import numpy as np
        a = np.zeros((3, 64, 32), dtype="uint8")
        a[0] = 200
        a[2, :, 16:] = 7
        return a
    """
    r = server.run(code, path=TILE_PATH + ".tif", schema={"bounds": "bounds"})
    assert r.status == 200, r.body
    with _open(r.body) as ds:
        _assert_placed(ds, mercantile.bounds(*TILE), 32, 64)
        assert ds.count == 3
        assert int(ds.read(1).min()) == 200 and int(ds.read(3)[:, 16:].min()) == 7


def test_array_with_bounds_tiff_file_and_tile(server):
    # File UDF returning (array, bounds): its bounds.
    code = """
    @fused.udf
    def udf():
        import numpy as np
        return np.ones((10, 20), dtype="float32") * 2.5, [-10.0, 40.0, -6.0, 42.0]
    """
    r = server.run(code, path="/api/v1/run/udf?format=tiff")
    assert r.status == 200, r.body
    assert r.meta["bounds"] == [-10.0, 40.0, -6.0, 42.0]
    with _open(r.body) as ds:
        _assert_placed(ds, (-10.0, 40.0, -6.0, 42.0), 20, 10)
        assert float(ds.read(1).mean()) == 2.5
    # File UDF returning (array, a GeoDataFrame's bounds).
    code = """
    @fused.udf
    def udf():
        import geopandas as gpd, numpy as np
        from shapely.geometry import box
        return np.zeros((4, 4), dtype="uint8"), gpd.GeoDataFrame(geometry=[box(1, 2, 3, 4)])
    """
    r = server.run(code, path="/api/v1/run/udf?format=tiff")
    assert r.status == 200, r.body
    with _open(r.body) as ds:
        _assert_placed(ds, (1.0, 2.0, 3.0, 4.0), 4, 4)
    # Tile UDF returning (array, bounds of its own): those win over the tile's.
    code = """
    @fused.udf
    def udf(bounds: fused.types.Bounds):
        import numpy as np
        w, s, e, n = bounds
        return np.zeros((8, 8), dtype="uint8"), [w, s, (w + e) / 2, n]
    """
    r = server.run(code, path=TILE_PATH + ".tiff", schema={"bounds": "bounds"})
    assert r.status == 200, r.body
    w, s, e, n = mercantile.bounds(*TILE)
    with _open(r.body) as ds:
        _assert_placed(ds, (w, s, (w + e) / 2, n), 8, 8)


def test_python_encoders_write_georeferenced_tiffs():
    arr = np.linspace(0, 1, 30 * 40, dtype="float64").reshape(30, 40)
    with _open(encode_result((arr, [5.0, 45.0, 7.0, 46.5]), "tiff")) as ds:
        _assert_placed(ds, (5.0, 45.0, 7.0, 46.5), 40, 30)
        assert np.array_equal(ds.read(1), arr)
    with _open(encode_result(arr, "tiff", tile=TILE)) as ds:
        _assert_placed(ds, mercantile.bounds(*TILE), 40, 30)
    # Without bounds or tile: a plain TIFF (nothing to place it with), said by rasterio.
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning):
        with _open(encode_result(arr, "tiff")) as ds:
            assert ds.crs is None
    # PNG of the same tile: the same image (map clients place it by its URL).
    png = encode_result(np.zeros((4, 4), dtype="uint8"), "png", tile=TILE)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="invalid tile"):
        encode_result(arr, "tiff", tile=(2, 0, 1))
    with pytest.raises(ValueError, match="formats for a raster: png, tiff, npy"):
        encode_result(arr, "mvt")


# ----------------------------------------------------------------------- item 10: CRS


FRAME_3857 = """
@fused.udf
def udf(n: int = 2):
    import geopandas as gpd
    from shapely.geometry import Point
    return gpd.GeoDataFrame({"v": list(range(n))},
                            geometry=[Point(i * 1000.0, i * 1000.0) for i in range(n)],
                            crs=3857)
"""


def _udf(code: str):
    return fused.load(textwrap.dedent(code))


def test_remote_frame_crs_prints_its_authority_code(remote):
    gdf = fused.run(_udf(FRAME_3857), engine="remote", n=3)
    assert isinstance(gdf, gpd.GeoDataFrame)
    assert str(gdf.crs) == "EPSG:3857"
    assert gdf.crs.to_epsg() == 3857
    assert gdf.v.tolist() == [0, 1, 2]


def test_remote_frame_custom_crs_is_kept(remote):
    code = """
    @fused.udf
    def udf(crs: str):
        import geopandas as gpd
        from shapely.geometry import Point
        return gpd.GeoDataFrame({"v": [1]}, geometry=[Point(1, 2)], crs=crs)
    """
    # No authority code for this CRS: the CRS itself, equal to what the UDF made.
    laea = "+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=m"
    gdf = fused.run(_udf(code), engine="remote", crs=laea)
    assert gdf.crs.to_epsg() is None
    assert gdf.crs.equals(laea)
    # Another authority than EPSG is printed with it.
    gdf = fused.run(_udf(code), engine="remote", crs="ESRI:54009")
    assert str(gdf.crs) == "ESRI:54009"


def test_local_run_cache_frame_crs(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSED_CACHE_DIR", str(tmp_path / "cache"))
    counter = tmp_path / "runs.txt"
    code = FRAME_3857.replace(
        "    import geopandas as gpd\n",
        f"    import geopandas as gpd\n    with open({str(counter)!r}, 'a') as _f: _f.write('x')\n",
    )
    udf = _udf(code)
    first = fused.run(udf, engine="local", n=2)
    second = fused.run(udf, engine="local", n=2)
    assert counter.read_text() == "x"  # the second came from the cache
    assert str(first.crs) == str(second.crs) == "EPSG:3857"
    assert second.geometry.x.tolist() == [0.0, 1000.0]


# ----------------------------------------------------------------------- item 13: empty


EMPTY = """
@fused.udf
def udf(bounds: fused.types.Bounds, kind: str = "empty"):
    import geopandas as gpd
    from shapely.geometry import Point
    if kind == "empty":
        return gpd.GeoDataFrame({"name": [], "count": []}, geometry=[], crs=4326)
    if kind == "nulls":
        return gpd.GeoDataFrame({"name": ["a", "b"], "count": [1, 2]},
                                geometry=[None, None], crs=4326)
    # "far": features, none of them in this tile
    return gpd.GeoDataFrame({"name": ["a", "b"], "count": [1, 2]},
                            geometry=[Point(0, 0), Point(100, 50)], crs=4326)
"""
SCHEMA = {"bounds": "bounds", "kind": "str"}


def _empty_run(server, kind: str, fmt: str):
    return server.run(EMPTY, path=f"{TILE_PATH}?format={fmt}", schema=SCHEMA, kind=kind)


@pytest.mark.parametrize("kind", ["empty", "nulls", "far"])
def test_empty_tile_is_204_for_mvt(server, kind):
    r = _empty_run(server, kind, "mvt")
    assert r.status == 204, r.body
    assert r.body == b""
    assert "content-type" not in {k.lower() for k in r.headers.keys()}
    assert r.meta["has_exception"] is False
    # Cached like any result: the next request is a hit, still 204.
    again = _empty_run(server, kind, "mvt")
    assert (again.status, again.headers["x-fused-cached"]) == (204, "true")
    # The .mvt extension of a GET-style path too.
    ext = server.run(EMPTY, path=f"{TILE_PATH}.mvt", schema=SCHEMA, kind=kind)
    assert ext.status == 204


def test_empty_frame_in_every_table_format(server):
    r = _empty_run(server, "empty", "geojson")
    assert r.status == 200, r.body
    assert r.json() == {"type": "FeatureCollection", "features": []}
    r = _empty_run(server, "empty", "json")
    assert (r.status, r.json()) == (200, [])
    r = _empty_run(server, "empty", "csv")
    assert (r.status, r.body) == (200, b"name,count,geometry\r\n")
    # Parquet: an empty GeoDataFrame with the frame's columns and crs (GeoParquet readers).
    r = _empty_run(server, "empty", "parquet")
    assert r.status == 200, r.body
    gdf = gpd.read_parquet(io.BytesIO(r.body))
    assert list(gdf.columns) == ["name", "count", "geometry"]
    assert len(gdf) == 0 and gdf.crs.to_epsg() == 4326
    assert r.headers["x-fused-cached"] == "true"  # one cached result, encoded per format
    r = _empty_run(server, "empty", "arrow")
    table = pa.ipc.open_file(pa.BufferReader(r.body)).read_all()
    assert table.num_rows == 0 and table.column_names == ["name", "count", "geometry"]
    assert table.schema.field("geometry").type == pa.binary()


def test_null_and_clipped_geometry_in_table_formats(server):
    r = _empty_run(server, "nulls", "geojson")
    assert r.status == 200, r.body
    features = r.json()["features"]
    assert [f["geometry"] for f in features] == [None, None]
    assert [f["properties"] for f in features] == [
        {"name": "a", "count": 1},
        {"name": "b", "count": 2},
    ]
    r = _empty_run(server, "nulls", "csv")
    assert r.body == b"name,count,geometry\r\na,1,\r\nb,2,\r\n"
    r = _empty_run(server, "nulls", "parquet")
    gdf = gpd.read_parquet(io.BytesIO(r.body))
    assert gdf.name.tolist() == ["a", "b"] and gdf.geometry.isna().all()
    # Features outside the tile: clipped only in MVT; other formats carry the rows.
    r = _empty_run(server, "far", "geojson")
    assert len(r.json()["features"]) == 2


def test_sdk_returns_empty_frames(remote):
    udf = _udf(EMPTY)
    gdf = fused.run(udf, x=TILE[0], y=TILE[1], z=TILE[2], engine="remote")
    assert isinstance(gdf, gpd.GeoDataFrame)
    assert len(gdf) == 0
    assert list(gdf.columns) == ["name", "count", "geometry"]
    assert str(gdf.crs) == "EPSG:4326"
    nulls = fused.run(udf, x=TILE[0], y=TILE[1], z=TILE[2], engine="remote", kind="nulls")
    assert nulls.name.tolist() == ["a", "b"] and nulls.geometry.isna().all()
    # The local engine and its cache give the same empty frame.
    local = fused.run(udf, x=TILE[0], y=TILE[1], z=TILE[2], engine="local")
    cached = fused.run(udf, x=TILE[0], y=TILE[1], z=TILE[2], engine="local")
    for frame in (local, cached):
        assert len(frame) == 0 and list(frame.columns) == ["name", "count", "geometry"]
        assert str(frame.crs) == "EPSG:4326"


class _NoContent(http.server.BaseHTTPRequestHandler):
    """A tile server that answers every run with 204 (martin's answer for an empty tile)."""

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_sdk_decodes_204_as_an_empty_result(monkeypatch):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoContent)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = httpd.server_address[:2]
        monkeypatch.setenv("FUSED_SERVER_URL", f"http://{host}:{port}")
        monkeypatch.setenv("FUSED_AUTH_TOKEN", "any")
        gdf = fused.run(_udf(EMPTY), x=TILE[0], y=TILE[1], z=TILE[2], engine="remote")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert isinstance(gdf, gpd.GeoDataFrame) and len(gdf) == 0
