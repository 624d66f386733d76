"""`udf.map(..., engine="dask")`: the tasks of a map on a Dask cluster (a `fused._jobpool`
backend).

The cluster is, in this order: the `dask_client=` keyword of `udf.map` / `fused.submit` (a
`distributed.Client`), a `distributed.Client` to `$FUSED_DASK_SCHEDULER` (one per address,
kept for the session), or a `LocalCluster` on this machine (one worker process per core or
`max_workers`, with one thread each, `$FUSED_WORKER_MEMORY_MB` each when set; `python -m
fused._dask_cluster`) started by the first such map and closed at exit.

Each task is the worker-protocol request the server would send (`fused._dask.run_request`
runs it on a Dask worker by `fused._worker`'s own code path) and comes back as the canonical
header + payload bytes, decoded as `engine="local"` decodes its pool's results: the values
are the same. A Dask worker that dies fails its task (status `error` naming the crash; the
nanny starts a new worker; the JobPool retries as usual). With `timeout=`, at most one task
per worker thread is in flight, so a task's time is its running time and no task waits on a
worker behind another; past the limit its future is cancelled (the worker's
`FusedWorkerPlugin` stops the UDF) and its status is `timeout`. Without `timeout=` (no
limit) every task is handed to the scheduler at once, as `client.map` does (the speed of
tiny tasks), and `running()` counts the tasks the scheduler holds; then a task the scheduler
had already queued on a worker that dies fails with it (Dask cannot tell it from the task
that crashed), and the JobPool's retries (`max_retry`) run it again. Cancel and Ctrl-C
cancel the futures (Ctrl-C also closes a session cluster).

`fused._dask` is loaded by name (`importlib`), as the local pool starts
`python -m fused._worker` by name: it runs UDFs, so it imports the modules that import this
one.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import json
import os
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Optional, Sequence

from fused._jobpool import Call, Completion
from fused._mapbackends import _wire_params, decode, error_from

if TYPE_CHECKING:
    from fused._udf import Udf

__all__ = ["DaskBackend", "close_dask_clients", "dask_client_for"]

_INSTALL = "engine='dask' needs the distributed package: pip install fused-rs[dask]"
_lock = threading.Lock()
_clients: dict[str, Any] = {}  # FUSED_DASK_SCHEDULER address -> Client
_session: list[Any] = []  # [cluster, client] of the session's LocalCluster


def _require_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(_INSTALL) from exc
    return distributed


def _worker_side(name: str) -> Any:
    return importlib.import_module(f"fused.{name}")


def dask_client_for(dask_client: Any = None, workers: Optional[int] = None) -> Any:
    """The `distributed.Client` a map runs on (see the module docstring)."""
    distributed = _require_distributed()
    if dask_client is not None:
        if not isinstance(dask_client, distributed.Client):
            raise TypeError(
                f"dask_client: expected a distributed.Client, got {type(dask_client).__name__}"
            )
        _register(dask_client)
        return dask_client
    address = os.environ.get("FUSED_DASK_SCHEDULER", "").strip()
    with _lock:
        if address:
            client = _clients.get(address)
            if client is None or client.status in ("closed", "closing"):
                try:
                    client = distributed.Client(address, set_as_default=False, timeout=10)
                except (OSError, TimeoutError) as exc:
                    raise ConnectionError(
                        f"FUSED_DASK_SCHEDULER: the Dask scheduler at {address!r} is "
                        f"unreachable: {exc}"
                    ) from None
                _register(client)
                _clients[address] = client
            return client
        if _session and _session[1].status not in ("closed", "closing"):
            return _session[1]
        _session.clear()
        cluster = _SessionCluster(workers or os.cpu_count() or 1)
        try:
            client = distributed.Client(cluster.address, set_as_default=False, timeout=30)
        except BaseException:
            cluster.close()
            raise
        _session.extend([cluster, client])
        return client


class _SessionCluster:
    """`python -m fused._dask_cluster` as a child process (its own `__main__`, so a script
    without an `if __name__ == "__main__":` guard is not run again by the workers); it
    closes its cluster when its stdin closes: at `close`, or when this process dies."""

    def __init__(self, workers: int) -> None:
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "fused._dask_cluster", "--workers", str(workers)]
        memory = os.environ.get("FUSED_WORKER_MEMORY_MB") or None
        if memory is not None:
            try:
                mib = int(memory)
            except ValueError:
                mib = 0
            if mib < 1:
                raise ValueError(
                    f"FUSED_WORKER_MEMORY_MB: expected a whole number of MiB >= 1, got {memory!r}"
                )
            cmd += ["--memory-limit", str(mib * 1024 * 1024)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        try:
            self.address = str(json.loads(line)["address"])
        except (ValueError, KeyError, TypeError):
            self.close()
            raise RuntimeError(
                f"the local Dask cluster did not start (exit {self.proc.returncode}): {line!r}"
            ) from None

    def close(self) -> None:
        import subprocess

        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _register(client: Any) -> None:
    plugins = getattr(client, "_fused_plugin", None)
    if plugins is None:
        client.register_plugin(_worker_side("_dask").FusedWorkerPlugin(), name="fused")
        client._fused_plugin = True


def close_dask_clients() -> None:
    """Close the clients this session opened and its LocalCluster (at exit, after Ctrl-C)."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
        session = list(_session)
        _session.clear()
    for obj in [*clients, *reversed(session)]:
        try:
            obj.close()
        except Exception:  # noqa: BLE001 - closing anyway
            pass


