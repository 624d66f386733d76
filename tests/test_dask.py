"""The Dask executor on a real cluster: `udf.map(engine="dask")`, the server's bridge process
(`python -m fused._dask_bridge`, driven over its framed pipe) and the embedded cluster
(`python -m fused._dask_cluster`). The cluster is a `dask scheduler` and two `dask worker`
processes (one process, one thread each) from this venv's CLI, on 127.0.0.1."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import distributed  # the dask extra, installed for the tests
import geopandas as gpd
import numpy as np
import pandas as pd
import psutil
import pytest
import shapely
from harness import Cluster
from map_udfs import double, frame, points

import fused
from fused.types import UdfRuntimeError, UdfTimeoutError

pytestmark = pytest.mark.timeout(90)

_LEN = struct.Struct("<I")


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(2)
    yield c
    c.close()


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster.address, set_as_default=False) as c:
        yield c


# -- UDFs ------------------------------------------------------------------------------


@fused.udf
def raster(n: int, bounded: bool = False):
    import numpy as np

    arr = np.arange(6, dtype="uint16").reshape(2, 3) * n
    return (arr, [0.0, 1.0, 2.0, 3.0]) if bounded else arr


@fused.udf
def misbehave(mode: str):
    import os
    import time

    if mode == "exit":
        os._exit(3)
    if mode == "hang":  # Python code (an interrupt lands between two sleeps)
        for _ in range(600):
            time.sleep(0.1)
    if mode == "raise":
        raise ValueError("bad value")
    return mode


# -- udf.map(engine="dask") ------------------------------------------------------------


def test_results_equal_engine_local(client):
    args = [1, 2, 3]
    for udf, extra in [(double, {}), (frame, {"label": "x"}), (points, {})]:
        on_dask = udf.map(args, engine="dask", dask_client=client, cache=False, **extra)
        local = udf.map(args, engine="local", cache=False, **extra)
        dask_values, local_values = on_dask.results(), local.results()
        assert len(dask_values) == 3
        for a, b in zip(dask_values, local_values):
            assert type(a) is type(b)
            if isinstance(a, pd.DataFrame):
                pd.testing.assert_frame_equal(a, b)
            else:
                assert a == b
        pd.testing.assert_frame_equal(on_dask.collect(), local.collect())
    gdf = points.map([4], engine="dask", dask_client=client, cache=False).results()[0]
    assert isinstance(gdf, gpd.GeoDataFrame) and gdf.crs == "EPSG:3857"
    assert gdf.geometry[0].equals(shapely.Point(4, 4))
    for bounded in (False, True):
        on_dask = raster.map([2], engine="dask", dask_client=client, bounded=bounded, cache=False)
        local = raster.map([2], engine="local", bounded=bounded, cache=False)
        a, b = on_dask.results()[0], local.results()[0]
        if bounded:
            assert a[1] == b[1] == [0.0, 1.0, 2.0, 3.0]
            a, b = a[0], b[0]
        assert a.dtype == b.dtype == np.dtype("uint16")
        np.testing.assert_array_equal(a, b)
        assert a[1, 2] == 10
    logs = double.map([5], engine="dask", dask_client=client, cache=False)
    logs.wait()
    assert logs.logs() == ["n=5\n"]


def test_scheduler_from_the_environment_and_bad_arguments(cluster, monkeypatch):
    monkeypatch.setenv("FUSED_DASK_SCHEDULER", cluster.address)
    df = fused.submit(double, [1, 2, 3], engine="dask", cache=False)
    assert df["result"].tolist() == [2, 4, 6]
    with pytest.raises(ValueError, match="dask_client: only used with engine='dask'"):
        double.map([1], engine="local", dask_client=object())
    with pytest.raises(TypeError, match="dask_client: expected a distributed.Client"):
        double.map([1], engine="dask", dask_client="tcp://nowhere:1")
    with pytest.raises(ValueError, match="local, remote, dask"):
        double.map([1], engine="spark")


def test_a_crashing_task_fails_alone_and_the_cluster_keeps_serving(cluster, client):
    modes = ["ok", "exit", "raise", "fine"]
    # with a time limit no task waits on a worker behind another (see fused._mapdask)
    pool = misbehave.map(
        modes, engine="dask", dask_client=client, cache=False, max_retry=0, timeout=30
    )
    pool.wait()
    assert pool.logs_df()["status"].tolist() == ["success", "error", "error", "success"], (
        pool.errors()
    )
    errors = pool.errors()
    assert "worker crashed while running the task" in str(errors[1])
    assert isinstance(errors[2], UdfRuntimeError) and errors[2].exception_class == "ValueError"
    assert "bad value" in str(errors[2])
    assert pool.success() == {0: "ok", 3: "fine"}
    cluster.wait_workers(2)  # the nanny replaced the dead worker
    again = double.map([1, 2, 3, 4], engine="dask", dask_client=client, cache=False)
    assert again.results() == [2, 4, 6, 8]


def test_timeout_stops_the_task_and_frees_its_worker(client):
    started = time.monotonic()
    pool = misbehave.map(
        ["hang", "ok"], engine="dask", dask_client=client, cache=False, max_retry=0, timeout=2
    )
    pool.wait()
    assert pool.logs_df()["status"].tolist() == ["timeout", "success"]
    err = pool.errors()[0]
    assert isinstance(err, UdfTimeoutError) and "time limit of 2 s" in str(err)
    # both workers are free again at once (the UDF was stopped, not left running 60 s)
    pool = double.map([1, 2], engine="dask", dask_client=client, cache=False, timeout=5)
    assert pool.results() == [2, 4]
    assert time.monotonic() - started < 20


def test_cancel_stops_running_and_pending_tasks(client):
    pool = misbehave.map(["hang"] * 5, engine="dask", dask_client=client, cache=False)
    deadline = time.monotonic() + 30
    while not pool.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.running()
    started = time.monotonic()
    pool.cancel()
    pool.wait()
    assert time.monotonic() - started < 10
    assert set(pool.cancelled()) == set(range(5))
    assert not pool.any_failed()
    assert double.map([7, 8], engine="dask", dask_client=client, cache=False).results() == [14, 16]


def test_session_cluster_when_nothing_is_configured(monkeypatch):
    from fused._mapdask import _session, close_dask_clients

    monkeypatch.delenv("FUSED_DASK_SCHEDULER", raising=False)
    pool = frame.map([1, 2], engine="dask", max_workers=1, cache=False)
    assert [df["v"].tolist() for df in pool.results()] == [[1, 2], [2, 3]]
    proc = _session[0].proc
    family = psutil.Process(proc.pid).children(recursive=True)
    assert family  # the cluster's worker processes
    close_dask_clients()
    assert proc.returncode == 0
    _gone, alive = psutil.wait_procs(family, timeout=20)
    assert not alive


# -- the server's bridge process ----------------------------------------------------------


class Bridge:
    def __init__(self, address: str, **env: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fused._dask_bridge", "--scheduler", address],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, **env},
        )
        self.hello = json.loads(self.read())
        self.n = 0

    def read(self) -> bytes:
        head = self.proc.stdout.read(4)
        assert len(head) == 4, f"bridge closed its pipe (exit {self.proc.poll()})"
        (n,) = _LEN.unpack(head)
        return self.proc.stdout.read(n)

    def send(self, code: str, result_dir: str, inline_limit: int = 1 << 20, **req) -> str:
        self.n += 1
        task_id = f"task-{self.n}"
        code = textwrap.dedent(code)
        frame = {
            "task_id": task_id,
            "udf": {"name": "t", "code": code},
            "udf_hash": str(abs(hash(code))),
            "parameters": req.pop("parameters", {}),
            "tile": None,
            "result_dir": result_dir,
            "inline_limit": inline_limit,
            **req,
        }
        data = json.dumps(frame).encode()
        self.proc.stdin.write(_LEN.pack(len(data)) + data)
        self.proc.stdin.flush()
        return task_id

    def cancel(self, task_id: str) -> None:
        data = json.dumps({"cancel": task_id}).encode()
        self.proc.stdin.write(_LEN.pack(len(data)) + data)
        self.proc.stdin.flush()

    def answer(self) -> tuple[dict, bytes | None]:
        header = json.loads(self.read())
        payload = self.read() if header.get("payload") == {"inline": True} else None
        return header, payload

    def close(self) -> int:
        self.proc.stdin.close()
        code = self.proc.wait(timeout=20)
        self.proc.stdout.close()
        return code


ECHO = """
import fused

