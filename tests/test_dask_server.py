"""`fused serve --executor dask`: the server's requests run on a real Dask cluster (a `dask
scheduler` and two `dask worker` processes from this venv, on 127.0.0.1), with the local pool's
guarantees: the per-task time limit (504), a UDF that kills its Dask worker fails only its own
request (502 `worker_crash`) while the cluster keeps serving, and an embedded `LocalCluster`
when no scheduler is given (closed with the server)."""

from __future__ import annotations

import json
import os
import socket
import time

import psutil
import pytest
from harness import Cluster, Server, binary

pytestmark = pytest.mark.timeout(180)

SQUARE = """
@fused.udf
def udf(n: int = 3):
    return {"square": n * n, "pid": __import__("os").getpid()}
"""

MISBEHAVE = """
@fused.udf
def udf(mode: str = "ok"):
    import os, time
    if mode == "exit":
        os._exit(3)
    if mode == "hang":
        for _ in range(600):
            time.sleep(0.1)
    return {"mode": mode}
"""


HOG = """
@fused.udf
def udf(mb: int = 4000):
    import time
    hog = []
    for _ in range(mb // 50):
        hog.append(bytearray(50 * 2**20))  # zero-filled: resident at once
        time.sleep(0.02)
    return {"held_mb": 50 * len(hog)}
"""


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(2)
    yield c
    c.close()


@pytest.fixture(scope="module")
def server(cluster, tmp_path_factory):
    srv = Server(
        binary(),
        tmp_path_factory.mktemp("dask-server"),
        2,
        extra_args=[
            "--executor",
            "dask",
            "--dask-scheduler",
            cluster.address,
            "--dask-in-flight",
            "6",
        ],
    )
    srv.wait_workers(6)
    yield srv
    assert srv.stop() == 0


def test_requests_run_on_the_cluster(server):
    health = server.request("GET", "/health").json()
    # the slots are the tasks in flight to the cluster (--dask-in-flight)
    assert health["executor"] == "dask" and health["workers"]["alive"] == 6
    r = server.run(SQUARE, schema={"n": "int"}, n=7)
    assert r.status == 200, r.body
    body = r.json()
    assert body["square"] == 49
    # the UDF ran in a Dask worker process, not in the server's one bridge process
    bridges = psutil.Process(server.proc.pid).children()
    assert len(bridges) == 1 and "fused._dask_bridge" in " ".join(bridges[0].cmdline())
    assert body["pid"] != bridges[0].pid
    # a cached repeat is served by the server itself
    again = server.run(SQUARE, schema={"n": "int"}, n=7)
    assert again.status == 200 and again.json() == body


def test_time_limit_answers_504_and_the_cluster_goes_on(server):
    started = time.monotonic()
    r = server.request(
        "POST",
        "/api/v1/run/udf",
        {
            "udf": {"name": "m", "code": MISBEHAVE},
            "schema": {"mode": "str"},
            "parameters": {"mode": "hang"},
        },
        key=server.key,
        headers={"x-fused-timeout": "2"},
    )
    assert r.status == 504, r.body
    assert time.monotonic() - started < 30
    ok = server.run(MISBEHAVE, schema={"mode": "str"}, mode="after-timeout")
    assert ok.status == 200 and ok.json() == {"mode": "after-timeout"}


def test_a_udf_that_kills_its_dask_worker_fails_alone(server, cluster):
    r = server.run(MISBEHAVE, schema={"mode": "str"}, mode="exit")
    assert r.status == 502, r.body
    assert r.json()["error_type"] == "worker_crash"
    # the nanny restarts the worker; the next requests are served
    cluster.wait_workers(2)
    for i in range(3):
        ok = server.run(MISBEHAVE, schema={"mode": "str"}, mode=f"after-crash-{i}")
        assert ok.status == 200, ok.body


def test_embedded_cluster_starts_with_the_server_and_stops_with_it(tmp_path):
    # --worker-memory-mb is each embedded Dask worker's memory limit (its nanny restarts a
    # worker past 95% of it)
    args = ["--executor", "dask", "--worker-memory-mb", "700"]
    srv = Server(binary(), tmp_path / "embedded", 1, extra_args=args)
    try:
        srv.wait_ready(timeout=120)
        r = srv.run(SQUARE, schema={"n": "int"}, n=4)
        assert r.status == 200 and r.json()["square"] == 16
        family = psutil.Process(srv.proc.pid).children(recursive=True)
        assert any("fused._dask_cluster" in " ".join(p.cmdline()) for p in family)
        # a UDF over the memory limit: its worker is restarted, its request alone fails
        hog = srv.run(HOG, schema={"mb": "int"}, mb=4000)
        assert hog.status == 502, hog.body
        assert hog.json()["error_type"] == "worker_crash"
        small = srv.run(HOG, schema={"mb": "int"}, mb=100)
        assert small.status == 200 and small.json() == {"held_mb": 100}
        family = psutil.Process(srv.proc.pid).children(recursive=True)
    finally:
        assert srv.stop() == 0
    _gone, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, [p.cmdline() for p in alive]


