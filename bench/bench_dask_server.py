"""The server on `--executor dask` against `--executor local`, and against Dask's own client
on the same cluster, in one run, as ratios (issue: our overhead over Dask's own at most 20%);
then how long a task whose UDF kills its Dask worker takes to fail, and until the cluster is
whole again.

One `dask scheduler` and 2 `dask worker` processes (1 thread each, under their nannies) on
127.0.0.1, started with the `dask` CLI as a user would, and two `fused-server` binaries with
`--workers 2`: `--executor local` (2 local worker processes) and `--executor dask
--dask-scheduler ADDR` (one bridge process carrying every task, `--dask-in-flight` tasks on
the cluster at once: default 8, the server's own default for `--workers 2`). The load:
`--clients` threads (default 32), each with a keep-alive HTTP connection, POSTing shipped
code to `/api/v1/run/udf` (no-op: `return n` with a new `n` each time, so no result-cache
hit) or tiles to `/api/v1/run/udf/tiles/{z}/{x}/{y}` (a UDF that sleeps 10 ms, every tile
new); and one job (`POST /api/v1/jobs`) of the same no-op tasks.

Two bare baselines run the same work on the same cluster with Dask's own client (`abs` for
the no-op, `time.sleep(0.01)` for a tile: stdlib functions, sent by reference like the
bridge's `fused._dask.run_request`; `pure=False`), i.e. what Dask itself costs per task
without HTTP, the server, the bridge or our canonical result encoding:

- `client.map` of the whole list, then `gather` (every task known up front, in one message);
- the same number of tasks in flight as the server keeps (`--dask-in-flight`), a new
  `client.submit` as each finishes (`as_completed`): how Dask runs work that arrives one
  request at a time, as a server's does.

    .venv/bin/python bench/bench_dask_server.py [--n 2000] [--tiles 400] [--clients 32]
        [--dask-in-flight 8]

`bench/bench_map.py` runs it at the end (unless `--skip-dask`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from harness import Cluster, Server, binary  # noqa: E402

NOOP = "@fused.udf\ndef udf(n: int = 0):\n    return n\n"
SLEEPY = (
    "@fused.udf\ndef udf(bounds: fused.types.Bounds = None):\n"
    "    import time\n\n    time.sleep(0.01)\n    return 1\n"
)
SCHEMA = {"n": "int"}
CRASH = "@fused.udf\ndef udf(n: int = 0):\n    import os\n\n    os._exit(3)\n"


def post_all(port: int, key: str, bodies: list[tuple[str, bytes]], clients: int) -> float:
    """Send every (path, body) with `clients` keep-alive connections; wall seconds. Every
    answer must be 200."""
    lock = threading.Lock()
    todo = iter(bodies)
    failures: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        while True:
            with lock:
                item = next(todo, None)
            if item is None:
                break
            conn.request("POST", item[0], body=item[1], headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                failures.append(f"{resp.status} {data[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, first: {failures[0]}")
    return took


def noop_bodies(start: int, n: int) -> list[tuple[str, bytes]]:
    return [
        (
            "/api/v1/run/udf",
            json.dumps(
                {"udf": {"name": "noop", "code": NOOP}, "schema": SCHEMA, "parameters": {"n": i}}
            ).encode(),
        )
        for i in range(start, start + n)
    ]


def tile_bodies(zoom: int, n: int) -> list[tuple[str, bytes]]:
    body = json.dumps({"udf": {"name": "sleepy", "code": SLEEPY}, "schema": {}}).encode()
    side = 2**zoom
    return [(f"/api/v1/run/udf/tiles/{zoom}/{i % side}/{i // side}", body) for i in range(n)]


def through_server(srv: Server, n: int, tiles: int, clients: int) -> dict[str, float]:
    # warm: the UDFs compiled on every worker, connections open
    post_all(srv.port, srv.key, noop_bodies(10**9, 8), clients)
    post_all(srv.port, srv.key, tile_bodies(12, 8), clients)
    noop_s = post_all(srv.port, srv.key, noop_bodies(0, n), clients)
    tile_s = post_all(srv.port, srv.key, tile_bodies(10, tiles), clients)
    job_s = run_job(srv, n)
    return {"noop_per_s": n / noop_s, "tiles_s": tile_s, "job_per_s": n / job_s}


def run_job(srv: Server, n: int) -> float:
    """Seconds from submitting a job of `n` no-op tasks until it is done."""
    body = {
        "udf": {"name": "noop", "code": NOOP},
        "schema": SCHEMA,
        "tasks": [{"parameters": {"n": str(10**8 + i)}} for i in range(n)],
        "cache": False,
    }
    started = time.perf_counter()
    reply = srv.request("POST", "/api/v1/jobs", body, key=srv.key, timeout=120)
    assert reply.status == 201, reply.body
    job = reply.json()["id"]
    while True:
        status = srv.request("GET", f"/api/v1/jobs/{job}", key=srv.key).json()
        if status["state"] != "running":
            break
        time.sleep(0.01)
    took = time.perf_counter() - started
    assert status["counts"]["ok"] == n, status["counts"]
    return took


def bare_client(address: str, n: int, tiles: int, in_flight: int) -> dict[str, float]:
    from distributed import Client, as_completed

    def bounded(client: Client, fn, args: list) -> float:
        todo = iter(args)
        started = time.perf_counter()
        first = [client.submit(fn, a, pure=False) for a, _ in zip(todo, range(in_flight))]
        done = as_completed(first, with_results=True)
        for _future, _result in done:
            more = next(todo, None)
            if more is not None:
                done.add(client.submit(fn, more, pure=False))
        return time.perf_counter() - started

    with Client(address, set_as_default=False) as client:
        # stdlib functions: sent by reference, as the bridge's `fused._dask.run_request` is
        # (a function of `__main__` would be pickled by value into every task)
        client.gather(client.map(abs, range(8), pure=False))
        client.gather(client.map(time.sleep, [0.01] * 8, pure=False))
        started = time.perf_counter()
        client.gather(client.map(abs, range(n), pure=False))
        noop_s = time.perf_counter() - started
        started = time.perf_counter()
        client.gather(client.map(time.sleep, [0.01] * tiles, pure=False))
        tile_s = time.perf_counter() - started
        # as_completed(with_results=True) gathers through the current client
        with client.as_current():
            noop_bounded_s = bounded(client, abs, list(range(n)))
            tile_bounded_s = bounded(client, time.sleep, [0.01] * tiles)
    return {
        "noop_per_s": n / noop_s,
        "tiles_s": tile_s,
        "noop_bounded_per_s": n / noop_bounded_s,
        "tiles_bounded_s": tile_bounded_s,
    }


def crash_timing(srv: Server, cluster: Cluster, workers: int) -> dict[str, float]:
    """Seconds until the crashing task's 502, and until 2 workers are back and a task runs."""
    from distributed import Client

    body = {"udf": {"name": "crash", "code": CRASH}, "schema": {}, "parameters": {}}
    started = time.perf_counter()
    r = srv.request("POST", "/api/v1/run/udf", body, key=srv.key, timeout=120)
    failed = time.perf_counter() - started
    assert r.status == 502 and r.json()["error_type"] == "worker_crash", (r.status, r.body)
    with Client(cluster.address, set_as_default=False) as client:
        while len(client.scheduler_info()["workers"]) < workers:
            time.sleep(0.02)
    ok = srv.run(NOOP, n=-1)
    assert ok.status == 200, ok.body
    whole = time.perf_counter() - started
    return {"crash_fail_s": failed, "cluster_whole_s": whole}


