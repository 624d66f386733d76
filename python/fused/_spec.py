"""Annotations -> type spec strings (the grammar is `fused_core::params`).

* ``spec_of(annotation) -> str``: the spec of one annotation (``"any"`` when unknown).
* ``param_specs(func) -> dict[str, str]``: spec per named parameter of ``func``.

Never imports pandas, geopandas or shapely: their classes are recognised by module and
name, so `import fused` stays light.
"""

from __future__ import annotations

import builtins
import collections.abc as abc
import datetime as _dt
import enum
import inspect
import types
import typing
import uuid
from typing import Any, Callable, Dict, Optional, Tuple

from fused import _native

__all__ = ["param_specs", "spec_of"]

# ---------------------------------------------------------------- annotations -> spec

_SIMPLE: Dict[Any, str] = {
    int: "int",
    float: "float",
    bool: "bool",
    str: "str",
    list: "list",
    dict: "dict",
    tuple: "tuple",
    set: "set",
    frozenset: "set",
    uuid.UUID: "uuid",
    _dt.datetime: "datetime",
    _dt.date: "date",
    object: "any",
    type(None): "any",
}

_ORIGINS: Dict[Any, str] = {
    list: "list",
    dict: "dict",
    tuple: "tuple",
    set: "set",
    frozenset: "set",
    abc.Iterable: "iterable",
    abc.Collection: "iterable",
    abc.Sequence: "list",
    abc.MutableSequence: "list",
    abc.Set: "set",
    abc.MutableSet: "set",
    abc.Mapping: "dict",
    abc.MutableMapping: "dict",
}

_GEOMETRY_CLASSES = {
    "Point": "Point",
    "LineString": "LineString",
    "LinearRing": "LineString",
    "Polygon": "Polygon",
    "MultiPoint": "MultiPoint",
    "MultiLineString": "MultiLineString",
    "MultiPolygon": "MultiPolygon",
    "GeometryCollection": "GeometryCollection",
}

# Names recognised in annotations that could not be evaluated (e.g. "gpd.GeoDataFrame"
# without geopandas in scope): the last dotted component decides.
_BY_NAME = {
    "GeoDataFrame": "geodataframe",
    "DataFrame": "dataframe",
    "UUID": "uuid",
    "datetime": "datetime",
    "date": "date",
    "BaseGeometry": "geometry",
    "Bounds": "bounds",
    "Bbox": "bbox",
    "TileXYZ": "tilexyz",
    "TileGDF": "tilegdf",
    "Tile": "tilegdf",
    "ViewportGDF": "viewportgdf",
    **{k: f"geometry[{v}]" for k, v in _GEOMETRY_CLASSES.items()},
}

_UNION_TYPES: Tuple[Any, ...] = (typing.Union,) + (
    (types.UnionType,) if hasattr(types, "UnionType") else ()
)


