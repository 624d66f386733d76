"""Logging in (OAuth 2.0 device flow), whoami, and the registry of saved UDFs.

The HTTP calls are `fused._client`'s; this module checks arguments and shapes answers. It
takes a `Udf` duck-typed and never builds one (`fused._load.load_saved` does), so `Udf`'s
methods can call it."""

from __future__ import annotations

import re
import sys
import time
from typing import TYPE_CHECKING, Any, Optional

from fused import _client
from fused._client import check_server_url, save_credentials, server

if TYPE_CHECKING:
    from fused._udf import Udf

__all__ = [
    "AccessToken",
    "NotebookCredentials",
    "create_access_token",
    "check_name",
    "delete_udf",
    "list_udfs",
    "login",
    "saved_package",
    "save_udf",
    "whoami",
]

CLIENT_ID = "fused"
_SAVED = re.compile(r"^(?P<email>[^/\s@]+@[^/\s@]+)/(?P<name>[A-Za-z0-9_.-]+)$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def login(
    server_url: str, *, open_browser: bool = False, timeout_s: float = 900, out: Any = None
) -> dict[str, Any]:
    """The device authorization flow (RFC 8628): print the URL and code, wait for approval
    on the server's /device page, save the tokens to `$FUSED_HOME/credentials`."""
    out = out or sys.stdout
    base = check_server_url(server_url)
    resp = _client.device_code(base, CLIENT_ID)
    if resp.status != 200:
        raise ConnectionError(f"{base}/oauth/device/code answered {resp.status}")
    grant = resp.json()
    url = grant.get("verification_uri_complete") or grant["verification_uri"]
    print(f"To log in, open {url}\nand enter the code {grant['user_code']}", file=out, flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    interval = max(0.2, float(grant.get("interval", 5)))
    deadline = time.monotonic() + min(timeout_s, float(grant.get("expires_in", timeout_s)))
    while time.monotonic() < deadline:
        time.sleep(interval)
        resp = _client.device_token(base, grant["device_code"], CLIENT_ID)
        body = resp.json() or {}
        if resp.status == 200:
            creds = {
                "server_url": base,
                "access_token": body["access_token"],
                "refresh_token": body.get("refresh_token"),
                "token_type": body.get("token_type", "Bearer"),
                "expires_at": int(time.time()) + int(body.get("expires_in", 3600)),
            }
            path = save_credentials(creds)
            print(f"Logged in; credentials saved to {path}", file=out, flush=True)
            return creds
        error = body.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5
            continue
        if error == "access_denied":
            raise PermissionError("login denied on the approval page")
        if error == "expired_token":
            break
        raise PermissionError(f"login failed: {error or resp.status}")
    raise TimeoutError("the login code expired before it was approved; run the login again")


class NotebookCredentials:
    """Log in from a notebook: `fused.NotebookCredentials(server="http://host:8000")`."""

    def __init__(self, server: Optional[str] = None, **kwargs: Any) -> None:
        from fused._options import options

        server_url = server or options.server_url
        if not server_url:
            raise ValueError(
                "NotebookCredentials needs the server: NotebookCredentials(server=URL) "
                "or FUSED_SERVER_URL"
            )
        self.server_url = check_server_url(server_url)
        self._creds = login(self.server_url, **kwargs)

    @property
    def access_token(self) -> str:
        return self._creds["access_token"]

    def __repr__(self) -> str:
        return f"NotebookCredentials(server={self.server_url!r})"


def whoami() -> dict[str, Any]:
    """The logged-in account: `{"email": ..., "id": ...}`."""
    return _client.whoami()


def list_udfs() -> list[str]:
    """Names of the UDFs saved under the logged-in account."""
    return _client.list_udfs()


def delete_udf(name: str) -> None:
    """Delete one of your saved UDFs (and revoke its share tokens)."""
    _client.delete_udf(check_name(name))


def check_name(name: str) -> str:
    """`name` if it is a valid saved-UDF name, else a ValueError naming it."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"invalid UDF name {name!r}: expected 1-100 letters, digits, '_', '.' or '-'"
        )
    return name


def save_udf(udf: Udf, overwrite: bool = False) -> dict[str, Any]:
    """`udf.to_fused()`: save under the logged-in account; each save is a new version."""
    from fused._remote import udf_payload

    check_name(udf.name)
    return _client.save_udf(udf_payload(udf), overwrite)


def is_saved_reference(text: str) -> bool:
    return bool(_SAVED.match(text))


def saved_package(text: str) -> tuple[dict[str, Any], Optional[str]]:
    """The package of `"<email>/<name>"` or `"<name>"` (your own) and its owner's email
    (`fused.load` builds the `Udf`)."""
    match = _SAVED.match(text)
    if match:
        email, name = match.group("email"), match.group("name")
    else:
        email, name = whoami()["email"], check_name(text)
    body = _client.saved_udf(email, name)
    return body["package"], body.get("owner_email", email)


class AccessToken:
    """A share token of a saved UDF: `.token`, `.shared_url` (file), `.tile_url`
    (an XYZ template for map clients), `.revoke()`."""

    def __init__(self, token: str, udf_name: str, base_url: str) -> None:
        self.token = token
        self.udf_name = udf_name
        self._base = base_url

    @property
    def shared_url(self) -> str:
        return f"{self._base}/shared/{self.token}/run/file"

    @property
    def tile_url(self) -> str:
        return f"{self._base}/shared/{self.token}/run/tiles/{{z}}/{{x}}/{{y}}"

    def revoke(self) -> None:
        _client.revoke_access_token(self.token)

    def __repr__(self) -> str:
        return f"AccessToken(udf_name={self.udf_name!r}, shared_url={self.shared_url!r})"


def create_access_token(udf: Udf) -> AccessToken:
    """A share token for a saved UDF (save it first with `udf.to_fused()`)."""
    check_name(udf.name)
    base, _ = server()  # type: ignore[misc]
    body = _client.create_access_token(udf.name)
    return AccessToken(body["token"], body.get("udf_name", udf.name), base)
