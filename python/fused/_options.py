"""Settings read from the environment (DESIGN.md "Contracts")."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

__all__ = ["Options", "options"]


class Options:
    """Process-wide settings. Environment variables are read when a value is asked for,
    so tests and notebooks can change them at run time."""

    @property
    def home(self) -> Path:
        """`FUSED_HOME`, default `~/.fused`: credentials and settings."""
        return Path(os.environ.get("FUSED_HOME") or Path.home() / ".fused")

    @property
    def cache_directory(self) -> Path:
        """`FUSED_CACHE_DIR`, default `~/.cache/fused`: downloaded packages and results."""
        return Path(os.environ.get("FUSED_CACHE_DIR") or Path.home() / ".cache" / "fused")

    @property
    def server_url(self) -> Optional[str]:
        """`FUSED_SERVER_URL`: the fused-rs server the remote engine talks to, if any."""
        return os.environ.get("FUSED_SERVER_URL") or None

    def __repr__(self) -> str:
        return (
            f"Options(home={str(self.home)!r}, cache_directory={str(self.cache_directory)!r}, "
            f"server_url={self.server_url!r})"
        )


options = Options()
