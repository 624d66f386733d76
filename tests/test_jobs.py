"""Server-side jobs (`/api/v1/jobs`) on the real `fused-server`: validation before anything
runs, streamed results decoded like a local run, status counts, cancel, ownership, listing,
reattaching, resuming after the server is killed, retries and the run result cache.

Driven through the SDK's client functions (`fused._client`) and plain HTTP (`harness`)."""

from __future__ import annotations

import signal
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from harness import Server, binary, create_user

import fused
from fused import _client
from fused._remote import submit_udf_job
from fused.types import UdfRuntimeError

SCHEMA = {"n": "int", "path": "str"}

# Appends its n to `path` (a run log), then returns {"n": n, "sq": n * n}.
LOGGED = """\
@fused.udf
def udf(n: int = 0, path: str = ""):
    if path:
        with open(path, "a") as f:
            f.write(f"{n}\\n")
    return {"n": n, "sq": n * n}
"""

SLOW = """\
import time
@fused.udf
def udf(n: int = 0, path: str = ""):
    with open(path, "a") as f:
        f.write(f"{n}\\n")
    time.sleep(0.3)
    return n
"""

# Fails the first time it sees an n (a marker file per n under `path`), then succeeds.
FLAKY = """\
import os
@fused.udf
def udf(n: int = 0, path: str = ""):
    marker = os.path.join(path, f"seen-{n}")
    with open(os.path.join(path, "runs"), "a") as f:
        f.write(f"{n}\\n")
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise ValueError(f"first try of {n}")
    return n * 10
"""

KINDS = """\
import numpy as np
import pandas as pd
@fused.udf
def udf(n: int = 0):
    if n == 0:
        return pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    if n == 1:
        return np.arange(12, dtype="float32").reshape(3, 4)
    if n == 2:
        return "plain text"
    return [n, {"k": None}]
"""


def package(code: str) -> dict:
    return {"name": "t", "code": textwrap.dedent(code)}


def tasks(ns, **fixed) -> list[dict]:
    return [{"parameters": {"n": str(n), **fixed}} for n in ns]


