"""`fused.load`: a UDF from a folder, a zip, a `.py` file or a string of code."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Union

from fused import _native
from fused._package import udf_from_package
from fused._udf import Udf

__all__ = ["load", "load_saved", "udf_from_package"]

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


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
        from fused._github import is_github_url

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
    from fused._account import is_saved_reference
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


def load_github(url: str) -> Udf:
    """A UDF from a GitHub tree/blob/raw URL or a gist URL, through the on-disk cache."""
    from fused._github import github_package

    pkg, single_file = github_package(url)
    udf = udf_from_package(pkg, name_from_code=single_file)
    udf.metadata.setdefault("fused:gitUrl", url)
    return udf


def load_saved(text: str) -> Udf:
    """`fused.load("<email>/<name>")` or `fused.load("<name>")` (your own)."""
    from fused._account import saved_package

    pkg, owner = saved_package(text)
    udf = udf_from_package(pkg)
    udf.metadata.setdefault("fused:owner", owner)
    return udf
