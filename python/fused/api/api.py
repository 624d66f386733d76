"""Names catalog helper UDFs import from `fused.api.api`."""

from fused._udf import Udf

#: Any UDF object (the `fused` package's base class of UDF models).
AnyBaseUdf = Udf

__all__ = ["AnyBaseUdf"]
