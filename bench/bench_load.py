"""Load: many concurrent clients against the real `fused-server` with a mix of fast, slow,
crashing, too slow, failing and cached UDFs. Checks that every request got an HTTP answer of
the designed kind, that `/metrics` and the log counted exactly those requests, that no worker
leaked and that memory stayed flat. Before the load, on the idle server: the server-side
latency of cache hits (the `duration_ms` of each request's log line) against `/health`.

    .venv/bin/python bench/bench_load.py              # --clients 200 --seconds 30

Starts `$CARGO_TARGET_DIR/release/fused-server` (2 workers, 1 spare, --queue-size 64,
--timeout 3) on 127.0.0.1 with a temporary data dir and its log in a file; talks to nothing
else. Exits non-zero when a check fails. Bounded: the load stops issuing requests after
`--seconds`, every request has a client time limit (`--client-timeout`, 60 s), and the
server is stopped with SIGTERM (then SIGKILL after 60 s) in every case.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench_server import pct

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from harness import Server, binary  # noqa: E402 (the shared test-server harness)

EMAIL = "load@example.com"
WORKERS = 2
SPARES = 1
QUEUE_SIZE = 64
TIMEOUT_S = 3
MAX_TIMEOUT_S = 10
TAG_VAR = "FUSED_BENCH_LOAD_TAG"

FAST = """\
@fused.udf
def udf(i: int = 0):
    return {"i": i}
"""

SLEEP = """\
import time
@fused.udf
def udf(s: float = 1.0):
    time.sleep(s)
    return {"slept": s}
"""

CRASH = """\
import os
@fused.udf
def udf(i: int = 0):
    os._exit(7)
"""

RAISES = """\
@fused.udf
def udf(i: int = 0):
    raise ValueError(f"bad input {i}")
"""

# Saved and served from the cache (warmed before the load).
CACHED = """\
@fused.udf
def udf(n: int = 3):
    return {"values": list(range(n)), "name": "cached"}
"""

TILE_POINTS = """\
@fused.udf
def udf(bounds: fused.types.Bounds = None, n: int = 50):
    import geopandas as gpd
    import numpy as np

    w, s, e, n_ = bounds
    rng = np.random.default_rng(0)
    return gpd.GeoDataFrame(
        {"id": np.arange(n), "value": rng.random(n)},
        geometry=gpd.points_from_xy(rng.uniform(w, e, n), rng.uniform(s, n_, n)),
        crs="EPSG:4326",
    )
