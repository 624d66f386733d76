"""Typed UDF parameters: annotations become spec strings, values become typed objects.

The string rules (what `"3"`, `"[1,2]"` or `"POINT (1 2)"` mean for each type) live in
Rust (`fused_core::params`, shared with the server); this module maps annotations to
spec strings, keeps Python objects that already have the right type, and builds the
final objects (``uuid.UUID``, ``datetime``, shapely, pandas, geopandas) from what Rust
returns. Heavy libraries are imported only when a value needs them.

API (used by the run machinery):

* ``spec_of(annotation) -> str``: the spec of one annotation (``"any"`` when unknown).
* ``param_specs(func) -> dict[str, str]``: spec per named parameter of ``func``.
* ``coerce(name, spec, value) -> object``: the value the UDF receives, or
  ``fused.types.UdfParameterError`` (a ``ValueError``) naming parameter, expected
  type and value.

``None`` passes through for every spec (UDF defaults are commonly ``None``; whether a
missing value is allowed is the caller's decision). A ``str`` value always follows the
string rules (so ``""`` for ``optional[str]`` is ``None``, as over HTTP), except for
``str``, ``any`` and ``union[...]`` specs, which keep it unchanged. Other values
(spec: kept as is / converted / refused):

* ``int``: ``int`` / numpy integers, whole floats (``3.0``) / ``bool``, ``3.5``, others.
* ``float``: ``float`` / ``int``, numpy numbers / ``bool``, others.
* ``bool``: ``bool`` / ``numpy.bool_``, ints ``0`` and ``1`` / others.
* ``list[T]``, ``set[T]``, ``tuple[...]``: the right container with right elements /
  other list-likes (list, tuple, set, numpy array, Series) re-packed, elements checked
  and converted (``str`` elements by the string rules) / ``str``, ``bytes``, ``dict``.
* ``iterable[T]``: any iterable; list/tuple/set elements are checked, other iterables
  (generators) are not consumed, so not checked / ``str``, non-iterables.
* ``dict[K,V]``: ``dict`` / other mappings; keys and values checked / others.
* ``uuid``, ``datetime``, ``date``: instances (a ``datetime`` is a ``date``) /
  a ``date`` for ``datetime`` becomes midnight / others.
* ``dataframe``: ``pandas.DataFrame`` / list of records, dict of columns / others.
* ``geodataframe``, ``tilegdf``, ``viewportgdf``: ``GeoDataFrame`` / GeoJSON dicts and
  ``__geo_interface__`` objects (through the Rust rules), a shapely geometry (one row,
  EPSG:4326) / others.
* ``geometry[K]``: shapely geometry of kind K / GeoJSON dicts, ``__geo_interface__`` /
  wrong kind, others.
* ``bounds``: - / 4 numbers, shapely geometry, GeoDataFrame -> ``[w, s, e, n]`` floats.
* ``bbox``: shapely geometry / 4 numbers -> box polygon / others.
* ``tilexyz``: ``fused.tiles.Tile`` / ``(x, y, z)`` ints -> ``Tile`` / out of range.
"""

from __future__ import annotations

import collections.abc as abc
import datetime as _dt
import json
import numbers
import sys
import uuid
from typing import Any, Callable, Dict, Optional, Tuple

from fused import _native
from fused._native import UdfParameterError
from fused._spec import param_specs, spec_of

__all__ = ["coerce", "param_specs", "spec_of"]

_MAX_SHOWN = 80


