"""The remote engine: ship a UDF's code and parameters to a fused-rs server, and decode the
answer into the same Python objects a local run returns."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any, Optional

from fused._client import ServerError
from fused.types import UdfParameterError, UdfRuntimeError, UdfTimeoutError

if TYPE_CHECKING:
    from fused._udf import Udf

__all__ = ["encode_parameter", "job_task", "run_remote", "submit_udf_job", "udf_payload"]

# Tables come back as Arrow IPC files (geometry as WKB with the GeoParquet `geo` metadata),
# rasters as NPY (exact dtype and shape), simple values as JSON. Not Parquet: reading it with
# `pyarrow.parquet` starts Arrow's thread pools, whose teardown at interpreter exit aborted
# about 1 process in 75 under load ("terminate called without an active exception", -6);
# an IPC file is read on the calling thread (0 in 300 in the same run).
RESULT_FORMATS = "arrow,npy,json"

# The server's error codes (`error_type`; the Rust `ErrorCode`, listed in
# `fused._native.ERROR_CODES`) that the SDK raises as its own exceptions; any other failure is
# raised as the `ServerError` itself. tests/test_error_codes.py checks every name is a code.
EXCEPTION_OF_CODE: dict[str, type[Exception]] = {
    "parameter": UdfParameterError,
    "timeout": UdfTimeoutError,
    "udf_exception": UdfRuntimeError,
    "udf_call": UdfRuntimeError,
    "udf_result": UdfRuntimeError,
    "udf_error": UdfRuntimeError,
}


def udf_payload(udf: Udf) -> dict[str, Any]:
    """The package dict and parameter schema the server stores or runs."""
    from fused._definition import package_dict
    from fused._execute import prepare

    prepared = prepare(udf)
    pkg = package_dict(udf, prepared.entrypoint)
    schema = {name: p.spec for name, p in prepared.parameters.items()}
    return {"package": pkg, "schema": schema}


def encode_parameter(name: str, value: Any) -> str:
    """A parameter value as the string the server's rules parse (the HTTP form)."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float, list, dict, tuple)):
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            pass
    module = type(value).__module__ or ""
    if module.startswith("geopandas"):
        return value.to_crs(4326).to_json() if value.crs is not None else value.to_json()
    if module.startswith("pandas"):
        return value.to_json(orient="records")
    if module.startswith("shapely"):
        return value.wkt
    if module.startswith("numpy"):
        return json.dumps(value.tolist())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if module == "uuid":
        return str(value)
    raise UdfParameterError(
        f"parameter {name!r}: cannot send a {type(value).__name__} to the server "
        "(expected a str, number, bool, list, dict, DataFrame, GeoDataFrame or geometry)"
    )


def _metadata(headers: dict[str, str]) -> dict[str, Any]:
    raw = headers.get("x-fused-metadata")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _decode(content_type: str, body: bytes, meta: dict[str, Any]) -> Any:
    from fused._canonical import frame_from_arrow, value_from_bytes

    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/vnd.apache.arrow.file":
        import pyarrow as pa

        return frame_from_arrow(pa.ipc.open_file(pa.BufferReader(body)).read_all())
    if kind in ("application/vnd.apache.parquet", "application/parquet", "application/x-parquet"):
        import pyarrow.parquet as pq

        # one thread, no pre-buffering: no Arrow thread pool left running at exit
        table = pq.read_table(io.BytesIO(body), use_threads=False, pre_buffer=False)
        return frame_from_arrow(table)
    if body[:6] == b"\x93NUMPY":
        import numpy as np

        array = np.load(io.BytesIO(body), allow_pickle=False)
        bounds = meta.get("bounds")
        return (array, list(bounds)) if bounds else array
    if kind == "application/json":
        return json.loads(body.decode("utf-8"))
    return value_from_bytes(kind, body)


