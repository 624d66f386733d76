"""fused: write Python functions (UDFs) once, run them locally or on a server, tile by tile.

The public API mirrors the `fused` package: `@fused.udf`, `fused.load`, `fused.run`,
`fused.types`, `fused.tiles`, `fused.options`. The work that is not Python object
handling (tile math, parameter rules, UDF packages) is done in Rust (`fused._native`).
"""

from fused import _auth, _export, api, core, models, tiles, types  # noqa: F401 (_auth: fused._auth.refresh_token)
from fused._account import NotebookCredentials
from fused._cache import cache
from fused._load import load
from fused._native import __version__
from fused._options import options
from fused._run import run
from fused._submit import submit
from fused._udf import Header, Udf, udf

# `fused.tiles.export(udf, bbox, minzoom, maxzoom, path, ...)` is attached here, at the top of
# the package: the export runs UDFs, and the tile math module sits below everything that
# does (no import cycle; see tests/test_import_graph.py).
tiles.export = _export.export  # type: ignore[attr-defined]

__all__ = [
    "Header",
    "NotebookCredentials",
    "Udf",
    "__version__",
    "api",
    "cache",
    "core",
    "load",
    "models",
    "options",
    "run",
    "submit",
    "tiles",
    "types",
    "udf",
]
