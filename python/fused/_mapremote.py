"""`engine="remote"` for `udf.map` / `fused.submit`: the tasks run as a server-side job.

`JobsBackend` implements the `fused._jobpool.Backend` interface over `/api/v1/jobs`: `submit`
sends one job with every call (the server checks each argument against the UDF's schema
before anything runs; a bad one is a `UdfParameterError` naming its index), a thread reads the
job's results stream as tasks finish (values decoded into the objects a local run returns),
`running` asks the server (at most twice a second), `cancel` / `interrupt` cancel the job on
the server. The server retries failed tasks itself (`max_retry`), so the pool does not retry
them again (`retries_itself`). A job outlives this process: `fused.api.job(id)` reattaches.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Optional, Sequence

from fused._jobpool import Call, Completion

if TYPE_CHECKING:
    from fused._udf import Udf

__all__ = ["JobsBackend", "attach_job"]

_RUNNING_EVERY_S = 0.5


def _status_of(record: Any) -> str:
    if record.status == "ok":
        return "success"
    from fused.types import UdfTimeoutError

    return "timeout" if isinstance(record.error, UdfTimeoutError) else "error"


class JobsBackend:
    """The calls of one `udf.map(engine="remote")`, run as server-side jobs (one per submit)."""

    retries_itself = True

    def __init__(
        self,
        udf: Optional[Udf],
        *,
        max_retry: int = 2,
        cache: bool = True,
        cache_max_age: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> None:
        self.udf = udf
        self.options: dict[str, Any] = {"max_retry": max_retry, "cache": cache}
        if cache_max_age is not None:
            self.options["cache_max_age"] = cache_max_age
        if timeout is not None:
            self.options["timeout"] = timeout
        # job id -> the pool's index of each of its tasks (by the task's index in the job)
        self.jobs: dict[str, list[int]] = {}
        self.open: set[str] = set()  # jobs whose results are still streaming
        self.done: deque[Completion] = deque()
        self.cond = threading.Condition()
        self._running: set[int] = set()
        self._running_at = 0.0

    # -- Backend -----------------------------------------------------------------------------
    def submit(self, calls: Sequence[Call]) -> None:
        from fused._client import ServerError, submit_job
        from fused._remote import encode_parameter, udf_payload
        from fused.types import UdfParameterError

        if not calls:
            return
        if self.udf is None:
            raise RuntimeError("a reattached job cannot run new tasks")
        tasks: list[dict[str, Any]] = []
        for call in calls:
            task: dict[str, Any] = {
                "parameters": {k: encode_parameter(k, v) for k, v in call.params.items()}
            }
            if call.tile is not None:
                task["tile"] = list(call.tile)
            tasks.append(task)
        payload = udf_payload(self.udf)
        try:
            job = submit_job(
                tasks, udf=payload["package"], schema=payload["schema"], **self.options
            )
        except ServerError as err:
            if err.status == 422:
                raise UdfParameterError(str(err)) from None
            raise
        self.watch(str(job["id"]), [c.index for c in calls])

    def watch(self, job_id: str, indexes: list[int]) -> None:
        """Read job `job_id`'s results (its task k is the pool's `indexes[k]`)."""
        with self.cond:
            self.jobs[job_id] = indexes
            self.open.add(job_id)
        threading.Thread(
            target=self._read, args=(job_id,), name=f"fused-job-{job_id}", daemon=True
        ).start()

    def _read(self, job_id: str) -> None:
        from fused._client import iter_job_results

        indexes = self.jobs[job_id]
        seen: set[int] = set()
        try:
            for record in iter_job_results(job_id):
                if not 0 <= record.index < len(indexes) or record.index in seen:
                    continue
                seen.add(record.index)
                c = Completion(
                    indexes[record.index],
                    _status_of(record),
                    record.value,
                    record.error,
                    record.stdout + record.stderr,
                    0.0,
                )
                with self.cond:
                    self.done.append(c)
                    self.cond.notify_all()
            reason: Optional[BaseException] = None
        except Exception as exc:  # noqa: BLE001 - reported on every unfinished task
            reason = exc
        # the stream ended: the job is over; tasks without a record were cancelled (or, when
        # the stream broke, fail with the reason)
        with self.cond:
            for k, i in enumerate(indexes):
                if k not in seen:
                    if reason is None:
                        self.done.append(Completion(i, "cancelled", None, None, "", 0.0))
                    else:
                        self.done.append(Completion(i, "error", None, reason, "", 0.0))
            self.open.discard(job_id)
            self.cond.notify_all()

    def poll(self, timeout: float) -> list[Completion]:
        with self.cond:
            if not self.done and timeout > 0:
                self.cond.wait(timeout)
            out = list(self.done)
            self.done.clear()
            return out

    def running(self) -> set[int]:
        from fused._client import get_job

        now = time.monotonic()
        if now - self._running_at < _RUNNING_EVERY_S:
            return set(self._running)
        running: set[int] = set()
        for job_id in list(self.open):
            try:
                info = get_job(job_id, state="running", limit=10000)
            except Exception:  # noqa: BLE001 - a status query never breaks the pool
                continue
            indexes = self.jobs[job_id]
            for task in info.get("tasks") or []:
                k = task.get("index")
                if isinstance(k, int) and 0 <= k < len(indexes):
                    running.add(indexes[k])
        self._running, self._running_at = running, now
        return set(running)

    def cancel(self, indexes: Optional[Sequence[int]] = None) -> None:
        """Cancel the jobs whose unfinished tasks are all among `indexes` (all when None):
        the server cancels whole jobs, not single tasks."""
        from fused._client import cancel_job

        wanted = None if indexes is None else set(indexes)
        for job_id in list(self.open):
            if wanted is None or set(self.jobs[job_id]) & wanted:
                try:
                    cancel_job(job_id)
                except FileNotFoundError:
                    pass

    def interrupt(self) -> None:
        self.cancel(None)


def attach_job(job_id: str) -> Any:
    """`fused.api.job(id)`: a `JobPool` over a job already on the server (started by this
    or another session); task k of the job is the pool's task k (its argument: `{"task": k}`,
    the server does not list arguments)."""
    from fused._client import get_job
    from fused._jobpool import JobPool

    info = get_job(job_id, limit=1)
    n = int(info.get("n_tasks") or 0)
    backend = JobsBackend(None)
    backend.watch(job_id, list(range(n)))
    udf = info.get("udf")
    name = str(udf) if isinstance(udf, str) else job_id
    return JobPool(name, [{"task": k} for k in range(n)], [], backend, max_retry=0)
