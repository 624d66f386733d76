"""Building a `Udf` from a package dict (a folder, zip, `.py` file, gist, saved UDF or the
server's run request, as `fused._native.read_package` and the server give it). The one place
that does it: `fused._load`, `fused._worker` and `fused.models` call it."""

from __future__ import annotations

from typing import Any

from fused._definition import (
    CACHE_MAX_AGE_KEY,
    DEFAULT_UDF_TYPE,
    Header,
    headers_from,
    parse_cache_max_age,
)
from fused._execute import prepare
from fused._udf import Udf

__all__ = ["udf_from_package"]


def udf_from_package(pkg: dict[str, Any], name_from_code: bool = False) -> Udf:
    """Build a `Udf` from the dict `fused._native.read_package` returns, completing it with
    what the code's own `@fused.udf(...)` decorator says (name, cache_max_age, headers...)."""
    metadata = dict(pkg.get("metadata") or {})
    cache_max_age = metadata.pop(CACHE_MAX_AGE_KEY, None)
    obj = Udf(
        name=pkg["name"],
        code=pkg["code"],
        entrypoint=pkg.get("entrypoint"),
        headers=[
            Header(h["module_name"], h["source_code"], h.get("source_file") or "")
            for h in pkg.get("headers") or ()
        ],
        default_parameters=pkg.get("parameters") or {},
        metadata=metadata,
        cache_max_age=cache_max_age if isinstance(cache_max_age, int) else None,
        udf_type=pkg.get("type") or DEFAULT_UDF_TYPE,
        readme=pkg.get("readme"),
    )
    prepared = prepare(obj)  # compiles, runs the module once, finds the entrypoint
    obj.entrypoint = prepared.entrypoint
    config = prepared.decorator_config
    if name_from_code:
        obj.name = config.get("name") or (obj.name if obj.name != "udf" else obj.entrypoint)
    if config:
        if obj.cache_max_age is None and config.get("cache_max_age") is not None:
            obj.cache_max_age = parse_cache_max_age(config["cache_max_age"])
        for key, value in (config.get("default_parameters") or {}).items():
            obj.default_parameters.setdefault(key, value)
        if not obj.headers and config.get("headers"):
            obj.headers = headers_from(config["headers"], None)
    return obj