def test_bad_executor_flags_are_refused_naming_the_flag(tmp_path):
    import subprocess

    for args, words in [
        (["--executor", "ray"], ["--executor", "local or dask"]),
        (["--executor", "dask", "--dask-scheduler", "10.0.0.1:8786"], ["--dask-scheduler"]),
        (["--dask-scheduler", "tcp://10.0.0.1:8786"], ["needs --executor dask"]),
    ]:
        proc = subprocess.run(
            [str(binary()), "--data-dir", str(tmp_path / "d"), *args],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ},
        )
        assert proc.returncode == 2, (args, proc.stderr)
        assert all(w in proc.stderr for w in words), (args, proc.stderr)


SLOW = """
@fused.udf
def udf(n: int = 0):
    import time
    time.sleep(0.2)
    return {"twice": 2 * n}
"""


def test_a_job_waits_out_a_lost_scheduler_and_loses_no_task(tmp_path):
    """The scheduler goes away mid-job: tasks whose bridge cannot reach it are not failed but
    go back to the job's queue (`executor_unavailable` is not an attempt); once a scheduler
    and workers are back on the same address every task finishes, none errored."""
    own = Cluster(2)
    env = {**os.environ, "FUSED_DASK_CONNECT_TIMEOUT": "2"}
    args = ["--executor", "dask", "--dask-scheduler", own.address]
    srv = Server(binary(), tmp_path / "job-data", 2, extra_args=args, env=env)
    try:
        srv.wait_workers(8)  # 4 x --workers in flight
        body = {
            "udf": {"name": "slow", "code": SLOW},
            "schema": {"n": "int"},
            "tasks": [{"parameters": {"n": str(i)}} for i in range(40)],
            "cache": False,
            "max_retry": 0,
        }
        reply = srv.request("POST", "/api/v1/jobs", body, key=srv.key)
        assert reply.status == 201, reply.body
        job = reply.json()["id"]

        def status() -> dict:
            return srv.request("GET", f"/api/v1/jobs/{job}", key=srv.key).json()

        deadline = time.monotonic() + 60
        while status()["counts"]["ok"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        own.stop_scheduler()
        time.sleep(4)  # bridges find it gone; their tasks are requeued, not failed
        down = status()
        assert down["state"] == "running" and down["counts"]["error"] == 0, down["counts"]
        assert down["counts"]["ok"] < 40
        # meanwhile an interactive request is refused at once, saying why
        started = time.monotonic()
        refused = srv.run(SQUARE, schema={"n": "int"}, n=11)
        assert refused.status == 503, refused.body
        assert refused.json()["error_type"] == "executor_unavailable"
        assert own.address in refused.json()["error"]
        assert time.monotonic() - started < 15
        own.start_scheduler()
        own.add_worker()
        own.add_worker()
        own.wait_workers(2)
        deadline = time.monotonic() + 120
        while (done := status())["state"] == "running":
            assert time.monotonic() < deadline, done["counts"]
            time.sleep(0.1)
        assert done["state"] == "done"
        assert done["counts"] == {"pending": 0, "running": 0, "ok": 40, "error": 0, "cancelled": 0}
        results = srv.request("GET", f"/api/v1/jobs/{job}/results", key=srv.key)
        assert results.status == 200
    finally:
        srv.stop()
        own.close()


TICKING = """
@fused.udf
def udf(path: str = "", seconds: float = 30.0):
    import time
    with open(path, "a") as f:
        f.write("started\\n")
    for _ in range(int(seconds * 10)):
        time.sleep(0.1)
        with open(path, "a") as f:
            f.write("tick\\n")
    return "finished"
"""


def _cluster_idle(cluster: Cluster, within: float) -> bool:
    """Whether no Dask worker runs a task within `within` seconds."""
    from distributed import Client

    with Client(cluster.address, set_as_default=False) as client:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not any(client.processing().values()):
                return True
            time.sleep(0.05)
    return False


def _still(path, quiet: float = 0.6) -> bool:
    """Whether the file stops growing (its UDF stopped)."""
    before = path.read_text()
    time.sleep(quiet)
    return path.read_text() == before


def test_a_client_that_goes_away_cancels_its_dask_task(server, cluster, tmp_path):
    marker = tmp_path / "ticks.txt"
    body = json.dumps(
        {
            "udf": {"name": "tick", "code": TICKING},
            "schema": {"path": "str", "seconds": "float"},
            "parameters": {"path": str(marker), "seconds": 30},
        }
    )
    head = (
        f"POST /api/v1/run/udf?cache=false HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {server.key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(head.encode() + body.encode())
    deadline = time.monotonic() + 30
    while not (marker.exists() and "tick" in marker.read_text()):
        assert time.monotonic() < deadline, "the UDF did not start"
        time.sleep(0.05)
    sock.close()
    # the Dask task is cancelled and its UDF stopped: the worker is free in seconds, not 30
    assert _cluster_idle(cluster, 5.0)
    assert _still(marker)
    assert server.request("GET", "/health").json()["workers"]["busy"] == 0
    ok = server.run(SQUARE, schema={"n": "int"}, n=12)
    assert ok.status == 200 and ok.json()["square"] == 144


def test_cancelling_a_job_cancels_its_dask_tasks(server, cluster, tmp_path):
    log = tmp_path / "job-ticks.txt"
    body = {
        "udf": {"name": "tick", "code": TICKING},
        "schema": {"path": "str", "seconds": "float"},
        "tasks": [{"parameters": {"path": str(log), "seconds": str(20 + i)}} for i in range(12)],
        "cache": False,
    }
    reply = server.request("POST", "/api/v1/jobs", body, key=server.key)
    assert reply.status == 201, reply.body
    job = reply.json()["id"]
    deadline = time.monotonic() + 30
    while not (log.exists() and log.read_text().count("started") >= 2):
        assert time.monotonic() < deadline, "the job's tasks did not start"
        time.sleep(0.05)
    started = time.monotonic()
    status = server.request("DELETE", f"/api/v1/jobs/{job}", key=server.key).json()
    assert time.monotonic() - started < 5
    assert status["state"] == "cancelled" and status["counts"]["ok"] == 0
    assert status["counts"]["cancelled"] == 12
    # the running UDFs stop on the cluster; nothing else starts
    assert _cluster_idle(cluster, 5.0)
    assert _still(log)
    assert log.read_text().count("started") <= 2 + 1  # at most one more had been handed over


def test_queue_bound_and_a_bridge_that_dies(cluster, tmp_path):
    """One task on the cluster at once and one waiting: a third is refused at once (503
    queue_full). The bridge process is killed under the running one: it answers 503
    executor_unavailable, a new bridge starts, and the waiting request runs on it."""
    from concurrent.futures import ThreadPoolExecutor

    args = ["--executor", "dask", "--dask-scheduler", cluster.address]
    args += ["--dask-in-flight", "1", "--queue-size", "1"]
    srv = Server(binary(), tmp_path / "bounded", 1, extra_args=args)
    try:
        srv.wait_workers(1)
        marker = tmp_path / "first.txt"

        def tick(path, seconds):
            body = {
                "udf": {"name": "tick", "code": TICKING},
                "schema": {"path": "str", "seconds": "float"},
                "parameters": {"path": str(path), "seconds": seconds},
            }
            return srv.request("POST", "/api/v1/run/udf", body, key=srv.key, timeout=90)

        with ThreadPoolExecutor(2) as pool:
            running = pool.submit(tick, marker, 30)
            deadline = time.monotonic() + 30
            while not marker.exists():
                if running.done():
                    r = running.result()
                    raise AssertionError((r.status, dict(r.headers), r.body))
                assert time.monotonic() < deadline, "the first UDF did not start"
                time.sleep(0.05)
            waiting = pool.submit(tick, tmp_path / "second.txt", 0.2)
            while srv.request("GET", "/health").json()["workers"]["queued"] < 1:
                time.sleep(0.02)
            refused = srv.run(SQUARE, schema={"n": "int"}, n=5)
            assert refused.status == 503, refused.body
            assert refused.json()["error_type"] == "queue_full"
            assert int(refused.headers["retry-after"]) >= 1
            [bridge] = psutil.Process(srv.proc.pid).children()
            bridge.kill()
            lost = running.result(timeout=30)
            assert lost.status == 503, lost.body
            assert lost.json()["error_type"] == "executor_unavailable"
            assert f"bridge process {bridge.pid}" in lost.json()["error"]
            after = waiting.result(timeout=60)
            assert after.status == 200 and after.json() == "finished"
        health = srv.request("GET", "/health").json()["workers"]
        assert health["restarts"] == 1 and health["alive"] == 1
        [new] = psutil.Process(srv.proc.pid).children()
        assert new.pid != bridge.pid
    finally:
        assert srv.stop() == 0
