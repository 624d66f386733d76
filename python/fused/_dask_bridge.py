"""`python -m fused._dask_bridge --scheduler ADDR`: the server's worker process when it runs
with `--executor dask`, a drop-in for `python -m fused._worker` on its stdin/stdout.

Same framing (u32 LE length + bytes), same hello frame `{"ready": true, "pid", "python"}`
(sent once the `distributed.Client` is connected and `fused._dask.FusedWorkerPlugin` is
registered), same answers (a header frame, plus one inline payload frame or a payload file
`<result_dir>/<task_id>.bin` over `inline_limit`), same private duplicate of fd 1 for the
pipe. Each request runs on the cluster as `fused._dask.run_request`: under the key
`fused-run-<run_key>` when the request has a `run_key` (identical concurrent submissions share
one Dask task), a fresh key otherwise; never retried by Dask. Failures the UDF did not cause:

- the Dask worker died running it (`KilledWorker`, or the task cancelled under us): error
  kind `worker_crash`;
- the scheduler is unreachable, the connection is lost, or connecting times out
  (`FUSED_DASK_CONNECT_TIMEOUT` seconds, default 10): kind `unavailable`; the bridge stays
  up and connects again on the next request;
- SIGUSR1 (the server cancels: client gone, job cancelled, time limit): the Dask future is
  cancelled (which stops the UDF on its worker) and the answer is kind `cancelled`.

The bridge exits on EOF and when its parent dies; SIGINT is ignored (the server stops it).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any, Optional

from fused._task import Cancelled, describe
from fused._worker import Worker, _Protocol, serve, start_process

# The two error kinds of the Dask executor (the lead adds them to Rust `WorkerErrorKind`,
# i.e. `fused._native.WORKER_ERROR_KINDS`; they are named here until then).
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
    """One connection to a Dask scheduler that runs the requests of one pipe."""

    def __init__(self, address: str, proto: _Protocol, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        self.answers = Worker(proto)  # its `_answer` writes frames / payload files
        self.client: Any = None
        self.cancel_asked = False
        self.wake = threading.Event()
        self.waiting = False

    def connect(self) -> Any:
        """The connected client (a new one when the last is gone); `_Unavailable` if the
        scheduler cannot be reached within the timeout."""
        from distributed import Client

        from fused._dask import FusedWorkerPlugin

        client = self.client
        if client is not None and client.status == "running":
            return client
        if client is not None and client.status == "connecting":
            # the Client reconnects by itself: give it the timeout, then start afresh
            waited = 0.0
            while client.status == "connecting" and waited < self.timeout:
                threading.Event().wait(0.05)
                waited += 0.05
            if client.status == "running":
                return client
        self._drop()
        try:
            client = Client(
                self.address, timeout=self.timeout, set_as_default=False, heartbeat_interval=1.0
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

    def on_cancel(self, signum: int, frame: Any) -> None:
        if self.waiting:
            self.cancel_asked = True
            self.wake.set()

    def run(self, req: dict[str, Any]) -> None:
        task_id = str(req.get("task_id"))
        header: dict[str, Any]
        payload: Optional[bytes] = None
        try:
            answer = self._submit(req)
            header, payload = answer["header"], answer["payload"]
            header["task_id"] = task_id  # a shared run_key task answers with its own id
        except _Unavailable as exc:
            header = _failure(task_id, UNAVAILABLE, "ExecutorUnavailable", str(exc))
        except _Crashed as exc:
            header = _failure(task_id, WORKER_CRASH, "WorkerCrash", str(exc))
        except Cancelled as exc:
            header = {"task_id": task_id, "ok": False, "stdout": "", "stderr": ""}
            header["error"] = describe(exc, "call")
        self.answers._answer(header, payload, req)

    def _submit(self, req: dict[str, Any]) -> dict[str, Any]:
        from distributed.client import FutureCancelledError

        from fused._dask import run_request

        client = self.connect()
        run_key = req.get("run_key")
        options: dict[str, Any] = {"retries": 0}
        if isinstance(run_key, str) and run_key:
            options["key"] = f"fused-run-{run_key}"
        else:
            options["pure"] = False
        self.cancel_asked = False
        self.wake.clear()
        try:
            future = client.submit(run_request, req, **options)
        except Exception as exc:  # noqa: BLE001 - the client closed under us
            self._drop()
            raise _Unavailable(f"the Dask scheduler at {self.address}: {exc}") from None
        future.add_done_callback(lambda _: self.wake.set())
        self.waiting = True
        try:
            while not future.done():
                self.wake.wait(1.0)
                if self.cancel_asked:
                    future.cancel()
                    raise Cancelled("the request was cancelled by its client")
                if client.status not in ("running", "connecting"):
                    self._drop()
                    raise _Unavailable(f"lost the Dask scheduler at {self.address}")
        finally:
            self.waiting = False
        try:
            return dict(future.result())
        except FutureCancelledError as exc:
            if getattr(exc, "reason", None) == "scheduler-connection-lost":
                raise _Unavailable(f"lost the Dask scheduler at {self.address}") from None
            raise _Crashed(f"the Dask task was cancelled: {exc}") from None
        except Exception as exc:
            from distributed.scheduler import KilledWorker

            if isinstance(exc, KilledWorker):
                raise _Crashed(f"the Dask worker running the UDF died: {exc}") from None
            raise _Crashed(f"the Dask task failed outside the UDF: {exc!r}") from None
        finally:
            future.release()


class _Crashed(Exception):
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
    bridge = Bridge(args.scheduler, proto, timeout)
    while True:  # the hello waits for the cluster (the server's start timeout applies)
        try:
            bridge.connect()
            break
        except _Unavailable as exc:
            print(f"fused._dask_bridge: {exc}; retrying", file=sys.stderr, flush=True)
            threading.Event().wait(1.0)
    try:
        return serve(proto, bridge.run, bridge.on_cancel)
    finally:
        bridge._drop()


if __name__ == "__main__":
    sys.exit(main())
