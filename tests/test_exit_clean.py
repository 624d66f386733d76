"""Processes that fetch remote DataFrames and GeoDataFrames exit cleanly, even under load.

An acceptance run once saw `terminate called without an active exception` (exit -6) after a
remote result had been printed: a native thread pool (Arrow's) torn down at interpreter exit
while one of its threads was still alive. This runs 150 fresh processes, each fetching both
kinds of result from a real server while two busy loops load the CPU, and wants 0 failures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
from harness import Server, binary

PROCESSES = 150
PARALLEL = 4

SCRIPT = textwrap.dedent(
    """
    import fused

    @fused.udf
    def table(n: int = 200):
        import pandas as pd
        return pd.DataFrame({"i": range(n), "s": [str(i) for i in range(n)]})

    @fused.udf
    def points(n: int = 50):
        import geopandas as gpd
        return gpd.GeoDataFrame(
            {"i": range(n)}, geometry=gpd.points_from_xy(range(n), range(n)), crs=3857
        )

    df = fused.run(table, engine="remote")
    gdf = fused.run(points, engine="remote")
    print(len(df), len(gdf), gdf.crs.to_epsg())
    """
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(binary(), tmp_path_factory.mktemp("exit-server"), workers=1)
    srv.wait_ready()
    yield srv
    srv.stop()


@pytest.mark.timeout(1200)  # 150 fresh interpreters beside two busy loops
def test_150_processes_fetching_remote_frames_under_load_exit_0(server, tmp_path):
    script = tmp_path / "fetch.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, FUSED_SERVER_URL=server.base, FUSED_AUTH_TOKEN=server.key)
    env.pop("PYTHONFAULTHANDLER", None)
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]

    def one(_: int) -> tuple[int, str, str]:
        out = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
        )
        return out.returncode, out.stdout, out.stderr

    try:
        with ThreadPoolExecutor(PARALLEL) as pool:
            results = list(pool.map(one, range(PROCESSES)))
    finally:
        for b in burners:
            b.kill()
            b.wait()
    failures = [(code, err[-500:]) for code, _, err in results if code != 0]
    assert failures == [], f"{len(failures)} of {PROCESSES} processes failed: {failures[:3]}"
    assert {out.strip() for _, out, _ in results} == {"200 50 3857"}
