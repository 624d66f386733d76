"""Fan-out throughput: `udf.map(engine="local")` on the warm worker pool against the ways a user
would otherwise run many small calls on this machine, in one run, as ratios.

- fused-rs `udf.map(arg_list, engine="local", cache=False)` of a no-op UDF on a warm pool
  (one process per core), then the same with the run cache on (a fresh cache folder: every
  task a miss that is stored; the figure until `wait()` returns, and until every entry is
  synced to disk), then the re-run (every task a cache hit);
- `concurrent.futures.ProcessPoolExecutor` (one process per core, warmed) running
  `fused.run(udf, engine="local", cache=False)` per item, `chunksize=1` and a chunked map;
- `dask.distributed` `LocalCluster` (one single-threaded worker process per core) `client.map`
  of the same function (`pip install distributed`, in the `test` extra), and
  `udf.map(engine="dask", dask_client=client)` on that cluster (target: at most 20% slower);
- PyPI `fused` 2.9.5's `udf.map(arg_list, engine="local")` in its own venv
  (`bench/.venv-fused-pypi`, made by `bench_run.ensure_pypi_venv`);
- 1,000 tiles of a Tile UDF that sleeps 10 ms, on 2 workers: wall time against the ideal 5 s;
- then (unless `--skip-dask`) `bench_dask_server.report()`: the server on `--executor dask`
  against `--executor local` and a bare `client.map` on the same cluster, and the time a
  crashed Dask worker's task takes to fail and the cluster to be whole.

    .venv/bin/python bench/bench_map.py [--n 20000] [--skip-pypi] [--skip-dask]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

os.environ.setdefault("FUSED_CACHE_DIR", tempfile.mkdtemp(prefix="bench-map-cache-"))

import fused  # noqa: E402
from fused._runcache import flush_all  # noqa: E402

WORKERS = os.cpu_count() or 1


@fused.udf
def noop(n: int = 0):
    return n


@fused.udf
def sleepy_tile(bounds: fused.types.Bounds = None):
    import time

    time.sleep(0.01)
    return 1


def run_noop(n: int) -> int:
    return fused.run(noop, n=n, engine="local", cache=False)


def _warm(_: int) -> int:
    import fused  # noqa: F401 - the import is the warm-up

    return 0


def measure_fused_rs(n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    noop.map([0, 1], engine="local", cache=False).wait()  # start the pool (not timed)
    started = time.perf_counter()
    pool = noop.map(list(range(n)), engine="local", cache=False)
    pool.wait()
    out["map_cache_false"] = n / (time.perf_counter() - started)
    assert pool.all_succeeded() and pool.results()[-1] == n - 1

    started = time.perf_counter()
    pool = noop.map(list(range(n)), engine="local")
    pool.wait()
    out["map_cache_miss_wait"] = n / (time.perf_counter() - started)
    flush_all()
    out["map_cache_miss_synced"] = n / (time.perf_counter() - started)
    started = time.perf_counter()
    pool = noop.map(list(range(n)), engine="local")
    pool.wait()
    out["map_cache_hit"] = n / (time.perf_counter() - started)
    return out


def measure_process_pool(n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with ProcessPoolExecutor(max_workers=WORKERS) as ex:
        list(ex.map(_warm, range(WORKERS * 2)))
        list(ex.map(run_noop, range(WORKERS * 4)))
        started = time.perf_counter()
        assert list(ex.map(run_noop, range(n)))[-1] == n - 1
        out["process_pool_chunksize_1"] = n / (time.perf_counter() - started)
        started = time.perf_counter()
        chunk = max(1, n // (WORKERS * 16))
        assert list(ex.map(run_noop, range(n), chunksize=chunk))[-1] == n - 1
        out["process_pool_chunked"] = n / (time.perf_counter() - started)
    return out


def measure_dask(n: int) -> dict[str, float]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.gather(client.map(run_noop, range(WORKERS * 4), pure=False))
        noop.map(range(WORKERS * 4), engine="dask", dask_client=client, cache=False).wait()
        started = time.perf_counter()
        results = client.gather(client.map(run_noop, range(n), pure=False))
        assert results[-1] == n - 1
        bare = n / (time.perf_counter() - started)
        started = time.perf_counter()
        pool = noop.map(range(n), engine="dask", dask_client=client, cache=False)
        pool.wait()
        engine = n / (time.perf_counter() - started)
        assert pool.all_succeeded() and pool.results()[-1] == n - 1
        return {"dask_client_map": bare, "dask_engine_map": engine}


PYPI_MEASURE = r"""
import json, sys, time
import fused