"""

NOCACHE = "/api/v1/run/udf?cache=false"
SAVED = f"/api/v1/run/udf/saved/{EMAIL}"


@dataclass(frozen=True)
class Kind:
    name: str
    weight: int
    designed: frozenset[int]
    what: str


# Weights: cache hits and fast runs dominate; slow, too slow and crashing UDFs keep the two
# workers busy or restarting, so the queue of 64 fills and 503s happen.
KINDS = [
    Kind("cached", 540, frozenset({200}), "saved File UDF, `GET`, served from the memory cache"),
    Kind("fast", 330, frozenset({200, 503}), "trivial UDF, `?cache=false`"),
    Kind("bad_param", 60, frozenset({422}), "`i=abc` for an `int` (refused before the queue)"),
    Kind("raises", 30, frozenset({422, 503}), "UDF raises `ValueError` (422 `udf_exception`)"),
    Kind("slow", 30, frozenset({200, 503}), "sleeps 1-2 s (`x-fused-timeout: 5`)"),
    Kind("timeout", 5, frozenset({504, 503}), "sleeps 30 s with `x-fused-timeout: 1`"),
    Kind("crash", 5, frozenset({502, 503}), "`os._exit(7)` in the worker"),
]
KIND_BY_NAME = {k.name: k for k in KINDS}


def request_for(kind: str, rng: random.Random) -> tuple[str, str, dict, bytes | None]:
    """(method, path, headers, body) of one request of `kind`."""

    def post(code: str, params: dict, headers: dict | None = None):
        # with the parameter schema, as the SDK sends it: a bad value never reaches a worker
        schema = {"s": "float"} if code is SLEEP else {"i": "int"}
        body = json.dumps(
            {"udf": {"name": kind, "code": code}, "schema": schema, "parameters": params}
        )
        return "POST", NOCACHE, headers or {}, body.encode()

    if kind == "cached":
        return "GET", f"{SAVED}/Cached?format=json", {}, None
    if kind == "fast":
        return post(FAST, {"i": rng.randrange(1_000_000)})
    if kind == "bad_param":
        return post(FAST, {"i": "abc"})
    if kind == "raises":
        return post(RAISES, {"i": rng.randrange(1000)})
    if kind == "slow":
        return post(SLEEP, {"s": round(rng.uniform(1.0, 2.0), 3)}, {"x-fused-timeout": "5"})
    if kind == "timeout":
        return post(SLEEP, {"s": 30.0}, {"x-fused-timeout": "1"})
    if kind == "crash":
        return post(CRASH, {"i": rng.randrange(1000)})
    raise ValueError(kind)


# ---------------------------------------------------------------------------------------
# A minimal HTTP/1.1 keep-alive client on asyncio streams (no dependencies).


class Conn:
    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.key = key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict, body: bytes | None
    ) -> tuple[int, dict, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        lines = [
            f"{method} {path} HTTP/1.1",
            "Host: 127.0.0.1",
            f"Authorization: Bearer {self.key}",
        ]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        hdrs = {}
        for line in header_lines:
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        if "content-length" in hdrs:
            data = await self.reader.readexactly(int(hdrs["content-length"]))
        elif hdrs.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunks.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            data = b"".join(c[:-2] for c in chunks)
        else:
            data = b""
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return status, hdrs, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Rec:
    kind: str
    start: float
    latency: float
    status: int | None = None
    error_type: str | None = None
    cached: str | None = None
    request_id: str | None = None
    failure: str | None = None


async def client(
    port: int, key: str, seed: int, deadline: float, limit: float, backoff: bool, out: list[Rec]
) -> None:
    rng = random.Random(seed)
    names = [k.name for k in KINDS]
    weights = [k.weight for k in KINDS]
    conn = Conn(port, key)
    # spread the clients' first requests over the first 100 ms
    await asyncio.sleep(rng.random() * 0.1)
    while time.monotonic() < deadline:
        kind = rng.choices(names, weights)[0]
        method, path, headers, body = request_for(kind, rng)
        t0 = time.perf_counter()
        rec = Rec(kind, time.monotonic(), 0.0)
        try:
            status, hdrs, _ = await asyncio.wait_for(
                conn.request(method, path, headers, body), limit
            )
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
            rec.latency = time.perf_counter() - t0
            rec.failure = f"{type(e).__name__}: {e}"
            out.append(rec)
            conn.close()
            continue
        rec.latency = time.perf_counter() - t0
        if status == 503 and backoff:
            # a polite client: wait before its next request (Retry-After, at most 1 s)
            retry = float(hdrs.get("retry-after", "1"))
            await asyncio.sleep(min(retry, 1.0) * rng.uniform(0.5, 1.0))
        rec.status = status
        rec.cached = hdrs.get("x-fused-cached")
        rec.request_id = hdrs.get("x-request-id")
        meta = hdrs.get("x-fused-metadata")
        if meta:
            try:
                rec.error_type = json.loads(meta).get("error_type")
            except ValueError:
                rec.error_type = "<bad metadata>"
        out.append(rec)
    conn.close()


# ---------------------------------------------------------------------------------------
# Processes and memory, from /proc.


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of `pid`, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tagged_processes(tag: str) -> dict[int, str]:
    """Every live (not zombie) process whose environment carries this run's tag, with its
    state: the server and every worker it started, wherever they were reparented."""
    needle = f"{TAG_VAR}={tag}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            st = proc_stat(int(entry.name))
            if st is not None and st[0] != "Z":
                found[int(entry.name)] = st[0]
    return found


def workers_of(server_pid: int, tag: str) -> list[int]:
    return [p for p in tagged_processes(tag) if p != server_pid]


# ---------------------------------------------------------------------------------------
# Helpers


def ms(v: float) -> str:
    if v != v:
        return "-"
    return f"{v * 1e3:.2f} ms" if v < 1 else f"{v:.2f} s"


def get(port: int, path: str, key: str | None = None) -> tuple[int, dict, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", path, headers={"Authorization": f"Bearer {key}"} if key else {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def metrics(port: int) -> tuple[dict[str, int], dict[str, float]]:
    """`fused_requests_total` by status, and the other plain samples."""
    _, _, body = get(port, "/metrics")
    by_status, other = {}, {}
    for line in body.decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rsplit(" ", 1)
        m = re.fullmatch(r'fused_requests_total\{status="(\d+)"\}', name)
        if m:
            by_status[m.group(1)] = int(float(value))
        elif "{" not in name:
            other[name] = float(value)
    return by_status, other


def log_lines(path: Path, start: int = 0) -> list[dict]:
    """The `request` lines of the server's JSON log from byte offset `start` (worker stderr
    and other lines are skipped)."""
    out = []
    with open(path, "rb") as f:
        f.seek(start)
        for raw in f:
            if not raw.startswith(b"{"):
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if line.get("message") == "request":
                out.append(line)
    return out


def wait_log(path: Path, rid: str, timeout: float = 5.0) -> None:
    """The log line of request `rid` is written after its response: wait for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f'"request_id":"{rid}"'.encode() in path.read_bytes()[-4096:]:
            return
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------
# Phase 1: cache-hit latency on the idle server.


