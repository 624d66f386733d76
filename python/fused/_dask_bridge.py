"""`python -m fused._dask_bridge --scheduler ADDR`: the server's one process for `--executor
dask`. It holds the `distributed.Client` and carries many requests at once on one pipe.

Framing is the worker protocol's (u32 LE length + bytes, on a private duplicate of fd 1), and
so are requests and answers (a header frame, plus one inline payload frame or a payload file
`<result_dir>/<task_id>.bin` over `inline_limit`), but the pipe is multiplexed:

- the hello frame `{"ready": true, "pid", "python", "mux": true}` is sent at once; the bridge
  connects to the scheduler in the background and again whenever it has lost it;
- request frames may follow each other without waiting: every request is answered once, in
  the order its Dask task finishes, its header naming its `task_id`;
- `{"cancel": TASK_ID}` cancels a request: its Dask task is cancelled (which stops the UDF on
  its worker, see `fused._dask.FusedWorkerPlugin`) unless another request shares it, and the
  request is answered at once with error kind `cancelled`.

Requests that arrive together are submitted in one `client.map` (one message to the
scheduler, like a user's own `client.map`), and finished tasks' results are gathered together.
Each request runs on the cluster as `fused._dask.run_request`, under the key
`fused-run-<run_key>` when it has a `run_key` (identical concurrent requests share one Dask
task, whichever arrives while it runs) and a fresh key otherwise; never retried by Dask.
Failures the UDF did not cause:

- the Dask worker died running it (`KilledWorker`, or the task cancelled under us): error
  kind `worker_crash`;
- the scheduler is unreachable, the connection is lost, or connecting times out
  (`FUSED_DASK_CONNECT_TIMEOUT` seconds, default 10): kind `unavailable`, for every request in
  flight then; the bridge stays up and connects again for the next request.

The bridge exits on EOF (closing its client, which cancels what still runs) and when its
parent dies; SIGINT is ignored (the server stops it).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import sys
import threading
import time
import uuid
from typing import Any, Optional

from fused._task import Cancelled, describe
from fused._worker import Worker, _Protocol, start_process

WORKER_CRASH = "worker_crash"
UNAVAILABLE = "unavailable"

__all__ = ["UNAVAILABLE", "WORKER_CRASH", "Bridge", "main"]


def _connect_timeout() -> float:
    raw = os.environ.get("FUSED_DASK_CONNECT_TIMEOUT") or "10"
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"FUSED_DASK_CONNECT_TIMEOUT: expected seconds > 0, got {raw!r}")
    return value


class _Unavailable(Exception):
    pass


class Bridge:
    """One connection to a Dask scheduler carrying the requests of one pipe."""

    def __init__(self, address: str, proto: _Protocol, timeout: float) -> None:
        from fused._dask import run_request  # needs `distributed`: imported once, here

        self.run_request = run_request
        self.address = address
        self.timeout = timeout
        self.answers = Worker(proto)  # its `_answer` writes frames / payload files
        self.write_lock = threading.Lock()
        self.client: Any = None
        self.connect_lock = threading.Lock()
        # guards: dask key -> future, dask key -> requests waiting on it, and the task ids
        # received but not yet submitted (a cancel takes its id out: it is not submitted)
        self.lock = threading.Lock()
        self.futures: dict[str, Any] = {}
        self.waiters: dict[str, list[dict[str, Any]]] = {}
        self.queued: set[str] = set()
        self.incoming: queue.SimpleQueue[Optional[dict[str, Any]]] = queue.SimpleQueue()
        self.finished: queue.SimpleQueue[Any] = queue.SimpleQueue()

    # -- the connection ---------------------------------------------------------------

    def connect(self) -> Any:
        """The connected client (a new one when the last is gone); `_Unavailable` if the
        scheduler cannot be reached within the timeout."""
        with self.connect_lock:
            return self._connect()

    def _connect(self) -> Any:
        from distributed import Client

        from fused._dask import FusedWorkerPlugin

        client = self.client
        if client is not None and client.status == "running":
            return client
        if client is not None and client.status == "connecting":
            # the Client reconnects by itself: give it the timeout, then start afresh
            waited = 0.0
            while client.status == "connecting" and waited < self.timeout:
                time.sleep(0.05)
                waited += 0.05
            if client.status == "running":
                return client
        self._drop()
        try:
            client = Client(
                self.address,
                timeout=self.timeout,
                set_as_default=False,
                heartbeat_interval=1.0,
            )
            client.register_plugin(FusedWorkerPlugin(), name="fused")
        except (OSError, TimeoutError) as exc:
            raise _Unavailable(
                f"the Dask scheduler at {self.address} is unreachable: {exc}"
            ) from None
        self.client = client
        return client

    def _drop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                client.close(timeout=1)
            except Exception:  # noqa: BLE001 - it is gone already
                pass

    # -- requests in -------------------------------------------------------------------

    def receive(self, message: dict[str, Any]) -> None:
        """One frame from the server: a request, or `{"cancel": task_id}`."""
        if "cancel" in message:
            self.cancel(str(message["cancel"]))
        elif "task_id" in message:
            with self.lock:
                self.queued.add(str(message["task_id"]))
            self.incoming.put(message)
        else:
            raise ValueError(f"invalid frame: expected a request or a cancel, got {message!r}")

    def submit_loop(self) -> None:
        """Submit what has arrived, in batches, until `None`."""
        while True:
            req = self.incoming.get()
            if req is None:
                return
            self.submit(_drain(self.incoming, req))

    def submit(self, batch: list[dict[str, Any]]) -> None:
        todo: list[tuple[str, dict[str, Any]]] = []
        with self.lock:
            for req in batch:
                task_id = str(req["task_id"])
                if task_id not in self.queued:
                    continue  # cancelled while it waited
                self.queued.discard(task_id)
                key = _key(req)
                if key in self.waiters:  # the same run is in flight: share it
                    self.waiters[key].append(req)
                else:
                    self.waiters[key] = [req]
                    todo.append((key, req))
        if not todo:
            return
        try:
            client = self.connect()
            futures = client.map(
                self.run_request,
                [_for_dask(req) for _, req in todo],
                key=[key for key, _ in todo],
                retries=0,
                pure=False,
            )
        except _Unavailable as exc:
            self._fail([key for key, _ in todo], UNAVAILABLE, "ExecutorUnavailable", str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the client closed under us
            with self.connect_lock:
                self._drop()
            msg = f"the Dask scheduler at {self.address}: {exc}"
            self._fail([key for key, _ in todo], UNAVAILABLE, "ExecutorUnavailable", msg)
            return
        orphans = []
        with self.lock:
            for (key, _), future in zip(todo, futures):
                if key in self.waiters:
                    self.futures[key] = future
                else:  # every request of it was cancelled meanwhile
                    orphans.append(future)
        for future in orphans:
            _cancel(future)
        for future in futures:
            future.add_done_callback(self.finished.put)

    def cancel(self, task_id: str) -> None:
        """Answer `task_id` cancelled; cancel its Dask task unless another request shares it."""
        future = None
        with self.lock:
            self.queued.discard(task_id)  # not submitted yet: it never will be
            found = next(
                (
                    (key, reqs, req)
                    for key, reqs in self.waiters.items()
                    for req in reqs
                    if str(req["task_id"]) == task_id
                ),
                None,
            )
            if found is not None:
                key, reqs, req = found
                reqs.remove(req)
                if not reqs:
                    del self.waiters[key]
                    future = self.futures.pop(key, None)
        if future is not None:
            _cancel(future)
        header = {"task_id": task_id, "ok": False, "stdout": "", "stderr": ""}
        header["error"] = describe(Cancelled("the request was cancelled by its client"), "call")
        self._write(header, None, {})

    # -- answers out -------------------------------------------------------------------

    def answer_loop(self) -> None:
        """Answer finished Dask tasks, gathering the results of a batch together, until
        `None`; while idle, notice a scheduler that is gone for good."""
        while True:
            try:
                first = self.finished.get(timeout=1.0)
            except queue.Empty:
                self._check_connection()
                continue
            if first is None:
                return
            self._answer_batch(_drain(self.finished, first))

    def _answer_batch(self, batch: list[Any]) -> None:
        results: dict[str, Any] = {}
        done = [f for f in batch if f.status == "finished"]
        if done:
            try:
                values = done[0].client.gather(done)
                results = {f.key: v for f, v in zip(done, values)}
            except Exception:  # noqa: BLE001 - one went away: gather them one by one below
                results = {}
        for future in batch:
            with self.lock:
                ours = self.futures.get(future.key) is future
                if ours:
                    del self.futures[future.key]
                    reqs = self.waiters.pop(future.key, [])
            try:
                if not ours:
                    continue  # cancelled, or answered as unavailable already
                if future.key in results:
                    self._reply(reqs, results[future.key])
                else:
                    self._settle(future, reqs)
            finally:
                future.release()

    def _settle(self, future: Any, reqs: list[dict[str, Any]]) -> None:
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        try:
            answer = future.result()
        except FutureCancelledError as exc:
            if getattr(exc, "reason", None) == "scheduler-connection-lost":
                msg = f"lost the Dask scheduler at {self.address}"
                self._fail_reqs(reqs, UNAVAILABLE, "ExecutorUnavailable", msg)
            else:
                msg = f"the Dask task was cancelled: {exc}"
                self._fail_reqs(reqs, WORKER_CRASH, "WorkerCrash", msg)
            return
        except KilledWorker as exc:
            msg = f"the Dask worker running the UDF died: {exc}"
            self._fail_reqs(reqs, WORKER_CRASH, "WorkerCrash", msg)
            return
        except Exception as exc:  # noqa: BLE001 - whatever Dask raised: not the UDF's
            msg = f"the Dask task failed outside the UDF: {exc!r}"
            self._fail_reqs(reqs, WORKER_CRASH, "WorkerCrash", msg)
            return
        self._reply(reqs, answer)

    def _reply(self, reqs: list[dict[str, Any]], answer: Any) -> None:
        for req in reqs:
            header = dict(answer["header"])
            header["task_id"] = str(req["task_id"])  # a shared task answers each its own
            self._write(header, answer["payload"], req)

    def _check_connection(self) -> None:
        client = self.client
        if client is None or client.status in ("running", "connecting"):
            return
        with self.lock:
            keys = list(self.futures)
        if keys:
            msg = f"lost the Dask scheduler at {self.address}"
            self._fail(keys, UNAVAILABLE, "ExecutorUnavailable", msg)
        with self.connect_lock:
            if self.client is client:
                self._drop()

    def _fail(self, keys: list[str], kind: str, cls: str, msg: str) -> None:
        for key in keys:
            with self.lock:
                self.futures.pop(key, None)
                reqs = self.waiters.pop(key, [])
            self._fail_reqs(reqs, kind, cls, msg)

    def _fail_reqs(self, reqs: list[dict[str, Any]], kind: str, cls: str, msg: str) -> None:
        for req in reqs:
            self._write(_failure(str(req["task_id"]), kind, cls, msg), None, req)

    def _write(self, header: dict[str, Any], payload: Any, req: dict[str, Any]) -> None:
        with self.write_lock:
            self.answers._answer(header, payload, req)

    def close(self) -> None:
        self.incoming.put(None)
        self.finished.put(None)
        with self.connect_lock:
            self._drop()


def _drain(q: queue.SimpleQueue[Any], first: Any) -> list[Any]:
    """`first` and whatever else is in `q` now, up to a `None` (left in `q` for its loop)."""
    batch = [first]
    while True:
        try:
            more = q.get_nowait()
        except queue.Empty:
            return batch
        if more is None:
            q.put(None)
            return batch
        batch.append(more)


def _key(req: dict[str, Any]) -> str:
    run_key = req.get("run_key")
    if isinstance(run_key, str) and run_key:
        return f"fused-run-{run_key}"
    return f"fused-task-{uuid.uuid4().hex}"


def _for_dask(req: dict[str, Any]) -> dict[str, Any]:
    """What the Dask worker needs of a request (not where the server wants payloads)."""
    return {k: v for k, v in req.items() if k not in ("result_dir", "inline_limit")}


def _cancel(future: Any) -> None:
    try:
        future.cancel()
    except Exception:  # noqa: BLE001 - the client is gone: so is the task
        pass


def _failure(task_id: str, kind: str, cls: str, msg: str) -> dict[str, Any]:
    error = {"kind": kind, "exception_class": cls, "errormsg": msg, "lineno": None}
    error["traceback"] = ""
    return {"task_id": task_id, "ok": False, "stdout": "", "stderr": "", "error": error}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fused._dask_bridge")
    parser.add_argument("--scheduler", required=True, help="the Dask scheduler, tcp://HOST:PORT")
    args = parser.parse_args(argv)
    timeout = _connect_timeout()
    try:
        import distributed  # noqa: F401
    except ImportError:
        parser.exit(
            2, "the Dask executor needs the distributed package: pip install fused-rs[dask]\n"
        )
    proto = start_process()
    try:
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # cancels come as frames
    except (ValueError, OSError, AttributeError):
        pass
    bridge = Bridge(args.scheduler, proto, timeout)
    hello = {"ready": True, "pid": os.getpid(), "python": sys.version.split()[0], "mux": True}
    proto.write(json.dumps(hello).encode())

    def first_connect() -> None:
        try:
            bridge.connect()
        except _Unavailable as exc:
            print(f"fused._dask_bridge: {exc}", file=sys.stderr, flush=True)

    threads = [
        threading.Thread(target=first_connect, name="fused-connect", daemon=True),
        threading.Thread(target=bridge.submit_loop, name="fused-submit", daemon=True),
        threading.Thread(target=bridge.answer_loop, name="fused-answer", daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        while True:
            frame = proto.read()
            if frame is None:
                return 0
            message = json.loads(frame)
            if not isinstance(message, dict):
                raise ValueError(f"invalid frame: expected an object, got {frame!r}")
            bridge.receive(message)
    finally:
        bridge.close()


if __name__ == "__main__":
    sys.exit(main())
