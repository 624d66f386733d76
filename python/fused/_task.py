"""One worker-protocol request run to its canonical answer: the code path shared by the
server's warm worker (`python -m fused._worker`) and the Dask executor (`fused._dask`).

A request is the JSON object the server sends a worker (task_id, udf (package dict),
udf_hash, parameters, tile, result_dir, inline_limit); `run_task` compiles the UDF (once per
`udf_hash`, the last `UDF_CACHE_SIZE` kept), runs it with `engine="local"` and no run cache,
captures its `sys.stdout` / `sys.stderr`, and returns (header, payload): the response header
(task_id, ok, kind, dtype, shape, bounds, content_type, stdout, stderr, error) and the
canonical payload bytes (`fused._canonical.canonical`), or None on failure.
"""

from __future__ import annotations

import io
import sys
from collections import OrderedDict
from typing import Any, Callable, Optional

from fused._canonical import canonical
from fused._native import WORKER_ERROR_KINDS

__all__ = ["UDF_CACHE_SIZE", "Cancelled", "UdfCache", "describe", "run_task"]

# The error kinds the server reads (Rust `WorkerErrorKind`, the one list): a kind named below
# that the list lacks fails at the lookup, not silently on the server.
_KIND = {kind: kind for kind in WORKER_ERROR_KINDS}

MAX_CAPTURE = 1024 * 1024  # per-task stdout/stderr kept (the tail)
UDF_CACHE_SIZE = 128


class Cancelled(BaseException):
    """Raised into the running UDF when the server asks to stop it (SIGUSR1: the client went
    away). A BaseException, so the UDF's own `except Exception` does not swallow it."""


class _Capture(io.StringIO):
    """A per-task stdout/stderr buffer."""

    def text(self) -> str:
        value = self.getvalue()
        if len(value) > MAX_CAPTURE:
            value = "[truncated]..." + value[-MAX_CAPTURE:]
        return value


class UdfCache:
    """Compiled `Udf`s by content hash (the server's `udf_hash`); the last `size` are kept."""

    def __init__(self, size: int = UDF_CACHE_SIZE) -> None:
        self.size = size
        self.udfs: OrderedDict[str, Any] = OrderedDict()

    def get(self, pkg: dict[str, Any], key: Any) -> Any:
        from fused._package import udf_from_package

        if not isinstance(key, str) or not key:
            raise ValueError(f"invalid request: udf_hash must be a non-empty string, got {key!r}")
        udf = self.udfs.get(key)
        if udf is None:
            udf = udf_from_package(pkg)
            self.udfs[key] = udf
            if len(self.udfs) > self.size:
                self.udfs.popitem(last=False)
        else:
            self.udfs.move_to_end(key)
        return udf


def run_task(
    req: dict[str, Any],
    udfs: UdfCache,
    running: Optional[Callable[[bool], None]] = None,
) -> tuple[dict[str, Any], Any]:
    """(header, payload or None) of one request; `running(True/False)` is told when the
    UDF (and its result conversion) starts and stops (where a cancel may interrupt it)."""
    task_id = str(req["task_id"])
    out, err = _Capture(), _Capture()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    header: dict[str, Any] = {"task_id": task_id, "ok": False}
    payload: Any = None
    try:
        header["error"] = None
        if running is not None:
            running(True)
        value = _call(req, udfs)
        fields, payload = canonical(value)
        if running is not None:
            running(False)
        header.update(fields)
        header["ok"] = True
    except BaseException as exc:  # noqa: BLE001 - every failure is reported
        if running is not None:
            running(False)
        header["error"] = describe(exc, getattr(exc, "_fused_stage", "result"))
        payload = None
    finally:
        sys.stdout, sys.stderr = saved
    header["stdout"] = out.text()
    header["stderr"] = err.text()
    return header, payload


def _call(req: dict[str, Any], udfs: UdfCache) -> Any:
    from fused._engine import run_udf

    try:
        udf = udfs.get(req["udf"], req.get("udf_hash"))
        tile = req.get("tile") or {}
        return run_udf(
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


def describe(exc: BaseException, stage: str) -> dict[str, Any]:
    """The `error` object of a failed task's header."""
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
    if isinstance(exc, Cancelled):
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
