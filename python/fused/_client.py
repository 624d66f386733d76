"""Talking to a fused-rs server: credentials, tokens, and JSON/HTTP calls (stdlib only).

The server and token come from `FUSED_SERVER_URL` + `FUSED_AUTH_TOKEN` (an API key or an
access token), else from the credentials file `$FUSED_HOME/credentials` (JSON, mode 0600)
that `fused login` / `fused.NotebookCredentials()` write.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from fused._options import options

__all__ = [
    "JobRecord",
    "Response",
    "ServerError",
    "cancel_job",
    "create_access_token",
    "credentials_path",
    "delete_udf",
    "device_code",
    "device_token",
    "get_job",
    "invalidate_saved_cache",
    "iter_job_results",
    "list_jobs",
    "list_udfs",
    "request",
    "revoke_access_token",
    "run_udf",
    "save_credentials",
    "save_udf",
    "saved_udf",
    "server",
    "submit_job",
    "whoami",
]

DEFAULT_TIMEOUT_S = 600


class ServerError(RuntimeError):
    """The server answered with an error status; `.status`, `.body`, `.url` say which."""

    def __init__(
        self, message: str, status: int, body: Any, url: str, headers: dict[str, str]
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.url = url
        self.headers = headers


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


def credentials_path() -> Path:
    return options.home / "credentials"


def _read_credentials() -> Optional[dict[str, Any]]:
    path = credentials_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"credentials file {path} is unreadable: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("server_url"), str):
        raise ValueError(f"credentials file {path}: expected a JSON object with server_url")
    return data


def forget_credentials() -> Optional[Path]:
    """Remove the saved login; the path removed, or None when there was none."""
    path = credentials_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    _credentials_seen.clear()
    return path


def save_credentials(data: dict[str, Any]) -> Path:
    """Write the credentials file atomically, readable only by its owner (0600)."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".credentials-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
        _credentials_seen.clear()
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _http(
    method: str,
    url: str,
    *,
    body: Optional[bytes] = None,
    headers: Optional[dict[str, str]] = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Response:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - http(s) only
            return Response(
                resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
            )
    except urllib.error.HTTPError as err:
        return Response(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())
    except urllib.error.URLError as err:
        raise ConnectionError(f"cannot reach the fused server at {url}: {err.reason}") from None


def check_server_url(server_url: str) -> str:
    parsed = urllib.parse.urlparse(server_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"invalid server: expected an http(s) URL, got {server_url!r}")
    return server_url.rstrip("/")


def form_post(url: str, fields: dict[str, str]) -> Response:
    body = urllib.parse.urlencode(fields).encode()
    return _http(
        "POST", url, body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )


def _refresh(creds: dict[str, Any]) -> dict[str, Any]:
    resp = form_post(
        creds["server_url"].rstrip("/") + "/oauth/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": creds["refresh_token"],
            "client_id": "fused",
        },
    )
    if resp.status != 200:
        raise PermissionError(
            "the saved login has expired and could not be refreshed "
            f"({resp.status}); run `fused login --server {creds['server_url']}` again"
        )
    token = resp.json()
    creds = {
        **creds,
        "access_token": token["access_token"],
        "refresh_token": token.get("refresh_token", creds["refresh_token"]),
        "expires_at": int(time.time()) + int(token.get("expires_in", 3600)),
    }
    save_credentials(creds)
    return creds


def login_with_refresh_token(server_url: str, refresh_token: str) -> dict[str, Any]:
    """Exchange a refresh token at `server_url` for an access token and save the login."""
    base = check_server_url(server_url)
    return _refresh({"server_url": base, "refresh_token": refresh_token, "expires_at": 0})


def server(required: bool = True) -> Optional[tuple[str, str]]:
    """(server URL, bearer token) for the configured server, refreshing a saved access
    token that is about to expire; None (or an error when `required`) without one."""
    url = options.server_url
    token = os.environ.get("FUSED_AUTH_TOKEN") or None
    if url and token:
        return url.rstrip("/"), token
    creds = _read_credentials()
    if creds is not None and (not url or url.rstrip("/") == creds["server_url"].rstrip("/")):
        if creds.get("refresh_token") and int(creds.get("expires_at", 0)) - 30 < time.time():
            creds = _refresh(creds)
        return creds["server_url"].rstrip("/"), creds["access_token"]
    if required:
        raise RuntimeError(
            "no server configured: set FUSED_SERVER_URL and FUSED_AUTH_TOKEN, or run "
            "`fused login --server URL` (or engine='local' to run in this process)"
        )
    return None


