"""Through the server: what a warm pool adds to a trivial File UDF, requests/s, and the Rust
encoders (MVT, GeoJSON) on a Tile UDF's 1,000 points against geopandas' `to_json`.

    .venv/bin/python bench/bench_server.py [FLAGS]  # needs `wrk` (apt-get install wrk)

FLAGS go to fused-server (e.g. `--worker-max-tasks 0` to measure without recycling).

Starts `target/release/fused-server` (2 workers) on 127.0.0.1 with a temporary data dir.
"""

from __future__ import annotations

import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from harness import Server, binary  # noqa: E402 (the shared test-server harness)

TRIVIAL = "@fused.udf\ndef udf():\n    return 1\n"
POINTS = """@fused.udf
def udf(bounds: fused.types.Bounds = None, n: int = 1000):
    import geopandas as gpd
    import numpy as np

    w, s, e, n_ = bounds
    rng = np.random.default_rng(0)
    xs = rng.uniform(w, e, n)
    ys = rng.uniform(s, n_, n)
    return gpd.GeoDataFrame(
        {"id": np.arange(n), "value": rng.random(n)},
        geometry=gpd.points_from_xy(xs, ys),
        crs="EPSG:4326",
    )
"""


def pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    samples = sorted(samples)
    return samples[min(len(samples) - 1, int(q * len(samples)))]


def timed_gets(port: int, path: str, key: str, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Authorization": f"Bearer {key}"}
    out = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        resp.read()
        out.append(time.perf_counter() - t)
        assert resp.status == 200, resp.status
    conn.close()
    return out


def main() -> None:
    import fused

    server_args = sys.argv[1:]  # more fused-server flags, e.g. --worker-max-tasks 0
    print(f"fused-server flags: --workers 2 {' '.join(server_args)}".rstrip() + "\n")
    data = Path(tempfile.mkdtemp(prefix="fused-bench-"))
    srv = Server(
        binary(),
        data,
        workers=2,
        extra_args=server_args,
        email="bench@example.com",
        env={**os.environ, "RUST_LOG": "warn"},
    )
    key, port = srv.key, srv.port
    try:
        srv.wait_workers(2, timeout=30)
        os.environ["FUSED_SERVER_URL"] = f"http://127.0.0.1:{port}"
        os.environ["FUSED_AUTH_TOKEN"] = key
        trivial = fused.load(TRIVIAL)
        trivial.name = "Trivial"
        trivial.to_fused(overwrite=True)
        points = fused.load(POINTS)
        points.name = "Points"
        points.to_fused(overwrite=True)

        base = "/api/v1/run/udf/saved/bench@example.com"
        # 1. latency of a trivial File UDF, sequential, keep-alive: run on a worker
        #    (`cache=false`) and served from the result cache
        health = timed_gets(port, "/health", key, 3000)
        variants = [("run on a worker (`cache=false`)", "&cache=false"), ("cache hit", "")]
        print("| trivial File UDF through the server (client-observed) | p50 | p99 |")
        print("|---|---:|---:|")
        print(
            f"| `GET /health` round trip (HTTP + client floor) | {pct(health, 0.5) * 1e3:.2f} ms "
            f"| {pct(health, 0.99) * 1e3:.2f} ms |"
        )
        for label, query in variants:
            path = f"{base}/Trivial?format=json{query}"
            timed_gets(port, path, key, 300)  # warm up
            lat = timed_gets(port, path, key, 3000)
            print(
                f"| `GET .../saved/.../Trivial`, {label} | {pct(lat, 0.5) * 1e3:.2f} ms "
                f"| {pct(lat, 0.99) * 1e3:.2f} ms |"
            )
            print(
                f"| added over `/health`, {label} | "
                f"{(pct(lat, 0.5) - pct(health, 0.5)) * 1e3:.2f} ms "
                f"| {(pct(lat, 0.99) - pct(health, 0.99)) * 1e3:.2f} ms |"
            )

        # 2. throughput with wrk, both ways
        if shutil.which("wrk"):
            for label, query in variants:
                out = subprocess.run(
                    [
                        "wrk",
                        "-t2",
                        "-c16",
                        "-d10s",
                        "-H",
                        f"Authorization: Bearer {key}",
                        f"http://127.0.0.1:{port}{base}/Trivial?format=json{query}",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                rps = next(line for line in out.splitlines() if line.startswith("Requests/sec"))
                errors = [
                    line for line in out.splitlines() if "Non-2xx" in line or "errors" in line
                ]
                print(
                    f"\nthroughput (wrk -t2 -c16 -d10s, trivial UDF, {label}): "
                    f"{rps.split()[-1]} requests/s" + (f"  {errors}" if errors else "")
                )
        else:
            print("\n(wrk not installed: throughput not measured)")

        # 3. 1,000 points as MVT / GeoJSON vs geopandas to_json on the same data
        tile = "/tiles/12/655/1583"
        mvt = timed_gets(port, f"{base}/Points{tile}.mvt?cache=false", key, 200)
        geojson = timed_gets(port, f"{base}/Points{tile}.geojson?cache=false", key, 200)
        gdf = points.run_local(x=655, y=1583, z=12)
        t = []
        for _ in range(50):
            s = time.perf_counter()
            gdf.to_json()
            t.append(time.perf_counter() - s)
        import pyarrow as pa

        from fused import _native

        table = gdf.to_arrow(geometry_encoding="WKB")
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, pa.table(table).schema) as w:
            w.write_table(pa.table(table))
        ipc = sink.getvalue().to_pybytes()
        enc = {}
        for fmt in ("geojson", "mvt"):
            samples = []
            for _ in range(50):
                s = time.perf_counter()
                _native.encode_table(ipc, fmt, (655, 1583, 12))
                samples.append(time.perf_counter() - s)
            enc[fmt] = statistics.median(samples)
        print("\n| 1,000 points (Tile UDF) | p50 |")
        print("|---|---:|")
        print(f"| through the server as MVT (run + encode + HTTP) | {pct(mvt, 0.5) * 1e3:.2f} ms |")
        print(f"| through the server as GeoJSON | {pct(geojson, 0.5) * 1e3:.2f} ms |")
        print(f"| Rust MVT encoder alone | {enc['mvt'] * 1e3:.2f} ms |")
        print(f"| Rust GeoJSON encoder alone | {enc['geojson'] * 1e3:.2f} ms |")
        print(f"| geopandas `to_json()` on the same data | {statistics.median(t) * 1e3:.2f} ms |")
        print(
            f"| ratio geopandas to_json / Rust GeoJSON | "
            f"{statistics.median(t) / enc['geojson']:.1f}x |"
        )
    finally:
        srv.stop()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