class _Unresolved:
    """Stands for a name an annotation string uses but that is not in scope."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attr: str) -> _Unresolved:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Unresolved(f"{self.name}.{attr}")

    def __getitem__(self, _item: Any) -> _Unresolved:
        return self

    def __call__(self, *_args: Any, **_kwargs: Any) -> _Unresolved:  # typing accepts callables
        return self

    def __or__(self, other: Any) -> Any:
        return typing.Union[self, other]

    def __ror__(self, other: Any) -> Any:
        return typing.Union[other, self]


class _Scope:
    """Name lookup for evaluating annotation strings: the function's globals, then
    `typing` names, then builtins; anything else is an `_Unresolved` placeholder."""

    def __init__(self, globalns: Optional[Dict[str, Any]]) -> None:
        self.globalns = globalns or {}

    def __getitem__(self, key: str) -> Any:
        if key in self.globalns:
            return self.globalns[key]
        if key in typing.__all__:
            return getattr(typing, key)
        if hasattr(builtins, key):
            return getattr(builtins, key)
        return _Unresolved(key)


def _resolve(text: str, globalns: Optional[Dict[str, Any]]) -> Any:
    # Annotations are the UDF author's own code, evaluated as typing.get_type_hints would.
    try:
        # eval's locals may be any object with __getitem__; typeshed asks for a Mapping
        return eval(text, {"__builtins__": {}}, _Scope(globalns))  # type: ignore[arg-type]
    except Exception:
        return _Unresolved(text.strip())


def _union_spec(args: Tuple[Any, ...], globalns: Any, depth: int) -> str:
    members = [a for a in args if a is not type(None) and a is not None]
    optional = len(members) < len(args)
    specs: list = []
    for m in members:
        s = _spec(m, globalns, depth + 1)
        if s not in specs:
            specs.append(s)
    if not specs or "any" in specs:
        return "any"
    core = specs[0] if len(specs) == 1 else f"union[{','.join(specs)}]"
    return f"optional[{core}]" if optional else core


def _class_spec(cls: type) -> str:
    if cls in _SIMPLE:
        return _SIMPLE[cls]
    if issubclass(cls, enum.Enum):
        return "any"
    for base in cls.__mro__:
        module = getattr(base, "__module__", "") or ""
        qual = base.__name__
        if module.startswith("geopandas") and qual == "GeoDataFrame":
            return "geodataframe"
        if module.startswith("pandas") and qual == "DataFrame":
            return "dataframe"
        if module.startswith("shapely"):
            if qual in _GEOMETRY_CLASSES:
                return f"geometry[{_GEOMETRY_CLASSES[qual]}]"
            if qual in ("BaseGeometry", "BaseMultipartGeometry"):
                return "geometry"
        if base is not object and base in _SIMPLE:
            return _SIMPLE[base]
    return "any"


def _spec(a: Any, globalns: Any, depth: int) -> str:
    if depth > 30 or a is inspect.Parameter.empty or a is Any or a is None:
        return "any"
    if isinstance(a, str):
        return _spec(_resolve(a, globalns), globalns, depth + 1)
    if isinstance(a, typing.ForwardRef):
        return _spec(a.__forward_arg__, globalns, depth + 1)
    if isinstance(a, _Unresolved):
        return _BY_NAME.get(a.name.rsplit(".", 1)[-1], "any")
    marker = getattr(a, "__fused_marker__", None) if isinstance(a, type) else None
    if isinstance(marker, str) and marker:
        return marker
    origin = typing.get_origin(a)
    if origin is not None:
        args = typing.get_args(a)
        if origin is typing.Annotated:
            return _spec(args[0], globalns, depth + 1)
        if origin in _UNION_TYPES:
            return _union_spec(args, globalns, depth)
        name = _ORIGINS.get(origin)
        if name is None:
            return _spec(origin, globalns, depth + 1) if isinstance(origin, type) else "any"
        sub = [_spec(x, globalns, depth + 1) for x in args if x is not Ellipsis]
        if name == "tuple":
            if len(args) == 2 and args[1] is Ellipsis:
                return f"tuple[{sub[0]},...]"
            if not args or args == ((),):
                return "tuple"
            return f"tuple[{','.join(sub)}]"
        if name == "dict":
            return f"dict[{sub[0]},{sub[1]}]" if len(sub) == 2 else "dict"
        return f"{name}[{sub[0]}]" if sub else name
    if isinstance(a, type):
        return _class_spec(a)
    return "any"


def spec_of(annotation: Any, globalns: Optional[Dict[str, Any]] = None) -> str:
    """The spec string for one annotation; ``"any"`` for anything not understood.

    String annotations (forward references, ``from __future__ import annotations``)
    are evaluated against ``globalns`` (a function's globals), ``typing`` and builtins;
    names out of scope are recognised by their last component (``gpd.GeoDataFrame``).
    """
    try:
        return _native.check_spec(_spec(annotation, globalns, 0))
    except Exception:
        return "any"


def param_specs(func: Callable[..., Any]) -> Dict[str, str]:
    """Spec per named parameter of ``func`` (``*args`` and ``**kwargs`` are skipped)."""
    sig = inspect.signature(func)
    target = inspect.unwrap(func)
    globalns = getattr(target, "__globals__", None)
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:
        hints = {}
    specs = {}
    for name, p in sig.parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        specs[name] = spec_of(hints.get(name, p.annotation), globalns)
    return specs


# ---------------------------------------------------------------- values
