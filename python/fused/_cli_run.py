"""`fused run UDF [--engine local|remote] [--x X --y Y --z Z] [-o FILE] [--PARAM VALUE ...]`.

UDF is anything `fused.load` takes (a folder, a zip, a `.py` file, a GitHub URL, a saved
UDF's `email/name` or `name`). Parameter values are strings, converted by the UDF's
annotations exactly as `fused.run(udf, name="value")` converts them. The result is printed
(a table for DataFrames) or, with `-o FILE`, written in the format the extension names by
the server's own encoders (so `-o x.tif` is the GeoTIFF the server would answer). The exit
status is 0 on success, 1 when the UDF fails (its error on stderr), 2 for bad arguments.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from typing import Any, Optional

__all__ = ["run_command"]

USAGE = """usage: fused run UDF [--engine local|remote] [--x X --y Y --z Z] [-o FILE]
                 [--cache-max-age AGE | --no-cache] [--PARAM VALUE ...]

Run a UDF (a folder, .zip, .py file, GitHub URL, or a saved UDF's email/name or name) and
print its result, or write it to FILE in the format its extension names:
  .parquet .csv .geojson .json .arrow .feather (tables), .mvt (a tile's table, needs
  --x/--y/--z), .png .tif .tiff .npy (rasters).

options:
  --engine local|remote   where to run (default: remote when a server is configured)
  --x X --y Y --z Z       run in Tile mode for tile z/x/y
  -o, --output FILE       write the result to FILE instead of printing it
  --cache-max-age AGE     accept a cached result younger than AGE ("30m", "2d", seconds)
  --no-cache              always run the code
  --PARAM VALUE           a UDF parameter (also --PARAM=VALUE); converted by its annotation
  -h, --help              show this help
"""

#: output extension -> encoder format name (`fused._native.encode_result`)
EXTENSIONS = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".geojson": "geojson",
    ".json": "json",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".mvt": "mvt",
    ".pbf": "mvt",
    ".png": "png",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".npy": "npy",
}
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class UsageError(ValueError):
    """A bad command line (exit status 2)."""


class Command:
    """The parsed `fused run` command line."""

    def __init__(self) -> None:
        self.udf: Optional[str] = None
        self.engine: Optional[str] = None
        self.tile: dict[str, int] = {}
        self.output: Optional[str] = None
        self.output_format: Optional[str] = None
        self.cache = True
        self.cache_max_age: Optional[str] = None
        self.params: dict[str, str] = {}
        self.help = False


def _int_option(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"--{name}: expected a whole number, got {value!r}") from None


def parse(argv: list[str]) -> Command:
    """Parse `fused run` arguments; UsageError names the argument that is wrong."""
    cmd = Command()
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg in ("-h", "--help"):
            cmd.help = True
            return cmd
        if arg == "--no-cache":
            cmd.cache = False
            continue
        if not arg.startswith("-") or arg == "-":
            if cmd.udf is not None:
                raise UsageError(
                    f"unexpected argument {arg!r}: the UDF is already {cmd.udf!r} "
                    "(parameters are given as --NAME VALUE)"
                )
            cmd.udf = arg
            continue
        if arg.startswith("--") and "=" in arg:
            name, value = arg[2:].split("=", 1)
        else:
            name = arg[2:] if arg.startswith("--") else {"-o": "output"}.get(arg, "")
            if not name:
                raise UsageError(f"unknown option {arg!r} (see fused run --help)")
            if i >= len(argv):
                raise UsageError(f"{arg}: expected a value")
            value = argv[i]
            i += 1
        if name == "engine":
            if value not in ("local", "remote"):
                raise UsageError(f"--engine: expected local or remote, got {value!r}")
            cmd.engine = value
        elif name in ("x", "y", "z"):
            cmd.tile[name] = _int_option(name, value)
        elif name == "output":
            cmd.output = value
        elif name == "cache-max-age":
            cmd.cache_max_age = value
        else:
            if not _PARAM.match(name):
                raise UsageError(f"--{name}: not a parameter name")
            cmd.params[name.replace("-", "_")] = value
    if cmd.udf is None:
        raise UsageError("missing the UDF to run (a path, URL or saved name)")
    if cmd.tile and set(cmd.tile) != {"x", "y", "z"}:
        missing = sorted({"x", "y", "z"} - set(cmd.tile))
        raise UsageError(f"a tile needs --x, --y and --z (missing --{', --'.join(missing)})")
    if cmd.output is not None:
        ext = os.path.splitext(cmd.output)[1].lower()
        if ext not in EXTENSIONS:
            raise UsageError(
                f"-o {cmd.output}: unknown extension {ext or '(none)'!r}; expected one of "
                + ", ".join(EXTENSIONS)
            )
        cmd.output_format = EXTENSIONS[ext]
        if cmd.output_format == "mvt" and not cmd.tile:
            raise UsageError(f"-o {cmd.output}: an MVT tile needs --x, --y and --z")
        folder = os.path.dirname(os.path.abspath(cmd.output))
        if not os.path.isdir(folder):
            raise UsageError(f"-o {cmd.output}: the folder {folder} does not exist")
    return cmd


def write_atomically(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temporary sibling and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def show(value: Any, out: Any) -> None:
    """Print a result for a person: tables as tables, arrays by shape, values as JSON."""
    import numpy as np
    import pandas as pd

    if isinstance(value, (pd.DataFrame, pd.Series)):
        width = shutil.get_terminal_size((120, 24)).columns
        with pd.option_context("display.max_rows", 60, "display.width", width):
            print(value, file=out)
        if isinstance(value, pd.DataFrame):
            crs = getattr(value, "crs", None) if hasattr(value, "geometry") else None
            suffix = f", crs {crs}" if crs is not None else ""
            print(f"[{len(value)} rows x {value.shape[1]} columns{suffix}]", file=out)
        return
    bounds = None
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], np.ndarray):
        value, bounds = value
    if isinstance(value, np.ndarray):
        print(f"array shape {value.shape} dtype {value.dtype}", file=out)
        if bounds is not None:
            print(f"bounds {list(bounds)}", file=out)
        if value.size and value.dtype.kind in "biuf":
            print(f"min {value.min()} max {value.max()}", file=out)
        return
    if isinstance(value, (bytes, bytearray)):
        print(f"{len(value)} bytes (write them with -o FILE)", file=out)
        return
    if isinstance(value, str):
        print(value, file=out)
        return
    try:
        print(json.dumps(value, indent=2, default=str), file=out)
    except (TypeError, ValueError):
        print(repr(value), file=out)


def run_command(argv: list[str]) -> int:
    from fused._canonical import encode_result
    from fused._run import run
    from fused.types import UdfParameterError, UdfRuntimeError

    try:
        cmd = parse(argv)
    except UsageError as exc:
        print(f"fused run: {exc}", file=sys.stderr)
        return 2
    if cmd.help:
        print(USAGE)
        return 0
    kwargs: dict[str, Any] = dict(cmd.params)
    kwargs.update(cmd.tile)
    if cmd.engine:
        kwargs["engine"] = cmd.engine
    if not cmd.cache:
        kwargs["cache"] = False
    if cmd.cache_max_age is not None:
        kwargs["cache_max_age"] = cmd.cache_max_age
    try:
        result = run(cmd.udf, **kwargs)
    except UdfParameterError as exc:
        print(f"fused run: {exc}", file=sys.stderr)
        return 2
    except UdfRuntimeError as exc:
        print(f"fused run: {exc}", file=sys.stderr)
        if getattr(exc, "traceback", None):
            print(exc.traceback.rstrip(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except (TypeError, ValueError, OSError, RuntimeError, PermissionError) as exc:
        print(f"fused run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if cmd.output is None:
        show(result, sys.stdout)
        return 0
    tile = (cmd.tile["x"], cmd.tile["y"], cmd.tile["z"]) if cmd.tile else None
    try:
        data = encode_result(result, cmd.output_format or "", tile)
        write_atomically(cmd.output, data)
    except (ValueError, TypeError, OSError) as exc:
        print(f"fused run: cannot write {cmd.output}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {cmd.output} ({len(data):,} bytes, {cmd.output_format})", file=sys.stderr)
    return 0
