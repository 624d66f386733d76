"""`fused.api`: the fused-rs server's account and registry calls."""

from fused._account import delete_udf, list_udfs, whoami
from fused.api.api import AnyBaseUdf

__all__ = ["AnyBaseUdf", "delete_udf", "list_udfs", "whoami"]