@fused.udf
def t(n: int = 1, big: bool = False):
    print("hello", n)
    if big:
        return "x" * 5000
    return {"n": n}
"""

EXIT = """
import fused

@fused.udf
def t():
    import os
    os._exit(7)
"""

HANG = """
import fused

@fused.udf
def t():
    import time
    for _ in range(600):
        time.sleep(0.1)
    return 1
"""


def test_bridge_speaks_the_worker_protocol(cluster, tmp_path):
    bridge = Bridge(cluster.address)
    assert bridge.hello["ready"] is True and bridge.hello["pid"] == bridge.proc.pid
    assert bridge.hello["mux"] is True
    task = bridge.send(ECHO, str(tmp_path), parameters={"n": 3}, run_key="k1")
    header, payload = bridge.answer()
    assert header["task_id"] == task and header["ok"] is True and header["kind"] == "json"
    assert json.loads(payload) == {"n": 3} and header["stdout"] == "hello 3\n"
    # over inline_limit: a payload file in result_dir
    task = bridge.send(ECHO, str(tmp_path), inline_limit=100, parameters={"big": True})
    header, payload = bridge.answer()
    assert payload is None and header["payload"] == {"file": str(tmp_path / f"{task}.bin")}
    assert (tmp_path / f"{task}.bin").read_bytes() == b'"' + b"x" * 5000 + b'"'
    # the Dask worker dies: worker_crash, and the bridge goes on
    task = bridge.send(EXIT, str(tmp_path))
    header, _ = bridge.answer()
    assert header["task_id"] == task and header["ok"] is False
    assert header["error"]["kind"] == "worker_crash"
    assert "died" in header["error"]["errormsg"]
    # a cancel frame cancels the running request: answered at once, its worker freed
    task = bridge.send(HANG, str(tmp_path))
    time.sleep(1.0)
    started = time.monotonic()
    bridge.cancel(task)
    header, _ = bridge.answer()
    assert header["task_id"] == task and header["error"]["kind"] == "cancelled"
    assert time.monotonic() - started < 5
    cluster.wait_workers(2)
    bridge.send(ECHO, str(tmp_path), parameters={"n": 4})
    header, payload = bridge.answer()
    assert header["ok"] is True and json.loads(payload) == {"n": 4}
    assert bridge.close() == 0


def test_bridge_answers_unavailable_then_recovers(tmp_path):
    own = Cluster(1)
    try:
        bridge = Bridge(own.address, FUSED_DASK_CONNECT_TIMEOUT="2")
        bridge.send(ECHO, str(tmp_path))
        assert bridge.answer()[0]["ok"] is True
        own.stop_scheduler()
        started = time.monotonic()
        task = bridge.send(ECHO, str(tmp_path))
        header, _ = bridge.answer()
        assert header["task_id"] == task and header["error"]["kind"] == "unavailable"
        assert own.address in header["error"]["errormsg"]
        assert time.monotonic() - started < 15
        # the scheduler comes back (with a worker): the next request runs
        own.start_scheduler()
        own.add_worker()
        own.wait_workers(1)
        bridge.send(ECHO, str(tmp_path), parameters={"n": 9})
        header, payload = bridge.answer()
        assert header["ok"] is True and json.loads(payload) == {"n": 9}
        assert bridge.close() == 0
    finally:
        own.close()


# -- the embedded cluster ----------------------------------------------------------------


def test_embedded_cluster_prints_its_address_and_exits_on_eof():
    proc = subprocess.Popen(
        [sys.executable, "-m", "fused._dask_cluster", "--workers", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    line = json.loads(proc.stdout.readline())
    assert line["address"].startswith("tcp://127.0.0.1:") and line["dashboard"] is None
    family = psutil.Process(proc.pid).children(recursive=True)
    with distributed.Client(line["address"], set_as_default=False) as c:
        assert len(c.scheduler_info()["workers"]) == 1
        assert c.submit(sum, [1, 2]).result() == 3
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    assert proc.stdout.read() == b""
    proc.stdout.close()
    _gone, alive = psutil.wait_procs(family, timeout=20)
    assert not alive
    bad = subprocess.run(
        [sys.executable, "-m", "fused._dask_cluster", "--workers", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "--workers: expected an integer >= 1" in bad.stderr


CTRL_C = """
import os, signal, threading, time
import fused