def ran(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def wait_state(job_id: str, states=("done", "cancelled"), timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = _client.get_job(job_id)
        if status["state"] in states:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {status['state']}: {status['counts']}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def exe() -> Path:
    return binary()


@pytest.fixture(scope="module")
def server(exe, tmp_path_factory):
    s = Server(exe, tmp_path_factory.mktemp("jobs-data"), workers=2)
    s.wait_workers(2)
    yield s
    s.stop()


def test_a_bad_task_is_a_422_naming_it_and_nothing_runs(remote, tmp_path):
    log = tmp_path / "runs.txt"
    body = {
        "udf": package(LOGGED),
        "schema": SCHEMA,
        "tasks": [*tasks([0, 1], path=str(log)), {"parameters": {"n": "seven"}}],
    }
    before = len(_client.list_jobs())
    reply = remote.request("POST", "/api/v1/jobs", body, key=remote.key)
    assert reply.status == 422, reply.body
    err = reply.json()
    assert (err["index"], err["parameter"], err["expected"]) == (2, "n", "int")
    assert "seven" in err["value"]
    assert "task 2" in err["error"]
    # a bad tile, a bad fixed parameter, a bad option: named too
    bad_tile = {"udf": package(LOGGED), "tasks": [{"tile": [0, 0, 0]}, {"tile": [5, 0, 1]}]}
    reply = remote.request("POST", "/api/v1/jobs", bad_tile, key=remote.key)
    assert reply.status == 422 and reply.json()["index"] == 1, reply.body
    assert reply.json()["parameter"] == "tile"
    bad_fixed = {**body, "tasks": tasks([0]), "parameters": {"n": "x"}}
    reply = remote.request("POST", "/api/v1/jobs", bad_fixed, key=remote.key)
    assert reply.status == 422 and reply.json()["index"] is None, reply.body
    for option, value in [("timeout", -1), ("timeout", 10**9), ("max_retry", "a")]:
        bad = {**body, "tasks": tasks([0]), option: value}
        reply = remote.request("POST", "/api/v1/jobs", bad, key=remote.key)
        assert reply.status == 422 and reply.json()["parameter"] == option, reply.body
    time.sleep(0.3)
    assert not log.exists()
    assert len(_client.list_jobs()) == before


def test_results_stream_as_they_finish_with_counts_and_times(remote, tmp_path):
    log = tmp_path / "runs.txt"
    job = _client.submit_job(
        tasks(range(12), path=str(log)), udf=package(LOGGED), schema=SCHEMA, cache=False
    )
    assert job["n_tasks"] == 12 and job["state"] == "running"
    got = {r.index: r for r in _client.iter_job_results(job["id"])}
    assert sorted(got) == list(range(12))
    assert all(r.status == "ok" and not r.cached and r.error is None for r in got.values())
    assert got[5].value == {"n": 5, "sq": 25}
    status = _client.get_job(job["id"])
    assert status["state"] == "done"
    assert status["counts"] == {"pending": 0, "running": 0, "ok": 12, "error": 0, "cancelled": 0}
    assert [t["index"] for t in status["tasks"]] == list(range(12))
    for t in status["tasks"]:
        assert t["state"] == "ok" and t["attempts"] == 1
        assert t["started_at"] <= t["finished_at"]
    assert sorted(ran(log)) == list(range(12))
    page = _client.get_job(job["id"], offset=10, limit=5)
    assert [t["index"] for t in page["tasks"]] == [10, 11]


def test_results_decode_like_a_local_run(remote):
    job = _client.submit_job(tasks(range(4)), udf=package(KINDS), schema={"n": "int"})
    got = {r.index: r.value for r in _client.iter_job_results(job["id"])}
    pd.testing.assert_frame_equal(got[0], pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}))
    assert isinstance(got[1], np.ndarray) and got[1].dtype == np.float32
    np.testing.assert_array_equal(got[1], np.arange(12, dtype="float32").reshape(3, 4))
    assert got[2] == "plain text"
    assert got[3] == [3, {"k": None}]


def test_tile_tasks_and_the_sdk_helper(remote):
    @fused.udf
    def tiles_udf(bounds: fused.types.Bounds = None, tag: str = ""):
        return {"bounds": [round(b, 6) for b in bounds], "tag": tag}

    job = submit_udf_job(tiles_udf, [(0, 0, 1), (1, 1, 1)], parameters={"tag": "t"})
    got = {r.index: r.value for r in _client.iter_job_results(job["id"])}
    local = fused.run(tiles_udf, x=1, y=1, z=1, tag="t", engine="local")
    assert got[1] == local
    assert got[0]["bounds"] == [-180.0, 0.0, 0.0, 85.051129]


def test_cancel_stops_the_job(remote, tmp_path):
    log = tmp_path / "runs.txt"
    job = _client.submit_job(
        tasks(range(40), path=str(log)), udf=package(SLOW), schema=SCHEMA, cache=False
    )
    deadline = time.monotonic() + 30
    while not ran(log) and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    status = _client.cancel_job(job["id"])
    assert time.monotonic() - started < 5
    assert status["state"] == "cancelled"
    counts = status["counts"]
    assert counts["cancelled"] >= 35 and counts["pending"] == 0 and counts["running"] == 0
    n = len(ran(log))
    time.sleep(0.8)
    assert len(ran(log)) == n < 40  # nothing runs after the cancel
    results = list(_client.iter_job_results(job["id"]))
    assert len(results) == counts["ok"]
    # cancelling a job that is over changes nothing
    assert _client.cancel_job(job["id"])["state"] == "cancelled"


