"""`@fused.cache` for helper functions inside UDFs.

This milestone accepts the decorator and its options (bare or called) and strips the
call-site options (`cache_max_age`, `cache_reset`, `cache_verbose`, `cache_storage`,
`cache_folder_path`, `cache_key_exclude`, `concurrent_lock_timeout`) before calling the
function, so catalog code runs unmodified. Results are not stored yet: each call computes.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Sequence, Union

from fused._udf import parse_cache_max_age

__all__ = ["CALL_SITE_OPTIONS", "cache"]

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


def _check(options: dict[str, Any]) -> None:
    parse_cache_max_age(options.get("cache_max_age"))
    storage = options.get("cache_storage")
    if storage is not None and storage not in _STORAGES:
        raise ValueError(
            f"invalid cache_storage: expected one of {', '.join(_STORAGES)}, got {storage!r}"
        )
    exclude = options.get("cache_key_exclude")
    if exclude is not None and (
        isinstance(exclude, str) or not all(isinstance(e, str) for e in exclude)
    ):
        raise ValueError(
            f"invalid cache_key_exclude: expected a list of argument names, got {exclude!r}"
        )


def cache(
    func: Optional[Callable[..., Any]] = None,
    *,
    cache_max_age: Union[str, int, None] = None,
    cache_folder_path: Optional[str] = None,
    cache_reset: Optional[bool] = None,
    cache_verbose: Optional[bool] = None,
    cache_storage: Optional[str] = None,
    cache_key_exclude: Optional[Sequence[str]] = None,
    concurrent_lock_timeout: Optional[float] = None,
    **unknown: Any,
) -> Any:
    """Decorate a function whose results may be cached; use bare or called."""
    if unknown:
        raise TypeError(f"fused.cache() got unexpected keyword argument(s): {', '.join(unknown)}")
    _check(
        {
            "cache_max_age": cache_max_age,
            "cache_storage": cache_storage,
            "cache_key_exclude": cache_key_exclude,
        }
    )

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise TypeError(f"@fused.cache decorates a function, got {type(fn).__name__}")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if any(k in kwargs for k in CALL_SITE_OPTIONS):
                options = {k: kwargs.pop(k) for k in CALL_SITE_OPTIONS if k in kwargs}
                _check(options)
            return fn(*args, **kwargs)

        return wrapper

    if func is not None:
        return decorate(func)
    return decorate
