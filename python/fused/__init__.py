"""fused: the UDF platform API on a Rust core (fused-rs)."""

from fused._native import __version__

__all__ = ["__version__"]