def timed_sequence(port: int, key: str, method: str, path: str, body: bytes | None, n: int):
    """n sequential keep-alive requests: client latencies and request ids."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {key}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    lat, rids = [], []
    for _ in range(n):
        t = time.perf_counter()
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        r.read()
        lat.append(time.perf_counter() - t)
        if r.status != 200:
            raise AssertionError(f"{method} {path}: {r.status}")
        rids.append(r.getheader("x-request-id"))
    c.close()
    return lat, rids


def cache_hit_phase(port: int, key: str, log: Path, n: int) -> tuple[list[str], bool]:
    shipped_body = json.dumps(
        {"udf": {"name": "c", "code": CACHED}, "parameters": {"n": 3}}
    ).encode()
    cases = [
        ("`GET /health` (floor: HTTP, routing, log line)", "GET", "/health", None, None),
        (
            "saved File UDF, JSON (`GET .../saved/.../Cached?format=json`)",
            "GET",
            f"{SAVED}/Cached?format=json",
            None,
            "true",
        ),
        (
            "saved Tile UDF, 50 points as MVT (`.../Points/tiles/12/655/1583.mvt`)",
            "GET",
            f"{SAVED}/Points/tiles/12/655/1583.mvt",
            None,
            "true",
        ),
        (
            "shipped code, JSON (`POST /api/v1/run/udf`)",
            "POST",
            "/api/v1/run/udf",
            shipped_body,
            "true",
        ),
    ]
    rows = [
        f"| request ({n:,} sequential, keep-alive) | server p50 | server p99 | client p50 |",
        "|---|---:|---:|---:|",
    ]
    ok = True
    hit_p50 = []
    for label, method, path, body, want_cached in cases:
        timed_sequence(port, key, method, path, body, 200)  # warm up (and fill the cache)
        lat, rids = timed_sequence(port, key, method, path, body, n)
        wait_log(log, rids[-1])
        by_id = {line["request_id"]: line for line in log_lines(log)}
        server = [by_id[r]["duration_ms"] / 1e3 for r in rids if r in by_id]
        if len(server) != len(rids):
            print(f"  {label}: {len(rids) - len(server)} log lines missing")
            ok = False
        if want_cached and any(by_id.get(r, {}).get("cached") is not True for r in rids):
            print(f"  {label}: not every request was a cache hit")
            ok = False
        rows.append(
            f"| {label} | {pct(server, 0.5) * 1e3:.3f} ms | {pct(server, 0.99) * 1e3:.3f} ms "
            f"| {pct(lat, 0.5) * 1e3:.3f} ms |"
        )
        if want_cached:
            hit_p50.append(pct(server, 0.5))
    met = all(p <= 0.0005 for p in hit_p50)
    rows.append("")
    rows.append(
        f"cache hit p50 <= 0.5 ms server-side: {'met' if met else 'NOT met'} "
        f"(worst hit p50 {max(hit_p50) * 1e3:.3f} ms)"
    )
    return rows, ok


# ---------------------------------------------------------------------------------------
# Phase 2: the load.


async def monitor(
    port: int, server_pid: int, tag: str, stop: asyncio.Event, samples: list, health: list
) -> None:
    """Every second: RSS of the server and its workers, and `/health`."""
    conn = Conn(port, "")
    t0 = time.monotonic()
    while not stop.is_set():
        workers = workers_of(server_pid, tag)
        samples.append(
            (time.monotonic() - t0, rss_kib(server_pid), sum(rss_kib(p) for p in workers), workers)
        )
        try:
            status, _, body = await asyncio.wait_for(conn.request("GET", "/health", {}, None), 10)
            health.append((time.monotonic() - t0, status, json.loads(body)["workers"]))
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
            health.append((time.monotonic() - t0, None, repr(e)))
            conn.close()
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            pass
    conn.close()


async def load(port: int, key: str, server_pid: int, tag: str, args) -> tuple:
    recs: list[Rec] = []
    samples: list = []
    health: list = []
    stop = asyncio.Event()
    mon = asyncio.create_task(monitor(port, server_pid, tag, stop, samples, health))
    start = time.monotonic()
    deadline = start + args.seconds
    await asyncio.gather(
        *(
            client(
                port,
                key,
                args.seed * 100_003 + i,
                deadline,
                args.client_timeout,
                not args.no_backoff,
                recs,
            )
            for i in range(args.clients)
        )
    )
    wall = time.monotonic() - start
    stop.set()
    await mon
    return recs, samples, health, wall


def start_server(data: Path, log: Path, tag: str) -> tuple[subprocess.Popen, int, str]:
    # the server's own log (one JSON line per request) and its workers' stderr
    srv = Server(
        binary(),
        data,
        workers=WORKERS,
        extra_args=[
            "--spare-workers",
            str(SPARES),
            "--queue-size",
            str(QUEUE_SIZE),
            "--timeout",
            str(TIMEOUT_S),
            "--max-timeout",
            str(MAX_TIMEOUT_S),
            "--shutdown-grace",
            "10",
            "--log-format",
            "json",
        ],
        stderr=open(log, "wb"),  # noqa: SIM115 (closed by the child's exit)
        email=EMAIL,
        env={**os.environ, "RUST_LOG": "info", TAG_VAR: tag},
    )
    return srv.proc, srv.port, srv.key


def wait_ready(port: int, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, _, body = get(port, "/health")
            w = json.loads(body)["workers"]
            if w["alive"] == WORKERS and w["spares"] == SPARES:
                return w
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("the server's workers did not start")


def save(port: int, key: str, name: str, code: str) -> None:
    """Save `code` as `name` through the registry API, with the SDK's package and schema."""
    import fused
    from fused._remote import udf_payload

    udf = fused.load(code)
    udf.name = name
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(
        "POST",
        "/api/v1/udfs",
        body=json.dumps(udf_payload(udf)),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    r = c.getresponse()
    r.read()
    c.close()
    if r.status != 201:
        raise RuntimeError(f"saving {name}: {r.status}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--client-timeout", type=float, default=60.0)
    ap.add_argument("--hit-requests", type=int, default=2000, help="per cache-hit case")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--no-backoff", action="store_true", help="do not pause after a 503 (Retry-After)"
    )
    ap.add_argument("--keep-log", type=Path, help="copy the server's log here")
    args = ap.parse_args()

    data = Path(tempfile.mkdtemp(prefix="fused-bench-load-"))
    log = data / "server.log"
    tag = uuid.uuid4().hex
    proc, port, key = start_server(data, log, tag)
    failures: list[str] = []
    try:
        ready = wait_ready(port)
        print(f"server pid {proc.pid} on 127.0.0.1:{port}, workers {ready}")
        save(port, key, "Cached", CACHED)
        save(port, key, "Points", TILE_POINTS)

        # Phase 1: cache hits on the idle server
        rows, ok = cache_hit_phase(port, key, log, args.hit_requests)
        print("\n## Cache hits, idle server (server-side = `duration_ms` of the log line)\n")
        print("\n".join(rows))
        if not ok:
            failures.append("cache-hit phase: log lines missing or not served from the cache")

        # Phase 2: the load
        wait_ready(port)
        workers_before = workers_of(proc.pid, tag)
        m0, _ = metrics(port)
        time.sleep(0.2)  # the scrape's own log line
        log_offset = log.stat().st_size
        print(
            f"\nload: {args.clients} clients for {args.seconds:.0f} s "
            f"(workers {WORKERS}, spares {SPARES}, queue {QUEUE_SIZE}, timeout {TIMEOUT_S} s); "
            f"worker processes before: {len(workers_before)}"
        )
        recs, samples, health, wall = asyncio.run(load(port, key, proc.pid, tag, args))

        # settle: in-flight work is over; the pool refills its workers and spare
        settle_deadline = time.monotonic() + 30
        settled = None
        settle_calls = 0
        while time.monotonic() < settle_deadline:
            try:
                settle_calls += 1
                w = json.loads(get(port, "/health")[2])["workers"]
            except OSError:
                w = None
            if w and w["alive"] == WORKERS and w["spares"] == SPARES and w["busy"] == 0:
                settled = w
                break
            time.sleep(0.2)
        workers_after = workers_of(proc.pid, tag)
        m1, other = metrics(port)
        time.sleep(0.2)
        report(args, recs, samples, health, wall, failures)

        # /metrics and the log against what the client saw
        answered = [r for r in recs if r.status is not None]
        lines = log_lines(log, log_offset)
        logged = {line["request_id"]: line for line in lines}
        own_calls = sum(1 for h in health if h[1] is not None) + settle_calls
        missing = [r for r in answered if r.request_id not in logged]
        mismatched = [
            r
            for r in answered
            if r.request_id in logged and logged[r.request_id]["status"] != r.status
        ]
        # between the two scrapes: the load, the monitor's /health calls, the settle loop's
        # /health calls and the first scrape itself (counted once answered)
        delta = {s: m1.get(s, 0) - m0.get(s, 0) for s in set(m0) | set(m1)}
        delta = {s: v for s, v in delta.items() if v}
        expected: dict[str, int] = {}
        for r in answered:
            expected[str(r.status)] = expected.get(str(r.status), 0) + 1
        expected["200"] = expected.get("200", 0) + 1 + own_calls  # and the first scrape
        print("\n## Counted by the server\n")
        print(
            f"- `fused_requests_total` between the two scrapes: {sum(delta.values()):,} "
            f"({dict(sorted(delta.items()))}); the client's answers "
            f"{len(answered):,} + the bench's own {own_calls} `/health` calls and the first "
            f"`/metrics` scrape = {sum(expected.values()):,}"
        )
        print(
            f"- log lines: {len(lines):,}; client answers without a log line: {len(missing)}; "
            f"status differs from the log: {len(mismatched)}"
        )
        if delta != expected:
            failures.append(f"/metrics counted {dict(sorted(delta.items()))}, expected {expected}")
        if missing or mismatched:
            failures.append(f"log: {len(missing)} missing, {len(mismatched)} mismatched")
        print(
            f"- after the load: pool settled {'yes' if settled else 'NO'} ({settled}); "
            f"worker processes {len(workers_after)} (at most {WORKERS + SPARES}); "
            f"restarts {int(other.get('fused_worker_restarts_total', 0))}; "
            f"cache hits {int(other.get('fused_cache_hits_total', 0)):,}, "
            f"misses {int(other.get('fused_cache_misses_total', 0)):,}, "
            f"memory tier {int(other.get('fused_cache_bytes', 0)):,} bytes"
        )
        if len(workers_after) > WORKERS + SPARES:
            failures.append(f"{len(workers_after)} worker processes after the load")
        if settled is None:
            failures.append("the pool did not settle within 30 s after the load")
    finally:
        # SIGTERM, then verify that nothing this run started is still alive
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
            failures.append("the server did not exit within 60 s of SIGTERM")
        leftover = {}
        for _ in range(50):
            leftover = tagged_processes(tag)
            if not leftover:
                break
            time.sleep(0.1)
        print(f"- SIGTERM: server exit code {code}; processes of this run still alive: {leftover}")
        if code != 0:
            failures.append(f"server exit code {code}")
        if leftover:
            failures.append(f"orphaned processes after SIGTERM: {leftover}")
            for pid in leftover:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if args.keep_log:
            shutil.copy(log, args.keep_log)
        shutil.rmtree(data, ignore_errors=True)

    print()
    if failures:
        print("CHECKS FAILED:")
        for f in failures:
            print(f"  - {f}")
        return 1
    print("all checks passed")
    return 0


