"""What a UDF is made of, below every module that runs, saves or loads one: its header
modules, its parameters, its cache lifetime, its package dict, and the state `@fused.udf` reads
while fused executes UDF code. The `Udf` class (`fused._udf`) builds on these; modules that take
a `Udf` take it duck-typed, so none of them imports `fused._udf` at run time."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

from fused import _native

__all__ = [
    "CACHE_MAX_AGE_KEY",
    "DEFAULT_UDF_TYPE",
    "Header",
    "UdfParameter",
    "headers_from",
    "load_state",
    "package_dict",
    "parse_cache_max_age",
]

DEFAULT_UDF_TYPE = "geopandas_v2"
#: metadata key under which a package keeps the decorator's cache_max_age (seconds)
CACHE_MAX_AGE_KEY = "fused:cacheMaxAge"


class Header(NamedTuple):
    """A helper module shipped with a UDF (`utils.py` -> `import utils`)."""

    module_name: str
    source_code: str
    source_file: str


class UdfParameter(NamedTuple):
    """One parameter of a UDF's entrypoint: its annotation, default and type spec."""

    name: str
    annotation: Any
    default: Any
    spec: str


class _LoadState(threading.local):
    """While fused executes UDF code, `@fused.udf` records the functions it decorates
    here instead of building a `Udf` (the code is already known)."""

    def __init__(self) -> None:
        self.frames: list[list[Callable[..., Any]]] = []


load_state = _LoadState()


def parse_cache_max_age(value: Union[str, int, None]) -> Optional[int]:
    """`"10s"`, `"30m"`, `"48h"`, `"90d"` or whole seconds -> seconds (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"invalid cache_max_age: expected a duration or seconds, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"invalid cache_max_age: expected seconds >= 0, got {value!r}")
        return value
    if isinstance(value, str):
        return _native.parse_max_age(value)
    raise ValueError(
        'invalid cache_max_age: expected a duration such as "10s", "30m", "48h", "90d" '
        f"or whole seconds, got {value!r}"
    )


def headers_from(headers: Optional[Sequence[Any]], base_dir: Optional[Path]) -> list[Header]:
    """Accept Header objects, dicts with module_name/source_code, or paths to .py files."""
    out: list[Header] = []
    for item in headers or ():
        if isinstance(item, Header):
            out.append(item)
        elif isinstance(item, dict):
            if "module_name" not in item or "source_code" not in item:
                raise ValueError(
                    f"invalid headers entry {item!r}: expected keys module_name and source_code"
                )
            name = item["module_name"]
            out.append(Header(name, item["source_code"], item.get("source_file") or f"{name}.py"))
        elif isinstance(item, (str, os.PathLike)):
            path = Path(item)
            if not path.is_absolute() and not path.exists() and base_dir is not None:
                path = base_dir / path
            if path.suffix != ".py":
                raise ValueError(f"invalid headers entry {str(item)!r}: expected a .py file")
            if not path.is_file():
                raise FileNotFoundError(f"header file {str(item)!r} not found (looked at {path})")
            out.append(Header(path.stem, path.read_text(encoding="utf-8"), path.name))
        else:
            raise ValueError(
                f"invalid headers entry {item!r}: expected a path to a .py file, a Header "
                "or a dict with module_name and source_code"
            )
    names = [h.module_name for h in out]
    for h in out:
        if not h.module_name.isidentifier():
            raise ValueError(
                f"invalid header module_name {h.module_name!r}: not a Python identifier"
            )
        if names.count(h.module_name) > 1:
            raise ValueError(f"duplicate header module_name {h.module_name!r}")
    return out


def package_dict(udf: Any, entrypoint: Optional[str]) -> dict[str, Any]:
    """The package dict of a `Udf` (what `fused._native.write_package` writes and the server
    stores), with `entrypoint` as the entrypoint."""
    metadata = dict(udf.metadata)
    if udf.cache_max_age is not None:
        metadata[CACHE_MAX_AGE_KEY] = udf.cache_max_age
    return {
        "name": udf.name,
        "entrypoint": entrypoint,
        "code": udf.code,
        "source_file": f"{udf.name}.py",
        "headers": [
            {
                "module_name": h.module_name,
                "source_code": h.source_code,
                "source_file": f"{h.module_name}.py",
            }
            for h in udf.headers
        ],
        "parameters": udf.default_parameters,
        "metadata": metadata,
        "readme": udf.readme,
        "type": udf.type,
    }