atexit.register(close_dask_clients)


class DaskBackend:
    """Tasks of one map as Dask futures (see the module docstring)."""

    def __init__(
        self,
        udf: Udf,
        timeout: Optional[float],
        *,
        dask_client: Any = None,
        workers: Optional[int] = None,
    ) -> None:
        from fused._remote import udf_payload

        self.name = udf.name
        self.timeout = timeout
        self.client = dask_client_for(dask_client, workers)
        self.owned = dask_client is None and not os.environ.get("FUSED_DASK_SCHEDULER")
        self.run_request = _worker_side("_dask").run_request
        self.package = udf_payload(udf)["package"]
        text = json.dumps(self.package, sort_keys=True)
        self.udf_hash = hashlib.sha256(text.encode()).hexdigest()
        self.queue: deque[Call] = deque()
        self.inflight: dict[int, tuple[Any, float]] = {}  # index -> (future, submitted at)
        self.done: deque[tuple[int, Any]] = deque()
        self.ready: deque[Completion] = deque()
        self.cond = threading.Condition()
        self.threads, self.threads_at = 1, float("-inf")

    def _window(self) -> Optional[int]:
        """Tasks in flight: all without a time limit (the throughput of `client.map`); with
        one, one per worker thread of the cluster (asked once a second), so each task's time
        is its running time and no task waits on a worker behind another."""
        if self.timeout is None:
            return None
        now = time.monotonic()
        if now - self.threads_at > 1.0:
            self.threads_at = now
            try:
                self.threads = max(1, sum(self.client.nthreads().values()))
            except Exception:  # noqa: BLE001 - asked again next time
                pass
        return self.threads

    def _request(self, call: Call) -> dict[str, Any]:
        tile = None
        if call.tile is not None:
            x, y, z = call.tile
            tile = {"x": x, "y": y, "z": z}
        return {
            "task_id": str(call.index),
            "udf": self.package,
            "udf_hash": self.udf_hash,
            "parameters": json.loads(_wire_params(call.params)),
            "tile": tile,
            "result_dir": "",
            "inline_limit": 0,
        }

    def submit(self, calls: Sequence[Call]) -> None:
        with self.cond:
            self.queue.extend(calls)
        self._dispatch()

    def _dispatch(self) -> None:
        window = self._window() if self.queue else 0
        with self.cond:
            calls: list[Call] = []
            while self.queue and (window is None or len(self.inflight) + len(calls) < window):
                calls.append(self.queue.popleft())
            if not calls:
                return
            try:  # one message to the scheduler for the lot, as client.map sends
                futures = self.client.map(
                    self.run_request,
                    [self._request(c) for c in calls],
                    pure=False,
                    retries=0,
                )
            except Exception as exc:  # noqa: BLE001 - e.g. the client closed
                self.ready.extend(Completion(c.index, "error", None, exc, "", 0.0) for c in calls)
                return
            now = time.monotonic()
            for call, future in zip(calls, futures):
                self.inflight[call.index] = (future, now)
                future.add_done_callback(lambda f, i=call.index: self._on_done(i, f))

    def _on_done(self, index: int, future: Any) -> None:
        with self.cond:
            self.done.append((index, future))
            self.cond.notify_all()

    def poll(self, timeout: float) -> list[Completion]:
        with self.cond:
            if not self.ready and not self.done and timeout > 0:
                self.cond.wait(self._next_deadline(timeout))
            done = list(self.done)
            self.done.clear()
        self._expire()
        self._collect(done)
        self._dispatch()
        with self.cond:
            out = list(self.ready)
            self.ready.clear()
            return out

    def _next_deadline(self, timeout: float) -> float:
        if self.timeout is None or not self.inflight:
            return timeout
        first = min(started for _, started in self.inflight.values())
        return max(0.0, min(timeout, first + self.timeout - time.monotonic()))

    def _expire(self) -> None:
        if self.timeout is None:
            return
        now = time.monotonic()
        with self.cond:
            late = [i for i, (_, t0) in self.inflight.items() if now - t0 >= self.timeout]
            futures = [self.inflight.pop(i)[0] for i in late]
            for i in late:
                msg = (
                    f"the UDF ran longer than its time limit of {self.timeout:g} s and was stopped"
                )
                err = {"errormsg": msg}
                exc = error_from(self.name, "timeout", err, "", "")
                self.ready.append(Completion(i, "timeout", None, exc, "", float(self.timeout)))
        for future in futures:
            future.cancel()

    def _collect(self, done: list[tuple[int, Any]]) -> None:
        finished = []
        with self.cond:
            for index, future in done:
                entry = self.inflight.get(index)
                if entry is None or entry[0] is not future:  # cancelled / timed out already
                    continue
                del self.inflight[index]
                finished.append((index, future, time.monotonic() - entry[1]))
        ok = [(i, f, s) for i, f, s in finished if f.status == "finished"]
        answers: list[Any] = []
        if ok:
            try:
                answers = self.client.gather([f for _, f, _ in ok])
            except Exception as exc:  # noqa: BLE001 - lost on the way back
                answers = [exc] * len(ok)
        out = [self._completion(i, a, s) for (i, _, s), a in zip(ok, answers)]
        out += [self._failure(i, f, s) for i, f, s in finished if f.status != "finished"]
        with self.cond:
            self.ready.extend(out)

    def _completion(self, index: int, answer: Any, seconds: float) -> Completion:
        if isinstance(answer, BaseException):
            return Completion(index, "error", None, answer, "", seconds)
        header, payload = answer["header"], answer["payload"]
        stdout, stderr = str(header.get("stdout") or ""), str(header.get("stderr") or "")
        logs = stdout + stderr
        if not header.get("ok"):
            err = header.get("error") or {}
            if err.get("kind") == "cancelled":
                return Completion(index, "cancelled", None, None, logs, seconds)
            # the local pool's error dict of a failed UDF (fused._native.WorkerPool)
            exc = error_from(self.name, "error", {**err, "error_type": "udf"}, stdout, stderr)
            return Completion(index, "error", None, exc, logs, seconds)
        try:
            value = decode(_result_tuple(header, payload or b""))
        except Exception as exc:  # noqa: BLE001 - reported as the task's error
            return Completion(index, "error", None, exc, logs, seconds)
        return Completion(index, "success", value, None, logs, seconds)

    def _failure(self, index: int, future: Any, seconds: float) -> Completion:
        from distributed.scheduler import KilledWorker

        try:
            exc = future.exception(timeout=5)
        except Exception as e:  # noqa: BLE001 - cancelled under us (scheduler lost)
            exc = e
        if isinstance(exc, KilledWorker):
            msg = f"worker crashed while running the task: the Dask worker died: {exc}"
            err = {"error_type": "worker_crash", "kind": "worker_crash", "errormsg": msg}
            failure = error_from(self.name, "error", err, "", "")
            return Completion(index, "error", None, failure, "", seconds)
        return Completion(index, "error", None, exc, "", seconds)

    def running(self) -> set[int]:
        with self.cond:
            return set(self.inflight)

    def cancel(self, indexes: Optional[Sequence[int]] = None) -> None:
        with self.cond:
            targets = set(self.inflight) | {c.index for c in self.queue}
            if indexes is not None:
                targets &= set(indexes)
            self.queue = deque(c for c in self.queue if c.index not in targets)
            futures = [self.inflight.pop(i)[0] for i in targets if i in self.inflight]
            self.ready.extend(Completion(i, "cancelled", None, None, "", 0.0) for i in targets)
            self.cond.notify_all()
        if futures:
            self.client.cancel(futures)

    def interrupt(self) -> None:
        self.cancel(None)
        if self.owned:
            close_dask_clients()


def _result_tuple(header: dict[str, Any], payload: bytes) -> tuple[Any, ...]:
    """The canonical result tuple `fused._native.WorkerPool` gives for this answer."""
    kind = header.get("kind")
    if kind == "json":
        return ("json", payload.decode())
    if kind == "table":
        return ("table", payload)
    if kind == "raster":
        return ("raster", payload, header["dtype"], header["shape"], header.get("bounds"))
    if kind == "bytes":
        return ("bytes", payload, header.get("content_type") or "application/octet-stream")
    raise ValueError(f"unknown result kind {kind!r} in a Dask task's answer")
