"""The warm worker process the server's `LocalPool` starts: `python -m fused._worker`.

It imports the heavy libraries once, then runs one task at a time, speaking length-prefixed
frames (u32 little-endian length + bytes) on its own stdin/stdout (see
`crates/fused-server/src/executor/protocol.rs`):

- at start it sends a hello frame `{"ready": true, "pid", "python"}`;
- for each request frame (JSON: task_id, udf, udf_hash, parameters, tile, result_dir,
  inline_limit) it
  answers with a header frame (JSON: task_id, ok, kind, dtype, shape, bounds, content_type,
  payload, stdout, stderr, error) and, when `payload` is `{"inline": true}`, one frame of raw
  payload bytes. Payloads over `inline_limit` bytes are written to
  `<result_dir>/<task_id>.bin` (`{"file": path}`) for the server to read and delete.

Results in canonical form (`fused._canonical.canonical`): DataFrame / GeoDataFrame / pyarrow
Table -> Arrow IPC stream (geometry as WKB with GeoParquet `geo` metadata, crs as PROJJSON);
ndarray -> raw C-order bytes + dtype + shape; `(ndarray, bounds)` -> raster with bounds; dict /
list / str / numbers / bool / None -> JSON; bytes -> `application/octet-stream`; a str that is
an HTML document (starts with `<!doctype html` or `<html`) -> bytes `text/html;
charset=utf-8`; a shapely geometry -> a one-row GeoDataFrame; a Series -> a one-column
DataFrame.

The protocol stdout is a private duplicate of fd 1; fd 1 itself is pointed at stderr, so
nothing the UDF (or a C library) prints can corrupt the protocol. Per-task `sys.stdout` and
`sys.stderr` are captured and returned. Nothing is pickled. The worker exits on EOF, ignores
SIGINT (the server stops it), and exits if its parent dies. SIGUSR1 interrupts the running
UDF (the server sends it when the request's client went away); between tasks it is ignored.
`sys.exit()` in a UDF is reported as error kind `exit` (the worker stays up).
"""

from __future__ import annotations

import json
import os
import signal
import struct
import sys
import threading
import time
from typing import Any, BinaryIO, Callable, Optional

from fused._canonical import canonical  # noqa: F401 (fused._worker.canonical, as before)
from fused._task import (
    _KIND,  # noqa: F401 (the error kinds, as before)
    UdfCache,
    run_task,
)
from fused._task import Cancelled as _Cancelled
from fused._task import describe as _describe

__all__ = ["Worker", "main"]

_LEN = struct.Struct("<I")
_MAX_FRAME = 256 * 1024 * 1024


class _Protocol:
    """Frame reader/writer over private duplicates of the original stdin/stdout."""

    def __init__(self) -> None:
        in_fd = os.dup(0)
        out_fd = os.dup(1)
        # fd 0 <- /dev/null, fd 1 <- stderr: user code cannot read or corrupt the pipe.
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(2, 1)
        sys.stdin = open(os.devnull)  # noqa: SIM115
        sys.stdout = sys.stderr
        self.reader: BinaryIO = os.fdopen(in_fd, "rb")
        self.writer: BinaryIO = os.fdopen(out_fd, "wb")

    def read(self) -> Optional[bytes]:
        head = self.reader.read(4)
        if not head:
            return None
        if len(head) < 4:
            raise EOFError("truncated frame length")
        (n,) = _LEN.unpack(head)
        if n > _MAX_FRAME:
            raise ValueError(f"frame of {n} bytes exceeds the limit")
        data = self.reader.read(n)
        if len(data) < n:
            raise EOFError("truncated frame")
        return data

    def write(self, *frames: Any) -> None:
        for frame in frames:
            self.writer.write(_LEN.pack(len(frame)))
            self.writer.write(frame)
        self.writer.flush()


def _watch_parent() -> None:
    """Exit when the server that started us is gone (its pid changes to a reaper)."""
    parent = os.getppid()

    def loop() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=loop, name="fused-parent-watch", daemon=True).start()


# ---------------------------------------------------------------------------------------
# tasks (run by `fused._task`, the code path the Dask executor shares)


class Worker:
    def __init__(self, proto: _Protocol) -> None:
        self.proto = proto
        self.udfs = UdfCache()
        # True while a task's UDF (or its result conversion) runs: only then does a cancel
        # signal interrupt anything; between tasks it is ignored.
        self.running = False

    def on_cancel(self, signum: int, frame: Any) -> None:
        if self.running:
            self.running = False
            raise _Cancelled("the request was cancelled by its client")

    def _set_running(self, value: bool) -> None:
        self.running = value

    def run(self, req: dict[str, Any]) -> None:
        header, payload = run_task(req, self.udfs, self._set_running)
        self._answer(header, payload, req)

    def _answer(self, header: dict[str, Any], payload: Any, req: dict[str, Any]) -> None:
        frames = []
        if payload is not None:
            size = payload.nbytes if isinstance(payload, memoryview) else len(payload)
            if size > int(req.get("inline_limit") or 0):
                path = os.path.join(req["result_dir"], f"{header['task_id']}.bin")
                tmp = path + ".part"
                with open(tmp, "wb") as f:
                    f.write(payload)
                os.replace(tmp, path)
                header["payload"] = {"file": path}
            else:
                header["payload"] = {"inline": True}
                frames.append(payload)
        self.proto.write(json.dumps(header).encode(), *frames)


def start_process() -> _Protocol:
    """What a worker program does first: its private protocol pipe, SIGINT ignored (the
    server stops it), and an exit when the server is gone."""
    proto = _Protocol()
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):
        pass
    _watch_parent()
    return proto


def serve(proto: _Protocol, handle: Callable[[dict[str, Any]], None], on_cancel: Any) -> int:
    """Say hello, then answer requests with `handle` until EOF; SIGUSR1 calls `on_cancel`."""
    hello = {"ready": True, "pid": os.getpid(), "python": sys.version.split()[0]}
    proto.write(json.dumps(hello).encode())
    try:
        signal.signal(signal.SIGUSR1, on_cancel)
    except (ValueError, OSError, AttributeError):
        pass
    while True:
        frame = proto.read()
        if frame is None:
            return 0
        req = json.loads(frame)
        if not isinstance(req, dict) or "task_id" not in req:
            raise ValueError(f"invalid request: expected an object with task_id, got {frame!r}")
        handle(req)


def main() -> int:
    proto = start_process()
    import geopandas  # noqa: F401
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
    import pyarrow.ipc  # noqa: F401
    import shapely  # noqa: F401

    import fused  # noqa: F401
    import fused._load  # noqa: F401

    worker = Worker(proto)

    def handle(req: dict[str, Any]) -> None:
        try:
            worker.run(req)
        except _Cancelled as exc:
            # The signal landed in the one-instruction gap before `running` was cleared.
            header = {"task_id": str(req["task_id"]), "ok": False, "stdout": "", "stderr": ""}
            header["error"] = _describe(exc, "call")
            worker._answer(header, None, req)

    return serve(proto, handle, worker.on_cancel)


if __name__ == "__main__":
    sys.exit(main())
