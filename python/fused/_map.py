"""`udf.map(arg_list)`: run a UDF over many inputs (sequentially, in this process)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Iterable, Optional

if TYPE_CHECKING:
    from fused._udf import Udf

__all__ = ["MapResult", "map_udf"]


class MapResult:
    """The runs of one `udf.map(...)`: inputs, results and errors, in input order."""

    def __init__(self, udf_name: str) -> None:
        self.udf_name = udf_name
        self.args: list[dict[str, Any]] = []
        self._results: list[Any] = []
        self._errors: list[Optional[BaseException]] = []
        self.elapsed_s = 0.0

    def __len__(self) -> int:
        return len(self.args)

    def __repr__(self) -> str:
        failed = sum(e is not None for e in self._errors)
        return f"<MapResult {self.udf_name!r}: {len(self)} runs, {failed} failed>"

    def done(self) -> bool:
        return True  # runs are sequential: all are finished when map() returns

    def results(self) -> list[Any]:
        """Each run's result (None where it failed), in input order."""
        return list(self._results)

    def errors(self) -> dict[int, BaseException]:
        """Index -> exception for the runs that failed."""
        return {i: e for i, e in enumerate(self._errors) if e is not None}

    def df(self, raise_errors: bool = True) -> Any:
        """All results in one DataFrame, with the inputs as leading columns.

        DataFrame results are concatenated (each row gets its run's inputs); other results
        become a `result` column. A failed run raises its error unless `raise_errors=False`
        (then it is skipped).
        """
        import pandas as pd

        errors = self.errors()
        if errors and raise_errors:
            first = min(errors)
            raise errors[first]
        frames = []
        for i, (args, result) in enumerate(zip(self.args, self._results)):
            if i in errors:
                continue
            if isinstance(result, pd.DataFrame):
                frame = result.copy()
                for key, value in reversed(list(args.items())):
                    if key not in frame.columns:
                        frame.insert(0, key, [value] * len(frame))
                frames.append(frame)
            else:
                frames.append(pd.DataFrame([{**args, "result": result}]))
        if not frames:
            return pd.DataFrame()
        if all(type(f).__name__ == "GeoDataFrame" for f in frames):
            import geopandas as gpd

            return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)
        return pd.concat(frames, ignore_index=True)


def map_udf(udf: Udf, arg_list: Iterable[Any], **common: Any) -> MapResult:
    """Run `udf` once per item: a dict is keyword arguments, anything else is the value of
    the UDF's first parameter. `common` keyword arguments go to every run."""
    from fused._engine import run_udf
    from fused._execute import prepare

    names = prepare(udf).param_names
    out = MapResult(udf.name)
    start = time.perf_counter()
    for item in arg_list:
        if isinstance(item, dict):
            args = dict(item)
        elif names:
            args = {names[0]: item}
        else:
            raise TypeError(f"UDF {udf.name!r} takes no parameters to map over")
        out.args.append(args)
        try:
            out._results.append(run_udf(udf, engine="local", **common, **args))
            out._errors.append(None)
        except Exception as exc:  # kept per run; df() raises the first
            out._results.append(None)
            out._errors.append(exc)
    out.elapsed_s = time.perf_counter() - start
    return out