@fused.udf
def slow(n: int):
    import time
    for _ in range(300):
        time.sleep(0.1)
    return n

pool = slow.map(list(range(6)), engine="dask", cache=False)
def interrupt():
    while not pool.running():
        time.sleep(0.05)
    time.sleep(0.5)  # the main thread is inside wait() by now
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=interrupt, daemon=True).start()
try:
    pool.wait()
except KeyboardInterrupt:
    print("INTERRUPTED", pool.status().to_dict(), flush=True)
"""


def test_ctrl_c_cancels_the_tasks_on_the_cluster(cluster, client, tmp_path):
    script = tmp_path / "ctrl_c.py"
    script.write_text(CTRL_C)
    env = {**os.environ, "FUSED_DASK_SCHEDULER": cluster.address}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert "INTERRUPTED {'cancelled': 6}" in out.stdout
    # the running UDFs were stopped: the workers are free within seconds, not 30 s
    deadline = time.monotonic() + 10
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(client.processing().values())
    assert double.map([3], engine="dask", dask_client=client, cache=False).results() == [6]


COUNTED = """
import fused

@fused.udf
def t(path: str):
    import time
    with open(path, "a") as f:
        f.write("ran\\n")
    time.sleep(1.5)
    return "done"
"""


def test_identical_concurrent_requests_share_one_dask_task(cluster, tmp_path):
    log = tmp_path / "runs.log"
    bridge = Bridge(cluster.address)
    try:
        params = {"path": str(log)}
        a = bridge.send(COUNTED, str(tmp_path), parameters=params, run_key="same-key")
        b = bridge.send(COUNTED, str(tmp_path), parameters=params, run_key="same-key")
        answers = dict((h["task_id"], (h, p)) for h, p in (bridge.answer(), bridge.answer()))
        assert set(answers) == {a, b}  # each answer names its own request
        assert all(h["ok"] and json.loads(p) == "done" for h, p in answers.values())
        assert log.read_text() == "ran\n"  # one Dask task ran it
        # cancelling one of two requests that share a task leaves the other its answer
        a = bridge.send(COUNTED, str(tmp_path), parameters=params, run_key="shared-2")
        b = bridge.send(COUNTED, str(tmp_path), parameters=params, run_key="shared-2")
        time.sleep(0.3)
        bridge.cancel(a)
        first, second = bridge.answer(), bridge.answer()
        assert (first[0]["task_id"], first[0]["error"]["kind"]) == (a, "cancelled")
        assert second[0]["task_id"] == b and second[0]["ok"] is True
        assert log.read_text() == "ran\n" * 2
        # without a run_key every request is its own task
        bridge.send(COUNTED, str(tmp_path), parameters=params)
        bridge.send(COUNTED, str(tmp_path), parameters=params)
        assert bridge.answer()[0]["ok"] and bridge.answer()[0]["ok"]
        assert log.read_text() == "ran\n" * 4
    finally:
        assert bridge.close() == 0


SLEEP_N = """
import fused