N = int(sys.argv[1])
WORKERS = int(sys.argv[2])

@fused.udf
def noop(n: int = 0):
    return n

noop.map([0, 1], engine="local", max_workers=WORKERS, cache=False).wait()
started = time.perf_counter()
pool = noop.map(list(range(N)), engine="local", max_workers=WORKERS, cache=False)
pool.wait()
took = time.perf_counter() - started
assert pool.all_succeeded()
print(json.dumps({"pypi_map": N / took, "version": fused.__version__}))
"""


def measure_pypi(n: int) -> dict[str, float]:
    from bench_run import ensure_pypi_venv

    python = ensure_pypi_venv()
    script = Path(tempfile.mkdtemp()) / "measure_map.py"
    script.write_text(PYPI_MEASURE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUSED_")}
    env["FUSED_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-map-pypi-")
    res = subprocess.run(
        [str(python), str(script), str(n), str(WORKERS)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=1800,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def measure_tiles() -> dict[str, float]:
    tiles = list(fused.tiles.tiles(-180, -85, 180, 85, [5]))[:1000]
    assert len(tiles) == 1000
    sleepy_tile.map(tiles[:4], engine="local", cache=False, max_workers=2).wait()
    started = time.perf_counter()
    pool = sleepy_tile.map(tiles, engine="local", cache=False, max_workers=2)
    pool.wait()
    took = time.perf_counter() - started
    assert pool.all_succeeded()
    # what 500 sleeps of 10 ms take on this machine right now (one worker's share)
    started = time.perf_counter()
    for _ in range(500):
        time.sleep(0.01)
    floor = time.perf_counter() - started
    return {"tiles_wall_s": took, "tiles_ideal_s": 1000 * 0.01 / 2, "tiles_sleep_floor_s": floor}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--pypi-n", type=int, default=2000)
    parser.add_argument("--skip-pypi", action="store_true")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    n = args.n
    figures: dict[str, float] = {}
    figures.update(measure_fused_rs(n))
    figures.update(measure_tiles())
    figures.update(measure_process_pool(n))
    if not args.skip_dask:
        figures.update(measure_dask(n))
    if not args.skip_pypi:
        pypi = measure_pypi(args.pypi_n)
        figures["pypi_map"] = pypi["pypi_map"]
    base = figures["map_cache_false"]
    print(f"\n{n:,} no-op tasks, {WORKERS} workers; load average {os.getloadavg()[0]:.1f}\n")
    print("| runner | tasks/s | fused-rs map (cache=False) speed-up |")
    print("|---|---:|---:|")
    rows = [
        ("fused-rs `udf.map(engine='local', cache=False)`", "map_cache_false"),
        (
            "fused-rs `udf.map(engine='local')`, cache misses (until `wait()`)",
            "map_cache_miss_wait",
        ),
        (
            "fused-rs `udf.map(engine='local')`, cache misses (until synced)",
            "map_cache_miss_synced",
        ),
        ("fused-rs `udf.map(engine='local')`, cache hits (re-run)", "map_cache_hit"),
        (
            "ProcessPoolExecutor + `fused.run(engine='local')`, chunksize=1",
            "process_pool_chunksize_1",
        ),
        ("ProcessPoolExecutor + `fused.run(engine='local')`, chunked", "process_pool_chunked"),
        ("dask.distributed LocalCluster `client.map`", "dask_client_map"),
        ("fused-rs `udf.map(engine='dask', cache=False)`, same cluster", "dask_engine_map"),
        (f"PyPI fused 2.9.5 `udf.map(engine='local')` ({args.pypi_n:,} tasks)", "pypi_map"),
    ]
    for label, key in rows:
        if key in figures:
            v = figures[key]
            print(f"| {label} | {v:,.0f} | {base / v:.1f}x |")
    if "dask_engine_map" in figures:
        over = figures["dask_client_map"] / figures["dask_engine_map"] - 1
        print(f"\nudf.map(engine='dask') over a bare client.map on the same cluster: {over:+.0%}")
    wall, ideal = figures["tiles_wall_s"], figures["tiles_ideal_s"]
    floor = figures["tiles_sleep_floor_s"]
    print(
        f"\n1,000 tiles x 10 ms sleep on 2 workers: {wall:.2f} s "
        f"(ideal {ideal:.1f} s, +{(wall / ideal - 1) * 100:.1f}%; 500 bare 10 ms sleeps in "
        f"one process take {floor:.2f} s here now, +{(wall / floor - 1) * 100:.1f}% over that)"
    )
    if not args.skip_dask:
        import bench_dask_server

        bench_dask_server.report()


if __name__ == "__main__":
    main()
