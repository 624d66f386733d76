"""`fused.models`: the module path under which the `fused` package keeps its UDF models.

Catalog code and its CI import `fused.models.udf.AnyBaseUdf` and call
`fused.models.udf.udf.GeoPandasUdfV2.parse_raw(udf.json())`; here every UDF is a
`fused.Udf`, so these names resolve to it.
"""

from fused.models import udf

__all__ = ["udf"]
