"""Server-side jobs (`/api/v1/jobs`).

remote job: a 10,000-task job of a no-op UDF on the server: throughput and time to the first
result, against the same tasks sent as one `POST /api/v1/run/udf` each (what the remote
engine did before jobs; two client threads, one per worker); the p99 of tile requests on the
same server while the job runs, against idle; and the server's memory growth over a job of
`--big` tasks (default 100,000; the target is at most 50 MiB).

    .venv/bin/python bench/bench_jobs.py [--tasks 10000] [--big 100000] [--workers 2]

Starts `target/release/fused-server` on 127.0.0.1 with a temporary data dir (results are
spooled there: a 100,000-task job writes ~10 MB).
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from harness import Server, binary  # noqa: E402 (the shared test-server harness)

NOOP = "@fused.udf\ndef udf(n: int = 0):\n    return n\n"
TILE = """@fused.udf
def udf(bounds: fused.types.Bounds = None):
    return [round(b, 3) for b in bounds]
"""


def pct(samples: list[float], q: float) -> float:
    samples = sorted(samples)
    return samples[min(len(samples) - 1, int(q * len(samples)))] if samples else float("nan")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Client:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
        self.headers = {"Authorization": f"Bearer {server.key}"}

    def call(self, method: str, path: str, body=None) -> tuple[int, bytes]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        return resp.status, resp.read()


def tile_latencies(server: Server, n: int, stop: threading.Event | None = None) -> list[float]:
    """Sequential tile requests of the saved UDF (cache bypassed: each runs on a worker)."""
    c = Client(server)
    out = []
    for i in range(n):
        if stop is not None and stop.is_set():
            break
        x, y = i % 64, (i // 64) % 64
        t = time.perf_counter()
        status, _ = c.call(
            "GET",
            f"/api/v1/run/udf/saved/bench@example.com/tile/tiles/6/{x}/{y}?cache=false&format=json",
        )
        out.append(time.perf_counter() - t)
        assert status == 200, status
    return out


def submit(server: Server, n: int, cache: bool) -> tuple[str, float]:
    c = Client(server)
    tasks = [{"parameters": {"n": str(i)}} for i in range(n)]
    body = {
        "udf": {"name": "noop", "code": NOOP},
        "schema": {"n": "int"},
        "tasks": tasks,
        "cache": cache,
    }
    t = time.perf_counter()
    status, raw = c.call("POST", "/api/v1/jobs", body)
    assert status == 201, raw[:300]
    return json.loads(raw)["id"], t


def stream(server: Server, job_id: str, submitted: float) -> tuple[int, float, float]:
    """Read the results stream to its end: (records, time to first, time to last)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    conn.request(
        "GET", f"/api/v1/jobs/{job_id}/results", headers={"Authorization": f"Bearer {server.key}"}
    )
    resp = conn.getresponse()
    first = None
    n = 0
    while True:
        head = resp.read(4)
        if not head:
            break
        resp.read(int.from_bytes(head, "little"))
        size = int.from_bytes(resp.read(8), "little")
        if size:
            resp.read(size)
        n += 1
        if first is None:
            first = time.perf_counter() - submitted
    return n, first or float("nan"), time.perf_counter() - submitted


