"""`@fused.cache`: results of helper functions inside UDFs, stored on disk.

Use bare (`@fused.cache`) or called (`@fused.cache(cache_max_age="1h", ...)`). The same
option names are accepted at call sites (`f(x, cache_reset=True)`), where they override the
decorator's and are removed before the function is called.

Key: sha256 over the function's source (its code object when the source is unavailable), its
qualified name, and its arguments bound by signature with defaults applied, minus
`cache_key_exclude`. Arguments are hashed by content: DataFrames/Series with
`pandas.util.hash_pandas_object` plus columns and dtypes (geometry columns as WKB, with the
CRS), numpy arrays by dtype, shape and bytes, shapely geometries by WKB, containers
recursively (dicts and sets order-insensitively), a few simple types by `repr`, anything else
by its pickle. Variables the function reads from closures or globals are not part of the key.

Storage: `<root>/<function name>/<key[0:2]>/<key>.bin`, where root is `cache_folder_path`
(or its 1.x name `path`; a relative path, leading slashes stripped, is taken under the default
root and may not contain `..`) or `$FUSED_CACHE_DIR/fused_cache`
(`FUSED_CACHE_DIR` defaults to `~/.cache/fused`). Entries are the pickled result (protocol 5)
behind a checksummed header, written atomically by the Rust core (`fused._native.cache_*`);
a per-key lock file makes concurrent processes compute a value once while the others wait (up
to `concurrent_lock_timeout` seconds, then they compute too). `cache_storage` ("auto",
"local", "mount", "object") is accepted for compatibility: all of them use this local disk.

Lifetime: `cache_max_age` (call site, else decorator, else 12 hours); an older entry is
recomputed; `0` bypasses the cache. `cache_reset=True` recomputes and overwrites. Exceptions
raised by the function are never cached; a result that cannot be pickled raises a `TypeError`
naming the function.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import functools
import hashlib
import inspect
import os
import pathlib
import pickle
import re
import sys
import uuid
import warnings
from typing import Any, Callable, Optional, Sequence, Union

from fused import _native
from fused._definition import parse_cache_max_age

__all__ = ["CALL_SITE_OPTIONS", "DEFAULT_MAX_AGE_S", "cache"]

CALL_SITE_OPTIONS = (
    "cache_max_age",
    "cache_reset",
    "cache_verbose",
    "cache_storage",
    "cache_folder_path",
    "cache_key_exclude",
    "concurrent_lock_timeout",
)
_STORAGES = ("auto", "mount", "local", "object")
DEFAULT_MAX_AGE_S = 12 * 3600
DEFAULT_LOCK_TIMEOUT_S = 120.0
_KEY_VERSION = b"fused.cache/1"
_SIMPLE_REPR = (
    complex,
    range,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    datetime.timezone,
    decimal.Decimal,
    uuid.UUID,
    pathlib.PurePath,
    enum.Enum,
)


def _check(options: dict[str, Any]) -> None:
    """Validate (and normalise in place) the cache options of a decorator or a call site."""
    parse_cache_max_age(options.get("cache_max_age"))
    storage = options.get("cache_storage")
    if storage is not None and storage not in _STORAGES:
        raise ValueError(
            f"invalid cache_storage: expected one of {', '.join(_STORAGES)}, got {storage!r}"
        )
    exclude = options.get("cache_key_exclude")
    if isinstance(exclude, str):  # Fused accepts one name as a plain string
        options["cache_key_exclude"] = exclude = (exclude,)
    if exclude is not None and (
        isinstance(exclude, bytes) or not all(isinstance(e, str) for e in exclude)
    ):
        raise ValueError(
            f"invalid cache_key_exclude: expected a list of argument names, got {exclude!r}"
        )
    timeout = options.get("concurrent_lock_timeout")
    if isinstance(timeout, str):  # "30s", "2m": Fused's time format
        options["concurrent_lock_timeout"] = timeout = parse_cache_max_age(timeout)
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0
    ):
        raise ValueError(f"invalid concurrent_lock_timeout: expected seconds >= 0, got {timeout!r}")
    folder = options.get("cache_folder_path")
    if folder is not None:
        options["cache_folder_path"] = _checked_folder(folder, "cache_folder_path")


def _checked_folder(folder: Any, parameter: str) -> str:
    """A cache sub-folder from user code: a relative path without `..` (leading and trailing
    slashes stripped, as Fused does for `path=`), or an absolute path for `cache_folder_path`."""
    if not isinstance(folder, (str, os.PathLike)):
        raise ValueError(f"invalid {parameter}: expected a folder name, got {folder!r}")
    text = os.fspath(folder)
    if "\0" in text:
        raise ValueError(f"invalid {parameter}: the folder name contains a NUL byte: {text!r}")
    expanded = os.path.expanduser(text)
    if parameter == "cache_folder_path" and os.path.isabs(expanded):
        parts = pathlib.PurePath(expanded).parts
    else:
        expanded = expanded.strip("/")
        parts = pathlib.PurePosixPath(expanded).parts
    if ".." in parts or not expanded:
        raise ValueError(
            f"invalid {parameter}: expected a sub-folder of the cache folder "
            f"($FUSED_CACHE_DIR/fused_cache) without '..', got {text!r}"
        )
    return expanded


# -- keys ------------------------------------------------------------------------------------


def _function_identity(fn: Callable[..., Any]) -> bytes:
    """The function's source, else its code object's bytes and constants, plus its name."""
    target = inspect.unwrap(fn)
    qualname = getattr(target, "__qualname__", getattr(target, "__name__", repr(target)))
    try:
        body = inspect.getsource(target).encode()
    except (OSError, TypeError):
        code = getattr(target, "__code__", None)
        if code is None:
            body = repr(target).encode()
        else:
            body = code.co_code + repr(code.co_consts).encode() + repr(code.co_names).encode()
    return qualname.encode() + b"\0" + body


def _frame_digest(frame: Any) -> bytes:
    """Content digest of a pandas DataFrame/Series/Index (geometry as WKB, with CRS)."""
    import pandas as pd

    h = hashlib.sha256()
    h.update(type(frame).__qualname__.encode())
    crs = getattr(frame, "crs", None) if _is_geo(frame) else None
    if crs is not None:
        h.update(b"crs:" + str(crs.to_wkt() if hasattr(crs, "to_wkt") else crs).encode())
    if isinstance(frame, pd.DataFrame):
        h.update(repr(list(frame.columns)).encode())
        h.update(repr([str(t) for t in frame.dtypes]).encode())
        plain = pd.DataFrame(frame).copy(deep=False)
        for i in range(frame.shape[1]):
            column = frame.iloc[:, i]
            if _is_geo(column):
                plain.isetitem(i, _wkb_series(column))
                h.update(b"col-crs:%d:" % i + str(getattr(column, "crs", None)).encode())
        frame = plain
    elif isinstance(frame, pd.Series):
        h.update(repr(frame.name).encode() + str(frame.dtype).encode())
        if _is_geo(frame):
            frame = _wkb_series(frame)
    else:
        h.update(str(getattr(frame, "dtype", "")).encode())
    try:
        hashed = pd.util.hash_pandas_object(frame, index=True)
        h.update(hashed.to_numpy().tobytes())
        if not isinstance(frame, pd.Index):
            h.update(pd.util.hash_pandas_object(frame.index).to_numpy().tobytes())
    except TypeError:  # unhashable cells (lists, dicts): fall back to the pickle
        h.update(pickle.dumps(frame, protocol=5))
    return h.digest()


def _is_geo(obj: Any) -> bool:
    gpd = sys.modules.get("geopandas")
    if gpd is None:
        return False
    if isinstance(obj, (gpd.GeoDataFrame, gpd.GeoSeries)):
        return True
    return str(getattr(obj, "dtype", "")) == "geometry"


def _wkb_series(series: Any) -> Any:
    import pandas as pd
    import shapely

    values = shapely.to_wkb(series.to_numpy(), hex=True)
    return pd.Series(values, index=series.index, name=series.name, dtype=object)


def hash_into(h: Any, value: Any, path: str, strict: bool = False) -> None:
    """Feed a type-tagged content encoding of `value` into the hash `h`. `strict`: a value
    of no known type is a TypeError instead of being hashed by its pickle."""
    if value is None or isinstance(value, (bool, int, float)):
        h.update(f"{type(value).__name__}:{value!r};".encode())
        return
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        h.update(b"str:%d:" % len(data) + data)
        return
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        h.update(b"bytes:%d:" % len(data) + data)
        return
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray):
        h.update(f"ndarray:{value.dtype.str}:{value.shape}:".encode())
        if value.dtype.hasobject:
            hash_into(h, value.tolist(), path, strict)
        else:
            h.update(np.ascontiguousarray(value).tobytes())
        return
    if np is not None and isinstance(value, np.generic):
        h.update(f"npscalar:{value.dtype.str}:".encode())
        hash_into(h, value.item(), path, strict)
        return
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, (pd.DataFrame, pd.Series, pd.Index)):
        h.update(b"pandas:" + _frame_digest(value))
        return
    shapely = sys.modules.get("shapely")
    if shapely is not None and isinstance(value, shapely.Geometry):
        h.update(b"geom:" + shapely.to_wkb(value))
        return
    if isinstance(value, (list, tuple)):
        h.update(f"{type(value).__name__}:{len(value)}[".encode())
        for i, item in enumerate(value):
            hash_into(h, item, f"{path}[{i}]", strict)
        h.update(b"]")
        return
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            kh = hashlib.sha256()
            hash_into(kh, k, f"{path} key", strict)
            vh = hashlib.sha256()
            hash_into(vh, v, f"{path}[{k!r}]", strict)
            items.append(kh.digest() + vh.digest())
        h.update(f"dict:{len(items)}{{".encode() + b"".join(sorted(items)) + b"}")
        return
    if isinstance(value, (set, frozenset)):
        digests = []
        for item in value:
            ih = hashlib.sha256()
            hash_into(ih, item, f"{path} item", strict)
            digests.append(ih.digest())
        h.update(f"set:{len(digests)}{{".encode() + b"".join(sorted(digests)) + b"}")
        return
    if isinstance(value, _SIMPLE_REPR):
        h.update(f"{type(value).__module__}.{type(value).__qualname__}:{value!r};".encode())
        return
    try:
        if strict:
            raise TypeError("no content hash for this type")
        data = pickle.dumps(value, protocol=5)
    except Exception as exc:
        raise TypeError(
            f"@fused.cache cannot hash argument {path} of type {type(value).__name__} "
            f"({exc}); add its name to cache_key_exclude"
        ) from None
    h.update(b"pickle:%d:" % len(data) + data)


def _cache_key(
    fn: Callable[..., Any],
    identity: bytes,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    exclude: Sequence[str],
) -> Optional[str]:
    """The hex key for this call, or None when the arguments do not bind (let it raise)."""
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except TypeError:
        return None
    except ValueError:  # no signature (some builtins): key on the raw call
        h = hashlib.sha256(_KEY_VERSION + b"\0" + identity)
        hash_into(h, (list(args), kwargs), "arguments")
        return h.hexdigest()
    bound.apply_defaults()
    h = hashlib.sha256(_KEY_VERSION + b"\0" + identity)
    for name, value in bound.arguments.items():
        if name in exclude:
            continue
        h.update(b"\0arg:" + name.encode() + b"=")
        hash_into(h, value, repr(name))
    return h.hexdigest()


# -- storage ---------------------------------------------------------------------------------


def _default_root() -> pathlib.Path:
    base = os.environ.get("FUSED_CACHE_DIR") or os.path.join("~", ".cache", "fused")
    return pathlib.Path(base).expanduser() / "fused_cache"


def _function_dir(fn: Callable[..., Any], folder: Union[str, os.PathLike[str], None]) -> str:
    root = _default_root()
    if folder is not None:
        given = pathlib.Path(folder).expanduser()
        root = given if given.is_absolute() else root / given
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", "function"))
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "function"
    return str(root / safe)


def _say(verbose: bool, message: str) -> None:
    if verbose:
        print(f"[fused.cache] {message}", flush=True)


class _Call:
    """One cached call: where its entry lives and how to read and write it."""

    __slots__ = ("folder", "key", "label", "lock_timeout", "max_age", "reset", "verbose")

    def __init__(
        self,
        *,
        label: str,
        folder: str,
        key: str,
        max_age: float,
        reset: bool,
        verbose: bool,
        lock_timeout: float,
    ) -> None:
        self.label, self.folder, self.key = label, folder, key
        self.max_age, self.reset, self.verbose = max_age, reset, verbose
        self.lock_timeout = lock_timeout

    def _lookup(self) -> tuple[bool, Any]:
        data = _native.cache_get(self.folder, self.key, self.max_age)
        if data is None:
            return False, None
        try:
            return True, pickle.loads(data)
        except Exception:  # stale class or module: recompute
            _native.cache_remove(self.folder, self.key)
            return False, None

    def first_lookup(self) -> tuple[bool, Any]:
        if self.reset:
            return False, None
        hit, value = self._lookup()
        if hit:
            _say(self.verbose, f"hit {self.label} {self.key[:16]}")
        return hit, value

    def lookup_after_lock(self, acquired: bool) -> tuple[bool, Any]:
        """Another process may have computed the entry while this one waited for the lock."""
        if not acquired:
            _say(
                self.verbose, f"lock wait for {self.label} timed out after {self.lock_timeout:g} s"
            )
        if not self.reset:
            hit, value = self._lookup()
            if hit:
                _say(self.verbose, f"hit {self.label} {self.key[:16]} (after waiting)")
                return hit, value
        _say(self.verbose, f"{'reset' if self.reset else 'miss'} {self.label} {self.key[:16]}")
        return False, None

    def store(self, result: Any) -> Any:
        try:
            data = pickle.dumps(result, protocol=5)
        except Exception as exc:
            raise TypeError(
                f"@fused.cache: the result of {self.label} cannot be pickled "
                f"({type(exc).__name__}: {exc}); return a picklable value or remove "
                "@fused.cache"
            ) from exc
        _native.cache_put(self.folder, self.key, data)
        return result


#: Keywords of the 1.x `fused.cache` that later became `cache_*` (still used by pinned catalog
#: helpers such as `public/common`'s `@fused.cache(path="read_tiff2")`).
_OLD_NAMES = {"path": "cache_folder_path", "reset": "cache_reset", "storage": "cache_storage"}


def cache(
    func: Optional[Callable[..., Any]] = None,
    *,
    cache_max_age: Union[str, int, None] = None,
    cache_folder_path: Optional[str] = None,
    cache_reset: Optional[bool] = None,
    cache_verbose: Optional[bool] = None,
    cache_storage: Optional[str] = None,
    cache_key_exclude: Optional[Sequence[str]] = None,
    concurrent_lock_timeout: Union[float, str, None] = None,
    path: Optional[str] = None,
    reset: Optional[bool] = None,
    storage: Optional[str] = None,
    **unknown: Any,
) -> Any:
    """Cache a function's results on disk, keyed by its source and arguments; bare or called.

    `path`, `reset` and `storage` are the 1.x names of `cache_folder_path`, `cache_reset` and
    `cache_storage` (accepted with a DeprecationWarning, as Fused 1.x did)."""
    if unknown:
        raise TypeError(
            f"fused.cache() got unexpected keyword argument(s): {', '.join(unknown)}; it "
            f"accepts {', '.join(CALL_SITE_OPTIONS)} (and the 1.x names path, reset, storage)"
        )
    defaults: dict[str, Any] = {
        "cache_max_age": cache_max_age,
        "cache_folder_path": cache_folder_path,
        "cache_reset": cache_reset,
        "cache_verbose": cache_verbose,
        "cache_storage": cache_storage,
        "cache_key_exclude": cache_key_exclude,
        "concurrent_lock_timeout": concurrent_lock_timeout,
    }
    for old_name, value in (("path", path), ("reset", reset), ("storage", storage)):
        if value is None:
            continue
        new_name = _OLD_NAMES[old_name]
        if defaults[new_name] is not None:
            raise TypeError(f"fused.cache() got both {old_name}= and {new_name}=; pass one")
        if old_name == "path":
            value = _checked_folder(value, "path")
        warnings.warn(
            f"fused.cache({old_name}=...) is the 1.x name of {new_name}=",
            DeprecationWarning,
            stacklevel=2,
        )
        defaults[new_name] = value
    _check(defaults)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise TypeError(f"@fused.cache decorates a function, got {type(fn).__name__}")
        identity = _function_identity(fn)
        label = getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))
        try:
            takes_reset = "reset" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            takes_reset = True

        def options(call: dict[str, Any]) -> dict[str, Any]:
            merged = dict(defaults)
            merged.update({k: v for k, v in call.items() if v is not None})
            return merged

        def key_for(args: tuple[Any, ...], kwargs: dict[str, Any], opts: dict[str, Any]):
            return _cache_key(fn, identity, args, kwargs, tuple(opts["cache_key_exclude"] or ()))

        def plan(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Optional[_Call]:
            """Strip the call-site options from `kwargs`; None when the call bypasses the cache."""
            call = {k: kwargs.pop(k) for k in CALL_SITE_OPTIONS if k in kwargs}
            if not takes_reset and "reset" in kwargs and "cache_reset" not in call:
                warnings.warn(
                    "the call-site reset= is the 1.x name of cache_reset=",
                    DeprecationWarning,
                    stacklevel=3,
                )
                call["cache_reset"] = kwargs.pop("reset")
            if call:
                _check(call)
            opts = options(call)
            max_age = parse_cache_max_age(opts["cache_max_age"])
            if max_age is None:
                max_age = DEFAULT_MAX_AGE_S
            verbose = bool(opts["cache_verbose"])
            if max_age == 0:
                _say(verbose, f"bypass {label} (cache_max_age=0)")
                return None
            key = key_for(args, kwargs, opts)
            if key is None:  # arguments do not fit the signature: the call raises as usual
                return None
            timeout = opts["concurrent_lock_timeout"]
            return _Call(
                label=label,
                folder=_function_dir(fn, opts["cache_folder_path"]),
                key=key,
                max_age=float(max_age),
                reset=bool(opts["cache_reset"]),
                verbose=verbose,
                lock_timeout=DEFAULT_LOCK_TIMEOUT_S if timeout is None else float(timeout),
            )

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def wrapper_async(*args: Any, **kwargs: Any) -> Any:
                todo = plan(args, kwargs)
                if todo is None:
                    return await fn(*args, **kwargs)
                hit, value = todo.first_lookup()
                if hit:
                    return value
                with _native.cache_lock(todo.folder, todo.key, todo.lock_timeout) as acquired:
                    hit, value = todo.lookup_after_lock(acquired)
                    if hit:
                        return value
                    return todo.store(await fn(*args, **kwargs))

            wrapper: Callable[..., Any] = wrapper_async
        else:

            @functools.wraps(fn)
            def wrapper_sync(*args: Any, **kwargs: Any) -> Any:
                todo = plan(args, kwargs)
                if todo is None:
                    return fn(*args, **kwargs)
                hit, value = todo.first_lookup()
                if hit:
                    return value
                with _native.cache_lock(todo.folder, todo.key, todo.lock_timeout) as acquired:
                    hit, value = todo.lookup_after_lock(acquired)
                    if hit:
                        return value
                    return todo.store(fn(*args, **kwargs))

            wrapper = wrapper_sync

        def cache_key(*args: Any, **kwargs: Any) -> Optional[str]:
            """The key this call would use (call-site options honoured)."""
            call = {k: kwargs.pop(k) for k in CALL_SITE_OPTIONS if k in kwargs}
            return key_for(args, kwargs, options(call))

        def cache_dir(cache_folder_path: Optional[str] = None) -> str:
            """The folder holding this function's entries."""
            if cache_folder_path is not None:
                cache_folder_path = _checked_folder(cache_folder_path, "cache_folder_path")
            return _function_dir(fn, cache_folder_path or defaults["cache_folder_path"])

        wrapper.cache_key = cache_key  # type: ignore[attr-defined]
        wrapper.cache_dir = cache_dir  # type: ignore[attr-defined]
        return wrapper

    if func is not None:
        return decorate(func)
    return decorate
