"""`fused.models.udf`: UDF model names of the `fused` package (all are `fused.Udf` here)."""

from fused._udf import Udf
from fused.models.udf import udf
from fused.models.udf.udf import BaseUdf, GeoPandasUdfV2, RootAnyBaseUdf

#: Any UDF object (the `fused` package's union of UDF models).
AnyBaseUdf = Udf

__all__ = ["AnyBaseUdf", "BaseUdf", "GeoPandasUdfV2", "RootAnyBaseUdf", "Udf", "udf"]
