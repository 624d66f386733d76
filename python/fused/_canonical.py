"""Canonical results: UDF return values <-> the form the server, the worker and the run cache
exchange (see `fused_core::result`).

- `canonical(value)`: a return value as (header fields, payload): DataFrame / GeoDataFrame /
  pyarrow Table -> Arrow IPC stream (geometry as WKB with GeoParquet `geo` metadata, crs as
  PROJJSON); ndarray -> raw C-order bytes + dtype + shape; `(ndarray, bounds)` -> raster with
  bounds; dict / list / str / numbers / bool / None -> JSON; bytes ->
  `application/octet-stream`; a str that is an HTML document -> bytes `text/html`; a shapely
  geometry -> a one-row GeoDataFrame; a Series -> a one-column DataFrame. (The worker.)
- `frame_from_arrow(table)`, `value_from_bytes(content_type, data)`: back to Python objects
  (the remote engine and the local run cache).
- `encode_result(value, format, tile)`: a return value written as the server writes it (the
  Rust encoders): parquet/geojson/json/csv/arrow/mvt for tables, png/tiff/npy for rasters.
- `for_cache(value)` / `from_cache(stored)`: the local run cache's exact round trip: only
  values that come back equal, of the same types, are given a canonical form.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, Optional

__all__ = [
    "canonical",
    "encode_result",
    "for_cache",
    "frame_from_arrow",
    "from_cache",
    "read_ipc",
    "value_from_bytes",
]

# ---------------------------------------------------------------------------------------
# Python value -> canonical


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
        bbox = [float(v) for v in series.total_bounds] if len(series) else []
        if bbox and all(math.isfinite(v) for v in bbox):  # NaN when every geometry is None
            meta["bbox"] = bbox
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
    for name in geometry_columns:
        # An empty or all-None column of objects is inferred as Arrow `null`: keep it WKB.
        i = table.schema.get_field_index(name)
        if i >= 0 and pa.types.is_null(table.schema.field(i).type):
            field = table.schema.field(i).with_type(pa.binary())
            table = table.set_column(i, field, table.column(i).cast(pa.binary()))
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


HTML_CONTENT_TYPE = "text/html; charset=utf-8"


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
        return {"kind": "bytes", "content_type": HTML_CONTENT_TYPE}, value.encode()
    if mod.startswith("shapely"):
        import geopandas as gpd

        return {"kind": "table"}, _ipc(_table(gpd.GeoDataFrame(geometry=[value])))
    text = json.dumps(value, default=_json_default, allow_nan=False, ensure_ascii=False)
    return {"kind": "json"}, text.encode()


def encode_result(value: Any, format: str, tile: Optional[tuple[int, int, int]] = None) -> bytes:
    """`value` (a UDF's return value) encoded as `format` by the server's encoders, byte for
    byte what a server answers. `tile` (x, y, z) is needed for "mvt" and places a GeoTIFF of
    an array without bounds on the tile (EPSG:4326), as a tile request does. ValueError when
    the format does not fit the result."""
    from fused import _native

    header, payload = canonical(value)
    kind = header["kind"]
    parts: dict[str, Any] = {}
    if kind == "json":
        parts["value"] = json.loads(bytes(payload))
    else:
        parts["payload"] = bytes(payload)
    if kind == "raster":
        parts.update(dtype=header["dtype"], shape=list(header["shape"]))
        if header.get("bounds") is not None:
            parts["bounds"] = [float(b) for b in header["bounds"]]
    if kind == "bytes":
        parts["content_type"] = header.get("content_type")
    return _native.encode_result(kind, format, tile=tile, **parts)


# ---------------------------------------------------------------------------------------
# canonical -> Python value


def read_ipc(data: Any) -> Any:
    """A pyarrow Table from an Arrow IPC stream."""
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def frame_from_arrow(table: Any) -> Any:
    """A DataFrame from an Arrow table (index and dtypes from its pandas metadata); a
    GeoDataFrame when GeoParquet `geo` metadata names WKB geometry columns (crs kept)."""
    raw = (table.schema.metadata or {}).get(b"geo")
    geo = json.loads(raw) if raw else None
    columns = (geo or {}).get("columns") or {}
    if not columns:
        return _range_columns(table.to_pandas())
    import geopandas as gpd

    if any(str(m.get("encoding", "WKB")).upper() != "WKB" for m in columns.values()):
        from geopandas.io.arrow import _arrow_to_geopandas

        return _arrow_to_geopandas(table, geo)
    df = _range_columns(table.to_pandas())
    for name, meta in columns.items():
        if name not in df.columns:
            continue
        crs = _crs(meta.get("crs", "OGC:CRS84"))  # GeoParquet: absent means OGC:CRS84
        df[name] = gpd.GeoSeries.from_wkb(df[name].to_numpy(), index=df.index, crs=crs)
    primary = geo.get("primary_column") if geo else None
    if primary not in df.columns:
        primary = next(iter(c for c in columns if c in df.columns), None)
    if primary is None:
        return df
    return gpd.GeoDataFrame(df, geometry=primary)


def _crs(crs: Any) -> Any:
    """The crs of a GeoParquet column as the user gave it: `"EPSG:3857"` (what `crs=3857`
    prints) when the PROJJSON's `id` names an authority code for exactly this CRS, else the
    PROJJSON itself (a custom CRS). The string "OGC:CRS84" (GeoParquet's default when a
    column has no `crs`) is EPSG:4326."""
    if crs == "OGC:CRS84":
        return "EPSG:4326"
    if not isinstance(crs, dict):
        return crs
    ident = crs.get("id")
    if not (isinstance(ident, dict) and ident.get("authority") and ident.get("code") is not None):
        return crs
    code = f"{ident['authority']}:{ident['code']}"
    text = json.dumps(crs, sort_keys=True)
    known = _AUTHORITY_CODES.get(text)
    if known is None:
        from pyproj import CRS

        try:
            same = CRS.from_user_input(code) == CRS.from_json_dict(crs)
        except Exception:  # noqa: BLE001 - an authority pyproj does not know
            same = False
        known = code if same else ""
        if len(_AUTHORITY_CODES) < 256:
            _AUTHORITY_CODES[text] = known
    return known or crs


# PROJJSON text -> its authority code ("" when the code names another CRS).
_AUTHORITY_CODES: dict[str, str] = {}


def _range_columns(df: Any) -> Any:
    """Integer column labels in arithmetic progression as a RangeIndex, as pandas builds them
    (`pd.DataFrame(array)`, `pd.DataFrame({0: ..., 1: ...})`); Arrow keeps only the values."""
    import pandas as pd

    cols = df.columns
    if type(cols) is not pd.Index or cols.dtype != "int64" or len(cols) == 0:
        return df
    first = int(cols[0])
    step = int(cols[1]) - first if len(cols) > 1 else 1
    if step == 0:
        return df
    candidate = pd.RangeIndex(first, first + step * len(cols), step, name=cols.name)
    if candidate.equals(cols):
        df.columns = candidate
    return df


def value_from_bytes(content_type: str, data: bytes) -> Any:
    """A bytes result: text (`text/*`) as str, anything else as bytes."""
    kind = content_type.split(";")[0].strip().lower()
    if kind.startswith("text/"):
        return data.decode("utf-8", "replace")
    return data


# ---------------------------------------------------------------------------------------
# the local run cache: exact round trips only

_I64_MIN, _U64_MAX = -(2**63), 2**64 - 1


def plain_json(value: Any, depth: int = 0) -> bool:
    """True when `value` is made of exactly None, bool, int (64-bit), finite float, str,
    list and dict with str keys: what JSON gives back unchanged."""
    t = type(value)
    if value is None or t is bool or t is str:
        return True
    if t is int:
        return _I64_MIN <= value <= _U64_MAX
    if t is float:
        return math.isfinite(value)
    if depth > 90:
        return False
    if t is list:
        return all(plain_json(v, depth + 1) for v in value)
    if t is dict:
        return all(type(k) is str and plain_json(v, depth + 1) for k, v in value.items())
    return False


def _same_index(a: Any, b: Any) -> bool:
    if type(a) is not type(b) or a.dtype != b.dtype or list(a.names) != list(b.names):
        return False
    if not a.equals(b):
        return False
    return a.dtype != object or [type(x) for x in a] == [type(x) for x in b]


def _same_frame(a: Any, b: Any) -> bool:
    """Same type, columns, index, dtypes, attrs and values (object cells of the same types;
    geometry columns with the same crs; the same active geometry column)."""
    if type(a) is not type(b) or a.shape != b.shape or a.attrs != b.attrs:
        return False
    if not (_same_index(a.columns, b.columns) and _same_index(a.index, b.index)):
        return False
    if list(a.dtypes) != list(b.dtypes) or not a.equals(b):
        return False
    for i in range(a.shape[1]):
        ca, cb = a.iloc[:, i], b.iloc[:, i]
        if ca.dtype == object and [type(x) for x in ca] != [type(x) for x in cb]:
            return False
        if getattr(ca, "crs", None) != getattr(cb, "crs", None):
            return False
    if hasattr(a, "_geometry_column_name"):
        return a._geometry_column_name == b._geometry_column_name
    return True


def for_cache(value: Any) -> Optional[dict[str, Any]]:
    """The canonical form of `value` as `RunStore.put` keyword arguments (kind, payload /
    value, dtype, shape, bounds, content_type), or None when `value` would not come back
    from `from_cache` equal and of the same types (then it is not cached)."""
    t = type(value)
    if t is str:
        if _is_html(value):
            try:
                return {
                    "kind": "bytes",
                    "payload": value.encode(),
                    "content_type": HTML_CONTENT_TYPE,
                }
            except UnicodeEncodeError:
                return None
        return {"kind": "json", "value": value}
    if t is bytes:
        return {"kind": "bytes", "payload": value, "content_type": "application/octet-stream"}
    if plain_json(value):
        return {"kind": "json", "value": value}
    mod = t.__module__ or ""
    if mod.startswith("numpy"):
        return _array_for_cache(value, None)
    if t is tuple and len(value) == 2 and type(value[1]) is list:
        bounds = value[1]
        if len(bounds) == 4 and all(type(v) is float for v in bounds):
            return _array_for_cache(value[0], bounds, min_ndim=2)
        return None
    if mod.startswith(("pandas", "geopandas")):
        return _frame_for_cache(value)
    return None


def _array_for_cache(arr: Any, bounds: Optional[list[float]], min_ndim: int = 0) -> Any:
    import numpy as np

    if type(arr) is not np.ndarray or arr.ndim < min_ndim:
        return None
    dtype = arr.dtype.str
    if dtype[0] not in "<|" or dtype[1:] not in _DTYPES:
        return None
    out = {
        "kind": "raster",
        "payload": np.ascontiguousarray(arr).tobytes(),
        "dtype": dtype,
        "shape": list(arr.shape),
    }
    if bounds is not None:
        out["bounds"] = bounds
    return out


def _frame_for_cache(df: Any) -> Any:
    import pandas as pd

    if type(df) is not pd.DataFrame:
        gpd = sys.modules.get("geopandas")
        if gpd is None or type(df) is not gpd.GeoDataFrame:
            return None
    try:
        payload = _ipc(_table(df)).to_pybytes()
        same = _same_frame(df, frame_from_arrow(read_ipc(payload)))
    except Exception:  # noqa: BLE001 - anything arrow cannot represent is not cached
        return None
    return {"kind": "table", "payload": payload} if same else None


def from_cache(stored: tuple[Any, ...]) -> Any:
    """The Python value of a `RunStore.get` hit (a new object on every call)."""
    kind = stored[0]
    if kind == "json":
        return stored[1]
    if kind == "table":
        return frame_from_arrow(read_ipc(stored[1]))
    if kind == "raster":
        import numpy as np

        _, data, dtype, shape, bounds = stored
        arr = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape)
        return (arr, bounds) if bounds is not None else arr
    if kind == "bytes":
        return value_from_bytes(stored[2], stored[1])
    raise ValueError(f"unknown cached result kind {kind!r}")
