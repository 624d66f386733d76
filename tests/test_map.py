"""`udf.map` / `fused.submit` / `JobPool` end to end, on the local warm worker pool."""

import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import geopandas as gpd
import mercantile
import pandas as pd
import pytest
import shapely
from map_udfs import double, frame, points

import fused
from fused.types import UdfParameterError, UdfRuntimeError, UdfTimeoutError

pytestmark = pytest.mark.timeout(120)


@fused.udf
def tile_xyz(bounds: fused.types.Bounds = None, tag: str = "t"):
    return {"bounds": [round(b, 6) for b in bounds], "tag": tag}


@fused.udf
def tile_gdf(bounds: fused.types.Tile = None):
    import time

    time.sleep(0.001)
    return bounds[["x", "y", "z"]]


@fused.udf
def misbehave(mode: str):
    import ctypes
    import os
    import time

    if mode == "exit":
        os._exit(3)
    if mode == "segfault":
        ctypes.string_at(0)
    if mode == "hang":
        time.sleep(60)
    if mode == "raise":
        raise ValueError("bad value")
    return mode


@fused.udf
def flaky(n: int, path: str = ""):
    import os

    marker = os.path.join(path, f"tried-{n}")
    with open(os.path.join(path, "calls.log"), "a") as f:
        f.write(f"{n}\n")
    if n % 3 == 0 and not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError(f"first try of {n} fails")
    return n


@fused.udf
def nested(n: int):
    import fused

    @fused.udf
    def inner(k: int):
        return k * 10

    return sum(inner.map(list(range(n)), engine="local").results())


@fused.udf
def recurse(n: int):
    import fused

    return fused.submit(recurse, [n + 1], engine="local", max_retry=0)


def _calls(path: Path) -> list[int]:
    return sorted(int(x) for x in (path / "calls.log").read_text().split())


# -- arg_list forms --------------------------------------------------------------------


def test_scalars_bind_the_first_parameter_and_keep_order():
    pool = double.map([3, 1, 2], engine="local", cache=False)
    assert pool.results() == [6, 2, 4]
    assert pool.all_succeeded() and pool.done()
    assert pool.logs() == ["n=3\n", "n=1\n", "n=2\n"]
    assert pool.first_log() == "n=3\n"
    df = pool.collect()
    assert list(df.index) == [3, 1, 2] and df.index.name == "n"
    assert list(df["result"]) == [6, 2, 4]


def test_dicts_dataframe_rows_and_fixed_kwargs():
    pool = frame.map([{"n": 1}, {"n": 5, "label": "b"}], engine="local", cache=False)
    df = pool.collect()
    assert list(df["v"]) == [1, 2, 5, 6]
    assert list(df["label"]) == ["a", "a", "b", "b"]
    assert df.index.names == ["n", "label", None]
    assert df.index.tolist()[2] == (5, "b", 0)

    rows = pd.DataFrame({"n": [7, 8]})
    out = fused.submit(frame, rows, engine="local", label="z", cache=False)
    assert list(out["v"]) == [7, 8, 8, 9] and set(out["label"]) == {"z"}
    assert out.index.names == ["n", None]
    args = pool.arg_df()
    assert args["n"].tolist() == [1, 5] and args["label"].tolist()[1] == "b"


def test_collect_keeps_geodataframe_and_crs_and_drop_index():
    df = points.map([2, 1], engine="local", cache=False).collect()
    assert isinstance(df, gpd.GeoDataFrame)
    assert df.crs.to_epsg() == 3857
    assert list(df["n"]) == [2, 1]
    assert df.geometry.iloc[0].equals(shapely.Point(2, 2))
    flat = fused.submit(points, [4, 5], engine="local", drop_index=True, cache=False)
    assert flat.index.names == ["arg_pos", None] and list(flat.index.get_level_values(0)) == [0, 1]
    nested = fused.submit(frame, [1], engine="local", flatten=False, cache=False)
    assert list(nested.columns) == ["result"] and isinstance(nested["result"].iloc[0], pd.DataFrame)