def run(n: int, tiles: int, clients: int, slots: int) -> dict[str, dict[str, float]]:
    data = Path(tempfile.mkdtemp(prefix="bench-dask-server-"))
    cluster = Cluster(2)
    figures: dict[str, dict[str, float]] = {}
    try:
        local = Server(binary(), data / "local", 2)
        try:
            local.wait_workers(2)
            figures["local"] = through_server(local, n, tiles, clients)
        finally:
            local.stop()
        dask_args = ["--executor", "dask", "--dask-scheduler", cluster.address]
        dask_args += ["--dask-in-flight", str(slots)]
        dask = Server(binary(), data / "dask", 2, extra_args=dask_args)
        try:
            dask.wait_workers(slots)
            figures["dask"] = through_server(dask, n, tiles, clients)
            figures["bare"] = bare_client(cluster.address, n, tiles, slots)
            figures["crash"] = crash_timing(dask, cluster, 2)
        finally:
            dask.stop()
    finally:
        cluster.close()
        shutil.rmtree(data, ignore_errors=True)
    return figures


def report(n: int = 2000, tiles: int = 400, clients: int = 32, slots: int = 8) -> None:
    f = run(n, tiles, clients, slots)
    ideal = tiles * 0.01 / 2
    lo, da, ba = f["local"], f["dask"], f["bare"]
    print(
        f"\nThe server with `--workers 2` on `--executor local` and on `--executor dask`"
        f" ({slots} in flight, 2 single-threaded Dask workers), against Dask's own client on"
        f" the same cluster; {clients} HTTP clients; load average {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| workload | server, local pool | server, Dask | bare `client.map` (all at once)"
        f" | bare client, {slots} in flight | Dask server vs `client.map`"
        f" | Dask server vs bare, {slots} in flight |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {n:,} no-op requests, tasks/s | {lo['noop_per_s']:,.0f} | {da['noop_per_s']:,.0f}"
        f" | {ba['noop_per_s']:,.0f} | {ba['noop_bounded_per_s']:,.0f}"
        f" | {ba['noop_per_s'] / da['noop_per_s']:.2f}x slower"
        f" | {ba['noop_bounded_per_s'] / da['noop_per_s']:.2f}x slower |"
    )
    print(
        f"| a job of {n:,} no-op tasks, tasks/s | {lo['job_per_s']:,.0f}"
        f" | {da['job_per_s']:,.0f} | | | {ba['noop_per_s'] / da['job_per_s']:.2f}x slower"
        f" | {ba['noop_bounded_per_s'] / da['job_per_s']:.2f}x slower |"
    )
    print(
        f"| {tiles:,} tiles x 10 ms, seconds (ideal {ideal:.1f}) | {lo['tiles_s']:.2f}"
        f" | {da['tiles_s']:.2f} | {ba['tiles_s']:.2f} | {ba['tiles_bounded_s']:.2f}"
        f" | {da['tiles_s'] / ba['tiles_s']:.2f}x | {da['tiles_s'] / ba['tiles_bounded_s']:.2f}x |"
    )
    c = f["crash"]
    print(
        f"\nA UDF that kills its Dask worker: the request fails (502 worker_crash) after"
        f" {c['crash_fail_s']:.2f} s; the cluster has 2 workers again and runs the next task"
        f" {c['cluster_whole_s']:.2f} s after the request was sent."
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--tiles", type=int, default=400)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--dask-in-flight", type=int, default=8)
    args = ap.parse_args()
    report(args.n, args.tiles, args.clients, args.dask_in_flight)


if __name__ == "__main__":
    main()
