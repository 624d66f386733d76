"""What runs ON a Dask worker for the Dask executor (`fused serve --executor dask` through
`fused._dask_bridge`, and `udf.map(engine="dask")` through `fused._mapdask`).

- `run_request(request)`: one worker-protocol request (the JSON object the server sends
  `python -m fused._worker`: task_id, udf (package dict), udf_hash, parameters, tile, and
  optionally run_key; result_dir / inline_limit are the caller's business, not the Dask
  worker's) run by the very code path of `fused._worker` (`fused._task.run_task`). It returns
  plain data, `{"header": {...}, "payload": bytes or None}`: the response header (ok, kind,
  dtype, shape, bounds, content_type, stdout, stderr, error) and the canonical payload bytes.
  Nothing that crosses the wire is a pickled UDF object or DataFrame.
- `FusedWorkerPlugin`: registered on the cluster; its `setup` pre-imports numpy / pandas /
  geopandas / shapely / pyarrow and fused (so the first task pays no import), and it stops
  a running UDF whose task is cancelled (the client went away, a map's timeout or cancel):
  `Cancelled` is raised into the thread that runs it, as SIGUSR1 does in `fused._worker`.

A worker process runs one UDF at a time (stdout / stderr are captured per task by swapping
`sys.stdout`, which threads share): give workers one thread each and add processes.
Compiled UDFs are kept per worker process by `udf_hash` (`fused._task.UdfCache`).
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Optional

from distributed import WorkerPlugin

from fused._task import Cancelled, UdfCache, describe, run_task

__all__ = ["FusedWorkerPlugin", "run_request"]

_udfs = UdfCache()
_one_at_a_time = threading.Lock()
_state = threading.Lock()
# key of the task running now -> (thread id, whether its UDF is running)
_running: dict[Any, list[Any]] = {}


def _current_key() -> Optional[Any]:
    try:
        from distributed import get_worker

        return get_worker().get_current_task()
    except (ValueError, AttributeError):  # not on a Dask worker (called directly)
        return None


def run_request(request: dict[str, Any]) -> dict[str, Any]:
    """One request's canonical answer: `{"header": dict, "payload": bytes or None}`."""
    if not isinstance(request, dict):
        raise TypeError(f"run_request: expected a request dict, got {type(request).__name__}")
    key = _current_key()
    with _one_at_a_time:
        entry: list[Any] = [threading.get_ident(), False]

        def running(value: bool) -> None:
            with _state:
                entry[1] = value

        if key is not None:
            with _state:
                _running[key] = entry
        try:
            header, payload = run_task(request, _udfs, running)
        except Cancelled as exc:  # landed in the gap after the UDF returned
            header = {"task_id": str(request.get("task_id")), "ok": False}
            header.update(stdout="", stderr="", error=describe(exc, "call"))
            payload = None
        finally:
            if key is not None:
                with _state:
                    _running.pop(key, None)
    data = None if payload is None else bytes(memoryview(payload))
    return {"header": header, "payload": data}


def _interrupt(key: Any) -> bool:
    """Raise `Cancelled` in the thread running `key`'s UDF (if it runs one now)."""
    with _state:
        entry = _running.get(key)
        if entry is None or not entry[1]:
            return False
        entry[1] = False
        done = ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(entry[0]), ctypes.py_object(Cancelled)
        )
    return bool(done == 1)


class FusedWorkerPlugin(WorkerPlugin):
    """Warms a Dask worker for fused tasks and stops the UDF of a cancelled task."""

    name = "fused"

    def setup(self, worker: Any) -> None:
        import geopandas  # noqa: F401
        import numpy  # noqa: F401
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
        import pyarrow.ipc  # noqa: F401
        import shapely  # noqa: F401

        import fused._engine  # noqa: F401
        import fused._package  # noqa: F401

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        # A task cancelled while it executes goes executing -> cancelled (the worker keeps
        # its thread): stop the UDF there, so the slot is free again at once.
        if start == "executing" and finish in ("cancelled", "released", "forgotten"):
            _interrupt(key)