def test_tiles_in_every_form_run_as_tile_mode():
    expected = {
        (x, y, z): [round(b, 6) for b in mercantile.bounds(x, y, z)]
        for x, y, z in [(0, 0, 1), (1, 1, 1), (5, 3, 4)]
    }
    forms = [
        [fused.tiles.Tile(0, 0, 1), fused.tiles.Tile(1, 1, 1), fused.tiles.Tile(5, 3, 4)],
        [mercantile.Tile(0, 0, 1), mercantile.Tile(1, 1, 1), mercantile.Tile(5, 3, 4)],
        [(0, 0, 1), (1, 1, 1), (5, 3, 4)],
        [{"x": 0, "y": 0, "z": 1}, {"x": 1, "y": 1, "z": 1}, {"x": 5, "y": 3, "z": 4}],
    ]
    for arg_list in forms:
        results = tile_xyz.map(arg_list, engine="local", cache=False, tag="k").results()
        assert [r["bounds"] for r in results] == list(expected.values())
        assert {r["tag"] for r in results} == {"k"}
    single = fused.run(tile_xyz, x=5, y=3, z=4, tag="k", engine="local", cache=False)
    assert results[2] == single
    tiles = fused.tiles.tiles(-1, -1, 1, 1, [3])
    df = tile_gdf.map(tiles, engine="local", cache=False).collect()
    want = list(fused.tiles.tiles(-1, -1, 1, 1, [3]))
    assert [tuple(t) for t in df[["x", "y", "z"]].itertuples(index=False)] == want
    assert df.index.names[:3] == ["x", "y", "z"]


# -- statuses --------------------------------------------------------------------------


def test_crash_segfault_error_and_timeout_fail_only_their_task():
    modes = ["ok", "exit", "segfault", "raise", "hang", "fine"]
    pool = misbehave.map(modes, engine="local", cache=False, max_retry=0, timeout=3)
    pool.wait()
    statuses = pool.logs_df()["status"].tolist()
    assert statuses == ["success", "error", "error", "error", "timeout", "success"]
    errors = pool.errors()
    assert set(errors) == {1, 2, 3, 4}
    assert "exited with code 3" in str(errors[1])
    assert "signal 11" in str(errors[2])
    assert isinstance(errors[3], UdfRuntimeError) and errors[3].exception_class == "ValueError"
    assert "bad value" in str(errors[3])
    assert isinstance(errors[4], UdfTimeoutError) and "time limit of 3 s" in str(errors[4])
    assert isinstance(pool.first_error(), UdfRuntimeError)
    assert pool.any_failed() and pool.any_succeeded() and not pool.all_succeeded()
    assert pool.results(return_exceptions=True)[0] == "ok"
    with pytest.raises(UdfRuntimeError):
        pool.results()
    assert pool.success() == {0: "ok", 5: "fine"}
    assert pool.status().to_dict() == {"error": 3, "success": 2, "timeout": 1}
    assert pool.collect(ignore_exceptions=True)["result"].tolist() == ["ok", "fine"]
    # the workers were replaced: the pool still runs
    assert double.map([1, 2], engine="local", cache=False).results() == [2, 4]


def test_cancel_stops_pending_and_running_tasks():
    pool = misbehave.map(["hang"] * 6, engine="local", cache=False, max_retry=0, max_workers=2)
    deadline = time.monotonic() + 30
    while not pool.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(pool.running()) >= 1
    assert pool.pending()
    started = time.monotonic()
    pool.cancel()
    pool.wait()
    assert time.monotonic() - started < 10
    assert set(pool.cancelled()) == set(range(6))
    assert pool.done() and not pool.any_failed()
    assert double.map([4], engine="local", cache=False).results() == [8]


def test_times_and_total_time():
    pool = double.map([1, 2, 3], engine="local", cache=False)
    pool.wait()
    times = pool.times()
    assert all(isinstance(t, timedelta) and t.total_seconds() >= 0 for t in times)
    assert pool.total_time() >= max(times) - timedelta(seconds=0.001)
    assert len(pool) == 3 and list(pool) == [2, 4, 6]
    assert "3 success" in repr(pool)


