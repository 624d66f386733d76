"""The SDK against the real server: remote engine, registry, share tokens, login.

Everything goes through the public `fused` API, against the `fused-server` binary on
127.0.0.1 with a temporary data directory."""

from __future__ import annotations

import io
import json
import os
import stat
import threading
import urllib.parse
import urllib.request

import geopandas as gpd
import mercantile
import numpy as np
import pandas as pd
import pytest
from harness import Server, binary

import fused
from fused.types import UdfParameterError, UdfRuntimeError


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(binary(), tmp_path_factory.mktemp("sdk-server"), workers=2)
    srv.wait_workers(2)
    yield srv
    srv.stop()


def _get(url: str, token: str | None = None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def test_remote_engine_is_the_default_and_decodes_results(remote):
    @fused.udf
    def pid():
        import os

        return {"pid": os.getpid()}

    assert fused.run(pid)["pid"] != os.getpid()  # ran on a server worker
    assert pid.run_local()["pid"] == os.getpid()  # run_local stays in this process

    @fused.udf
    def table(n: int = 3):
        import pandas as pd

        return pd.DataFrame({"i": list(range(n)), "s": ["a"] * n})

    df = fused.run(table, n="4")
    assert isinstance(df, pd.DataFrame)
    assert df.to_dict("list") == {"i": [0, 1, 2, 3], "s": ["a"] * 4}


def test_remote_geodataframe_raster_and_bounds(remote, examples):
    cities = fused.load(examples / "City_Points")
    gdf = fused.run(cities, region="europe")
    assert isinstance(gdf, gpd.GeoDataFrame)
    assert gdf.crs.to_epsg() == 4326
    assert sorted(gdf.name) == ["London", "Paris"]

    hill = fused.load(examples / "Tile_Hillshade")
    remote_arr = fused.run(hill, x=1319, y=3185, z=13)
    local_arr = hill.run_local(x=1319, y=3185, z=13)
    assert remote_arr.dtype == np.uint8 and remote_arr.shape == (256, 256)
    assert np.array_equal(remote_arr, local_arr)

    @fused.udf
    def with_bounds(bounds: fused.types.Bounds = None):
        import numpy as np

        return np.arange(6, dtype="float32").reshape(2, 3), bounds

    arr, b = fused.run(with_bounds, x=1, y=1, z=1)
    assert arr.tolist() == [[0, 1, 2], [3, 4, 5]]
    expected = mercantile.bounds(1, 1, 1)
    assert b == pytest.approx([expected.west, expected.south, expected.east, expected.north])


def test_remote_tile_forms(remote, examples):
    grid = fused.load(examples / "Tile_Grid")
    by_xyz = fused.run(grid, x=2411, y=3079, z=13, cells=2)
    assert len(by_xyz) == 4
    b = mercantile.bounds(2411, 3079, 13)
    assert list(by_xyz.total_bounds) == pytest.approx([b.west, b.south, b.east, b.north])
    by_point = fused.run(grid, lat=37.1, lng=-122.0, z=13, cells=1)
    t = mercantile.tile(-122.0, 37.1, 13)
    tb = mercantile.bounds(t)
    assert list(by_point.total_bounds) == pytest.approx([tb.west, tb.south, tb.east, tb.north])
    by_bbox = fused.run(grid, bbox=[-77.34, 38.41, -77.17, 38.55], cells=1)
    assert list(by_bbox.total_bounds) == pytest.approx([-77.34, 38.41, -77.17, 38.55])


def test_remote_errors(remote, capsys):
    @fused.udf
    def boom(n: int = 1):
        print("before the error")
        raise KeyError("missing")

    with pytest.raises(UdfRuntimeError) as info:
        fused.run(boom)
    assert info.value.exception_class == "KeyError"
    assert info.value.lineno == 4
    assert "before the error" in info.value.stdout
    with pytest.raises(UdfParameterError) as info:
        fused.run(boom, n="abc")
    assert "'n'" in str(info.value) and "int" in str(info.value)


def test_registry_save_load_list_delete(remote):
    @fused.udf(name="Saved_Add")
    def add(a: int = 1, b: int = 2):
        return a + b

    saved = add.to_fused()
    assert saved["name"] == "Saved_Add" and len(saved["version"]) == 64
    with pytest.raises(FileExistsError):
        add.to_fused()
    again = add.to_fused(overwrite=True)
    assert again["version"] == saved["version"]  # same content, same version
    assert "Saved_Add" in fused.api.list_udfs()
    assert fused.api.whoami()["email"] == "me@example.com"

    by_email = fused.load("me@example.com/Saved_Add")
    own = fused.load("Saved_Add")
    assert by_email.code == add.code == own.code
    assert fused.run(own, a=40) == 42

    fused.api.delete_udf("Saved_Add")
    assert "Saved_Add" not in fused.api.list_udfs()
    with pytest.raises(FileNotFoundError):
        fused.load("me@example.com/Saved_Add")


def test_share_tokens_serve_files_and_tiles(remote, examples):
    grid = fused.load(examples / "Tile_Grid")
    grid.to_fused(overwrite=True)
    token = grid.create_access_token()
    assert token.token.startswith("fsh_")
    assert token.tile_url.endswith("/run/tiles/{z}/{x}/{y}")

    url = token.tile_url.format(z=13, x=2411, y=3079)
    status, headers, body = _get(url + ".geojson?cells=2")  # no login
    assert status == 200, body
    assert headers["access-control-allow-origin"] == "*"
    features = json.loads(body)["features"]
    assert len(features) == 4
    status, headers, body = _get(url + ".mvt")
    assert status == 200 and headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert len(body) > 0
    status, headers, body = _get(url + "?format=parquet&cells=3&unknown=1")
    assert status == 200
    assert len(gpd.read_parquet(io.BytesIO(body))) == 9
    assert json.loads(headers["x-fused-metadata"])["ignored_parameters"] == ["unknown"]
    status, _, body = _get(url + "?cells=abc")
    assert status == 422 and json.loads(body)["parameter"] == "cells"
    status, _, body = _get(url + ".png")
    assert status == 400 and b"png" in body

    token.revoke()
    status, _, _ = _get(url + ".geojson")
    assert status == 404


def test_saved_udf_endpoint_owner_only(remote, examples):
    hill = fused.load(examples / "Tile_Hillshade")
    hill.to_fused(overwrite=True)
    base = f"{remote.base}/api/v1/run/udf/saved/me@example.com/Tile_Hillshade"
    status, headers, body = _get(base + "/tiles/13/1319/3185.png", token=remote.key)
    assert status == 200 and headers["content-type"] == "image/png"
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    status, _, _ = _get(base + "/tiles/13/1319/3185.png")  # no login
    assert status == 401
    other_key = remote_user(remote, "other@example.com")
    status, _, _ = _get(base + "/tiles/13/1319/3185.png", token=other_key)
    assert status == 404  # another user's private UDF does not exist for them


def remote_user(server, email: str) -> str:
    import subprocess

    out = subprocess.run(
        [str(server.exe), "admin", "create-user", email, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip().splitlines()[-1]


def test_device_login_saves_credentials(server, monkeypatch, tmp_path):
    monkeypatch.delenv("FUSED_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("FUSED_SERVER_URL", raising=False)
    result: dict = {}
    printed = io.StringIO()

    def approve_when_code_appears():
        import re
        import time

        for _ in range(200):
            match = re.search(r"code ([A-Z0-9]{4}-[A-Z0-9]{4})", printed.getvalue())
            if match:
                data = urllib.parse.urlencode(
                    {"user_code": match.group(1), "api_key": server.key, "action": "approve"}
                ).encode()
                with urllib.request.urlopen(f"{server.base}/device", data=data, timeout=10) as r:
                    result["approval"] = r.status
                return
            time.sleep(0.05)

    approver = threading.Thread(target=approve_when_code_appears)
    approver.start()
    from fused._account import login

    creds = login(server.base, out=printed)
    approver.join()
    assert result["approval"] == 200
    path = fused.options.home / "credentials"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert saved["server_url"] == server.base and saved["access_token"] == creds["access_token"]
    assert fused.api.whoami()["email"] == "me@example.com"  # from the credentials file

    # an expired access token is refreshed (refresh token rotated) and saved again
    saved["expires_at"] = 0
    path.write_text(json.dumps(saved))
    assert fused.api.whoami()["email"] == "me@example.com"
    refreshed = json.loads(path.read_text())
    assert refreshed["access_token"] != saved["access_token"]
    assert refreshed["refresh_token"] != saved["refresh_token"]
    assert refreshed["expires_at"] > 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # the catalog CI's log-in: fused._auth.refresh_token(token) with a refresh token
    path.unlink()
    monkeypatch.setenv("FUSED_SERVER_URL", server.base)
    again = fused._auth.refresh_token(refreshed["refresh_token"])
    assert again["access_token"] != refreshed["access_token"]
    assert json.loads(path.read_text())["access_token"] == again["access_token"]
    assert fused.api.whoami()["email"] == "me@example.com"
    with pytest.raises(PermissionError, match="could not be refreshed"):
        fused._auth.refresh_token(refreshed["refresh_token"])  # rotated: used once
    with pytest.raises(ValueError, match="non-empty refresh token"):
        fused._auth.refresh_token("")


@pytest.mark.parametrize(
    "udf_name, suffix, check",
    [
        ("Tile_Grid", ".csv?cells=1", lambda b: b.decode().splitlines()[0] == "cell,geometry"),
        ("Tile_Grid", "?format=json&cells=1", lambda b: json.loads(b)[0]["cell"] == "0-0"),
        ("Tile_Grid", ".arrow?cells=2", lambda b: b[:6] == b"ARROW1"),
        (
            "Tile_Grid",
            "?dtype_out_vector=geojson&cells=1",
            lambda b: len(json.loads(b)["features"]) == 1,
        ),
        ("Tile_Hillshade", ".tiff", lambda b: b[:4] == b"II*\x00"),
        ("Tile_Hillshade", ".npy", lambda b: np.load(io.BytesIO(b)).shape == (256, 256)),
        ("Tile_Hillshade", "?dtype_out_raster=png", lambda b: b[:4] == b"\x89PNG"),
        ("Tile_Hillshade", "?format=tiff,png", lambda b: b[:4] == b"II*\x00"),
    ],
)
def test_share_token_formats(remote, examples, udf_name, suffix, check):
    udf = fused.load(examples / udf_name)
    udf.to_fused(overwrite=True)
    token = udf.create_access_token()
    status, _, body = _get(token.tile_url.format(z=13, x=1319, y=3185) + suffix)
    assert status == 200, body[:300]
    assert check(body)
    token.revoke()


def test_access_matrix(remote, examples):
    """owner / other user / anonymous / share token / revoked token on one saved UDF."""
    stats = fused.load(examples / "Country_Stats")
    stats.to_fused(overwrite=True)
    saved = f"{remote.base}/api/v1/run/udf/saved/me@example.com/Country_Stats.json?n=2"
    other = remote_user(remote, "third@example.com")
    assert _get(saved, token=remote.key)[0] == 200
    assert _get(saved, token=other)[0] == 404
    assert _get(saved)[0] == 401
    assert _get(saved, token="fsk_" + "0" * 64)[0] == 401
    token = stats.create_access_token()
    status, _, body = _get(token.shared_url + ".json?n=2")
    assert status == 200 and [r["country"] for r in json.loads(body)] == ["India", "China"]
    token.revoke()
    assert _get(token.shared_url + ".json")[0] == 404
    assert _get(f"{remote.base}/shared/fsh_unknown/run/file")[0] == 404
