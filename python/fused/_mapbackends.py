"""The backends a `JobPool` runs its tasks on (the interface: `fused._jobpool`).

- `LocalBackend` (`engine="local"`): the warm pool of `python -m fused._worker` processes that
  Rust supervises (`fused._native.WorkerPool`, the server's `LocalPool`): one process per core
  by default, started by the first map and kept for the rest of the session (closed at exit),
  so later maps pay no start-up. A crash, a hang past the time limit or a memory blow-up fails
  only its task (status `error` / `timeout`, with the reason) and the worker is replaced.
  Several tasks of a small UDF travel to a worker together (a *batch*, sized from the tasks'
  average time so a batch runs ~50 ms and at most a quarter of the time limit; the built-in
  UDF `fused_map_batch` runs it, `fused._mapbatch`); a batch that does not come back whole
  (crash, time limit, memory) is split and its tasks run one by one, so each still fails
  only itself.
- `InlineBackend`: in this process, one task after another (`debug_mode`, and a map made by
  a UDF that runs in a worker: the pool never waits on itself).
- `engine="remote"` runs a server-side job: `fused._mapremote.JobsBackend`.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Optional, Sequence

from fused._jobpool import Call, Completion

if TYPE_CHECKING:
    from fused._udf import Udf

__all__ = [
    "InlineBackend",
    "LocalBackend",
    "close_local_pool",
    "decode_batch",
    "in_worker",
    "map_depth",
]


_depth: contextvars.ContextVar[int] = contextvars.ContextVar("fused_map_depth", default=0)
_LEN = struct.Struct("<I")


def map_depth() -> int:
    """How deep the running code is in nested maps (a worker's task counts as one level)."""
    return _depth.get() + (1 if in_worker() else 0)


def in_worker() -> bool:
    """True in a `python -m fused._worker` process (the server's or a map's)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) == "fused._worker"


# -- results and errors ----------------------------------------------------------------------


def decode(result: tuple[Any, ...]) -> Any:
    """A canonical result from the pool as the Python value a local run returns."""
    from fused._canonical import from_cache

    if result[0] == "json":
        return json.loads(result[1])
    return from_cache(result)


def error_from(name: str, status: str, err: dict[str, Any], stdout: str, stderr: str) -> Any:
    """The exception of a failed task."""
    from fused.types import UdfParameterError, UdfRuntimeError, UdfTimeoutError

    msg = str(err.get("errormsg") or "")
    if status == "timeout":
        return UdfTimeoutError(f"UDF {name!r}: {msg}")
    if status == "cancelled":
        return None
    if err.get("kind") == "parameter":
        exc = UdfParameterError(msg)
        exc.parameter = str(err.get("parameter") or "")
        exc.expected = str(err.get("expected") or "")
        exc.value = str(err.get("value") or "")
        return exc
    cls = str(err.get("exception_class") or err.get("error_type") or "Exception")
    lineno = err.get("lineno")
    if err.get("error_type") == "udf":
        where = f" at line {lineno}" if lineno is not None else ""
        text = f"UDF {name!r} raised {cls}{where}: {msg}"
    else:
        text = f"UDF {name!r}: {msg}"
    return UdfRuntimeError(
        text,
        exception_class=cls,
        errormsg=msg,
        lineno=lineno,
        traceback=str(err.get("traceback") or ""),
        stdout=stdout,
        stderr=stderr,
    )


def _wire_params(params: dict[str, Any]) -> str:
    """Parameters as the JSON object text a worker converts by the Rust rules: JSON values
    as they are, anything else as the string form the server's rules parse."""
    from fused._canonical import plain_json
    from fused._remote import encode_parameter

    out = {}
    for k, v in params.items():
        out[k] = v if plain_json(v) else encode_parameter(k, v)
    return json.dumps(out)


def decode_batch(data: bytes) -> list[tuple[str, Any, Any, str, str, float]]:
    """Per item: (status, canonical result tuple or None, error dict or None, stdout,
    stderr, seconds), the shape `fused._native.WorkerPool.wait` gives for one task."""
    (n,) = _LEN.unpack_from(data, 0)
    header = json.loads(data[4 : 4 + n])
    base = 4 + n
    view = memoryview(data)
    out: list[tuple[str, Any, Any, str, str, float]] = []
    for e in header:
        result: Any = None
        if e["s"] == "success":
            body = view[base + e["o"] : base + e["o"] + e["n"]]
            kind = e["k"]
            if kind == "json":
                result = ("json", bytes(body).decode())
            elif kind == "table":
                result = ("table", bytes(body))
            elif kind == "raster":
                result = ("raster", bytes(body), e["dtype"], e["shape"], e.get("bounds"))
            else:
                result = ("bytes", bytes(body), e.get("ct") or "application/octet-stream")
        out.append((e["s"], result, e.get("e"), e["out"], e["err"], float(e["sec"])))
    return out


# -- the warm local pool ---------------------------------------------------------------------

_lock = threading.Lock()
_pools: dict[int, _WarmPool] = {}  # by number of workers


class _WarmPool:
    """The process's `WorkerPool`, and a thread that hands its finished tasks to their
    backends and feeds them more (so a pool runs while nobody waits on it)."""

    def __init__(self, workers: int) -> None:
        from fused import _native

        self.workers = workers
        self.dir = tempfile.mkdtemp(prefix="fused-map-")
        memory = os.environ.get("FUSED_WORKER_MEMORY_MB") or None
        try:
            memory_mb = int(memory) if memory else None
        except ValueError:
            raise ValueError(
                f"FUSED_WORKER_MEMORY_MB: expected a whole number of MiB, got {memory!r}"
            ) from None
        self.native = _native.WorkerPool(sys.executable, workers, self.dir, memory_mb=memory_mb)
        self.next_id = 0
        self.owners: dict[int, tuple[LocalBackend, list[int]]] = {}
        self.backends: set[LocalBackend] = set()
        self.cond = threading.Condition(threading.RLock())
        self.closed = False
        self.thread = threading.Thread(target=self._loop, name="fused-map-pump", daemon=True)
        self.thread.start()

    def ids(self, n: int) -> range:
        start = self.next_id
        self.next_id += n
        return range(start, start + n)

    def _loop(self) -> None:
        while True:
            with self.cond:
                while not self.owners and not self.closed:
                    self.cond.wait()
                if self.closed:
                    return
            try:
                items = self.native.wait(0.05)
            except Exception:  # noqa: BLE001 - closed under us
                return
            with self.cond:
                for item in items:
                    owner = self.owners.pop(item[0], None)
                    if owner is not None:
                        try:
                            owner[0]._arrived(owner[1], item)
                        except Exception as exc:  # noqa: BLE001 - the pump must go on
                            owner[0]._failed(owner[1], exc)
                for backend in list(self.backends):
                    backend._dispatch()
                if items:
                    self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        try:
            self.native.close(0.0)
        finally:
            if self.thread is not threading.current_thread():
                self.thread.join(timeout=5)
            shutil.rmtree(self.dir, ignore_errors=True)
            self._cancel_outstanding()

    def _cancel_outstanding(self) -> None:
        """After `close`: every task still owned or queued by a backend is `cancelled`, so
        no JobPool waits for a pool that is gone."""
        with self.cond:
            for backend, indexes in self.owners.values():
                for i in indexes:
                    backend.native_of.pop(i, None)
                    backend.ready.append(Completion(i, "cancelled", None, None, "", 0.0))
                backend.inflight = 0
            self.owners.clear()
            for backend in self.backends:
                backend.ready.extend(
                    Completion(c.index, "cancelled", None, None, "", 0.0) for c in backend.queue
                )
                backend.queue.clear()
            self.backends.clear()
            self.cond.notify_all()


def local_pool(workers: int) -> _WarmPool:
    """The warm pool with `workers` processes (started on first use; one per size asked)."""
    with _lock:
        pool = _pools.get(workers)
        if pool is None or pool.closed:
            pool = _pools[workers] = _WarmPool(workers)
        return pool


def close_local_pool() -> None:
    """Stop every warm pool's workers (at exit, and after Ctrl-C); their unfinished tasks
    end `cancelled`."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


atexit.register(close_local_pool)

_BATCH_MS = 50.0
_MAX_BATCH = 256


class LocalBackend:
    """Tasks on the warm local pool (see the module docstring)."""

    def __init__(
        self, udf: Udf, workers: int, timeout: Optional[float], decode: bool = True
    ) -> None:
        from fused._remote import udf_payload

        self.name = udf.name
        # False: a table result stays its Arrow IPC (`Completion.raw`, value None) for a
        # caller that only re-encodes it (a tile export)
        self.decode = decode
        self.workers = workers
        self.pool = local_pool(workers)
        self.timeout = timeout
        payload = udf_payload(udf)
        self.package = json.dumps(payload["package"])
        self.batch_package = json.dumps(_batch_package())
        self.queue: deque[Call] = deque()
        self.ready: deque[Completion] = deque()
        self.native_of: dict[int, int] = {}  # call index -> native task id (in flight)
        self.inflight = 0
        self.calls: dict[int, Call] = {}
        self.avg_ms: Optional[float] = None

    def _batch_size(self, remaining: int) -> int:
        if self.avg_ms is None:
            return 1
        target = _BATCH_MS if self.timeout is None else min(_BATCH_MS, self.timeout * 250.0)
        size = int(target / max(self.avg_ms, 0.01))
        spread = -(-remaining // (2 * self.pool.workers))  # keep every worker busy
        return max(1, min(size, _MAX_BATCH, spread))

    def submit(self, calls: Sequence[Call]) -> None:
        if self.pool.closed:  # stopped by Ctrl-C: a retry starts a new pool
            self.pool = local_pool(self.workers)
        with self.pool.cond:
            for c in calls:
                self.calls[c.index] = c
            self.queue.extend(calls)
            self.pool.backends.add(self)
            self._dispatch()
            self.pool.cond.notify_all()

    def _dispatch(self) -> None:
        """Hand queued calls to the pool while fewer than two per worker are in flight."""
        pool = self.pool
        window = 2 * pool.workers
        if not self.queue:
            pool.backends.discard(self)
            return
        if pool.closed:
            return
        singles = []
        batches = []
        while self.queue and self.inflight < window:
            size = self._batch_size(len(self.queue))
            group = [self.queue.popleft() for _ in range(min(size, len(self.queue)))]
            (nid,) = pool.ids(1)
            for c in group:
                self.native_of[c.index] = nid
            pool.owners[nid] = (self, [c.index for c in group])
            self.inflight += 1
            if len(group) == 1:
                c = group[0]
                singles.append((nid, _wire_params(c.params), c.tile, self.timeout))
            else:
                items = [{"p": _wire_params(c.params), "t": c.tile} for c in group]
                text = json.dumps({"package": self.package, "items": items})
                batches.append((nid, json.dumps({"batch": text}), None, self.timeout))
        for package, tasks in ((self.package, singles), (self.batch_package, batches)):
            if not tasks:
                continue
            try:
                pool.native.submit(package, tasks)
            except Exception as exc:  # noqa: BLE001 - e.g. the pool closed under us
                for nid, *_ in tasks:
                    owner = pool.owners.pop(nid, None)
                    if owner is not None:
                        self.inflight -= 1
                        self._failed(owner[1], exc)

    def _failed(self, indexes: list[int], exc: BaseException) -> None:
        """These calls could not be run or read back: each ends with `exc` as its error."""
        for i in indexes:
            self.native_of.pop(i, None)
            self.ready.append(Completion(i, "error", None, exc, "", 0.0))

    def _arrived(self, indexes: list[int], item: tuple[Any, ...], nested: bool = False) -> None:
        """A finished native task (under the pool's lock): one call, or a batch of them."""
        if not nested:
            self.inflight -= 1
        _, status, result, err, stdout, stderr, seconds = item
        if len(indexes) > 1:
            self._arrived_batch(indexes, status, result)
            return
        (index,) = indexes
        self.native_of.pop(index, None)
        ms = seconds * 1000.0
        self.avg_ms = ms if self.avg_ms is None else 0.8 * self.avg_ms + 0.2 * ms
        logs = stdout + stderr
        if status == "success":
            try:
                lazy = not self.decode and result[0] == "table"
                value = None if lazy else decode(result)
            except Exception as exc:  # noqa: BLE001 - reported as the task's error
                self.ready.append(Completion(index, "error", None, exc, logs, seconds))
                return
            done = Completion(index, "success", value, None, logs, seconds, result)
            self.ready.append(done)
        else:
            failure = error_from(self.name, status, err or {}, stdout, stderr)
            self.ready.append(Completion(index, status, None, failure, logs, seconds))

    def _arrived_batch(self, indexes: list[int], status: str, result: Any) -> None:
        if status == "cancelled":
            for i in indexes:
                self.native_of.pop(i, None)
                self.ready.append(Completion(i, "cancelled", None, None, "", 0.0))
            return
        answers = None
        if status == "success" and result[0] == "bytes":
            try:
                answers = decode_batch(result[1])
            except (ValueError, KeyError, IndexError, TypeError):
                answers = None
        if answers is None or len(answers) != len(indexes):
            # The batch did not come back whole (crash, time limit, memory): its tasks run
            # again one by one, so each fails only itself.
            self.avg_ms = None
            for i in indexes:
                self.native_of.pop(i, None)
            self.queue.extendleft(reversed([self.calls[i] for i in indexes]))
            self.pool.backends.add(self)
            return
        for index, answer in zip(indexes, answers):
            self._arrived([index], (None, *answer), nested=True)

    def poll(self, timeout: float) -> list[Completion]:
        with self.pool.cond:
            if not self.ready and timeout > 0:
                self.pool.cond.wait(timeout)
            out = list(self.ready)
            self.ready.clear()
            return out

    def running(self) -> set[int]:
        native = set(self.pool.native.running())
        with self.pool.cond:
            return {i for i, nid in self.native_of.items() if nid in native}

    def cancel(self, indexes: Optional[Sequence[int]] = None) -> None:
        with self.pool.cond:
            targets = set(self.calls) if indexes is None else set(indexes)
            queued = [c for c in self.queue if c.index in targets]
            if queued:
                self.queue = deque(c for c in self.queue if c.index not in targets)
                self.ready.extend(
                    Completion(c.index, "cancelled", None, None, "", 0.0) for c in queued
                )
            ids = {self.native_of[i] for i in targets if i in self.native_of}
            self.pool.cond.notify_all()
        # a batch is cancelled whole: its other calls report `cancelled` too
        self.pool.native.cancel(sorted(ids))

    def interrupt(self) -> None:
        self.cancel(None)
        close_local_pool()


def _batch_package() -> dict[str, Any]:
    """The package of the built-in UDF that runs a batch of tasks in a worker."""
    code = (
        "import fused\n\n\n"
        "@fused.udf\n"
        "def fused_map_batch(batch: str):\n"
        "    from fused._mapbatch import run_batch\n\n"
        "    return run_batch(batch)\n"
    )
    return {
        "name": "fused_map_batch",
        "code": code,
        "entrypoint": "fused_map_batch",
        "headers": [],
        "metadata": {},
    }


# -- in process ------------------------------------------------------------------------------


class InlineBackend:
    """Runs each task in this process when polled (no time limit, no isolation)."""

    def __init__(self, udf: Udf, depth: int) -> None:
        self.udf = udf
        self.depth = depth
        self.queue: deque[Call] = deque()
        self.done: deque[Completion] = deque()
        self.current: Optional[int] = None

    def submit(self, calls: Sequence[Call]) -> None:
        self.queue.extend(calls)

    def poll(self, timeout: float) -> list[Completion]:
        out = list(self.done)
        self.done.clear()
        if self.queue:
            out.append(self._run(self.queue.popleft()))
        return out

    def _run(self, call: Call) -> Completion:
        from fused._engine import run_udf

        # inside the task, map_depth() is this map's depth (a worker adds its own level)
        token = _depth.set(self.depth - (1 if in_worker() else 0))
        out, err = io.StringIO(), io.StringIO()
        started = time.perf_counter()
        self.current = call.index
        try:
            x, y, z = call.tile if call.tile is not None else (None, None, None)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                value = run_udf(
                    self.udf, engine="local", x=x, y=y, z=z, parameters=call.params, cache=False
                )
            status, exc = "success", None
        except Exception as e:  # noqa: BLE001 - the task's error
            status, value, exc = "error", None, e
        finally:
            self.current = None
            _depth.reset(token)
        took = time.perf_counter() - started
        return Completion(call.index, status, value, exc, out.getvalue() + err.getvalue(), took)

    def running(self) -> set[int]:
        return set() if self.current is None else {self.current}

    def cancel(self, indexes: Optional[Sequence[int]] = None) -> None:
        keep = set() if indexes is None else set(indexes)
        dropped = [c for c in self.queue if indexes is None or c.index in keep]
        self.queue = deque(c for c in self.queue if c not in dropped)
        self.done.extend(Completion(c.index, "cancelled", None, None, "", 0.0) for c in dropped)

    def interrupt(self) -> None:
        self.cancel(None)