def test_retry_reruns_failed_tasks(tmp_path):
    pool = flaky.map(list(range(6)), engine="local", cache=False, path=str(tmp_path))
    assert pool.results() == list(range(6))
    assert _calls(tmp_path) == [0, 0, 1, 2, 3, 3, 4, 5]

    other = tmp_path / "b"
    other.mkdir()
    pool = flaky.map(list(range(4)), engine="local", cache=False, max_retry=0, path=str(other))
    pool.wait()
    assert set(pool.errors()) == {0, 3}
    pool.retry()
    assert pool.results() == [0, 1, 2, 3]


def test_cache_rerun_recomputes_only_missing_and_failed(tmp_path):
    kwargs = {"engine": "local", "max_retry": 0, "path": str(tmp_path)}
    first = flaky.map(list(range(4)), **kwargs)
    first.wait()
    assert set(first.errors()) == {0, 3}
    from fused._runcache import flush_all

    flush_all()
    second = flaky.map(list(range(6)), **kwargs)
    assert second.results() == list(range(6))
    # 1 and 2 came from the cache; 0 and 3 failed (never cached) and ran again; 4, 5 are new
    assert _calls(tmp_path) == [0, 0, 1, 2, 3, 3, 4, 5]
    assert second.times()[1] == timedelta(0)


@fused.udf
def counted_frame(n: int, path: str = ""):
    import os

    import geopandas as gpd
    from shapely.geometry import Point

    with open(os.path.join(path, "calls.log"), "a") as f:
        f.write(f"{n}\n")
    return gpd.GeoDataFrame(
        {"n": [n, n + 1], "name": ["a", "b"]},
        geometry=[Point(n, 0), Point(0, n)],
        crs="EPSG:4326",
    )


def test_mapped_frames_are_cached_as_the_worker_sent_them(tmp_path):
    """A map stores a table result as the worker's Arrow IPC: a later fused.run of the same
    arguments is a hit equal to what the map returned, and no task runs twice."""
    from fused._runcache import flush_all

    pool = counted_frame.map([1, 2], engine="local", path=str(tmp_path))
    mapped = pool.results()
    flush_all()
    again = fused.run(counted_frame, n=2, path=str(tmp_path), engine="local")
    assert _calls(tmp_path) == [1, 2]
    pd.testing.assert_frame_equal(again, mapped[1])
    assert isinstance(again, gpd.GeoDataFrame) and again.crs == "EPSG:4326"
    assert list(again["name"]) == ["a", "b"] and again.geometry[1].equals(shapely.Point(0, 2))
    rerun = counted_frame.map([1, 2, 3], engine="local", path=str(tmp_path)).results()
    assert _calls(tmp_path) == [1, 2, 3]
    pd.testing.assert_frame_equal(rerun[0], mapped[0])


# -- nesting ---------------------------------------------------------------------------


def test_nested_map_runs_inline_in_the_worker():
    assert nested.map([3, 4], engine="local", cache=False).results() == [30, 60]


def test_unbounded_recursion_stops_at_depth_five():
    pool = recurse.map([0], engine="local", cache=False, max_retry=0)
    pool.wait()
    err = pool.first_error()
    assert err is not None
    assert "nested 6 levels deep" in str(err) and "at most 5" in str(err)
    # the chain went five maps deep before the sixth was refused
    assert str(err).count("UDF 'recurse'") >= 1


def test_unbounded_fused_run_recursion_stops_at_depth_five(tmp_path):
    """A UDF that calls fused.run on itself, in process, stops at the sixth level."""
    path = tmp_path / "run_self.py"
    path.write_text(
        textwrap.dedent(
            """
            @fused.udf
            def udf(path: str, n: int = 0):
                import fused

                if n == 0:
                    print("level 1")
                return fused.run(fused.load(path), path=path, n=n + 1, engine="local", cache=False)
            """
        )
    )
    with pytest.raises(UdfRuntimeError) as info:
        fused.run(fused.load(str(path)), path=str(path), engine="local", cache=False)
    message = str(info.value)
    assert "nested 6 levels deep" in message and "at most 5" in message, message