def test_jobs_belong_to_their_owner_and_are_listed(remote, exe):
    job = _client.submit_job(tasks([1]), udf=package(LOGGED), schema=SCHEMA)
    wait_state(job["id"])
    other = create_user(exe, remote.data_dir, "other-jobs@example.com")
    for method, path in [
        ("GET", f"/api/v1/jobs/{job['id']}"),
        ("GET", f"/api/v1/jobs/{job['id']}/results"),
        ("DELETE", f"/api/v1/jobs/{job['id']}"),
        ("GET", "/api/v1/jobs/job_doesnotexist"),
    ]:
        assert remote.request(method, path, key=other).status == 404, path
    assert remote.request("GET", "/api/v1/jobs", key=other).json() == {"jobs": []}
    assert remote.request("GET", f"/api/v1/jobs/{job['id']}").status == 401
    paths = remote.request("GET", "/openapi.json").json()["paths"]
    assert {"/api/v1/jobs", "/api/v1/jobs/{id}", "/api/v1/jobs/{id}/results"} <= set(paths)
    mine = _client.list_jobs()
    assert mine[0]["id"] == job["id"]  # newest first
    assert mine[0]["counts"]["ok"] == 1 and mine[0]["state"] == "done"


def test_a_second_client_reattaches(remote, tmp_path):
    log = tmp_path / "runs.txt"
    job = _client.submit_job(
        tasks(range(6), path=str(log)), udf=package(SLOW), schema=SCHEMA, cache=False
    )
    first = _client.iter_job_results(job["id"])
    one = next(first)
    first.close()  # the first client goes away after one result; the job goes on
    seen: list[int] = []
    other = threading.Thread(
        target=lambda: seen.extend(r.index for r in _client.iter_job_results(job["id"]))
    )
    other.start()
    other.join(timeout=60)
    assert sorted(seen) == list(range(6)) and one.index in seen
    assert sorted(ran(log)) == list(range(6))
    now = [r.index for r in _client.iter_job_results(job["id"], follow=False)]
    assert sorted(now) == list(range(6))


def test_failed_tasks_are_retried_then_reported(remote, tmp_path):
    job = _client.submit_job(
        tasks(range(4), path=str(tmp_path)), udf=package(FLAKY), schema=SCHEMA, max_retry=1
    )
    got = {r.index: r for r in _client.iter_job_results(job["id"])}
    assert {i: (r.value, r.attempts) for i, r in got.items()} == {i: (i * 10, 2) for i in range(4)}
    for path in tmp_path.glob("seen-*"):
        path.unlink()
    (tmp_path / "runs").unlink()
    job = _client.submit_job(
        tasks([7], path=str(tmp_path)), udf=package(FLAKY), schema=SCHEMA, max_retry=0
    )
    [record] = list(_client.iter_job_results(job["id"]))
    assert record.status == "error" and record.attempts == 1 and record.value is None
    assert isinstance(record.error, UdfRuntimeError)
    assert record.error.exception_class == "ValueError"
    assert "first try of 7" in str(record.error)
    status = _client.get_job(job["id"], state="error")
    assert status["counts"]["error"] == 1
    assert "first try of 7" in status["tasks"][0]["error"]


def test_rerunning_a_job_computes_only_what_is_missing(remote, tmp_path):
    args = tasks(range(5), path=str(tmp_path))
    job = _client.submit_job(args, udf=package(FLAKY), schema=SCHEMA, max_retry=0)
    first = {r.index: r for r in _client.iter_job_results(job["id"])}
    assert all(r.status == "error" for r in first.values())  # every first try fails
    assert sorted(ran(tmp_path / "runs")) == [0, 1, 2, 3, 4]
    (tmp_path / "seen-2").unlink()  # task 2 will fail again
    job = _client.submit_job(args, udf=package(FLAKY), schema=SCHEMA, max_retry=0)
    second = {r.index: r for r in _client.iter_job_results(job["id"])}
    assert {i for i, r in second.items() if r.status == "ok"} == {0, 1, 3, 4}
    assert not any(r.cached for r in second.values())  # errors were never cached
    job = _client.submit_job(args, udf=package(FLAKY), schema=SCHEMA, max_retry=0)
    third = {r.index: r for r in _client.iter_job_results(job["id"])}
    assert {i for i, r in third.items() if r.cached} == {0, 1, 3, 4}
    assert third[2].status == "ok" and not third[2].cached
    assert sorted(ran(tmp_path / "runs")) == sorted([0, 1, 2, 3, 4] * 2 + [2])
    # a single run with the same parameters hits the entry the job stored
    single = remote.request(
        "POST",
        "/api/v1/run/udf?format=json",
        {"udf": package(FLAKY), "schema": SCHEMA, "parameters": args[2]["parameters"]},
        key=remote.key,
    )
    assert single.status == 200 and single.headers["x-fused-cached"] == "true"


