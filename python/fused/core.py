"""`fused.core`: older entry points that catalog UDFs still call."""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import tempfile
import urllib.parse
import urllib.request
from typing import Any

from fused import _native
from fused._load import load
from fused._run import run

__all__ = [
    "create_path",
    "download",
    "file_path",
    "import_from_github",
    "load_udf_from_github",
    "run_file",
    "run_tile",
]

#: How long a second process waits for another's download of the same file.
_DOWNLOAD_LOCK_TIMEOUT_S = 600.0


def load_udf_from_github(url: str, **_options: Any) -> Any:
    """Load a UDF from a GitHub URL (same as `fused.load(url)`)."""
    return load(url)


#: Legacy name: `fused.core.import_from_github(url).utils.helper`.
import_from_github = load_udf_from_github


def run_file(udf: Any, **params: Any) -> Any:
    """Run a UDF in File mode (same as `fused.run(udf, **params)`)."""
    return run(udf, **params)


def run_tile(udf: Any, x: int, y: int, z: int, **params: Any) -> Any:
    """Run a UDF for tile x/y/z (same as `fused.run(udf, x=x, y=y, z=z, **params)`)."""
    return run(udf, x=x, y=y, z=z, **params)


def _files_root() -> pathlib.Path:
    base = os.environ.get("FUSED_CACHE_DIR") or os.path.join("~", ".cache", "fused")
    return pathlib.Path(base).expanduser() / "files"


def _under_root(path: str, parameter: str) -> pathlib.Path:
    """`path` (relative, leading slashes stripped as Fused does) under the files folder."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"invalid {parameter}: expected a relative path, got {path!r}")
    text = os.fspath(path).strip("/")
    parts = pathlib.PurePosixPath(text).parts
    if not text or ".." in parts or "\0" in text:
        raise ValueError(
            f"invalid {parameter}: expected a path inside the files folder "
            f"($FUSED_CACHE_DIR/files) without '..', got {path!r}"
        )
    return _files_root().joinpath(*parts)


def file_path(file_path: str, mkdir: bool = True, storage: str = "auto") -> str:
    """An absolute path for `file_path` under `$FUSED_CACHE_DIR/files`; with `mkdir`, its
    folder is created (the path itself when it has no suffix, else its parent)."""
    full = _under_root(file_path, "file_path")
    if mkdir:
        (full if not full.suffix else full.parent).mkdir(parents=True, exist_ok=True)
    return str(full)


def create_path(path: str, mkdir: bool = True) -> str:
    """Older name of `file_path`."""
    return file_path(path, mkdir=mkdir)


def download(url: str, file_path: str, storage: str = "auto") -> str:
    """Download `url` once to `$FUSED_CACHE_DIR/files/<file_path>` and return that path.

    Later calls (in any process) return the stored file without downloading; concurrent
    callers wait for the first one's download (a file lock). http(s), `file://` URLs and
    local paths are supported; the file is written under a temporary name and renamed, so a
    failed download never leaves a partial file behind."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"invalid url: expected a URL string, got {url!r}")
    target = _under_root(file_path, "file_path")
    if target.is_file():
        return str(target)
    scheme = urllib.parse.urlparse(url).scheme.lower()
    if scheme not in ("http", "https", "file", ""):
        raise ValueError(
            f"cannot download {url!r}: the {scheme}:// scheme needs that cloud's client "
            "(fused-rs downloads http(s), file:// and local paths); read it with the "
            "cloud's own library instead"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(target).encode()).hexdigest()
    lock_dir = str(_files_root() / ".locks")
    with _native.cache_lock(lock_dir, key, _DOWNLOAD_LOCK_TIMEOUT_S):
        if target.is_file():  # another process finished it while this one waited
            return str(target)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                if scheme in ("http", "https"):
                    try:
                        with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310
                            shutil.copyfileobj(resp, out, 1 << 20)
                    except OSError as exc:
                        raise ConnectionError(f"cannot download {url!r}: {exc}") from None
                else:
                    source = urllib.request.url2pathname(urllib.parse.urlparse(url).path)
                    with open(source if scheme == "file" else url, "rb") as src:
                        shutil.copyfileobj(src, out, 1 << 20)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    return str(target)