_credentials_seen: dict[str, tuple[float, bool]] = {}  # FUSED_HOME -> (checked at, exists)


def has_server() -> bool:
    """Whether a server is configured. Called by every `fused.run` without an engine, so the
    credentials file's existence is checked at most once a second (a login in this process
    resets it)."""
    if os.environ.get("FUSED_SERVER_URL"):
        return True
    home = os.environ.get("FUSED_HOME", "")
    now = time.monotonic()
    seen = _credentials_seen.get(home)
    if seen is None or now - seen[0] > 1.0:
        seen = (now, credentials_path().exists())
        _credentials_seen[home] = seen
    if not seen[1]:
        return False
    try:
        return _read_credentials() is not None
    except ValueError:
        return False


def _error_message(resp: Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.body[:300].decode("utf-8", "replace")
    if isinstance(body, dict):
        return str(body.get("error_description") or body.get("message") or body.get("error"))
    return str(body)


def request(
    method: str,
    path: str,
    *,
    json_body: Any = None,
    query: Optional[dict[str, str]] = None,
    ok: tuple[int, ...] = (200, 201, 204),
    auth: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Response:
    """A call to the configured server; errors raise (401 -> PermissionError, 404 ->
    FileNotFoundError, 409 -> FileExistsError, others -> ServerError)."""
    base, token = server()  # type: ignore[misc]
    url = base + path + ("?" + urllib.parse.urlencode(query) if query else "")
    headers = {"Accept": "application/json"}
    if auth:
        headers["Authorization"] = f"Bearer {token}"
    body = None
    if json_body is not None:
        body = json.dumps(json_body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    resp = _http(method, url, body=body, headers=headers, timeout=timeout)
    if resp.status in ok:
        return resp
    message = f"{method} {path}: {resp.status} {_error_message(resp)}"
    if resp.status == 401:
        raise PermissionError(message + " (log in again: fused login --server URL)")
    if resp.status == 404:
        raise FileNotFoundError(message)
    if resp.status == 409:
        raise FileExistsError(message)
    raise ServerError(message, resp.status, resp.body, url, resp.headers)


# -- the server's endpoints (every call the SDK makes to a fused-rs server is here) ----------


def device_code(base: str, client_id: str) -> Response:
    """Start the device authorization flow (RFC 8628) at `base`."""
    return form_post(base + "/oauth/device/code", {"client_id": client_id})


def device_token(base: str, device_code: str, client_id: str) -> Response:
    """Poll the device flow's token endpoint once."""
    return form_post(
        base + "/oauth/token",
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": device_code,
            "client_id": client_id,
        },
    )


def whoami() -> dict[str, Any]:
    """The logged-in account: `{"email": ..., "id": ...}`."""
    return request("GET", "/api/v1/me").json()


def list_udfs() -> list[str]:
    return list(request("GET", "/api/v1/udfs").json()["udfs"])


def delete_udf(name: str) -> None:
    request("DELETE", f"/api/v1/udfs/{urllib.parse.quote(name)}")


def save_udf(payload: dict[str, Any], overwrite: bool) -> dict[str, Any]:
    """Save a package (`{"package": ..., "schema": ...}`) under the logged-in account."""
    return request(
        "POST", "/api/v1/udfs", json_body={**payload, "overwrite": bool(overwrite)}
    ).json()


def saved_udf(email: str, name: str) -> dict[str, Any]:
    """A saved UDF's package and owner: `{"package": ..., "owner_email": ...}`."""
    return request(
        "GET",
        f"/api/v1/udfs/saved/{urllib.parse.quote(email)}/{urllib.parse.quote(name)}",
    ).json()


def create_access_token(name: str) -> dict[str, Any]:
    """A share token for the saved UDF `name`: `{"token": ..., "udf_name": ...}`."""
    return request("POST", f"/api/v1/udfs/{urllib.parse.quote(name)}/access-tokens").json()


def revoke_access_token(token: str) -> None:
    request("DELETE", f"/api/v1/access-tokens/{urllib.parse.quote(token)}")


def invalidate_saved_cache(name: str, tile: Optional[tuple[int, int, int]] = None) -> int:
    """Remove the server's cached results of your saved UDF `name` (one tile's with `tile`,
    as x, y, z); how many entries were removed."""
    query = {"x": str(tile[0]), "y": str(tile[1]), "z": str(tile[2])} if tile else None
    email = urllib.parse.quote(whoami()["email"], safe="@")
    quoted = urllib.parse.quote(name, safe="")
    resp = request("DELETE", f"/api/v1/udf/saved/{email}/{quoted}/cache", query=query)
    return int(resp.json()["removed"])


def run_udf(
    body: dict[str, Any],
    tile: Optional[tuple[int, int, int]],
    query: Optional[dict[str, str]],
) -> Response:
    """POST a run (package, schema, parameters, formats) to /api/v1/run/udf[/tiles/z/x/y];
    204 (an empty tile) is an answer too."""
    path = "/api/v1/run/udf"
    if tile is not None:
        x, y, z = tile
        path += f"/tiles/{z}/{x}/{y}"
    return request("POST", path, json_body=body, query=query, ok=(200, 204))


# -- server-side jobs (/api/v1/jobs) -------------------------------------------------------


@dataclass
class JobRecord:
    """One finished task of a server-side job, as `iter_job_results` yields it: `value` is
    the result decoded as a local run returns it (None when the task failed), `error` the
    exception the failure maps to (None when it succeeded)."""

    index: int
    status: str
    value: Any
    error: Optional[Exception]
    attempts: int
    cached: bool
    stdout: str
    stderr: str


def submit_job(
    tasks: list[dict[str, Any]],
    *,
    udf: Optional[dict[str, Any]] = None,
    schema: Optional[dict[str, str]] = None,
    saved: Optional[str] = None,
    parameters: Optional[dict[str, Any]] = None,
    max_retry: Optional[int] = None,
    cache: Optional[bool] = None,
    cache_max_age: Any = None,
    timeout: Optional[float] = None,
) -> dict[str, Any]:
    """Start a job on the server: shipped code (`udf` package dict + `schema`) or your saved
    UDF `saved` ("name" or "email/name") over `tasks` (each `{"parameters": {...}, "tile":
    [x, y, z]}`, values in their HTTP form, see `_remote.encode_parameter`). Every task is
    checked before anything runs (a bad one raises ServerError 422 naming its index).
    Returns `{"id", "state", "n_tasks", "ignored_parameters"}`."""
    body: dict[str, Any] = {"tasks": tasks}
    for name, value in (
        ("udf", udf),
        ("schema", schema),
        ("saved", saved),
        ("parameters", parameters),
        ("max_retry", max_retry),
        ("cache", cache),
        ("cache_max_age", cache_max_age),
        ("timeout", timeout),
    ):
        if value is not None:
            body[name] = value
    return request("POST", "/api/v1/jobs", json_body=body).json()


def _job_path(job_id: str) -> str:
    return "/api/v1/jobs/" + urllib.parse.quote(job_id, safe="")


def get_job(
    job_id: str, *, offset: int = 0, limit: int = 1000, state: Optional[str] = None
) -> dict[str, Any]:
    """A job's state, task counts and the status and times of its tasks (`offset`/`limit`
    page them, `state` filters). FileNotFoundError for an unknown job or someone else's."""
    query = {"offset": str(offset), "limit": str(limit)}
    if state is not None:
        query["state"] = state
    return request("GET", _job_path(job_id), query=query).json()


def cancel_job(job_id: str) -> dict[str, Any]:
    """Cancel a job (pending tasks never run, running ones are interrupted); its status."""
    return request("DELETE", _job_path(job_id)).json()


def list_jobs(limit: int = 100) -> list[dict[str, Any]]:
    """Your jobs, newest first: `{"id", "state", "n_tasks", "counts", ...}` each."""
    return list(request("GET", "/api/v1/jobs", query={"limit": str(limit)}).json()["jobs"])


def _read_exact(resp: Any, n: int) -> Optional[bytes]:
    """`n` bytes from a streamed response; None at a clean end before the first byte."""
    chunks: list[bytes] = []
    got = 0
    while got < n:
        chunk = resp.read(n - got)
        if not chunk:
            if got == 0:
                return None
            raise ConnectionError(f"the job results stream ended inside a record ({got}/{n})")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _job_error(header: dict[str, Any]) -> Exception:
    from fused.types import UdfParameterError, UdfRuntimeError, UdfTimeoutError

    meta = header.get("metadata") or {}
    err = meta.get("error") or {}
    index = header.get("index")
    kind = err.get("error_type")
    message = f"task {index}: {err.get('message')}"
    if kind == "timeout":
        return UdfTimeoutError(message)
    if kind == "parameter":
        return UdfParameterError(message)
    if err.get("exception_class"):
        return UdfRuntimeError(
            message,
            exception_class=str(err["exception_class"]),
            errormsg=str(err.get("errormsg") or ""),
            lineno=err.get("lineno"),
            traceback=str(err.get("traceback") or ""),
            stdout=str(meta.get("stdout") or ""),
            stderr=str(meta.get("stderr") or ""),
        )
    return RuntimeError(message)


def _job_value(header: dict[str, Any], payload: bytes) -> Any:
    from fused._canonical import from_cache

    kind = header.get("kind")
    meta = header.get("metadata") or {}
    if kind == "json":
        return from_cache(("json", json.loads(payload.decode("utf-8"))))
    if kind == "table":
        return from_cache(("table", payload))
    if kind == "raster":
        bounds = meta.get("bounds")
        return from_cache(("raster", payload, meta["dtype"], list(meta["shape"]), bounds))
    if kind == "bytes":
        return from_cache(("bytes", payload, str(meta.get("content_type") or "")))
    raise ValueError(f"job record of task {header.get('index')}: unknown kind {kind!r}")


def iter_job_results(job_id: str, *, follow: bool = True) -> Any:
    """The job's finished tasks as `JobRecord`s, in the order they finished, streamed as
    they finish until the job is over (`follow=False`: only those finished now). Values are
    decoded into the objects a local run returns. A second client (or a later session) can
    read the same job: the stream always starts at the first result."""
    base, token = server()  # type: ignore[misc]
    query = "" if follow else "?follow=false"
    url = base + _job_path(job_id) + "/results" + query
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        resp = urllib.request.urlopen(req, timeout=DEFAULT_TIMEOUT_S)  # noqa: S310 - http(s)
    except urllib.error.HTTPError as err:
        resp_err = Response(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())
        message = f"GET {_job_path(job_id)}/results: {err.code} {_error_message(resp_err)}"
        if err.code == 404:
            raise FileNotFoundError(message) from None
        if err.code == 401:
            raise PermissionError(message) from None
        raise ServerError(message, err.code, resp_err.body, url, resp_err.headers) from None
    except urllib.error.URLError as err:
        raise ConnectionError(f"cannot reach the fused server at {url}: {err.reason}") from None
    with resp:
        while True:
            head_len = _read_exact(resp, 4)
            if head_len is None:
                return
            header = json.loads(_read_exact(resp, int.from_bytes(head_len, "little")) or b"{}")
            size = int.from_bytes(_read_exact(resp, 8) or b"", "little")
            payload = _read_exact(resp, size) if size else b""
            meta = header.get("metadata") or {}
            ok = header.get("status") == "ok"
            yield JobRecord(
                index=int(header["index"]),
                status=str(header.get("status")),
                value=_job_value(header, payload or b"") if ok else None,
                error=None if ok else _job_error(header),
                attempts=int(header.get("attempts") or 0),
                cached=bool(header.get("cached")),
                stdout=str(meta.get("stdout") or ""),
                stderr=str(meta.get("stderr") or ""),
            )