def test_a_killed_server_resumes_its_jobs(exe, tmp_path, monkeypatch):
    data = tmp_path / "data"
    log = tmp_path / "runs.txt"
    srv = Server(exe, data, workers=2)
    srv.wait_workers(2)
    monkeypatch.setenv("FUSED_SERVER_URL", srv.base)
    monkeypatch.setenv("FUSED_AUTH_TOKEN", srv.key)
    try:
        job = _client.submit_job(
            tasks(range(24), path=str(log)), udf=package(SLOW), schema=SCHEMA, cache=False
        )
        deadline = time.monotonic() + 60
        while _client.get_job(job["id"], limit=0)["counts"]["ok"] < 4:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait(timeout=10)
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
    srv2 = Server(exe, data, workers=2, email="second@example.com")
    monkeypatch.setenv("FUSED_SERVER_URL", srv2.base)
    try:
        srv2.wait_ready()
        # what the killed server had seen finish (as the registry kept it)
        kept = {t["index"] for t in _client.get_job(job["id"], state="ok")["tasks"]}
        assert len(kept) >= 4
        status = wait_state(job["id"], timeout=90)
        assert status["state"] == "done"
        assert status["counts"]["ok"] == 24
        records = list(_client.iter_job_results(job["id"]))
        assert sorted(r.index for r in records) == list(range(24))
        assert all(r.value == r.index for r in records)
        runs = ran(log)
        # every task ran; the ones finished before the kill never ran again
        assert set(runs) == set(range(24))
        assert all(runs.count(i) == 1 for i in kept), (kept, runs)
        assert len(runs) - 24 <= 2, runs  # at most the task in flight at the kill ran twice
    finally:
        srv2.stop()


def test_a_job_of_a_saved_udf_shares_its_cache_entries(remote, tmp_path):
    log = tmp_path / "runs.txt"
    saved = {"package": package(LOGGED), "schema": SCHEMA, "overwrite": True}
    assert remote.request("POST", "/api/v1/udfs", saved, key=remote.key).status in (200, 201)
    job = _client.submit_job(tasks([4, 5], path=str(log)), saved="t")
    got = {r.index: r.value for r in _client.iter_job_results(job["id"])}
    assert got == {0: {"n": 4, "sq": 16}, 1: {"n": 5, "sq": 25}}
    assert _client.get_job(job["id"])["udf"] == "me@example.com/t"
    # the saved UDF's own endpoint finds the job's result in the cache
    single = remote.request(
        "GET",
        f"/api/v1/run/udf/saved/me@example.com/t?n=5&path={log}&format=json",
        key=remote.key,
    )
    assert single.status == 200 and single.headers["x-fused-cached"] == "true"
    assert sorted(ran(log)) == [4, 5]
    # a task that does not parse is named; someone else's saved UDF is not found
    bad = {"saved": "t", "tasks": [{"parameters": {}}, {"parameters": {}, "tiel": [0, 0, 0]}]}
    reply = remote.request("POST", "/api/v1/jobs", bad, key=remote.key)
    assert reply.status == 400 and "task 1" in reply.json()["error"], reply.body
    other = {"saved": "nobody@example.com/t", "tasks": [{}]}
    assert remote.request("POST", "/api/v1/jobs", other, key=remote.key).status == 404
