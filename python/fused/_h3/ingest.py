"""`fused._h3.ingest` is not provided by fused-rs (see `fused._h3`)."""

from fused._h3 import _WHY

raise ImportError(f"cannot import fused._h3.ingest: {_WHY}", name="fused._h3.ingest")
