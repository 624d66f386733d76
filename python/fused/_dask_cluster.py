"""`python -m fused._dask_cluster --workers N [--memory-limit BYTES] [--threads-per-worker 1]`:
an embedded Dask cluster on this machine for `fused serve --executor dask` without
`--dask-scheduler`.

Starts a `distributed.LocalCluster` (N worker processes under nannies, on 127.0.0.1, each
with `fused._dask.FusedWorkerPlugin`), prints one JSON line
`{"address": "tcp://127.0.0.1:PORT", "dashboard": URL or null}` on stdout, and lives until
its stdin closes; then it closes the cluster (no process left) and exits. A task whose
worker dies is not run again (`distributed.scheduler.allowed-failures` 0: a UDF that kills
its process fails alone instead of killing four workers), and a worker is sent only as many
tasks as it has threads (`worker-saturation` 1.0: no task waits on a worker, where that
worker's death would fail it too).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional

__all__ = ["main", "start_cluster"]


def _positive(name: str) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name}: expected an integer >= 1, got {text!r}")
        return value

    return parse


def start_cluster(
    workers: int,
    *,
    threads_per_worker: int = 1,
    memory_limit: Optional[int] = None,
    dashboard: bool = False,
) -> Any:
    """A started `LocalCluster` with the fused plugin registered on its workers."""
    import dask
    from distributed import Client, LocalCluster

    from fused._dask import FusedWorkerPlugin

    # a task whose worker dies is not run again, and a worker holds only the tasks it runs
    # (none queued behind them), so a dying worker fails nothing but its own task
    settings = {
        "distributed.scheduler.allowed-failures": 0,
        "distributed.scheduler.worker-saturation": 1.0,
    }
    with dask.config.set(settings):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0" if dashboard else None,
            memory_limit=memory_limit if memory_limit is not None else "auto",
        )
    try:
        with Client(cluster, set_as_default=False) as client:
            client.register_plugin(FusedWorkerPlugin(), name="fused")
    except BaseException:
        cluster.close()
        raise
    return cluster


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fused._dask_cluster")
    parser.add_argument("--workers", type=_positive("--workers"), required=True)
    parser.add_argument("--memory-limit", type=_positive("--memory-limit"), default=None)
    parser.add_argument("--threads-per-worker", type=_positive("--threads-per-worker"), default=1)
    parser.add_argument("--dashboard", action="store_true", help="serve the Dask dashboard")
    args = parser.parse_args(argv)
    try:
        import distributed  # noqa: F401
    except ImportError:
        parser.exit(
            2, "the Dask executor needs the distributed package: pip install fused-rs[dask]\n"
        )
    # The address line goes to a private duplicate of stdout; fd 1 (inherited by the worker
    # processes) points at stderr, so nothing they print reaches the reader of the line.
    import os

    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    cluster = start_cluster(
        args.workers,
        threads_per_worker=args.threads_per_worker,
        memory_limit=args.memory_limit,
        dashboard=args.dashboard,
    )
    try:
        link = cluster.dashboard_link if args.dashboard else None
        out.write(json.dumps({"address": cluster.scheduler_address, "dashboard": link}) + "\n")
        out.flush()
        while sys.stdin.buffer.read(65536):
            pass
    finally:
        cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
