"""The local engine's run result cache: `fused.run(udf, ...)` / `udf.run_local(...)` results
under `$FUSED_CACHE_DIR/runs/`. A counter file written by the UDF proves whether it ran."""

from __future__ import annotations

import os
import textwrap
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import fused
from fused import _runcache
from fused.types import UdfRuntimeError

COUNTED = """\
@fused.udf
def udf(path: str, n=1):
    with open(path, "a") as f:
        f.write("run\\n")
    print("side effect")
    return {"n": n, "type": type(n).__name__}
"""


def runs(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def entries() -> list[Path]:
    """The entry files on disk once every write-behind has landed."""
    _runcache.flush_all()
    root = Path(os.environ["FUSED_CACHE_DIR"]) / "runs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def counter(tmp_path) -> Path:
    return tmp_path / "runs.txt"


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    monkeypatch.setattr(_runcache, "_warned", set())


def counted(code: str = COUNTED, **kw):
    return fused.load(textwrap.dedent(code), **kw) if kw else fused.load(textwrap.dedent(code))


def test_second_run_is_served_without_running(counter, capsys):
    udf = counted()
    first = fused.run(udf, path=str(counter), n=3)
    assert first == {"n": 3, "type": "int"}
    assert capsys.readouterr().out == "side effect\n"
    second = fused.run(udf, path=str(counter), n=3)
    assert second == first
    assert runs(counter) == 1
    # on a hit nothing is printed (the code did not run)
    assert capsys.readouterr().out == ""
    # run_local and engine="local" are the same runs
    assert udf.run_local(path=str(counter), n=3) == first
    assert fused.run(udf, engine="local", parameters={"path": str(counter), "n": 3}) == first
    assert runs(counter) == 1
    # one file per entry, under runs/<namespace>/<key>
    (entry,) = entries()
    assert len(entry.name) == 64 and len(entry.parent.name) == 64
    # a loaded copy of the same code shares the entry
    assert counted().run_local(path=str(counter), n=3) == first
    assert runs(counter) == 1


def test_hit_returns_a_new_object_each_time(counter):
    udf = counted()
    a = fused.run(udf, path=str(counter), n=[1, 2])
    b = fused.run(udf, path=str(counter), n=[1, 2])
    assert a == b == {"n": [1, 2], "type": "list"}
    b["n"].append(99)
    assert fused.run(udf, path=str(counter), n=[1, 2]) == {"n": [1, 2], "type": "list"}
    assert runs(counter) == 1


def test_key_sensitivity(counter, tmp_path):
    udf = counted(COUNTED.replace('"n": n,', '"n": repr(n),'))
    p = str(counter)
    fused.run(udf, path=p, n=1)
    fused.run(udf, path=p, n=2)  # other value
    assert runs(counter) == 2
    # "5" and 5 reach the (unannotated) parameter as different objects: different entries
    given = ["5", 5, 5.0, True, (1, 2), [1, 2], {"a": 1, "b": 2}, {"b": 2, "a": 1}, None]
    for n in given:
        assert fused.run(udf, path=p, n=n) == {"n": repr(n), "type": type(n).__name__}
    assert runs(counter) == 2 + len(given)
    # the same values again: all hits
    for n in given:
        assert fused.run(udf, path=p, n=n) == {"n": repr(n), "type": type(n).__name__}
    assert runs(counter) == 2 + len(given)
    counter.write_text("")
    # arrays and frames key by content
    fused.run(udf, path=p, n=np.arange(3))
    fused.run(udf, path=p, n=np.arange(3))
    fused.run(udf, path=p, n=np.arange(3, dtype="int32"))
    fused.run(udf, path=p, n=pd.DataFrame({"a": [1]}))
    fused.run(udf, path=p, n=pd.DataFrame({"a": [1]}))
    fused.run(udf, path=p, n=pd.DataFrame({"a": [1]}, index=[7]))
    assert runs(counter) == 4
    # other code (a comment counts: the key is over the source)
    counted(COUNTED + "# edited\n").run_local(path=p, n=1)
    fused.run(udf, path=p, n=1)
    assert runs(counter) == 5
    # default_parameters are part of the UDF
    with_default = counted()
    with_default.default_parameters = {"n": 1}
    fused.run(with_default, path=p)
    fused.run(with_default, path=p)
    with_default.default_parameters = {"n": 2}
    assert fused.run(with_default, path=p) == {"n": 2, "type": "int"}
    assert runs(counter) == 7


def test_headers_are_part_of_the_key(tmp_path, counter):
    utils = tmp_path / "utils.py"

    def make(value: int):
        utils.write_text(f"VALUE = {value}\n")

        @fused.udf(headers=[str(utils)])
        def udf(path: str):
            import utils

            with open(path, "a") as f:
                f.write("run\n")
            return utils.VALUE

        return udf

    first = make(1)
    assert fused.run(first, path=str(counter)) == 1
    assert fused.run(first, path=str(counter)) == 1
    assert runs(counter) == 1
    second = make(2)
    assert second.code == first.code
    assert fused.run(second, path=str(counter)) == 2
    assert fused.run(second, path=str(counter)) == 2
    assert runs(counter) == 2


TILE = """\
@fused.udf
def udf(bounds: fused.types.Bounds, path: str):
    with open(path, "a") as f:
        f.write("run\\n")
    return [round(v, 6) for v in bounds]
"""


def test_tiles_are_part_of_the_key(counter):
    udf = counted(TILE)
    p = str(counter)
    a = fused.run(udf, x=1, y=2, z=3, path=p)
    assert fused.run(udf, x=1, y=2, z=3, path=p) == a
    assert runs(counter) == 1
    b = fused.run(udf, x=2, y=2, z=3, path=p)
    assert b != a and runs(counter) == 2
    # lat/lng naming the same tile is the same run
    lng, lat = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    assert fused.run(udf, lat=lat, lng=lng, z=3, path=p) == a
    assert runs(counter) == 2
    # a bbox inside that tile is a different run (the UDF gets the bbox itself)
    inner = [a[0] + 1, a[1] + 1, a[0] + 2, a[1] + 2]
    assert fused.run(udf, bbox=inner, path=p) == [round(v, 6) for v in inner]
    assert fused.run(udf, bbox=inner, path=p) == [round(v, 6) for v in inner]
    assert runs(counter) == 3
    other = [a[0] + 1, a[1] + 1, a[0] + 3, a[1] + 2]
    fused.run(udf, bbox=other, path=p)
    assert runs(counter) == 4
    # a geometry keys by its WKB (a geometry-annotated parameter would receive it)
    assert fused.run(udf, bbox=shapely.box(*inner), path=p) == [round(v, 6) for v in inner]
    assert fused.run(udf, bbox=shapely.box(*inner), path=p) == [round(v, 6) for v in inner]
    assert runs(counter) == 5


def test_lifetime_from_the_call_and_the_decorator(counter):
    udf = counted()
    p = str(counter)
    fused.run(udf, path=p, cache_max_age="1s")
    fused.run(udf, path=p, cache_max_age="1s")
    assert runs(counter) == 1
    time.sleep(1.1)
    fused.run(udf, path=p, cache_max_age="1s")
    assert runs(counter) == 2
    # stored for 90 days, but this call accepts nothing older than 1 second
    fused.run(udf, path=p, n=2)
    time.sleep(1.1)
    fused.run(udf, path=p, n=2)
    assert runs(counter) == 3
    fused.run(udf, path=p, n=2, cache_max_age=1)
    assert runs(counter) == 4
    # the decorator's lifetime
    short = counted(COUNTED.replace("@fused.udf", '@fused.udf(cache_max_age="1s")'))
    assert short.cache_max_age == 1
    fused.run(short, path=p)
    fused.run(short, path=p)
    assert runs(counter) == 5
    time.sleep(1.1)
    fused.run(short, path=p)
    assert runs(counter) == 6
    # a call never extends what an entry was stored for
    fused.run(short, path=p, n=3)
    time.sleep(1.1)
    fused.run(short, path=p, n=3, cache_max_age="1h")
    assert runs(counter) == 8


def test_bypass(counter):
    udf = counted()
    p = str(counter)
    fused.run(udf, path=p, cache=False)
    fused.run(udf, path=p, cache=False)
    fused.run(udf, path=p, cache_max_age=0)
    fused.run(udf, path=p, cache_max_age="0s")
    assert runs(counter) == 4
    assert entries() == []  # bypassed runs store nothing
    fused.run(udf, path=p)
    fused.run(udf, path=p, cache=False)  # runs even with an entry there
    assert runs(counter) == 6
    decorated_off = counted(COUNTED.replace("@fused.udf", "@fused.udf(cache_max_age=0)"))
    fused.run(decorated_off, path=p)
    fused.run(decorated_off, path=p)
    assert runs(counter) == 8


def test_a_direct_call_always_runs(counter):
    @fused.udf
    def direct(path: str):
        with open(path, "a") as f:
            f.write("run\n")
        return 7

    assert direct(path=str(counter)) == 7
    assert direct(path=str(counter)) == 7
    assert runs(counter) == 2
    assert entries() == []
    # ... unless it asks for the cache
    direct(path=str(counter), cache=True)
    direct(path=str(counter), cache_max_age="1h")
    assert runs(counter) == 3
    fused.run(direct, path=str(counter))
    assert runs(counter) == 3


def test_errors_are_not_cached(counter, tmp_path):
    flag = tmp_path / "fail"
    flag.write_text("x")
    udf = counted(
        """\
        import os
        @fused.udf
        def udf(path: str, flag: str):
            with open(path, "a") as f:
                f.write("run\\n")
            if os.path.exists(flag):
                raise ValueError("boom")
            return "ok"
        """
    )
    for _ in range(2):
        with pytest.raises(UdfRuntimeError, match="boom"):
            fused.run(udf, path=str(counter), flag=str(flag))
    assert runs(counter) == 2
    assert entries() == []
    flag.unlink()
    assert fused.run(udf, path=str(counter), flag=str(flag)) == "ok"
    assert fused.run(udf, path=str(counter), flag=str(flag)) == "ok"
    assert runs(counter) == 3


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage"])
def test_corrupt_entry_is_recomputed_and_replaced(counter, damage):
    udf = counted()
    p = str(counter)
    assert fused.run(udf, path=p, n=4) == {"n": 4, "type": "int"}
    (entry,) = entries()
    raw = bytearray(entry.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0xFF
    elif damage == "truncate":
        raw = raw[: len(raw) - 10]
    elif damage == "empty":
        raw = bytearray()
    else:
        raw = bytearray(b"not a cache entry at all" * 4)
    entry.write_bytes(bytes(raw))
    with pytest.warns(RuntimeWarning, match="corrupt entry"):
        assert fused.run(udf, path=p, n=4) == {"n": 4, "type": "int"}
    assert runs(counter) == 2
    # replaced by an intact entry, served again
    assert entries() == [entry] and entry.read_bytes() != bytes(raw)
    assert fused.run(udf, path=p, n=4) == {"n": 4, "type": "int"}
    assert runs(counter) == 2


def test_removed_entry_is_recomputed_even_while_in_memory(counter):
    udf = counted()
    fused.run(udf, path=str(counter))
    (entry,) = entries()
    entry.unlink()
    fused.run(udf, path=str(counter))
    assert runs(counter) == 2
    assert len(entries()) == 1


def test_memory_tier_can_be_turned_off(counter, monkeypatch):
    monkeypatch.setenv("FUSED_RUN_CACHE_MEMORY_MB", "0")
    udf = counted()
    fused.run(udf, path=str(counter))
    fused.run(udf, path=str(counter))
    assert runs(counter) == 1
    assert _runcache.run_store().memory_usage() == (0, 0)


def test_unwritable_cache_dir_still_runs_and_warns_once(counter, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("FUSED_CACHE_DIR", str(blocker))
    udf = counted()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(3):
            assert fused.run(udf, path=str(counter), n=n) == {"n": n, "type": "int"}
    assert runs(counter) == 3
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "cannot store" in messages[0], messages


def test_parameters_without_a_content_hash_run_uncached(counter):
    class Opaque:
        pass

    udf = counted()
    fused.run(udf, path=str(counter), n=Opaque())
    fused.run(udf, path=str(counter), n=Opaque())
    assert runs(counter) == 2
    assert entries() == []


# -- round trips ---------------------------------------------------------------------------

RETURNS = """\
import numpy as np
import pandas as pd
import geopandas as gpd
import shapely
@fused.udf
def udf(path: str, which: str):
    with open(path, "a") as f:
        f.write("run\\n")
    return VALUES[which]()

VALUES = {{}}
{cases}
"""

CASES = {
    "frame": "pd.DataFrame({'i': [1, 2, 3], 'f': [0.5, None, 2.0], 's': ['a', 'b', None],"
    " 'b': [True, False, True]})",
    "frame_index": "pd.DataFrame({'v': [1.5, 2.5]}, index=pd.Index(['x', 'y'], name='key'))",
    "frame_int_index": "pd.DataFrame({'v': [1, 2]}, index=[10, 20])",
    "frame_multi": "pd.DataFrame({'v': [1, 2]},"
    " index=pd.MultiIndex.from_tuples([(1, 'a'), (2, 'b')], names=['n', 'l']))",
    "frame_types": "pd.DataFrame({'c': pd.Categorical(['x', 'y', 'x']),"
    " 't': pd.to_datetime(['2020-01-01', '2021-06-01', None]).tz_localize('UTC'),"
    " 'n': pd.array([1, None, 3], dtype='Int64'), 'u8': np.array([1, 2, 3], 'uint8')})",
    "frame_int_columns": "pd.DataFrame({1: [1], 3: [2]})",
    "frame_from_array": "pd.DataFrame(np.arange(6).reshape(3, 2))",
    "frame_int_index_columns": "pd.DataFrame([[1, 2, 3]], columns=pd.Index([5, 9, 10]))",
    "frame_empty": "pd.DataFrame({'a': pd.Series([], dtype='float32')})",
    "gdf": "gpd.GeoDataFrame({'name': ['a', 'b']},"
    " geometry=[shapely.Point(1, 2), shapely.Polygon([(0, 0), (1, 0), (1, 1)])], crs=3857)",
    "gdf_no_crs": "gpd.GeoDataFrame({'v': [1]}, geometry=[shapely.LineString([(0, 0), (1, 1)])])",
    "gdf_named": "gpd.GeoDataFrame({'v': [1, 2]},"
    " geometry=gpd.GeoSeries([shapely.Point(0, 1), None], crs=4326)).rename_geometry('geom')",
    "array_u8": "np.arange(12, dtype='uint8').reshape(3, 4)",
    "array_f32": "np.linspace(0, 1, 6, dtype='float32').reshape(1, 2, 3)",
    "array_bool": "np.array([True, False, True])",
    "array_i64_empty": "np.zeros((0, 3), dtype='int64')",
    "array_fortran": "np.asfortranarray(np.arange(6, dtype='int16').reshape(2, 3))",
    "raster_bounds": "(np.ones((2, 2), 'float64'), [-1.0, -2.0, 3.0, 4.0])",
    "dict": "{'a': [1, 2.5, None, True], 'b': {'nested': 'é'}, 'big': 2**63}",
    "list": "[1, 'two', 3.0, None]",
    "str": "'hello'",
    "html": "'<!DOCTYPE html><html><body>hi</body></html>'",
    "int": "42",
    "float": "0.1",
    "bool": "False",
    "none": "None",
    "bytes": "b'\\x00\\x01binary'",
}


def _returns_udf():
    lines = "\n".join(f"VALUES[{k!r}] = lambda: {v}" for k, v in CASES.items())
    return fused.load(RETURNS.format(cases=lines))


def _assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, gpd.GeoDataFrame):
        from geopandas.testing import assert_geodataframe_equal

        assert_geodataframe_equal(a, b, check_less_precise=False)
        assert a.geometry.name == b.geometry.name
        assert a.crs == b.crs
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert type(a.index) is type(b.index)
        assert [type(c) for c in a.columns] == [type(c) for c in b.columns]
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert a == b
        if isinstance(a, (list, dict)):
            assert repr(a) == repr(b)  # same element types (1 vs 1.0, True vs 1)


@pytest.mark.parametrize("which", sorted(CASES))
def test_round_trip(which, counter):
    udf = _returns_udf()
    fresh = fused.run(udf, path=str(counter), which=which)
    cached = fused.run(udf, path=str(counter), which=which)
    assert runs(counter) == 1, "the second run is served from the cache"
    _assert_same(fresh, cached)
    # from disk too (a new process has no memory tier)
    _runcache.run_store().clear_memory()
    _assert_same(fresh, fused.run(udf, path=str(counter), which=which))
    assert runs(counter) == 1


def test_cached_arrays_and_frames_are_writable_copies(counter):
    udf = _returns_udf()
    p = str(counter)
    fused.run(udf, path=p, which="array_u8")
    arr = fused.run(udf, path=p, which="array_u8")
    arr[0, 0] = 99
    assert fused.run(udf, path=p, which="array_u8")[0, 0] == 0
    fused.run(udf, path=p, which="frame")
    df = fused.run(udf, path=p, which="frame")
    df.loc[0, "i"] = 100
    assert fused.run(udf, path=p, which="frame").loc[0, "i"] == 1
    assert runs(counter) == 2


NOT_CACHED = {
    # arrow turns lists in cells into arrays
    "frame_lists": "pd.DataFrame({'a': [[1, 2], [3]]})",
    # object columns of str come back as the string dtype
    "frame_object_str": "pd.DataFrame({'a': ['x', 'y']}, dtype=object)",
    "series": "pd.Series([1, 2], name='s')",
    # int labels in progression come back as a RangeIndex, an explicit Index of them would not
    "frame_int_index_progression": "pd.DataFrame([[1, 2]], columns=pd.Index([5, 9]))",
    "geometry": "shapely.Point(1, 2)",
    "tuple": "(1, 2)",
    "numpy_scalar": "np.float32(1.5)",
    "int_keys": "{1: 'a'}",
    "nan": "float('nan')",
    "big_endian": "np.arange(3, dtype='>i4')",
    "float16": "np.zeros(2, dtype='float16')",
    "bounds_tuple": "(np.ones((2, 2)), (0, 0, 1, 1))",
    "bytearray": "bytearray(b'ab')",
    "object": "object()",
    "set": "{1, 2}",
}


@pytest.mark.parametrize("which", sorted(NOT_CACHED))
def test_results_that_do_not_round_trip_are_returned_as_is_and_not_cached(which, counter):
    lines = "\n".join(f"VALUES[{k!r}] = lambda: {v}" for k, v in NOT_CACHED.items())
    udf = fused.load(RETURNS.format(cases=lines))
    first = fused.run(udf, path=str(counter), which=which)
    second = fused.run(udf, path=str(counter), which=which)
    assert runs(counter) == 2
    assert entries() == []
    assert type(first) is type(second)
    if which == "series":
        pd.testing.assert_series_equal(first, second)
    elif which == "geometry":
        assert first.equals(shapely.Point(1, 2))
    elif which == "big_endian":
        assert first.dtype.str == ">i4"


def test_server_and_local_keys_agree(tmp_path, monkeypatch):
    """For string parameters and an x/y/z tile, the local entry's name is the server's."""
    from harness import Server, binary

    udf = fused.load(TILE)
    counter = tmp_path / "runs.txt"
    data = tmp_path / "data"
    srv = Server(binary(), data, workers=1)
    try:
        srv.wait_workers(1)
        monkeypatch.setenv("FUSED_SERVER_URL", srv.base)
        monkeypatch.setenv("FUSED_AUTH_TOKEN", srv.key)
        remote = fused.run(udf, engine="remote", x=5, y=6, z=4, path=str(counter))
    finally:
        srv.stop()
    local = fused.run(udf, engine="local", x=5, y=6, z=4, path=str(counter))
    assert remote == local
    assert runs(counter) == 2  # one run each
    server_entries = sorted(p.relative_to(data / "cache") for p in (data / "cache").rglob("*"))
    server_files = [p for p in server_entries if (data / "cache" / p).is_file()]
    local_files = [p.relative_to(Path(os.environ["FUSED_CACHE_DIR"]) / "runs") for p in entries()]
    assert len(local_files) == 1
    assert server_files == local_files


def test_results_stored_behind_are_on_disk_when_the_interpreter_exits(tmp_path):
    """A miss returns before its entry is written; every entry is on disk after a normal exit."""
    import subprocess
    import sys

    cache = tmp_path / "exit-cache"
    log = tmp_path / "runs.log"
    script = tmp_path / "behind.py"
    script.write_text(
        textwrap.dedent(
            """
            import fused

            @fused.udf
            def double(a: int = 1):
                import os

                with open(os.environ["RUNS_LOG"], "a") as f:
                    f.write("x")
                return {"a": a * 2}

            for a in range(300):
                assert fused.run(double, a=a) == {"a": a * 2}
                # served at once, before or after its write
                assert fused.run(double, a=a) == {"a": a * 2}
            """
        )
    )
    env = {**os.environ, "FUSED_CACHE_DIR": str(cache), "RUNS_LOG": str(log)}
    subprocess.run([sys.executable, str(script)], env=env, check=True, timeout=120)
    assert log.read_text() == "x" * 300
    files = [p for p in (cache / "runs").rglob("*") if p.is_file()]
    assert len(files) == 300, len(files)
    assert not [p for p in files if ".tmp" in p.name]
    # a new process serves all 300 from disk without running the code
    subprocess.run([sys.executable, str(script)], env=env, check=True, timeout=120)
    assert log.read_text() == "x" * 300
