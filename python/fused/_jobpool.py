"""`JobPool`: the runs of one `udf.map(...)` / `fused.submit(..., collect=False)`.

A JobPool holds one task per element of `arg_list` (in order) and reads their outcomes from a
*backend*, the thing that actually runs them. The backend interface is small so that engines
plug in without touching the pool:

    class Backend(Protocol):
        def submit(self, calls: Sequence[Call]) -> None: ...
            # start these calls (more may come later: retries)
        def poll(self, timeout: float) -> list[Completion]: ...
            # outcomes finished since the last poll; waits up to `timeout` s for the first
        def running(self) -> set[int]: ...
            # indexes of the calls running now (the rest of the unfinished ones are pending)
        def cancel(self, indexes: Optional[Sequence[int]]) -> None: ...
            # stop these calls (all when None); each still reports a `cancelled` completion
        def interrupt(self) -> None: ...
            # Ctrl-C: stop everything now and leave no process behind

A `Call` is (index, params, tile): the element's parameters with the fixed keyword arguments
merged in, and the tile `(x, y, z)` of a Tile-mode run. A `Completion` is (index, status,
value, error, logs, seconds) with status `success`, `error`, `timeout` or `cancelled`.

Backends today: `fused._mapbackends.LocalBackend` (`engine="local"`: the Rust-supervised warm
worker pool, `fused._native.WorkerPool`), `fused._mapbackends.InlineBackend` (in this process:
`debug_mode` and nested maps inside a worker), `fused._mapremote.JobsBackend`
(`engine="remote"`: a server-side job) and `fused._mapdask.DaskBackend` (`engine="dask"`: a
Dask cluster). A backend whose `retries_itself` is true (the server
retries job tasks) gets no retries from the pool.

Task statuses: pending, running, success, error, timeout, cancelled. Errors and timeouts are
retried up to `max_retry` times as soon as they come back; only the last outcome is kept.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Protocol, Sequence

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["STATUSES", "Backend", "Call", "Completion", "JobPool"]

STATUSES = ("pending", "running", "success", "error", "timeout", "cancelled")
_FINISHED = frozenset({"success", "error", "timeout", "cancelled"})
_FAILED = frozenset({"error", "timeout"})


class Call(NamedTuple):
    index: int  # type: ignore[assignment]
    params: dict[str, Any]
    tile: Optional[tuple[int, int, int]]


class Completion(NamedTuple):
    index: int  # type: ignore[assignment]
    status: str
    value: Any
    error: Optional[BaseException]
    logs: str
    seconds: float
    # the canonical result as the worker sent it (`("table", ipc)`, `("json", text)`, ...),
    # when the backend has it: stored in the run cache as is, and tile exports encode it
    raw: Any = None


class Backend(Protocol):
    def submit(self, calls: Sequence[Call]) -> None: ...

    def poll(self, timeout: float) -> list[Completion]: ...

    def running(self) -> set[int]: ...

    def cancel(self, indexes: Optional[Sequence[int]] = None) -> None: ...

    def interrupt(self) -> None: ...


def _interactive() -> bool:
    """A terminal or a notebook: where a progress bar is wanted."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):
        return False


def _index_value(value: Any) -> Any:
    """An argument value as an index level value (hashable, as Fused shows it)."""
    if isinstance(value, (list, tuple, dict)):
        import json

        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            return repr(value)
    mod = type(value).__module__ or ""
    if mod.startswith("geopandas"):
        return value.to_json()
    if mod.startswith("pandas"):
        return value.to_json(orient="records")
    if mod.startswith("shapely"):
        return value.wkt
    return value


