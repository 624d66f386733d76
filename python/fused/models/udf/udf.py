"""`fused.models.udf.udf`: `GeoPandasUdfV2` and its `parse_raw` / `model_validate_json`.

The `fused` package's UDF models are pydantic classes; catalog helpers move a UDF between
processes as `udf.json()` and rebuild it with `GeoPandasUdfV2.parse_raw(text)`. Here the
text is the package JSON of `Udf.json()` (name, code, entrypoint, headers with their source,
parameters, metadata), checked field by field before a `fused.Udf` is built from it.
"""

from __future__ import annotations

import json
from typing import Any, Union

from fused._udf import Udf

__all__ = ["BaseUdf", "GeoPandasUdfV2", "RootAnyBaseUdf"]


def _checked_package(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"a UDF is a JSON object, got {type(data).__name__}")
    for field in ("name", "code"):
        if not isinstance(data.get(field), str):
            raise ValueError(f"UDF JSON field {field!r}: expected a string")
    for field in ("entrypoint", "readme", "type"):
        if data.get(field) is not None and not isinstance(data[field], str):
            raise ValueError(f"UDF JSON field {field!r}: expected a string or null")
    for field in ("parameters", "metadata"):
        if data.get(field) is not None and not isinstance(data[field], dict):
            raise ValueError(f"UDF JSON field {field!r}: expected an object")
    headers = data.get("headers") or []
    if not isinstance(headers, list):
        raise ValueError("UDF JSON field 'headers': expected a list")
    for i, header in enumerate(headers):
        if not isinstance(header, dict) or not all(
            isinstance(header.get(k), str) for k in ("module_name", "source_code")
        ):
            raise ValueError(
                f"UDF JSON field 'headers[{i}]': expected an object with string "
                "'module_name' and 'source_code'"
            )
    return data


class GeoPandasUdfV2(Udf):
    """The `fused` package's model name for a Python UDF; instances are `fused.Udf`s."""

    @classmethod
    def model_validate(cls, data: Any) -> Udf:
        """A `fused.Udf` from the dict form of `Udf.json()`."""
        from fused._package import udf_from_package

        if isinstance(data, Udf):
            return data
        return udf_from_package(_checked_package(data))

    @classmethod
    def model_validate_json(cls, text: Union[str, bytes]) -> Udf:
        """A `fused.Udf` from `Udf.json()` text."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"UDF JSON does not parse: {exc}") from None
        return cls.model_validate(data)

    #: pydantic v1 names, used by catalog helpers
    parse_raw = model_validate_json
    parse_obj = model_validate


BaseUdf = GeoPandasUdfV2
RootAnyBaseUdf = GeoPandasUdfV2
