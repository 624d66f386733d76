"""Tilesets end to end: TileJSON and MapLibre styles of the tile endpoints, export of a Tile
UDF to PMTiles and MBTiles (read back with independent readers and compared with the
server's tiles), dedup, resume, and `fused serve` serving exported sets (ranges, upload).

Runs against the `fused-server` binary on 127.0.0.1 with a temporary data directory."""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import mercantile
import pytest
from harness import Server, binary
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import zxy_to_tileid

import fused
from fused import _native
from fused._export import ExportError

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "tests/data/tilejson/tilejson-3.0.0.schema.json").read_text())
STYLE_VALIDATE = ROOT / "tests/js/node_modules/.bin/gl-style-validate"
OWNER = "me@example.com"
# Downtown San Francisco and Oakland.
BBOX = (-122.52, 37.70, -122.20, 37.84)


@fused.udf
def places(bounds: fused.types.Bounds = None, label: str = "p"):
    """Points of a fixed list inside the tile (tiles without any are empty)."""
    import geopandas as gpd
    from shapely.geometry import Point

    pts = {
        "ferry": (-122.3934, 37.7955),
        "park": (-122.4862, 37.7694),
        "lake": (-122.2585, 37.8044),
        "far": (-100.0, 40.0),
    }
    w, s, e, n = bounds
    inside = [(k, x, y) for k, (x, y) in pts.items() if w <= x <= e and s <= y <= n]
    return gpd.GeoDataFrame(
        {
            "name": [k for k, _, _ in inside],
            "label": [label] * len(inside),
            "rank": [len(k) for k, _, _ in inside],
        },
        geometry=[Point(x, y) for _, x, y in inside],
        crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(binary(), tmp_path_factory.mktemp("tilesets-server"), workers=2)
    srv.wait_workers(2)
    yield srv
    srv.stop()


def _get(url: str, token=None, headers=None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def _put(url: str, body: bytes, token=None):
    req = urllib.request.Request(url, data=body, method="PUT")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _features(mvt: bytes) -> int:
    return sum(n for _, n, _ in _native.mvt_layers(mvt))


def _saved_tile(server, z, x, y, **params) -> bytes:
    query = "&".join(f"{k}={v}" for k, v in {"format": "mvt", **params}.items())
    url = f"{server.base}/api/v1/run/udf/saved/{OWNER}/places/tiles/{z}/{x}/{y}?{query}"
    status, headers, body = _get(url, token=server.key)
    if status == 204:  # a tile with no feature: no content (what martin answers)
        assert body == b""
        return body
    assert status == 200, body
    assert headers["content-type"] == "application/vnd.mapbox-vector-tile"
    return body


def _plan(minzoom, maxzoom):
    return list(mercantile.tiles(*BBOX, zooms=range(minzoom, maxzoom + 1)))


# -- TileJSON and style ----------------------------------------------------------------------


def test_tilejson_documents_for_saved_and_shared_endpoints(remote):
    udf = places
    udf.metadata["fused:description"] = "Points of a fixed list inside the tile"
    udf.metadata["fused:defaultViewState"] = {"longitude": -122.4, "latitude": 37.78, "zoom": 11}
    udf.metadata["fused:maxzoom"] = 16
    udf.to_fused(overwrite=True)
    base = f"{remote.base}/api/v1/run/udf/saved/{OWNER}/places"
    status, headers, body = _get(f"{base}/tilejson.json?label=q", token=remote.key)
    assert status == 200, body
    assert headers["access-control-allow-origin"] == "*"
    doc = json.loads(body)
    jsonschema.validate(doc, SCHEMA)
    assert doc["tilejson"] == "3.0.0"
    assert doc["name"] == "places"
    assert doc["description"].startswith("Points of a fixed list")
    assert (doc["minzoom"], doc["maxzoom"]) == (0, 16)
    assert doc["center"] == [-122.4, 37.78, 11]
    assert doc["tiles"] == [f"{base}/tiles/{{z}}/{{x}}/{{y}}?label=q&format=mvt"]
    # Fields are known only after a tile ran.
    assert doc["vector_layers"] == [{"id": "udf", "fields": {}, "minzoom": 0, "maxzoom": 16}]
    t = mercantile.tile(-122.3934, 37.7955, 12)
    template = doc["tiles"][0]
    url = template.replace("{z}", "12").replace("{x}", str(t.x)).replace("{y}", str(t.y))
    status, headers, tile = _get(url, token=remote.key)
    assert status == 200 and headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert _features(tile) == 1
    doc = json.loads(_get(f"{base}/tilejson.json", token=remote.key)[2])
    jsonschema.validate(doc, SCHEMA)
    assert doc["vector_layers"][0]["fields"] == {
        "label": "String",
        "name": "String",
        "rank": "Number",
    }

    # A raster document for format=png (no vector_layers; the schema's `required` lists
    # vector_layers for every document, the specification only for vector tiles).
    raster_schema = {**SCHEMA, "required": ["tilejson", "tiles"]}
    doc = json.loads(_get(f"{base}/tilejson.json?format=png", token=remote.key)[2])
    jsonschema.validate(doc, raster_schema)
    assert "vector_layers" not in doc and doc["format"] == "png"
    assert doc["tiles"][0].endswith("/tiles/{z}/{x}/{y}?format=png")

    # Login required for the saved endpoint; the share token's needs none.
    assert _get(f"{base}/tilejson.json")[0] == 401
    token = udf.create_access_token()
    shared = token.tile_url.split("/run/tiles/")[0]
    status, _, body = _get(f"{shared}/tilejson.json?label=q")
    assert status == 200, body
    doc = json.loads(body)
    jsonschema.validate(doc, SCHEMA)
    assert doc["tiles"] == [f"{shared}/run/tiles/{{z}}/{{x}}/{{y}}?label=q&format=mvt"]
    assert doc["vector_layers"][0]["fields"]["rank"] == "Number"
    assert _get(f"{remote.base}/shared/fsh_nope/tilejson.json")[0] == 404

    # Bad metadata is named.
    udf.metadata["fused:maxzoom"] = 99
    udf.to_fused(overwrite=True)
    status, _, body = _get(f"{base}/tilejson.json", token=remote.key)
    assert status == 422 and b"fused:maxzoom" in body
    udf.metadata.pop("fused:maxzoom")
    udf.to_fused(overwrite=True)


def _validate_style(tmp_path, style: dict) -> None:
    assert STYLE_VALIDATE.exists(), "run `npm ci --prefix tests/js` (make test does)"
    f = tmp_path / "style.json"
    f.write_text(json.dumps(style))
    out = subprocess.run([str(STYLE_VALIDATE), str(f)], capture_output=True, text=True)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr


def test_maplibre_styles_are_valid(remote, tmp_path):
    udf = places
    udf.metadata["fused:vizConfig"] = {
        "vectorLayer": {"getFillColor": [255, 0, 0, 128], "getLineColor": [0, 0, 255]}
    }
    udf.to_fused(overwrite=True)
    base = f"{remote.base}/api/v1/run/udf/saved/{OWNER}/places"
    status, _, body = _get(f"{base}/style.json?label=q", token=remote.key)
    assert status == 200, body
    style = json.loads(body)
    _validate_style(tmp_path, style)
    assert style["version"] == 8
    assert style["sources"]["udf"] == {"type": "vector", "url": f"{base}/tilejson.json?label=q"}
    assert [layer["type"] for layer in style["layers"]] == ["fill", "line", "circle"]
    assert style["layers"][0]["paint"]["fill-color"] == "rgba(255, 0, 0, 0.502)"
    assert style["layers"][1]["paint"]["line-color"] == "rgba(0, 0, 255, 1)"
    raster = json.loads(_get(f"{base}/style.json?format=png", token=remote.key)[2])
    _validate_style(tmp_path, raster)
    assert raster["sources"]["udf"]["type"] == "raster"
    # The validator does catch a broken style.
    broken = {**style, "layers": [{**style["layers"][0], "type": "nope"}]}
    f = tmp_path / "broken.json"
    f.write_text(json.dumps(broken))
    out = subprocess.run([str(STYLE_VALIDATE), str(f)], capture_output=True, text=True)
    assert out.returncode != 0 or out.stdout.strip()
    udf.metadata.pop("fused:vizConfig")
    udf.to_fused(overwrite=True)


# -- export ----------------------------------------------------------------------------------


def test_pmtiles_round_trip_against_the_http_endpoint(remote, tmp_path):
    places.to_fused(overwrite=True)
    out = tmp_path / "places.pmtiles"
    result = fused.tiles.export(places, BBOX, 8, 12, out, engine="local", label="x", progress=False)
    plan = _plan(8, 12)
    assert result.total == len(plan)
    assert result.tiles + result.empty == len(plan)
    assert result.tiles > 0 and result.empty > 0
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]

    with open(out, "rb") as f:
        reader = Reader(MmapSource(f))
        header = reader.header()
        assert header["clustered"] is True
        assert header["tile_type"].name == "MVT"
        assert header["tile_compression"].name == "GZIP"
        assert (header["min_zoom"], header["max_zoom"]) == (8, 12)
        meta = reader.metadata()
        assert meta["name"] == "places"
        assert meta["vector_layers"][0]["id"] == "udf"
        assert meta["vector_layers"][0]["fields"] == {
            "label": "String",
            "name": "String",
            "rank": "Number",
        }
        stored = {zxy: data for zxy, data in all_tiles(reader.get_bytes)}
        assert len(stored) == result.tiles
        for t in plan:
            http = _saved_tile(remote, t.z, t.x, t.y, label="x")
            got = reader.get(t.z, t.x, t.y)
            if _features(http) == 0:
                assert got is None, t
            else:
                assert got is not None, t
                assert gzip.decompress(got) == http, t
    # Tile ids agree with the reference implementation's.
    ids = [_native.tileset_tile_id(t.z, t.x, t.y) for t in plan]
    assert ids == [zxy_to_tileid(t.z, t.x, t.y) for t in plan]

    # The same file again needs overwrite.
    with pytest.raises(FileExistsError):
        fused.tiles.export(places, BBOX, 8, 9, out, engine="local", progress=False)


def test_mbtiles_round_trip_remote_engine(remote, tmp_path):
    places.to_fused(overwrite=True)
    out = tmp_path / "places.mbtiles"
    result = fused.tiles.export(
        places, BBOX, 9, 12, out, engine="remote", label="y", progress=False
    )
    assert result.tiles > 0 and result.failed == []
    db = sqlite3.connect(out)
    meta = dict(db.execute("SELECT name, value FROM metadata"))
    assert meta["format"] == "pbf" and meta["minzoom"] == "9" and meta["maxzoom"] == "12"
    assert [float(v) for v in meta["bounds"].split(",")] == pytest.approx(list(BBOX))
    layers = json.loads(meta["json"])["vector_layers"]
    assert layers[0]["fields"]["rank"] == "Number"
    rows = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").fetchall()
    assert len(rows) == result.tiles
    for z, x, tms_row, data in rows:
        y = (1 << z) - 1 - tms_row  # TMS rows
        assert gzip.decompress(data) == _saved_tile(remote, z, x, y, label="y")
    stored = {(z, x, (1 << z) - 1 - r) for z, x, r, _ in rows}
    for t in _plan(9, 12):
        if (t.z, t.x, t.y) not in stored:
            assert _features(_saved_tile(remote, t.z, t.x, t.y, label="y")) == 0
    db.close()


def test_identical_tiles_are_stored_once(examples, tmp_path):
    grid = fused.load(examples / "Tile_Grid")
    out = tmp_path / "grid.pmtiles"
    # One cell per tile: the tile's own square, the same MVT bytes for every tile.
    result = fused.tiles.export(grid, BBOX, 10, 13, out, cells=1, progress=False)
    assert result.tiles == len(_plan(10, 13)) > 50
    assert result.unique == 1
    with open(out, "rb") as f:
        reader = Reader(MmapSource(f))
        header = reader.header()
        assert header["addressed_tiles_count"] == result.tiles
        assert header["tile_contents_count"] == 1
        assert header["tile_entries_count"] < result.tiles  # runs of consecutive ids
        datas = {data for _, data in all_tiles(reader.get_bytes)}
    assert len(datas) == 1
    assert out.stat().st_size < 20_000


COUNTING = """
@fused.udf
def udf(bounds: fused.types.Bounds = None, log: str = "", fail_flag: str = ""):
    import os
    import geopandas as gpd
    from shapely.geometry import box

    w, s, e, n = bounds
    with open(log, "a") as f:
        f.write(f"{w:.6f},{s:.6f}\\n")
    if fail_flag and os.path.exists(fail_flag) and e - w > 0.3:  # zoom 10 tiles
        raise RuntimeError("flaky source")
    return gpd.GeoDataFrame({"w": [w]}, geometry=[box(w, s, e, n)], crs="EPSG:4326")
"""


def test_failed_tile_stops_the_export_and_a_rerun_resumes_from_the_cache(tmp_path):
    udf = fused.load(COUNTING)
    log = tmp_path / "calls.log"
    flag = tmp_path / "fail"
    flag.write_text("1")
    out = tmp_path / "resume.pmtiles"
    total = len(_plan(10, 13))
    failing = len(_plan(10, 10))
    with pytest.raises(ExportError) as info:
        fused.tiles.export(
            udf,
            BBOX,
            10,
            13,
            out,
            engine="local",
            log=str(log),
            fail_flag=str(flag),
            progress=False,
        )
    message = str(info.value)
    assert "flaky source" in message and "RuntimeError" in message
    z, x, y = (int(v) for v in message.split("tile ")[1].split(" ")[0].split("/"))
    assert z == 10  # the named tile is a failing one
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]
    # The export stopped after the batch of tiles with the failure.
    first_calls = len(log.read_text().splitlines())
    assert failing < first_calls < total

    # --skip-errors goes on and lists the failed tiles.
    skipped = fused.tiles.export(
        udf,
        BBOX,
        10,
        13,
        out,
        engine="local",
        log=str(log),
        fail_flag=str(flag),
        skip_errors=True,
        progress=False,
    )
    assert len(skipped.failed) == failing
    assert all("flaky source" in e and t[2] == 10 for t, e in skipped.failed)
    assert skipped.tiles + len(skipped.failed) == total
    calls = len(log.read_text().splitlines())
    # Finished tiles came from the cache: the failed ones and the tiles not reached ran.
    assert calls - first_calls == failing + (total - first_calls)

    flag.unlink()
    before = len(log.read_text().splitlines())
    again = fused.tiles.export(
        udf,
        BBOX,
        10,
        13,
        out,
        engine="local",
        log=str(log),
        fail_flag=str(flag),
        overwrite=True,
        progress=False,
    )
    assert again.tiles == total and again.failed == []
    assert len(log.read_text().splitlines()) - before == len(skipped.failed)


