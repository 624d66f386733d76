"""`fused.api`: the fused-rs server's account and registry calls."""

from typing import Any

from fused._account import delete_udf, list_udfs, whoami
from fused.api.api import AnyBaseUdf

__all__ = ["AnyBaseUdf", "delete_udf", "job", "list_jobs", "list_udfs", "whoami"]


def job(job_id: str) -> Any:
    """Reattach to a server-side job (`udf.map(..., engine="remote")`, `POST /api/v1/jobs`)
    by its id: a `JobPool` that streams its results (`wait`, `collect`, `status`, `cancel`)."""
    from fused._mapremote import attach_job

    return attach_job(job_id)


def list_jobs(limit: int = 100) -> list[dict[str, Any]]:
    """Your server-side jobs, newest first (`id`, `state`, `n_tasks`, `counts`, ...)."""
    from fused._client import list_jobs as _list

    return _list(limit)
