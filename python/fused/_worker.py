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

import io
import json
import os
import signal
import struct
import sys
import threading
import time
from collections import OrderedDict
from typing import Any, BinaryIO, Optional

from fused._canonical import canonical
from fused._native import WORKER_ERROR_KINDS

# The error kinds the server reads (Rust `WorkerErrorKind`, the one list): a kind named below
# that the list lacks fails at the lookup, not silently on the server.
_KIND = {kind: kind for kind in WORKER_ERROR_KINDS}

_LEN = struct.Struct("<I")
_MAX_FRAME = 256 * 1024 * 1024
_MAX_CAPTURE = 1024 * 1024  # per-task stdout/stderr kept (the tail)
_UDF_CACHE_SIZE = 128


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


class _Capture(io.StringIO):
    """A per-task stdout/stderr buffer."""

    def text(self) -> str:
        value = self.getvalue()
        if len(value) > _MAX_CAPTURE:
            value = "[truncated]..." + value[-_MAX_CAPTURE:]
        return value


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
# tasks


class _Cancelled(BaseException):
    """Raised into the running UDF when the server asks to stop it (SIGUSR1: the client went
    away). A BaseException, so the UDF's own `except Exception` does not swallow it."""


class Worker:
    def __init__(self, proto: _Protocol) -> None:
        self.proto = proto
        self.udfs: OrderedDict[str, Any] = OrderedDict()
        # True while a task's UDF (or its result conversion) runs: only then does a cancel
        # signal interrupt anything; between tasks it is ignored.
        self.running = False

    def on_cancel(self, signum: int, frame: Any) -> None:
        if self.running:
            self.running = False
            raise _Cancelled("the request was cancelled by its client")

    def _udf(self, pkg: dict[str, Any], key: Any) -> Any:
        """The `Udf` of a package, compiled once per content hash (the server's `udf_hash`;
        the last `_UDF_CACHE_SIZE` are kept)."""
        from fused._package import udf_from_package

        if not isinstance(key, str) or not key:
            raise ValueError(f"invalid request: udf_hash must be a non-empty string, got {key!r}")
        udf = self.udfs.get(key)
        if udf is None:
            udf = udf_from_package(pkg)
            self.udfs[key] = udf
            if len(self.udfs) > _UDF_CACHE_SIZE:
                self.udfs.popitem(last=False)
        else:
            self.udfs.move_to_end(key)
        return udf

    def run(self, req: dict[str, Any]) -> None:
        task_id = str(req["task_id"])
        out, err = _Capture(), _Capture()
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        header: dict[str, Any] = {"task_id": task_id, "ok": False}
        payload: Any = None
        try:
            header["error"] = None
            self.running = True
            value = self._call(req)
            fields, payload = canonical(value)
            self.running = False
            header.update(fields)
            header["ok"] = True
        except BaseException as exc:  # noqa: BLE001 - every failure is reported
            self.running = False
            header["error"] = _describe(exc, getattr(exc, "_fused_stage", "result"))
            payload = None
        finally:
            sys.stdout, sys.stderr = saved
        header["stdout"] = out.text()
        header["stderr"] = err.text()
        self._answer(header, payload, req)

    def _call(self, req: dict[str, Any]) -> Any:
        import fused

        try:
            udf = self._udf(req["udf"], req.get("udf_hash"))
            tile = req.get("tile") or {}
            return fused.run(
                udf,
                engine="local",
                x=tile.get("x"),
                y=tile.get("y"),
                z=tile.get("z"),
                parameters=dict(req.get("parameters") or {}),
                # the server has its own result cache (and its `cache=false` must mean it)
                cache=False,
            )
        except BaseException as exc:
            try:
                exc._fused_stage = "call"  # type: ignore[attr-defined]
            except AttributeError:
                pass
            raise

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


def _describe(exc: BaseException, stage: str) -> dict[str, Any]:
    import traceback

    from fused.types import UdfParameterError, UdfRuntimeError

    if isinstance(exc, UdfRuntimeError):
        return {
            "kind": _KIND["runtime"],
            "exception_class": exc.exception_class,
            "errormsg": exc.errormsg,
            "lineno": exc.lineno,
            "traceback": exc.traceback,
        }
    if isinstance(exc, UdfParameterError):
        return {
            "kind": _KIND["parameter"],
            "exception_class": "UdfParameterError",
            "errormsg": str(exc),
            "parameter": _str_or_none(getattr(exc, "parameter", None)),
            "expected": _str_or_none(getattr(exc, "expected", None)),
            "value": _str_or_none(getattr(exc, "value", None)),
            "traceback": "",
        }
    if isinstance(exc, _Cancelled):
        return {"kind": _KIND["cancelled"], "exception_class": "Cancelled", "errormsg": str(exc)}
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return {
            "kind": _KIND["exit"],
            "exception_class": "SystemExit",
            "errormsg": f"the UDF called sys.exit({exc.code!r}) (exit code {code})",
            "lineno": None,
            "traceback": "",
        }
    msg = str(exc)
    return {
        "kind": _KIND[stage],
        "exception_class": type(exc).__name__,
        "errormsg": msg,
        "lineno": None,
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


def _str_or_none(v: Any) -> Optional[str]:
    return None if v is None else str(v)


def main() -> int:
    proto = _Protocol()
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):
        pass
    _watch_parent()
    import geopandas  # noqa: F401
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
    import pyarrow.ipc  # noqa: F401
    import shapely  # noqa: F401

    import fused  # noqa: F401
    import fused._load  # noqa: F401

    hello = {"ready": True, "pid": os.getpid(), "python": sys.version.split()[0]}
    proto.write(json.dumps(hello).encode())
    worker = Worker(proto)
    try:
        signal.signal(signal.SIGUSR1, worker.on_cancel)
    except (ValueError, OSError, AttributeError):
        pass
    while True:
        frame = proto.read()
        if frame is None:
            return 0
        req = json.loads(frame)
        try:
            worker.run(req)
        except _Cancelled as exc:
            # The signal landed in the one-instruction gap before `running` was cleared.
            header = {"task_id": str(req["task_id"]), "ok": False, "stdout": "", "stderr": ""}
            header["error"] = _describe(exc, "call")
            worker._answer(header, None, req)


if __name__ == "__main__":
    sys.exit(main())