def per_request(server: Server, n: int, threads: int) -> float:
    """n tasks as one POST /api/v1/run/udf each: seconds."""

    def worker(ids: range) -> None:
        c = Client(server)
        for i in ids:
            body = {
                "udf": {"name": "noop", "code": NOOP},
                "schema": {"n": "int"},
                "parameters": {"n": str(i)},
                "format": "json",
                "cache": False,
            }
            status, _ = c.call("POST", "/api/v1/run/udf", body)
            assert status == 200

    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, [range(k, n, threads) for k in range(threads)]))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tiles", type=int, default=1000)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    server = Server(binary(), data, workers=args.workers, email="bench@example.com")
    try:
        server.wait_workers(args.workers)
        c = Client(server)
        status, raw = c.call(
            "POST",
            "/api/v1/udfs",
            {
                "package": {"name": "tile", "code": TILE},
                "schema": {"bounds": "bounds"},
                "overwrite": True,
            },
        )
        assert status in (200, 201), raw
        tile_latencies(server, 50)  # warm up
        idle = tile_latencies(server, args.tiles)

        base_n = min(args.tasks, 3000)
        base1 = base_n / per_request(server, base_n, 1)
        base2 = base_n / per_request(server, base_n, args.workers)

        rss0 = rss_mib(server.proc.pid)
        job_id, t0 = submit(server, args.tasks, cache=False)
        n, first, total = stream(server, job_id, t0)
        assert n == args.tasks, n
        rate = n / total

        # the same job again, with tile requests running next to it (the job is polled, not
        # streamed: a reader thread in this process would slow the tile client's own timing)
        job_id, t0 = submit(server, args.tasks, cache=False)
        stop = threading.Event()
        during: list[float] = []
        tiles = threading.Thread(target=lambda: during.extend(tile_latencies(server, 10**9, stop)))
        tiles.start()
        poller = Client(server)
        while True:
            time.sleep(0.5)
            _, raw = poller.call("GET", f"/api/v1/jobs/{job_id}?limit=0")
            status = json.loads(raw)
            if status["state"] != "running":
                break
        total2 = time.perf_counter() - t0
        stop.set()
        tiles.join()
        n2 = status["counts"]["ok"]
        assert n2 == args.tasks, status

        slots = max(1, args.workers - 1)
        print(f"## remote job ({args.workers} workers; jobs use {slots})\n")
        print(f"No-op UDF, {args.tasks:,} tasks (the per-request baseline: {base_n:,} requests).\n")
        print("| how | tasks/s | job vs it |")
        print("|---|---:|---:|")
        print(
            f"| one `POST /api/v1/run/udf` per task, 1 client thread | {base1:,.0f} | "
            f"{rate / base1:.2f}x |"
        )
        print(
            f"| one `POST /api/v1/run/udf` per task, {args.workers} client threads | "
            f"{base2:,.0f} | {rate / base2:.2f}x |"
        )
        print(f"| one job, results streamed | {rate:,.0f} | |")
        print(f"| one job, with tile requests back to back next to it | {n2 / total2:,.0f} | |")
        print(
            f"\nTime to the first result: {first * 1e3:.0f} ms after the POST; "
            f"to the last: {total:.1f} s.\n"
        )
        print("| tile requests (saved UDF, cache bypassed) | idle | during the job | ratio |")
        print("|---|---:|---:|---:|")
        for name, q in (("p50", 0.5), ("p99", 0.99)):
            a, b = pct(idle, q) * 1e3, pct(during, q) * 1e3
            print(f"| {name} | {a:.1f} ms | {b:.1f} ms | {b / a:.2f}x |")
        print(f"| requests | {len(idle)} | {len(during)} | |")
        print()

        if args.big:
            peak = [rss_mib(server.proc.pid)]
            before = peak[0]
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak.append(rss_mib(server.proc.pid))
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample)
            sampler.start()  # from before the POST: its parsing is part of the job's cost
            job_id, t0 = submit(server, args.big, cache=False)
            submitted = rss_mib(server.proc.pid)
            n, first, total = stream(server, job_id, t0)
            done.set()
            sampler.join()
            after = rss_mib(server.proc.pid)
            print("| server memory (RSS) | MiB |")
            print("|---|---:|")
            print(f"| before the first job | {rss0:.1f} |")
            print(f"| before the {args.big:,}-task job | {before:.1f} |")
            print(
                f"| once submitted (the POST answered) | {submitted:.1f} "
                f"(+{submitted - before:.1f}) |"
            )
            print(
                f"| peak (submission and run, sampled every 20 ms) | {max(peak):.1f} "
                f"(+{max(peak) - before:.1f}) |"
            )
            print(f"| after it | {after:.1f} (+{after - before:.1f}) |")
            print(
                f"\n{args.big:,} tasks in {total:.1f} s ({n / total:,.0f} tasks/s), "
                f"first result after {first * 1e3:.0f} ms"
            )
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
