"""A batch of `udf.map` tasks run by one worker in one round trip (`fused._mapbackends`).

`run_batch(text)` runs in a worker as the built-in UDF `fused_map_batch`. `text` is JSON:
`{"package": <package JSON text>, "items": [{"p": <parameters JSON text>, "t": [x, y, z] |
null}, ...]}`; each item runs exactly as the worker runs a single task (`fused.run(udf,
engine="local", x, y, z, parameters=..., cache=False)`, stdout/stderr captured per item) and
its result is put in canonical form. The answer is bytes:

    u32 little-endian length of the header | header JSON | payloads, back to back

with one header entry per item: `{"s": status, "k": kind, "o": offset, "n": length, "dtype",
"shape", "bounds", "ct": content type, "e": error, "out", "err", "sec"}` (status `success` or
`error`; the error in the worker protocol's shape). Nothing is pickled. The caller reads it
with `fused._mapbackends.decode_batch`; nothing in the SDK imports this module (the batch
UDF's code does, in the worker).
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import sys
import time
from collections import OrderedDict
from typing import Any

__all__ = ["run_batch"]

_LEN = struct.Struct("<I")
_udfs: OrderedDict[str, Any] = OrderedDict()
_KEEP = 32


def _udf(package: str) -> Any:
    from fused._package import udf_from_package

    key = hashlib.sha256(package.encode()).hexdigest()
    udf = _udfs.get(key)
    if udf is None:
        udf = udf_from_package(json.loads(package))
        _udfs[key] = udf
        if len(_udfs) > _KEEP:
            _udfs.popitem(last=False)
    return udf


def _describe(exc: BaseException) -> dict[str, Any]:
    from fused._task import describe

    out: dict[str, Any] = describe(exc, "call")
    out["error_type"] = "udf"
    return out


def run_batch(text: str) -> bytes:
    import fused
    from fused._canonical import canonical

    spec = json.loads(text)
    udf = _udf(spec["package"])
    header: list[dict[str, Any]] = []
    payloads: list[bytes] = []
    offset = 0
    saved = sys.stdout, sys.stderr
    for item in spec["items"]:
        out, err = io.StringIO(), io.StringIO()
        x, y, z = item["t"] if item.get("t") else (None, None, None)
        entry: dict[str, Any] = {"s": "success"}
        started = time.perf_counter()
        sys.stdout, sys.stderr = out, err
        try:
            value = fused.run(
                udf,
                engine="local",
                x=x,
                y=y,
                z=z,
                parameters=json.loads(item["p"]),
                cache=False,
            )
            fields, payload = canonical(value)
            data = bytes(payload)
            entry.update(k=fields["kind"], o=offset, n=len(data))
            for key, short in (("dtype", "dtype"), ("shape", "shape"), ("bounds", "bounds")):
                if key in fields:
                    entry[short] = fields[key]
            if "content_type" in fields:
                entry["ct"] = fields["content_type"]
            payloads.append(data)
            offset += len(data)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported per item
            entry = {"s": "error", "e": _describe(exc)}
        finally:
            sys.stdout, sys.stderr = saved
        entry["out"] = out.getvalue()
        entry["err"] = err.getvalue()
        entry["sec"] = time.perf_counter() - started
        header.append(entry)
    head = json.dumps(header).encode()
    return b"".join([_LEN.pack(len(head)), head, *payloads])
