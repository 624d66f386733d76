"""`fused.core`: older entry points that catalog UDFs still call."""

from __future__ import annotations

from typing import Any

from fused._load import load
from fused._run import run

__all__ = ["import_from_github", "load_udf_from_github", "run_file", "run_tile"]


def load_udf_from_github(url: str, **_options: Any) -> Any:
    """Load a UDF from a GitHub URL (same as `fused.load(url)`)."""
    return load(url)


#: Legacy name: `fused.core.import_from_github(url).utils.helper`.
import_from_github = load_udf_from_github


def run_file(udf: Any, **params: Any) -> Any:
    """Run a UDF in File mode (same as `fused.run(udf, **params)`)."""
    return run(udf, **params)


def run_tile(udf: Any, x: int, y: int, z: int, **params: Any) -> Any:
    """Run a UDF for tile x/y/z (same as `fused.run(udf, x=x, y=y, z=z, **params)`)."""
    return run(udf, x=x, y=y, z=z, **params)