@fused.udf
def hog(mb: int):
    import time

    block = b"x" * (mb << 20)
    time.sleep(2)
    return len(block)


def test_memory_hungry_task_fails_only_itself(monkeypatch):
    from fused._mapbackends import close_local_pool

    close_local_pool()
    monkeypatch.setenv("FUSED_WORKER_MEMORY_MB", "600")
    try:
        pool = hog.map([1, 900, 2], engine="local", cache=False, max_retry=0)
        pool.wait()
        assert [s for s in pool.logs_df()["status"]] == ["success", "error", "success"]
        assert "over the limit of 600 MiB" in str(pool.errors()[1])
    finally:
        close_local_pool()


# -- bad input -------------------------------------------------------------------------


def test_bad_inputs_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(TypeError, match="lambda"):
        fused.submit(lambda x: x, [1])
    with pytest.raises(TypeError, match="arg_list"):
        double.map(5)
    with pytest.raises(TypeError, match="arg_list"):
        double.map("abc")
    with pytest.raises(TypeError, match="arg_list"):
        double.map(i for i in range(3))
    with pytest.raises(UdfParameterError, match=r"arg_list\[1\].*'nope'") as info:
        double.map([{"n": 1}, {"nope": 2}], engine="local")
    assert info.value.parameter == "nope"
    with pytest.raises(UdfParameterError, match=r"arg_list\[2\].*parameter 'n'") as info:
        flaky.map([1, 2, "x"], engine="local", path=str(tmp_path))
    assert info.value.parameter == "n"
    with pytest.raises(UdfParameterError, match=r"arg_list\[0\].*'n'"):
        frame.map([{"label": "a"}], engine="local")
    with (
        pytest.warns(FutureWarning, match="outside the grid"),
        pytest.raises(UdfParameterError, match=r"arg_list\[1\].*outside the grid"),
    ):
        tile_xyz.map([(0, 0, 1), {"x": -1, "y": 0, "z": 1}], engine="local")
    with pytest.raises(ValueError, match="max_workers"):
        double.map([1], engine="local", max_workers=0)
    assert not (tmp_path / "calls.log").exists()


