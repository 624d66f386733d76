"""`fused.api`: the platform API. Server calls (whoami, list_udfs, ...) need a fused-rs
server and arrive with it; `fused.api.api.AnyBaseUdf` is here for catalog code."""

from fused.api.api import AnyBaseUdf

__all__ = ["AnyBaseUdf"]