def test_export_argument_errors(tmp_path, examples):
    grid = fused.load(examples / "Tile_Grid")
    out = tmp_path / "x.pmtiles"
    with pytest.raises(ValueError, match="invalid engine: expected one of local, remote, dask"):
        fused.tiles.export(grid, BBOX, 1, 2, out, engine="spark", progress=False)
    with pytest.raises(ValueError, match="1,000,000"):
        fused.tiles.export(grid, (-180, -85, 180, 85), 0, 11, out, progress=False)
    with pytest.raises(ValueError, match="maxzoom"):
        fused.tiles.export(grid, BBOX, 5, 3, out, progress=False)
    with pytest.raises(ValueError, match="bbox"):
        fused.tiles.export(grid, "1,2,3", 1, 2, out, progress=False)
    with pytest.raises(ValueError, match=r"\.pmtiles or \.mbtiles"):
        fused.tiles.export(grid, BBOX, 1, 2, tmp_path / "x.zip", progress=False)
    with pytest.raises(ValueError, match="format"):
        fused.tiles.export(grid, BBOX, 1, 2, out, format="jpg", progress=False)
    assert not out.exists()


def test_cli_export_with_udf_parameters_and_progress(tmp_path, examples):
    out = tmp_path / "cli.mbtiles"
    cmd = [sys.executable, "-m", "fused._cli", "tiles", "export", str(examples / "Tile_Grid")]
    args = ["--bbox", ",".join(map(str, BBOX)), "--minzoom", "10", "--maxzoom", "11"]
    proc = subprocess.run(
        [*cmd, *args, "-o", str(out), "--cells", "2", "--engine", "local"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    assert "tile/s" in proc.stderr  # the progress bar
    db = sqlite3.connect(out)
    (n,) = db.execute("SELECT count(*) FROM tiles").fetchone()
    assert n == len(_plan(10, 11))
    db.close()
    proc = subprocess.run(
        [
            *cmd,
            "--bbox",
            "-180,-85,180,85",
            "--minzoom",
            "0",
            "--maxzoom",
            "11",
            "-o",
            str(tmp_path / "big.pmtiles"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "--yes" in proc.stderr
    proc = subprocess.run(
        [*cmd, *args, "-o", str(tmp_path / "d.pmtiles"), "--engine", "spark"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "--engine" in proc.stderr and "spark" in proc.stderr


# -- serving exported sets -------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A PMTiles and an MBTiles export of `places`, z 8..12."""
    d = tmp_path_factory.mktemp("exported")
    pm = fused.tiles.export(places, BBOX, 8, 12, d / "p.pmtiles", engine="local", progress=False)
    mb = fused.tiles.export(places, BBOX, 8, 12, d / "p.mbtiles", engine="local", progress=False)
    assert pm.tiles == mb.tiles > 0
    return d / "p.pmtiles", d / "p.mbtiles"


def test_served_tilesets_tiles_tilejson_and_ranges(server, exported):
    pm, mb = exported
    sets = server.data_dir / "tilesets"
    (sets / "city.pmtiles").write_bytes(pm.read_bytes())
    (sets / "citymb.mbtiles").write_bytes(mb.read_bytes())
    status, _, body = _get(f"{server.base}/tilesets")
    names = {s["name"]: s["format"] for s in json.loads(body)["tilesets"]}
    assert names["city"] == "pmtiles" and names["citymb"] == "mbtiles"

    with open(pm, "rb") as f:
        reader = Reader(MmapSource(f))
        stored = {zxy: data for zxy, data in all_tiles(reader.get_bytes)}
    for name in ("city", "citymb"):
        doc = json.loads(_get(f"{server.base}/tilesets/{name}/tilejson.json")[2])
        jsonschema.validate(doc, SCHEMA)
        assert doc["tiles"] == [f"{server.base}/tilesets/{name}/{{z}}/{{x}}/{{y}}"]
        assert (doc["minzoom"], doc["maxzoom"]) == (8, 12)
        assert doc["vector_layers"][0]["fields"]["name"] == "String"
        for (z, x, y), data in list(stored.items())[:25]:
            status, headers, body = _get(f"{server.base}/tilesets/{name}/{z}/{x}/{y}")
            assert status == 200
            assert headers["content-type"] == "application/vnd.mapbox-vector-tile"
            # urllib does not decode gzip: the body is the stored (gzipped) tile
            assert headers["content-encoding"] == "gzip"
            assert body == data
        empty = next(t for t in _plan(8, 12) if (t.z, t.x, t.y) not in stored)
        status, _, body = _get(f"{server.base}/tilesets/{name}/{empty.z}/{empty.x}/{empty.y}")
        assert status == 204 and body == b""
    assert _get(f"{server.base}/tilesets/nope/1/0/0")[0] == 404
    assert _get(f"{server.base}/tilesets/city/1/5/0")[0] == 400

    # Range requests on the .pmtiles download.
    whole = pm.read_bytes()
    url = f"{server.base}/tilesets/city.pmtiles"
    status, headers, body = _get(url)
    assert status == 200 and body == whole and headers["accept-ranges"] == "bytes"
    status, headers, body = _get(url, headers={"Range": "bytes=0-126"})
    assert status == 206 and body == whole[:127]
    assert headers["content-range"] == f"bytes 0-126/{len(whole)}"
    status, headers, body = _get(url, headers={"Range": "bytes=-10"})
    assert status == 206 and body == whole[-10:]
    status, headers, body = _get(url, headers={"Range": f"bytes={len(whole)}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(whole)}"
    assert _get(url, headers={"Range": "bytes=9-3"})[0] == 416
    assert _get(f"{server.base}/tilesets/city.mbtiles")[0] == 404


def test_upload_by_owner_is_validated(server, exported, tmp_path):
    pm, mb = exported
    url = f"{server.base}/api/v1/tilesets/up.pmtiles"
    assert _put(url, pm.read_bytes())[0] == 401
    status, body = _put(url, b"PMTiles\x03" + b"\0" * 50, token=server.key)
    assert status == 422 and b"up.pmtiles" in body
    status, body = _put(url, mb.read_bytes(), token=server.key)
    assert status == 422  # an MBTiles file under a .pmtiles name
    status, body = _put(
        f"{server.base}/api/v1/tilesets/up.mbtiles", b"SQLite format 3\0" * 8, token=server.key
    )
    assert status == 422
    assert not (server.data_dir / "tilesets" / "up.pmtiles").exists()
    assert not [p for p in (server.data_dir / "tilesets").iterdir() if ".part" in p.name]
    status, body = _put(url, pm.read_bytes(), token=server.key)
    assert status == 201, body
    assert json.loads(body)["owner"] == OWNER
    status, body = _put(url, pm.read_bytes(), token=server.key)
    assert status == 200  # replaced by its owner
    status, _, tile = _get(f"{server.base}/tilesets/up/12/655/1583")
    assert status in (200, 204)
    # Another user cannot replace it, nor a tileset the administrator placed.
    other = (
        subprocess.run(
            [
                str(server.exe),
                "admin",
                "create-user",
                "other@example.com",
                "--data-dir",
                str(server.data_dir),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert _put(url, pm.read_bytes(), token=other)[0] == 403
    (server.data_dir / "tilesets" / "admin.pmtiles").write_bytes(pm.read_bytes())
    assert (
        _put(f"{server.base}/api/v1/tilesets/admin.pmtiles", pm.read_bytes(), token=server.key)[0]
        == 403
    )
    assert _put(f"{server.base}/api/v1/tilesets/..%2Fx.pmtiles", pm.read_bytes(), token=server.key)[
        0
    ] in (400, 404)


TWO_SHAPES = """
@fused.udf
def udf(bounds: fused.types.Bounds = None):
    import geopandas as gpd
    from shapely.geometry import Point, box

    w, s, e, n = bounds
    dx, dy = (e - w) / 10, (n - s) / 10
    return gpd.GeoDataFrame(
        {"name": ["cell", "centre"], "v": [1.5, 2.0]},
        geometry=[box(w + dx, s + dy, e - dx, n - dy), Point((w + e) / 2, (s + n) / 2)],
        crs="EPSG:4326",
    )
"""


@pytest.mark.parametrize("ext", ["pmtiles", "mbtiles"])
def test_gdal_reads_the_exported_tileset(tmp_path, ext):
    """GDAL's own PMTiles / MBTiles drivers (through pyogrio) open the export: one `udf`
    layer with the UDF's fields, the max zoom's features with their values."""
    import pyogrio

    out = tmp_path / f"gdal.{ext}"
    fused.tiles.export(fused.load(TWO_SHAPES), BBOX, 10, 12, out, engine="local", progress=False)
    assert [list(x) for x in pyogrio.list_layers(str(out))] == [["udf", "Unknown"]]
    info = pyogrio.read_info(str(out), layer="udf")
    assert {"name", "v"} <= set(info["fields"])
    frame = pyogrio.read_dataframe(str(out), layer="udf")
    at_max = len(_plan(12, 12))  # GDAL reads the highest zoom level by default
    assert len(frame) == 2 * at_max
    kinds = frame.geometry.geom_type.value_counts().to_dict()
    assert kinds == {"Polygon": at_max, "Point": at_max}
    cells = frame[frame["name"] == "cell"]
    assert set(cells["v"]) == {1.5} and set(frame[frame["name"] == "centre"]["v"]) == {2.0}
    # in web mercator, inside the bbox
    w, s, e, n = frame.to_crs("EPSG:4326").total_bounds
    assert BBOX[0] - 0.1 < w < e < BBOX[2] + 0.1 and BBOX[1] - 0.1 < s < n < BBOX[3] + 0.1
