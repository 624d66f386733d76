"""The `fused` command line: `fused run`, `fused whoami`, `fused logout`, as a user types them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "udfs"
FUSED = [sys.executable, "-m", "fused._cli"]


def fused_cli(*args, cwd=None, env=None):
    return subprocess.run(
        [*FUSED, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env=env or dict(os.environ),
    )


def test_run_prints_a_table_with_converted_parameters():
    out = fused_cli("run", EXAMPLES / "Country_Stats", "--n", "2", "--engine", "local")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "India" in out.stdout and "China" in out.stdout
    assert "United States" not in out.stdout  # n=2: the string "2" became the int 2
    assert lines[-1] == "[2 rows x 2 columns]" or lines[-1].startswith("[2 rows x ")


def test_run_tile_mode_and_equals_form():
    out = fused_cli(
        "run", EXAMPLES / "Tile_Grid", "--x=2411", "--y", "3079", "--z", "13", "--cells=2"
    )
    assert out.returncode == 0, out.stderr
    assert "[4 rows x" in out.stdout and "crs EPSG:4326" in out.stdout


@pytest.mark.parametrize(
    "udf, args, name, check",
    [
        (
            "Country_Stats",
            ["--n", "3"],
            "out.parquet",
            lambda p: pd.read_parquet(p).country.tolist()[:1] == ["India"],
        ),
        ("Country_Stats", ["--n", "3"], "out.csv", lambda p: len(pd.read_csv(p)) == 3),
        (
            "City_Points",
            ["--region", "europe"],
            "out.geojson",
            lambda p: sorted(gpd.read_file(p).name) == ["London", "Paris"],
        ),
        (
            "City_Points",
            [],
            "out.parquet",
            lambda p: gpd.read_parquet(p).crs.to_epsg() == 4326,
        ),
        (
            "Tile_Hillshade",
            ["--x", "2411", "--y", "3079", "--z", "13"],
            "out.npy",
            lambda p: np.load(p).shape == (256, 256) and np.load(p).dtype == np.uint8,
        ),
        (
            "Tile_Hillshade",
            ["--x", "2411", "--y", "3079", "--z", "13"],
            "out.png",
            lambda p: Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n",
        ),
        (
            "Tile_Hillshade",
            ["--x", "2411", "--y", "3079", "--z", "13"],
            "out.tif",
            lambda p: Path(p).read_bytes()[:4] == b"II*\x00",
        ),
        (
            "Tile_Grid",
            ["--x", "2411", "--y", "3079", "--z", "13", "--cells", "2"],
            "out.mvt",
            lambda p: len(Path(p).read_bytes()) > 20,
        ),
    ],
)
def test_run_writes_the_format_its_extension_names(tmp_path, udf, args, name, check):
    target = tmp_path / name
    out = fused_cli("run", EXAMPLES / udf, *args, "-o", target, "--engine", "local")
    assert out.returncode == 0, out.stderr
    assert check(target)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left
    assert f"wrote {target}" in out.stderr


def test_run_failures_exit_non_zero_with_the_udf_error(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("@fused.udf\ndef udf(n: int = 1):\n    print('before')\n    return 1 / 0\n")
    out = fused_cli("run", bad, "--engine", "local")
    assert out.returncode == 1
    assert "ZeroDivisionError" in out.stderr and "line 4" in out.stderr
    out = fused_cli("run", bad, "--n", "abc")
    assert out.returncode == 2
    assert "parameter 'n': expected int, got 'abc'" in out.stderr
    out = fused_cli("run", bad, "--nope", "1")
    assert out.returncode == 1 and "nope" in out.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "missing the UDF"),
        (["x.py", "--x", "1"], "needs --x, --y and --z (missing --y, --z)"),
        (["x.py", "--x", "a", "--y", "1", "--z", "1"], "--x: expected a whole number"),
        (["x.py", "--engine", "moon"], "--engine: expected local or remote"),
        (["x.py", "-o", "out.xlsx"], "unknown extension '.xlsx'"),
        (["x.py", "-o", "out.mvt"], "an MVT tile needs --x, --y and --z"),
        (["x.py", "-o", "/no/such/dir/a.csv"], "does not exist"),
        (["x.py", "--n"], "--n: expected a value"),
        (["x.py", "y.py"], "unexpected argument 'y.py'"),
    ],
)
def test_run_bad_arguments_exit_2_naming_them(args, message, tmp_path, monkeypatch, capsys):
    from fused._cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["run", *args]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing ran, nothing written


def test_run_a_format_that_does_not_fit_names_it(tmp_path):
    out = fused_cli("run", EXAMPLES / "Country_Stats", "-o", tmp_path / "x.png")
    assert out.returncode == 1
    assert "cannot write" in out.stderr and "png" in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_help(capsys):
    from fused._cli import main

    assert main(["run", "--help"]) == 0
    assert "usage: fused run UDF" in capsys.readouterr().out


def test_whoami_and_logout_against_a_server(tmp_path):
    from harness import Server, binary

    srv = Server(binary(), tmp_path / "data", workers=1)
    try:
        env = dict(os.environ)
        env.pop("FUSED_AUTH_TOKEN", None)
        env["FUSED_HOME"] = str(tmp_path / "home")
        out = fused_cli("whoami", env=env)
        assert out.returncode == 1 and "no server configured" in out.stderr
        creds = tmp_path / "home" / "credentials"
        creds.parent.mkdir()
        creds.write_text(
            json.dumps({"server_url": srv.base, "access_token": srv.key, "expires_at": 0})
        )
        out = fused_cli("whoami", env=env)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "me@example.com"
        srv.wait_ready()
        remote = fused_cli("run", EXAMPLES / "Country_Stats", "--n", "1", env=env)
        assert remote.returncode == 0 and "India" in remote.stdout, remote.stderr
        out = fused_cli("logout", env=env)
        assert out.returncode == 0 and "logged out" in out.stdout
        assert not creds.exists()
        assert fused_cli("logout", env=env).stdout.strip() == "not logged in"
    finally:
        srv.stop()
