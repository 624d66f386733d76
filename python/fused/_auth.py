"""`fused._auth.refresh_token(token)`: log in with a refresh token (the catalog's CI does
`fused._auth.refresh_token(os.environ["AUTH0_REFRESH_TOKEN"])`).

The token is exchanged at the configured server's `/oauth/token` (refresh-token grant, RFC
6749 section 6) and the resulting login is saved to `$FUSED_HOME/credentials`, exactly as
`fused login` saves one.
"""

from __future__ import annotations

from typing import Any, Optional

from fused._client import login_with_refresh_token

__all__ = ["refresh_token"]


def refresh_token(token: str, server: Optional[str] = None) -> dict[str, Any]:
    """Log in to `server` (default: `fused.options.server_url` / `FUSED_SERVER_URL`) with a
    refresh token; returns the saved credentials."""
    from fused._options import options

    if not isinstance(token, str) or not token.strip():
        raise ValueError("refresh_token: expected a non-empty refresh token string")
    url = server or options.server_url
    if not url:
        raise ValueError("refresh_token needs the server: pass server=URL or set FUSED_SERVER_URL")
    return login_with_refresh_token(url, token.strip())