def _show(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    if len(text) > _MAX_SHOWN:
        return f"{text[:_MAX_SHOWN]}... ({len(text)} chars)"
    return text


def _error(name: str, expected: str, shown: str) -> UdfParameterError:
    err = UdfParameterError(f"parameter '{name}': expected {expected}, got {shown}")
    err.parameter = name
    err.expected = expected
    err.value = shown
    return err


class _Mismatch(Exception):
    """A value inside `coerce` did not fit; turned into UdfParameterError at the top."""

    def __init__(self, path: str, expected: str, value: Any, shown: Optional[str] = None):
        super().__init__(expected)
        self.path = path
        self.expected = expected
        self.shown = _show(value) if shown is None else shown


class _FinishError(Exception):
    """Building a Python object from a converted value failed."""


# Parsed specs: text -> (kind, args, canonical text, extra); see _native.parse_spec.
_NODES: Dict[str, tuple] = {}


def _node(spec: str) -> tuple:
    node = _NODES.get(spec)
    if node is None:
        node = _NODES[spec] = _native.parse_spec(spec)
    return node


# Fast path per spec: (exact types kept as is, every non-str object kept, str kept).
_FAST: Dict[str, Tuple[frozenset, bool, bool]] = {}
_STR_KEPT = frozenset({"str", "any", "union"})
_KEEP_TYPES = {
    "int": (int,),
    "float": (float,),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
    "tuple": (tuple,),
    "set": (set, frozenset),
    "iterable": (list, tuple, set, frozenset, dict),
    "uuid": (uuid.UUID,),
    "datetime": (_dt.datetime,),
    "date": (_dt.date,),
}


def _fast_entry(spec: str) -> Tuple[frozenset, bool, bool]:
    kind, args, _text, _extra = top = _node(spec)
    str_kept = kind in _STR_KEPT
    node = top
    while node[0] == "optional":
        node = node[1][0]
    inner = node[0]
    all_objects = inner in ("any", "union")
    keep: frozenset = frozenset()
    if not node[1] and inner in _KEEP_TYPES:  # bare, no element types to check
        keep = frozenset(_KEEP_TYPES[inner])
    if inner == "str":
        keep = frozenset({str}) if kind == "str" else frozenset()
    entry = (keep, all_objects, str_kept)
    _FAST[spec] = entry
    return entry


def coerce(name: str, spec: str, value: Any) -> Any:
    """The value parameter ``name`` of type ``spec`` receives (see the module docs)."""
    if value is None:
        return None
    entry = _FAST.get(spec) or _fast_entry(spec)
    t = type(value)
    if t in entry[0]:
        return value
    if t is str:
        if entry[2]:
            return value
        return _from_string(name, spec, value)
    if entry[1]:
        return value
    node = _node(spec)
    try:
        return _obj(node, value, name, "")
    except _Mismatch as m:
        expected = m.expected if not m.path else f"{m.expected} at {m.path} of {node[2]}"
        raise _error(name, expected, m.shown) from None


def _from_string(name: str, spec: str, value: str) -> Any:
    try:
        return _native.convert_param(name, spec, value, _finish)
    except UdfParameterError:
        raise
    except (_FinishError, TypeError) as e:
        raise _error(name, f"{_node(spec)[2]} ({e})", _show(value)) from e


# ---- building objects from Rust's tagged values


def _tz(offset: Optional[int]) -> Optional[_dt.tzinfo]:
    if offset is None:
        return None
    if offset == 0:
        return _dt.timezone.utc
    return _dt.timezone(_dt.timedelta(seconds=offset))


def _make_datetime(p: tuple) -> _dt.datetime:
    year, month, day, hour, minute, second, microsecond = p[:7]
    return _dt.datetime(year, month, day, hour, minute, second, microsecond, tzinfo=_tz(p[7]))


def _make_geometry(geojson: dict) -> Any:
    import shapely.geometry

    return shapely.geometry.shape(geojson)


def _make_gdf(payload: tuple) -> Any:
    import geopandas

    features, crs = payload
    return geopandas.GeoDataFrame.from_features(features, crs=crs or "EPSG:4326")


def _make_df(data: Any) -> Any:
    import pandas

    return pandas.DataFrame(data)


def _make_box(b: tuple) -> Any:
    import shapely.geometry

    return shapely.geometry.box(*b)


def _make_tile(xyz: tuple) -> Any:
    try:
        from fused.tiles import Tile
    except ImportError:
        return tuple(xyz)
    return Tile(*xyz)


_FINISHERS: Dict[str, Callable[[Any], Any]] = {
    "uuid": uuid.UUID,
    "date": lambda p: _dt.date(*p),
    "datetime": _make_datetime,
    "geometry": _make_geometry,
    "geodataframe": _make_gdf,
    "dataframe": _make_df,
    "bbox": _make_box,
    "tilexyz": _make_tile,
}


def _finish(kind: str, payload: Any) -> Any:
    try:
        return _FINISHERS[kind](payload)
    except Exception as e:
        raise _FinishError(f"{type(e).__name__}: {e}") from e


# ---- checking and converting Python objects


def _module_class(module: str, name: str) -> Optional[type]:
    """A class from a module, only if that module is already imported."""
    mod = sys.modules.get(module)
    return getattr(mod, name, None) if mod is not None else None


def _is_geometry(v: Any) -> bool:
    base = _module_class("shapely.geometry.base", "BaseGeometry")
    return base is not None and isinstance(v, base)


def _is_instance(v: Any, module: str, name: str) -> bool:
    cls = _module_class(module, name)
    return cls is not None and isinstance(v, cls)


def _is_numpy_bool(v: Any) -> bool:
    t = type(v)
    return t.__module__ == "numpy" and t.__name__ in ("bool_", "bool")


def _number(v: Any) -> Optional[float]:
    """A real number as float (not bool), else None."""
    if isinstance(v, bool) or _is_numpy_bool(v) or not isinstance(v, numbers.Real):
        return None
    return float(v)


def _string_element(node: tuple, v: str, name: str, path: str) -> Any:
    try:
        return _native.convert_param(name, node[2], v, _finish)
    except UdfParameterError as e:
        raise _Mismatch(path, e.expected, v, e.value) from None
    except (_FinishError, TypeError) as e:
        raise _Mismatch(path, f"{node[2]} ({e})", v) from None


def _via_json(node: tuple, v: Any, name: str, path: str) -> Any:
    try:
        text = json.dumps(v)
    except (TypeError, ValueError):
        raise _Mismatch(path, f"{node[2]} (JSON-serialisable GeoJSON)", v) from None
    return _string_element(node, text, name, path)


def _items(node: tuple, v: Any, path: str) -> list:
    if isinstance(v, (list, tuple, set, frozenset)):
        return list(v)
    if not isinstance(v, (str, bytes, dict)) and hasattr(v, "tolist"):
        out = v.tolist()
        if isinstance(out, list):
            return out
    raise _Mismatch(path, node[2], v)


def _sequence(node: tuple, v: Any, name: str, path: str) -> Any:
    kind, args, text, extra = node
    if kind == "iterable" and not isinstance(v, (list, tuple, set, frozenset)):
        if isinstance(v, (str, bytes)) or not isinstance(v, abc.Iterable):
            raise _Mismatch(path, text, v)
        return v  # not consumed, so not checked
    items = _items(node, v, path)
    if kind == "tuple" and args and extra is None and len(args) != len(items):
        raise _Mismatch(path, f"{text} ({len(args)} items, got {len(items)})", v)
    changed = type(v) is not {"list": list, "tuple": tuple, "set": set}.get(kind, type(v))
    if args:
        out = []
        for i, item in enumerate(items):
            elem = args[i] if kind == "tuple" and extra is None else args[0]
            new = _obj(elem, item, name, f"{path}[{i}]")
            changed = changed or new is not item
            out.append(new)
        items = out
    if not changed:
        return v
    try:
        if kind == "set":
            return set(items)
        if kind == "tuple":
            return tuple(items)
        if kind == "iterable" and isinstance(v, (tuple, set, frozenset)):
            return type(v)(items)
    except TypeError as e:
        raise _Mismatch(path, f"{text} ({e})", v) from None
    return items


def _obj(node: tuple, v: Any, name: str, path: str) -> Any:
    kind, args, text, extra = node
    if v is None:
        if kind in ("optional", "any", "union"):
            return None
        raise _Mismatch(path, text, v)
    if kind in ("any", "union"):
        return v
    if type(v) is str:
        if kind == "str":
            return v
        return _string_element(node, v, name, path)
    if kind == "optional":
        try:
            return _obj(args[0], v, name, path)
        except _Mismatch as m:
            inner = args[0][2]
            if m.path == path and (m.expected == inner or m.expected.startswith(inner + " ")):
                m.expected = text + m.expected[len(inner) :]
            raise
    if kind == "int":
        if type(v) is int:
            return v
        if isinstance(v, numbers.Integral) and not isinstance(v, bool) and not _is_numpy_bool(v):
            return int(v)
        f = _number(v)
        if f is not None and f.is_integer():
            return int(f)
        raise _Mismatch(path, text + (" (a whole number)" if f is not None else ""), v)
    if kind == "float":
        f = _number(v)
        if f is None:
            raise _Mismatch(path, text, v)
        return v if type(v) is float else f
    if kind == "bool":
        if type(v) is bool:
            return v
        if _is_numpy_bool(v) or (type(v) is int and v in (0, 1)):
            return bool(v)
        raise _Mismatch(path, text, v)
    if kind in ("list", "set", "tuple", "iterable"):
        return _sequence(node, v, name, path)
    if kind == "dict":
        if not isinstance(v, abc.Mapping):
            raise _Mismatch(path, text, v)
        if not args:
            return v if isinstance(v, dict) else dict(v)
        out = {}
        changed = not isinstance(v, dict)
        for k, x in v.items():
            where = f"{path}[{json.dumps(k) if isinstance(k, str) else _show(k)}]"
            nk = _obj(args[0], k, name, where)
            nx = _obj(args[1], x, name, where)
            changed = changed or nk is not k or nx is not x
            out[nk] = nx
        return out if changed else v
    if kind == "uuid":
        if isinstance(v, uuid.UUID):
            return v
        raise _Mismatch(path, text, v)
    if kind == "datetime":
        if isinstance(v, _dt.datetime):
            return v
        if isinstance(v, _dt.date):
            return _dt.datetime(v.year, v.month, v.day)
        raise _Mismatch(path, text, v)
    if kind == "date":
        if isinstance(v, _dt.date):
            return v
        raise _Mismatch(path, text, v)
    if kind == "dataframe":
        if _is_instance(v, "pandas", "DataFrame"):
            return v
        ok = (isinstance(v, list) and all(isinstance(r, abc.Mapping) for r in v)) or (
            isinstance(v, abc.Mapping)
            and all(isinstance(c, (list, tuple)) for c in v.values())
            and len({len(c) for c in v.values()}) <= 1
        )
        if not ok:
            why = "a list of records or a dict of equal-length columns"
            raise _Mismatch(path, f"{text} ({why})", v)
        return _make_df(v)
    if kind in ("geodataframe", "tilegdf", "viewportgdf"):
        if _is_instance(v, "geopandas", "GeoDataFrame"):
            return v
        if _is_geometry(v):
            import geopandas

            return geopandas.GeoDataFrame(geometry=[v], crs="EPSG:4326")
        if isinstance(v, abc.Mapping):
            return _via_json(node, dict(v), name, path)
        if hasattr(v, "__geo_interface__"):
            return _via_json(node, v.__geo_interface__, name, path)
        raise _Mismatch(path, text, v)
    if kind == "geometry":
        if _is_geometry(v):
            got = v.geom_type
            if extra is None or got == extra or (extra == "LineString" and got == "LinearRing"):
                return v
            raise _Mismatch(path, f"{text} (got a {got})", v)
        if isinstance(v, abc.Mapping):
            return _via_json(node, dict(v), name, path)
        if hasattr(v, "__geo_interface__") and not _is_instance(v, "pandas", "DataFrame"):
            return _via_json(node, v.__geo_interface__, name, path)
        raise _Mismatch(path, text, v)
    if kind in ("bounds", "bbox"):
        if kind == "bbox" and _is_geometry(v):
            return v
        if _is_geometry(v):
            b = v.bounds
        elif hasattr(v, "total_bounds"):
            b = v.total_bounds
        else:
            try:
                b = _items(node, v, path)
            except _Mismatch:
                b = ()
        nums = [_number(x) for x in b]
        if len(nums) != 4 or any(
            x is None or x != x or x in (float("inf"), -float("inf")) for x in nums
        ):
            raise _Mismatch(path, f"{text} (4 numbers west,south,east,north)", v)
        return nums if kind == "bounds" else _make_box(tuple(nums))
    if kind == "tilexyz":
        tile_cls = _module_class("fused.tiles", "Tile")
        if tile_cls is not None and type(v) is tile_cls:
            return v  # a mercantile.Tile is checked below and becomes a fused.tiles.Tile
        try:
            x, y, z = (
                int(c) if isinstance(c, numbers.Integral) and not isinstance(c, bool) else None
                for c in v
            )
        except (TypeError, ValueError):
            raise _Mismatch(path, f"{text} (x, y, z)", v) from None
        if (
            x is None
            or y is None
            or z is None
            or not 0 <= z <= 30
            or not (0 <= x < 2**z and 0 <= y < 2**z)
        ):
            raise _Mismatch(path, f"{text} (x, y, z in range)", v)
        return _make_tile((x, y, z))
    if kind == "str":
        raise _Mismatch(path, text, v)
    raise _Mismatch(path, text, v)
