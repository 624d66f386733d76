"""`fused.load`: a UDF from a folder, a zip, a `.py` file or a string of code."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Union

from fused import _native
from fused._udf import CACHE_MAX_AGE_KEY, DEFAULT_UDF_TYPE, Header, Udf, _headers_from

__all__ = ["load", "udf_from_package"]

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def udf_from_package(pkg: dict[str, Any], name_from_code: bool = False) -> Udf:
    """Build a `Udf` from the dict `fused._native.read_package` returns, completing it with
    what the code's own `@fused.udf(...)` decorator says (name, cache_max_age, headers...)."""
    from fused._execute import prepare

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
        from fused._udf import parse_cache_max_age

        if obj.cache_max_age is None and config.get("cache_max_age") is not None:
            obj.cache_max_age = parse_cache_max_age(config["cache_max_age"])
        for key, value in (config.get("default_parameters") or {}).items():
            obj.default_parameters.setdefault(key, value)
        if not obj.headers and config.get("headers"):
            obj.headers = _headers_from(config["headers"], None)
    return obj


def load(url_or_path: Union[str, os.PathLike[str]], **_options: Any) -> Udf:
    """Load a UDF.

    Accepts a GitHub URL (`https://github.com/<owner>/<repo>/tree/<ref>/<path>`, blob and
    raw URLs, gists), a folder in the catalog layout (meta.json, `<name>.py`, headers), a
    `.zip` of one, a single `.py` file, or a string of Python code.
    """
    if isinstance(url_or_path, os.PathLike):
        url_or_path = os.fspath(url_or_path)
    if not isinstance(url_or_path, str):
        raise TypeError(
            f"fused.load() expected a path, URL or code string, got {type(url_or_path).__name__}"
        )
    text = url_or_path
    if "\n" in text or text.lstrip().startswith(("@", "def ", "import ", "from ")):
        return udf_from_package(_native.package_from_code("udf", text), name_from_code=True)
    if _URL.match(text):
        from fused._github import is_github_url, load_github

        if is_github_url(text):
            return load_github(text)
        raise ValueError(
            f"fused.load({text!r}): expected a GitHub or gist URL (github.com, "
            "raw.githubusercontent.com, gist.github.com), a local path or code"
        )
    path = Path(text).expanduser()
    if path.exists():
        pkg = _native.read_package(str(path))
        return udf_from_package(pkg, name_from_code=path.suffix == ".py")
    from fused._account import is_saved_reference, load_saved
    from fused._client import has_server

    if is_saved_reference(text) or (has_server() and re.fullmatch(r"[A-Za-z0-9_.-]+", text)):
        if not has_server():
            raise ValueError(
                f"fused.load({text!r}): loading saved UDFs needs a fused-rs server, and none "
                "is configured (fused login --server URL, or FUSED_SERVER_URL and "
                "FUSED_AUTH_TOKEN)"
            )
        return load_saved(text)
    raise FileNotFoundError(f"fused.load({text!r}): no such file or directory")