def run_remote(
    udf: Udf,
    tile: Optional[tuple[int, int, int]],
    params: dict[str, Any],
    cache_max_age: Optional[int] = None,
    cache: bool = True,
) -> Any:
    """Run `udf` on the configured server and return its result as a local run would."""
    payload = udf_payload(udf)
    body = {
        "udf": payload["package"],
        "schema": payload["schema"],
        "parameters": {k: encode_parameter(k, v) for k, v in params.items()},
        "format": RESULT_FORMATS,
    }
    query: dict[str, str] = {}
    if cache_max_age is not None:
        query["cache_max_age"] = str(cache_max_age)
    if not cache:
        query["cache"] = "false"
    from fused._client import run_udf

    try:
        resp = run_udf(body, tile, query or None)
    except ServerError as err:
        raise run_error(udf, err) from None
    meta = _metadata(resp.headers)
    _echo(meta)
    if resp.status == 204:
        # No content: an empty tile (what a server answers for a frame with no features).
        import geopandas as gpd

        return gpd.GeoDataFrame(geometry=[])
    return _decode(resp.headers.get("content-type", ""), resp.body, meta)


def _echo(meta: dict[str, Any]) -> None:
    import sys

    if meta.get("stdout"):
        sys.stdout.write(meta["stdout"])
    if meta.get("stderr"):
        sys.stderr.write(meta["stderr"])


def run_error(udf: Udf, err: ServerError) -> Exception:
    try:
        body = json.loads(err.body.decode("utf-8")) if err.body else {}
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    if err.status == 422 and "parameter" in body:
        exc = UdfParameterError(
            f"parameter {body.get('parameter')!r}: expected {body.get('expected')}, "
            f"got {body.get('value')!r}"
        )
        return exc
    metadata = body.get("metadata")
    meta: dict[str, Any] = _metadata(err.headers) or (
        metadata if isinstance(metadata, dict) else body
    )
    if err.status == 504 or EXCEPTION_OF_CODE.get(str(meta.get("error_type"))) is UdfTimeoutError:
        return UdfTimeoutError(f"UDF {udf.name!r} timed out on the server: {meta.get('errormsg')}")
    if meta.get("has_exception") or meta.get("exception_class"):
        cls = meta.get("exception_class") or "Exception"
        lineno = meta.get("lineno")
        where = f" at line {lineno}" if lineno is not None else ""
        return UdfRuntimeError(
            f"UDF {udf.name!r} raised {cls}{where} on the server: {meta.get('errormsg')}",
            exception_class=cls,
            errormsg=str(meta.get("errormsg") or ""),
            lineno=lineno,
            traceback=str(meta.get("traceback") or ""),
            stdout=str(meta.get("stdout") or ""),
            stderr=str(meta.get("stderr") or ""),
        )
    return err


def job_task(arg: Any) -> dict[str, Any]:
    """One task of a server-side job from a `udf.map`-style argument: a dict of parameters
    (values in their HTTP form), or a tile (`(x, y, z)` or a `mercantile.Tile`)."""
    if isinstance(arg, dict):
        return {"parameters": {k: encode_parameter(k, v) for k, v in arg.items()}}
    if isinstance(arg, tuple) and len(arg) == 3 and all(isinstance(v, int) for v in arg):
        return {"tile": [int(v) for v in arg]}
    raise UdfParameterError(
        f"job task: expected a dict of parameters or a tile (x, y, z), got {type(arg).__name__}"
    )


def submit_udf_job(
    udf: Udf, args: list[Any], parameters: Optional[dict[str, Any]] = None, **options: Any
) -> dict[str, Any]:
    """Start a server-side job running `udf` (its code shipped) over `args` (see `job_task`)
    with fixed `parameters`; `options`: max_retry, cache, cache_max_age, timeout."""
    from fused._client import submit_job

    payload = udf_payload(udf)
    fixed = {k: encode_parameter(k, v) for k, v in (parameters or {}).items()}
    return submit_job(
        [job_task(a) for a in args],
        udf=payload["package"],
        schema=payload["schema"],
        parameters=fixed or None,
        **options,
    )