def test_plain_function_is_wrapped(tmp_path):
    script = tmp_path / "plain.py"
    script.write_text(
        textwrap.dedent(
            """
            import fused

            def triple(n: int):
                return n * 3

            print(fused.submit(triple, [1, 2], engine="local", cache=False)["result"].tolist())
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=90, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[3, 6]"


def test_empty_arg_list_gives_empty_pool_and_frame():
    pool = double.map([], engine="local")
    assert len(pool) == 0 and pool.done() and pool.results() == []
    assert pool.collect().empty
    assert fused.submit(double, [], engine="local").empty


def test_debug_mode_runs_only_the_first_argument_in_process():
    assert fused.submit(double, [5, 6, 7], debug_mode=True, engine="local") == 10
    pool = double.map([5, 6], debug_mode=True, engine="local")
    assert pool.results() == [10]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from harness import Server, binary

    srv = Server(binary(), tmp_path_factory.mktemp("map-server"), workers=2)
    srv.wait_workers(2)
    yield srv
    srv.stop()


def test_remote_engine_maps_on_the_server(remote):
    pool = double.map([1, 2, 3], max_retry=0)  # a server is configured: remote by default
    assert pool.results() == [2, 4, 6]
    df = fused.submit(tile_xyz, [(5, 3, 4)], tag="r")
    assert df["result"].iloc[0]["tag"] == "r"
    bad = misbehave.map(["raise"], max_retry=0)
    bad.wait()
    assert isinstance(bad.first_error(), UdfRuntimeError)


def test_remote_map_is_one_server_job_with_local_shapes(remote):
    """engine="remote" submits one job; results decode into the objects a local run returns,
    collect keeps arg_list order, and the job can be reattached from its id."""
    before = {j["id"] for j in fused.api.list_jobs()}
    pool = points.map([3, 1, 2], engine="remote", cache=False)
    gdf = pool.collect()
    assert list(gdf["n"]) == [3, 1, 2]
    assert gdf.crs.to_epsg() == 3857
    assert [p.x for p in gdf.geometry] == [3.0, 1.0, 2.0]
    assert pool.all_succeeded() and pool.status().to_dict() == {"success": 3}
    (job,) = [j for j in fused.api.list_jobs() if j["id"] not in before]
    assert job["n_tasks"] == 3
    again = fused.api.job(job["id"])
    again.wait()
    assert sorted(list(r["n"])[0] for r in again.results()) == [1, 2, 3]
    # a bad argument is refused before anything runs, naming the index
    with pytest.raises(fused.types.UdfParameterError, match="1"):
        points.map([1, "two"], engine="remote")


def test_remote_map_timeout_and_cancel(remote):
    slow = misbehave.map(["hang"], engine="remote", timeout=1, max_retry=0, cache=False)
    slow.wait()
    assert slow.status().to_dict() == {"timeout": 1}, slow.status()
    assert isinstance(slow.first_error(), fused.types.UdfTimeoutError)
    many = misbehave.map(["hang"] * 6, engine="remote", timeout=20, cache=False)
    time.sleep(0.5)
    many.cancel(wait=True)
    assert many.status().to_dict() == {"cancelled": 6}, many.status()


# -- Ctrl-C ----------------------------------------------------------------------------

CTRL_C = """
import os, signal, sys, threading, time
import fused

@fused.udf
def slow(n: int):
    import time
    time.sleep(30)
    return n

def workers():
    me = str(os.getpid())
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open(f"/proc/{pid}/stat").read()
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me and b"fused._worker" in cmd:
            found.append(int(pid))
    return found

pool = slow.map(list(range(8)), engine="local", cache=False, max_workers=2)
waiting = threading.Event()
def interrupt():
    waiting.wait()
    while not pool.running():
        time.sleep(0.05)
    time.sleep(0.3)  # the main thread is inside wait() by now
    print("PIDS", *workers(), flush=True)
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=interrupt, daemon=True).start()
try:
    waiting.set()
    pool.wait()
except KeyboardInterrupt:
    print("INTERRUPTED", pool.status().to_dict(), flush=True)
print("LEFT", *workers(), flush=True)
"""


def test_ctrl_c_during_wait_cancels_and_leaves_no_worker(tmp_path):
    script = tmp_path / "ctrl_c.py"
    script.write_text(CTRL_C)
    started = time.monotonic()
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    assert "INTERRUPTED" in lines and "'cancelled': 8" in lines["INTERRUPTED"]
    pids = [int(p) for p in lines["PIDS"].split()[1:]]
    assert pids
    assert lines["LEFT"].split() == ["LEFT"]
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)
    assert time.monotonic() - started < 60


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_warm_pool_is_reused():
    from fused import _mapbackends

    double.map([1], engine="local", cache=False).wait()
    first = _mapbackends._pools[os.cpu_count() or 1]
    started = time.monotonic()
    assert double.map([2, 3], engine="local", cache=False).results() == [4, 6]
    assert _mapbackends._pools[os.cpu_count() or 1] is first
    assert time.monotonic() - started < 5


def test_many_small_tasks_batch_and_stay_ordered():
    n = 3000
    pool = double.map(list(range(n)), engine="local", cache=False)
    assert pool.results() == [2 * i for i in range(n)]
    assert pool.logs()[1234] == "n=1234\n"


def test_closing_the_pool_cancels_other_pools_and_retry_restarts_it():
    from fused._mapbackends import close_local_pool

    pool = misbehave.map(["hang"] * 3, engine="local", cache=False, max_retry=0)
    other = double.map(list(range(5)), engine="local", cache=False, max_workers=1)
    close_local_pool()
    pool.wait()
    other.wait()
    assert set(pool.cancelled()) == {0, 1, 2}
    assert pool.done() and other.done()
    assert double.map([7], engine="local", cache=False).results() == [14]