def report(args, recs: list[Rec], samples, health, wall: float, failures: list[str]) -> None:
    lost = [r for r in recs if r.status is None]
    answered = [r for r in recs if r.status is not None]
    print(
        f"\n## Load: {args.clients} clients, {args.seconds:.0f} s "
        f"(issued until then, then drained: {wall:.1f} s)\n"
    )
    print("| kind | share | requests | answers (status: count) | designed | p50 | p99 | 200/s |")
    print("|---|---:|---:|---|---|---:|---:|---:|")
    total_w = sum(k.weight for k in KINDS)
    for k in KINDS:
        mine = [r for r in recs if r.kind == k.name]
        got = {}
        for r in mine:
            label = str(r.status) if r.status is not None else "lost"
            if r.status is not None and r.status >= 500 and r.error_type:
                label += f" {r.error_type}"
            got[label] = got.get(label, 0) + 1
        statuses = {r.status for r in mine}
        ok = statuses <= k.designed
        if not ok:
            failures.append(
                f"{k.name}: statuses {sorted(map(str, statuses))}, designed {sorted(k.designed)}"
            )
        lat = [r.latency for r in mine if r.status is not None]
        ok200 = sum(1 for r in mine if r.status == 200)
        print(
            f"| {k.name} | {k.weight / total_w:.1%} | {len(mine):,} | "
            + ", ".join(f"{s}: {c:,}" for s, c in sorted(got.items()))
            + f" | {'/'.join(map(str, sorted(k.designed)))} {'ok' if ok else 'NO'} "
            f"| {ms(pct(lat, 0.5))} | {ms(pct(lat, 0.99))} | {ok200 / wall:,.0f} |"
        )
    all_lat = [r.latency for r in answered]
    print(
        f"| **all** | | **{len(recs):,}** | lost: {len(lost)} | | {ms(pct(all_lat, 0.5))} "
        f"| {ms(pct(all_lat, 0.99))} | {sum(1 for r in answered if r.status == 200) / wall:,.0f} |"
    )
    print(f"\nanswered {len(answered):,} requests in {wall:.1f} s = {len(answered) / wall:,.0f}/s")
    if lost:
        failures.append(f"{len(lost)} requests lost")
        for r in lost[:10]:
            print(f"  lost: {r.kind} after {r.latency:.2f} s: {r.failure}")
    not_hits = [r for r in recs if r.kind == "cached" and r.status == 200 and r.cached != "true"]
    if not_hits:
        failures.append(f"{len(not_hits)} cached-kind answers were not cache hits")
    wrong_type = [
        r
        for r in answered
        if (r.status == 503 and r.error_type != "queue_full")
        or (r.status == 502 and r.error_type != "worker_crash")
        or (r.status == 504 and r.error_type != "timeout")
    ]
    if wrong_type:
        failures.append(
            f"{len(wrong_type)} error answers with an unexpected error_type, e.g. "
            f"{wrong_type[0].kind} {wrong_type[0].status} {wrong_type[0].error_type}"
        )

    # health during the load
    queued = [h[2]["queued"] for h in health if h[1] == 200]
    alive = [h[2]["alive"] for h in health if h[1] == 200]
    bad_health = [h for h in health if h[1] != 200]
    if queued:
        print(
            f"/health during the load ({len(health)} samples): queued max {max(queued)}, "
            f"median {sorted(queued)[len(queued) // 2]}; alive min {min(alive)}"
            + (f"; {len(bad_health)} failed" if bad_health else "")
        )
    if bad_health:
        failures.append(f"{len(bad_health)} /health calls failed during the load")

    # memory
    if samples:
        at5 = next((s for s in samples if s[0] >= 5.0), samples[0])
        end = samples[-1]
        max_total = max(s[1] + s[2] for s in samples)
        max_workers = max(len(s[3]) for s in samples)
        growth = (end[1] - at5[1]) / at5[1] if at5[1] else 0.0
        print(
            f"memory (VmRSS): server {at5[1] / 1024:.1f} MiB at {at5[0]:.0f} s, "
            f"{end[1] / 1024:.1f} MiB at {end[0]:.0f} s ({growth:+.1%}); max server + workers "
            f"{max_total / 1024:.0f} MiB; max worker processes seen at once {max_workers}"
        )
        if growth > 0.20:
            failures.append(f"server RSS grew {growth:+.1%} from 5 s to the end (bound 20%)")


if __name__ == "__main__":
    sys.exit(main())