@fused.udf
def t(n: int = 0):
    import time
    time.sleep(0.05 * n)
    return {"n": n}
"""


def test_bridge_carries_many_requests_at_once(cluster, tmp_path):
    """Requests do not wait for each other: 9 sent together run on both Dask workers and
    are answered as they finish (the quick ones before the slow one sent first), each once."""
    bridge = Bridge(cluster.address)
    try:
        order = [40] + list(range(8))
        started = time.monotonic()
        sent = {bridge.send(SLEEP_N, str(tmp_path), parameters={"n": n}): n for n in order}
        answers = [bridge.answer() for _ in sent]
        took = time.monotonic() - started
        got = [(h["task_id"], json.loads(p)["n"]) for h, p in answers]
        assert sorted(got) == sorted(sent.items())  # every request once, with its own value
        assert got[-1][1] == 40  # the 2 s task, sent first, is answered last
        # one at a time this is 3.4 s of sleeping; on two workers 2 s
        assert took < 3.0, took
        # a cancel for a task it does not know (already answered) is answered, harmlessly
        bridge.cancel(got[0][0])
        header, _ = bridge.answer()
        assert header["task_id"] == got[0][0] and header["error"]["kind"] == "cancelled"
        task = bridge.send(SLEEP_N, str(tmp_path), parameters={"n": 1})
        header, payload = bridge.answer()
        assert header["task_id"] == task and json.loads(payload) == {"n": 1}
    finally:
        assert bridge.close() == 0


def test_tile_export_runs_on_the_cluster(cluster, tmp_path, monkeypatch):
    """`fused.tiles.export(..., engine="dask")` writes the same tiles as the local engine."""
    from pmtiles.reader import MmapSource, Reader, all_tiles

    grid = fused.load(Path(__file__).resolve().parent.parent / "examples" / "udfs" / "Tile_Grid")
    bbox = (-122.52, 37.70, -122.20, 37.84)
    monkeypatch.setenv("FUSED_DASK_SCHEDULER", cluster.address)
    on_dask = fused.tiles.export(
        grid, bbox, 1, 3, tmp_path / "dask.pmtiles", engine="dask", progress=False
    )
    local = fused.tiles.export(
        grid, bbox, 1, 3, tmp_path / "local.pmtiles", engine="local", progress=False
    )
    assert on_dask.tiles == local.tiles > 0 and on_dask.failed == []

    def tiles(path: Path) -> dict:
        with open(path, "rb") as f:
            return dict(all_tiles(MmapSource(f)))

    got = tiles(tmp_path / "dask.pmtiles")
    assert got == tiles(tmp_path / "local.pmtiles") and len(got) == on_dask.tiles
    with open(tmp_path / "dask.pmtiles", "rb") as f:
        assert Reader(MmapSource(f)).header()["max_zoom"] == 3