class JobPool:
    """The tasks of one `udf.map`: statuses, results, errors and logs in `arg_list` order."""

    def __init__(
        self,
        name: str,
        args: list[dict[str, Any]],
        calls: list[Call],
        backend: Optional[Backend],
        *,
        max_retry: int = 2,
        done: Optional[dict[int, Any]] = None,
        on_success: Optional[Callable[[int, Any, Any], None]] = None,
    ) -> None:
        n = len(args)
        self.name = name
        self.arg_list = args
        self.n_jobs = n
        self._calls = {c.index: c for c in calls}
        self._backend = backend
        self._max_retry = max_retry
        self._on_success = on_success
        self._status = ["pending"] * n
        self._results: list[Any] = [None] * n
        self._raw: list[Any] = [None] * n
        self._errors: list[Optional[BaseException]] = [None] * n
        self._logs: list[Optional[str]] = [None] * n
        self._times: list[Optional[float]] = [None] * n
        self._ended: list[Optional[float]] = [None] * n
        self._attempts = [0] * n
        self._unfinished = n
        self._started_at = time.time()
        for index, value in (done or {}).items():
            self._finish(Completion(index, "success", value, None, "", 0.0), cache=False)
        if calls and backend is not None:
            backend.submit(calls)

    # -- progress ----------------------------------------------------------------------------
    def _finish(self, c: Completion, cache: bool = True) -> None:
        i = c.index
        if self._status[i] in _FINISHED:
            return
        self._attempts[i] += 1
        if (
            c.status in _FAILED
            and self._attempts[i] <= self._max_retry
            and self._backend is not None
            and not getattr(self._backend, "retries_itself", False)
            and i in self._calls
        ):
            self._status[i] = "pending"
            self._backend.submit([self._calls[i]])
            return
        self._status[i] = c.status
        self._results[i] = c.value if c.status == "success" else None
        self._raw[i] = c.raw if c.status == "success" else None
        self._errors[i] = c.error
        self._logs[i] = c.logs
        self._times[i] = c.seconds
        self._ended[i] = time.time()
        self._unfinished -= 1
        if c.status == "success" and cache and self._on_success is not None:
            self._on_success(i, c.value, c.raw)

    def _pump(self, timeout: float) -> int:
        """Read finished tasks (waiting up to `timeout` s for one); returns how many came."""
        if self._backend is None or self._unfinished == 0:
            return 0
        got = self._backend.poll(timeout)
        for c in got:
            self._finish(c)
        return len(got)

    def _refresh(self) -> None:
        self._pump(0.0)
        if self._backend is None or self._unfinished == 0:
            return
        running = self._backend.running()
        for i, s in enumerate(self._status):
            if s in ("pending", "running"):
                self._status[i] = "running" if i in running else "pending"

    def _interrupted(self) -> None:
        if self._backend is not None:
            self._backend.interrupt()
            for c in self._backend.poll(0.0):
                self._finish(c, cache=False)
        for i, s in enumerate(self._status):
            if s not in _FINISHED:
                self._status[i] = "cancelled"
                self._ended[i] = time.time()
                self._unfinished -= 1

    def wait(self) -> None:
        """Wait until every task has finished, with a progress bar (`tqdm.auto`: a widget
        in notebooks, a bar in a terminal, nothing when not interactive). Ctrl-C cancels
        the pool's tasks and stops its workers."""
        if self._unfinished == 0:
            return
        bar = None
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.n_jobs, disable=not _interactive(), unit="run", smoothing=0.1)
            bar.update(self.n_jobs - self._unfinished)
            while self._unfinished:
                before = self._unfinished
                self._pump(0.1)
                bar.update(before - self._unfinished)
        except KeyboardInterrupt:
            self._interrupted()
            raise
        finally:
            if bar is not None:
                bar.close()

    def tail(self, stop_on_exception: bool = False, timeout: Optional[float] = None) -> None:
        """Wait, printing each task's status as it finishes. `stop_on_exception`: raise the
        first error at once; `timeout`: raise `TimeoutError` after that many seconds."""
        start = time.monotonic()
        seen: set[int] = set()
        try:
            while True:
                for i, s in enumerate(self._status):
                    if s in _FINISHED and i not in seen:
                        seen.add(i)
                        args = self.arg_list[i]
                        print(f"[{datetime.now()}] Run #{i} {s} ({self._message()}) {args}")
                        if stop_on_exception and self._errors[i] is not None:
                            raise self._errors[i]  # type: ignore[misc]
                if self._unfinished == 0:
                    break
                if timeout is not None and time.monotonic() - start > timeout:
                    raise TimeoutError(f"Timeout of {timeout} seconds reached.")
                self._pump(0.1)
        except KeyboardInterrupt:
            self._interrupted()
            raise
        print(f"End of tail\n{self._message()}")

    def _message(self) -> str:
        counts: dict[str, int] = {}
        for s in self._status:
            counts[s] = counts.get(s, 0) + 1
        return ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts.get(s))

    # -- state -------------------------------------------------------------------------------
    def done(self) -> bool:
        """True when every task has finished (success, error, timeout or cancelled)."""
        self._pump(0.0)
        return self._unfinished == 0

    def all_succeeded(self) -> bool:
        self._pump(0.0)
        return all(s == "success" for s in self._status)

    def any_failed(self) -> bool:
        self._pump(0.0)
        return any(s in _FAILED for s in self._status)

    def any_succeeded(self) -> bool:
        self._pump(0.0)
        return any(s == "success" for s in self._status)

    def status(self) -> pd.Series:
        """Task counts by status (a Series indexed by status)."""
        import pandas as pd

        self._refresh()
        counts = pd.Series(self._status, dtype=object, name="status").value_counts()
        return counts.rename("count")

    def _where(self, statuses: frozenset[str]) -> list[int]:
        self._refresh()
        return [i for i, s in enumerate(self._status) if s in statuses]

    def pending(self) -> dict[int, Any]:
        """Index -> arguments of the tasks not started yet."""
        return {i: self.arg_list[i] for i in self._where(frozenset({"pending"}))}

    def running(self) -> dict[int, Any]:
        """Index -> arguments of the tasks running now."""
        return {i: self.arg_list[i] for i in self._where(frozenset({"running"}))}

    def cancelled(self) -> dict[int, Any]:
        """Index -> arguments of the cancelled tasks."""
        return {i: self.arg_list[i] for i in self._where(frozenset({"cancelled"}))}

    def success(self) -> dict[int, Any]:
        """Index -> result of the tasks that succeeded so far."""
        return {i: self._results[i] for i in self._where(frozenset({"success"}))}

    def errors(self) -> dict[int, BaseException]:
        """Index -> exception of the tasks that failed (error or timeout) so far."""
        return {i: self._errors[i] for i in self._where(_FAILED)}  # type: ignore[misc]

    def first_error(self) -> Optional[BaseException]:
        """The error of the first failed task (in `arg_list` order), or None."""
        errors = self.errors()
        return errors[min(errors)] if errors else None

    def logs(self) -> list[Optional[str]]:
        """Each task's stdout and stderr (None while unfinished)."""
        self._pump(0.0)
        return [self._logs[i] if s in _FINISHED else None for i, s in enumerate(self._status)]

    def first_log(self) -> Optional[str]:
        """The logs of the first finished task, or None."""
        for log in self.logs():
            if log is not None:
                return log
        return None

    def results(self, return_exceptions: bool = False) -> list[Any]:
        """Every task's result in `arg_list` order (waits). A failed task raises its error,
        or gives the exception itself with `return_exceptions=True`."""
        self.wait()
        out = []
        for i, s in enumerate(self._status):
            if s == "success":
                out.append(self._results[i])
                continue
            exc = self._error_of(i)
            if not return_exceptions:
                raise exc
            out.append(exc)
        return out

    def results_now(self, return_exceptions: bool = False) -> dict[int, Any]:
        """Index -> result of the tasks finished now (failed ones raise, or give their
        exception with `return_exceptions=True`)."""
        self._pump(0.0)
        out: dict[int, Any] = {}
        for i, s in enumerate(self._status):
            if s == "success":
                out[i] = self._results[i]
            elif s in _FINISHED:
                exc = self._error_of(i)
                if not return_exceptions:
                    raise exc
                out[i] = exc
        return out

    def _error_of(self, i: int) -> BaseException:
        exc = self._errors[i]
        if exc is None:
            from concurrent.futures import CancelledError

            exc = CancelledError(f"run #{i} was cancelled")
        return exc

    def times(self) -> list[Optional[timedelta]]:
        """How long each task ran (None while unfinished; 0 for cache hits)."""
        self._pump(0.0)
        return [None if t is None else timedelta(seconds=t) for t in self._times]

    def total_time(self) -> timedelta:
        """From the start of the pool to its last finished task."""
        ended = [e for e in self._ended if e is not None]
        if not ended:
            raise ValueError("No result is available yet")
        return timedelta(seconds=max(ended) - self._started_at)

    def arg_df(self) -> pd.DataFrame:
        """The arguments of each task as a DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.arg_list, index=range(self.n_jobs))

    def logs_df(
        self,
        status_column: Optional[str] = "status",
        result_column: Optional[str] = "result",
        time_column: Optional[str] = "time",
        logs_column: Optional[str] = "logs",
        exception_column: Optional[str] = None,
        include_exceptions: bool = True,
    ) -> pd.DataFrame:
        """The arguments with each task's status, result (or exception), time and logs."""
        import pandas as pd

        self._refresh()
        df = self.arg_df()
        if status_column:
            df[status_column] = list(self._status)
        if time_column:
            df[time_column] = pd.Series(self._times, dtype=float, index=df.index)
        if result_column:
            values: list[Any] = []
            for i, s in enumerate(self._status):
                if s == "success":
                    values.append(self._results[i])
                elif s in _FINISHED and include_exceptions:
                    values.append(self._error_of(i))
                else:
                    values.append(None)
            df[result_column] = pd.Series(values, dtype=object, index=df.index)
        if logs_column:
            df[logs_column] = self.logs()
        if exception_column:
            df[exception_column] = pd.Series(self._errors, dtype=object, index=df.index)
        return df

    # -- control -----------------------------------------------------------------------------
    def cancel(self, wait: bool = False) -> None:
        """Cancel the unfinished tasks: pending ones never start, running ones are
        interrupted (their workers are replaced if they do not stop)."""
        if self._backend is None or self._unfinished == 0:
            return
        unfinished = [i for i, s in enumerate(self._status) if s not in _FINISHED]
        self._max_retry = 0
        self._backend.cancel(unfinished)
        if wait:
            self.wait()
        else:
            self._pump(0.0)

    def retry(self) -> None:
        """Run the failed (error or timeout) tasks again, in this pool."""
        if self._backend is None:
            return
        again = [i for i, s in enumerate(self._status) if s in _FAILED and i in self._calls]
        for i in again:
            self._status[i] = "pending"
            self._attempts[i] = 0
            self._errors[i] = None
            self._unfinished += 1
        if again:
            self._backend.submit([self._calls[i] for i in again])

    # -- collecting --------------------------------------------------------------------------
    def collect(
        self, ignore_exceptions: bool = False, flatten: bool = True, drop_index: bool = False
    ) -> pd.DataFrame:
        """All results in one DataFrame, in `arg_list` order (waits).

        DataFrame (and GeoDataFrame: the crs is kept) results are concatenated with the
        argument values as leading index levels (`drop_index=True`: one `arg_pos` level);
        other results, or any with `flatten=False`, go in a `result` column. A failed task
        raises its error unless `ignore_exceptions=True` (then it is left out)."""
        import pandas as pd

        values = self.results(return_exceptions=ignore_exceptions)
        keep = [i for i, v in enumerate(values) if self._status[i] == "success"]
        if not keep:
            return pd.DataFrame()
        results = {i: values[i] for i in keep}
        frames = all(isinstance(v, pd.DataFrame) for v in results.values())
        if frames and flatten:
            out = pd.concat(results)
        else:
            out = pd.DataFrame({"result": pd.Series(results, dtype=object)})
            out.index = pd.MultiIndex.from_product([out.index])
        args = self.arg_df().iloc[keep]
        if drop_index or args.shape[1] == 0:
            arg_index = pd.MultiIndex.from_arrays([list(keep)], names=["arg_pos"])
        else:
            arg_index = pd.MultiIndex.from_arrays(
                [[_index_value(v) for v in args[c]] for c in args.columns],
                names=list(args.columns),
            )
        codes = out.index.codes[0]
        positions = {k: n for n, k in enumerate(keep)}
        first_level = out.index.levels[0]
        take = [positions[first_level[c]] for c in codes]
        new = pd.MultiIndex(
            levels=list(arg_index.levels) + list(out.index.levels[1:]),
            codes=[c.take(take) for c in arg_index.codes] + list(out.index.codes[1:]),
            names=list(arg_index.names) + list(out.index.names[1:]),
        )
        out.index = new.get_level_values(0) if new.nlevels == 1 else new
        return out

    def df(
        self, ignore_exceptions: bool = False, flatten: bool = True, drop_index: bool = False
    ) -> pd.DataFrame:
        """Same as `collect()`."""
        return self.collect(ignore_exceptions, flatten, drop_index)

    def __len__(self) -> int:
        return self.n_jobs

    def __iter__(self) -> Any:
        return iter(self.results())

    def __repr__(self) -> str:
        self._pump(0.0)
        return f"<JobPool {self.name!r} with {self.n_jobs} jobs [{self._message()}]>"
