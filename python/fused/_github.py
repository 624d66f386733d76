"""UDF packages from GitHub and gists (fetching and caching are Rust: `fused._native`).

This module fetches packages and saves gists; it never builds a `Udf` (`fused._load` does),
so `Udf.to_gist` can call it."""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from fused import _native
from fused._options import options

if TYPE_CHECKING:
    from fused._udf import Udf

__all__ = ["GITHUB_HOSTS", "create_gist", "github_package", "is_github_url"]

GITHUB_HOSTS = ("github.com", "www.github.com", "raw.githubusercontent.com", "gist.github.com")
_HOST = re.compile(r"^https?://([^/]+)/", re.IGNORECASE)

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_RAW_URL = "https://raw.githubusercontent.com"


class FusedGitHubWarning(UserWarning):
    """A cached copy was used because GitHub could not be reached."""


def is_github_url(text: str) -> bool:
    match = _HOST.match(text)
    return match is not None and match.group(1).lower() in GITHUB_HOSTS


def _settings() -> dict[str, Any]:
    revalidate = os.environ.get("FUSED_GITHUB_REVALIDATE_S", "60").strip()
    if not revalidate.isdigit():
        raise ValueError(
            "invalid FUSED_GITHUB_REVALIDATE_S: expected a whole number of seconds, "
            f"got {revalidate!r}"
        )
    return {
        "api_url": (os.environ.get("FUSED_GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
        "raw_url": (os.environ.get("FUSED_GITHUB_RAW_URL") or DEFAULT_RAW_URL).rstrip("/"),
        "token": os.environ.get("GITHUB_TOKEN") or None,
        "revalidate_s": int(revalidate),
    }


def github_package(url: str) -> tuple[dict[str, Any], bool]:
    """The package at a GitHub tree/blob/raw URL or a gist URL, through the on-disk cache,
    and whether it is a single `.py` file (its UDF is then named by its code)."""
    settings = _settings()
    info = _native.github_fetch(
        url,
        cache_dir=str(options.cache_directory),
        api_url=settings["api_url"],
        raw_url=settings["raw_url"],
        token=settings["token"],
        revalidate_s=settings["revalidate_s"],
    )
    for message in info["warnings"]:
        warnings.warn(message, FusedGitHubWarning, stacklevel=4)
    path = Path(info["path"])
    pkg = _native.read_package(str(path))
    if path.is_dir() and pkg["name"] == path.name:
        # No meta.json: name it after the folder on GitHub (the cache folder name is escaped).
        segments = [s for s in (info.get("subpath") or "").split("/") if s]
        pkg["name"] = segments[-1] if segments else (info.get("repo") or pkg["name"])
    return pkg, path.suffix == ".py"


def create_gist(udf: Udf, public: bool = False, description: Optional[str] = None) -> str:
    """Save `udf` as a gist (`<name>.py`, `meta.json`, `README.md`, headers); its URL."""
    settings = _settings()
    if not settings["token"]:
        raise PermissionError(
            "udf.to_gist() needs a GitHub token: set GITHUB_TOKEN to a token with the gist scope"
        )
    with tempfile.TemporaryDirectory(prefix="fused-gist-") as tmp:
        folder = Path(tmp) / udf.name
        udf.to_directory(folder)
        files = {
            p.name: p.read_text(encoding="utf-8")
            for p in sorted(folder.iterdir())
            if p.is_file() and p.stat().st_size > 0
        }
    result = _native.github_create_gist(
        files,
        description=description or f"fused UDF {udf.name}",
        public=bool(public),
        api_url=settings["api_url"],
        token=settings["token"],
    )
    return result["html_url"]
