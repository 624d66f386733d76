"""The warm worker process the server's `LocalPool` starts: `python -m fused._worker`.

It imports the heavy libraries once, then runs one task at a time, speaking length-prefixed
frames (u32 little-endian length + bytes) on its own stdin/stdout (see
`crates/fused-server/src/executor/protocol.rs`):

- at start it sends a hello frame `{"ready": true, "pid", "python"}`;
- for each request frame (JSON: task_id, udf, parameters, tile, result_dir, inline_limit) it
  answers with a header frame (JSON: task_id, ok, kind, dtype, shape, bounds, content_type,
  payload, stdout, stderr, error) and, when `payload` is `{"inline": true}`, one frame of raw
  payload bytes. Payloads over `inline_limit` bytes are written to
  `<result_dir>/<task_id>.bin` (`{"file": path}`) for the server to read and delete.

Results in canonical form: DataFrame / GeoDataFrame / pyarrow Table -> Arrow IPC stream
(geometry as WKB with GeoParquet `geo` metadata, crs as PROJJSON); ndarray -> raw C-order
bytes + dtype + shape; `(ndarray, bounds)` -> raster with bounds; dict / list / str / numbers /
bool / None -> JSON; bytes -> `application/octet-stream`; a str that is an HTML document
(starts with `<!doctype html` or `<html`) -> bytes `text/html; charset=utf-8`; a shapely
geometry -> a one-row GeoDataFrame; a Series -> a one-column DataFrame.

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
# results


def _geo_metadata(df: Any, geometry_columns: list[str], primary: str) -> dict[str, Any]:
    import geopandas as gpd

    columns = {}
    for name in geometry_columns:
        series = gpd.GeoSeries(df[name])
        crs = series.crs
        meta: dict[str, Any] = {
            "encoding": "WKB",
            "geometry_types": sorted({str(t) for t in series.geom_type.dropna().unique()}),
            "crs": crs.to_json_dict() if crs is not None else None,
        }
        if len(series) and not series.is_empty.all():
            meta["bbox"] = [float(v) for v in series.total_bounds]
        columns[name] = meta
    return {"version": "1.1.0", "primary_column": primary, "columns": columns}


def _table(df: Any) -> Any:
    """A pyarrow Table; geometry columns as WKB with GeoParquet `geo` metadata."""
    import geopandas as gpd
    import pandas as pd
    import pyarrow as pa

    if isinstance(df, pa.Table):
        return df
    if isinstance(df, pa.RecordBatch):
        return pa.Table.from_batches([df])
    if isinstance(df, pd.Series):
        df = df.to_frame()
    geometry_columns = [
        c for c in df.columns if isinstance(getattr(df[c], "dtype", None), gpd.array.GeometryDtype)
    ]
    if not geometry_columns:
        return pa.Table.from_pandas(df, preserve_index=None)
    primary = geometry_columns[0]
    if isinstance(df, gpd.GeoDataFrame):
        try:
            primary = df.geometry.name
        except AttributeError:  # no active geometry column
            pass
    plain = pd.DataFrame(df, copy=False).assign(
        **{c: gpd.GeoSeries(df[c]).to_wkb().astype(object) for c in geometry_columns}
    )
    table = pa.Table.from_pandas(plain, preserve_index=None)
    metadata = dict(table.schema.metadata or {})
    metadata[b"geo"] = json.dumps(_geo_metadata(df, geometry_columns, primary)).encode()
    return table.replace_schema_metadata(metadata)


def _ipc(table: Any) -> Any:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


_DTYPES = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8", "b1"}


def _raster(arr: Any, bounds: Any) -> tuple[dict[str, Any], Any]:
    import numpy as np

    arr = np.asarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    code = arr.dtype.str[1:]
    if code not in _DTYPES:
        raise TypeError(
            f"arrays of dtype {arr.dtype} cannot be returned: expected one of "
            "uint8/16/32/64, int8/16/32/64, float32/64 or bool"
        )
    arr = np.ascontiguousarray(arr)
    header = {"kind": "raster", "dtype": arr.dtype.str, "shape": list(arr.shape)}
    if bounds is not None:
        header["bounds"] = _bounds(bounds)
    return header, memoryview(arr).cast("B") if arr.size else b""


def _bounds(b: Any) -> list[float]:
    if hasattr(b, "total_bounds"):
        b = b.total_bounds
    elif hasattr(b, "bounds") and not isinstance(b, (list, tuple)):
        b = b.bounds
    values = [float(v) for v in b]
    if len(values) != 4:
        raise ValueError(f"bounds must be [west, south, east, north], got {len(values)} numbers")
    return values


def _json_default(v: Any) -> Any:
    import numpy as np

    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (set, frozenset, tuple)):
        return list(v)
    raise TypeError(f"values of type {type(v).__name__} cannot be returned as JSON")


def _is_html(s: str) -> bool:
    head = s.lstrip()[:15].lower()
    return head.startswith("<!doctype html") or head.startswith("<html")


def canonical(value: Any) -> tuple[dict[str, Any], Any]:
    """(header fields, payload bytes-like) of a UDF's return value."""
    import numpy as np
    import pandas as pd

    mod = type(value).__module__ or ""
    if isinstance(value, (pd.DataFrame, pd.Series)) or mod.startswith("pyarrow"):
        return {"kind": "table"}, _ipc(_table(value))
    if isinstance(value, np.ndarray):
        return _raster(value, None)
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], np.ndarray)
        and value[0].ndim >= 2
    ):
        return _raster(value[0], value[1])
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"kind": "bytes", "content_type": "application/octet-stream"}, bytes(value)
    if isinstance(value, str) and _is_html(value):
        return {"kind": "bytes", "content_type": "text/html; charset=utf-8"}, value.encode()
    if mod.startswith("shapely"):
        import geopandas as gpd

        return {"kind": "table"}, _ipc(_table(gpd.GeoDataFrame(geometry=[value])))
    text = json.dumps(value, default=_json_default, allow_nan=False, ensure_ascii=False)
    return {"kind": "json"}, text.encode()


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

    def _udf(self, pkg: dict[str, Any]) -> Any:
        from fused._load import udf_from_package

        key = json.dumps(pkg, sort_keys=True)
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
            udf = self._udf(req["udf"])
            tile = req.get("tile") or {}
            return fused.run(
                udf,
                engine="local",
                x=tile.get("x"),
                y=tile.get("y"),
                z=tile.get("z"),
                parameters=dict(req.get("parameters") or {}),
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
            "kind": "runtime",
            "exception_class": exc.exception_class,
            "errormsg": exc.errormsg,
            "lineno": exc.lineno,
            "traceback": exc.traceback,
        }
    if isinstance(exc, UdfParameterError):
        return {
            "kind": "parameter",
            "exception_class": "UdfParameterError",
            "errormsg": str(exc),
            "parameter": _str_or_none(getattr(exc, "parameter", None)),
            "expected": _str_or_none(getattr(exc, "expected", None)),
            "value": _str_or_none(getattr(exc, "value", None)),
            "traceback": "",
        }
    if isinstance(exc, _Cancelled):
        return {"kind": "cancelled", "exception_class": "Cancelled", "errormsg": str(exc)}
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return {
            "kind": "exit",
            "exception_class": "SystemExit",
            "errormsg": f"the UDF called sys.exit({exc.code!r}) (exit code {code})",
            "lineno": None,
            "traceback": "",
        }
    msg = str(exc)
    return {
        "kind": stage,
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
