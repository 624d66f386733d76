"""`@fused.cache`: results stored on disk by content key, across calls and processes."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fused
from fused import _native

ROOT = Path(__file__).resolve().parent.parent


def counted(calls):
    """A cached function that records each real computation in `calls`."""

    @fused.cache
    def add(a, b=1):
        calls.append((a, b))
        return a + b

    return add


def test_hit_miss_and_defaults():
    calls = []
    add = counted(calls)
    assert add(1, 2) == 3
    assert add(1, 2) == 3
    assert add(a=1, b=2) == 3  # bound by signature: the same key
    assert calls == [(1, 2)]
    assert add(1) == 2
    assert add(1, 1) == 2  # default applied: same key as add(1)
    assert add(2, 2) == 4
    assert calls == [(1, 2), (1, 1), (2, 2)]
    assert add.__name__ == "add"  # functools.wraps kept
    assert add.cache_key(1) == add.cache_key(1, b=1) != add.cache_key(1, 2)


def test_storage_layout(tmp_path):
    calls = []
    add = counted(calls)
    add(5, 5)
    key = add.cache_key(5, 5)
    folder = Path(os.environ["FUSED_CACHE_DIR"]) / "fused_cache" / "counted._locals_.add"
    assert add.cache_dir() == str(folder)
    entry = folder / key[:2] / f"{key}.bin"
    assert entry.is_file()
    assert entry.read_bytes()[:4] == b"FCCH"
    assert len(key) == 64

    @fused.cache(cache_folder_path=str(tmp_path / "mine"))
    def sq(x):
        return x * x

    assert sq(3) == 9
    assert list((tmp_path / "mine" / "test_storage_layout._locals_.sq").glob("*/*.bin"))


def test_dataframe_args_hashed_by_content():
    calls = []

    @fused.cache
    def total(df):
        calls.append(1)
        return float(df["v"].sum())

    df = pd.DataFrame({"v": [1.0, 2.0, 3.0], "s": ["a", "b", "c"]})
    assert total(df) == 6.0
    assert total(df.copy()) == 6.0  # an equal frame hits
    assert len(calls) == 1
    changed = df.copy()
    changed.loc[2, "v"] = 30.0
    assert total(changed) == 33.0
    assert len(calls) == 2
    renamed = df.rename(columns={"s": "t"})
    assert total(renamed) == 6.0  # other column name: other key
    assert len(calls) == 3
    # Large frames whose str() is identical (elided middle rows) still differ.
    big = pd.DataFrame({"v": np.arange(1000.0)})
    big2 = big.copy()
    big2.loc[500, "v"] = -1.0
    assert str(big) == str(big2)
    assert total(big) != total(big2)
    assert len(calls) == 5
    assert total(big["v"].to_frame()) == total(big)
    assert len(calls) == 5


@pytest.mark.filterwarnings("ignore:Geometry is in a geographic CRS")
def test_geodataframe_and_shapely_args():
    gpd = pytest.importorskip("geopandas")
    shapely = pytest.importorskip("shapely")
    calls = []

    @fused.cache
    def area(gdf, geom):
        calls.append(1)
        return float(gdf.area.sum() + geom.area)

    box = shapely.box(0, 0, 1, 1)
    gdf = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.box(0, 0, 2, 2)], crs=3857)
    assert area(gdf, box) == 5.0
    assert area(gdf.copy(), shapely.box(0, 0, 1, 1)) == 5.0
    assert len(calls) == 1
    moved = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.box(0, 0, 3, 3)], crs=3857)
    assert area(moved, box) == 10.0
    assert area(gdf.set_crs(4326, allow_override=True), box) == 5.0  # other CRS: miss
    assert len(calls) == 3


def test_numpy_args():
    calls = []

    @fused.cache
    def total(arr):
        calls.append(1)
        return int(arr.sum())

    a = np.arange(12, dtype="int64").reshape(3, 4)
    assert total(a) == 66
    assert total(a.copy()) == 66
    assert total(np.asfortranarray(a)) == 66  # same content, other memory layout
    assert len(calls) == 1
    assert total(a.reshape(4, 3)) == 66  # other shape: miss
    assert total(a.astype("int32")) == 66  # other dtype: miss
    b = a.copy()
    b[0, 0] = 100
    assert total(b) == 166
    assert len(calls) == 4


def test_containers_and_dict_order():
    calls = []

    @fused.cache
    def f(cfg, items):
        calls.append(1)
        return sorted(cfg) + list(items)

    assert f({"a": 1, "b": [1, 2]}, (1, 2)) == ["a", "b", 1, 2]
    assert f({"b": [1, 2], "a": 1}, (1, 2)) == ["a", "b", 1, 2]
    assert len(calls) == 1
    assert f({"a": 1, "b": [1, 3]}, (1, 2)) == ["a", "b", 1, 2]
    assert f({"a": 1, "b": [1, 2]}, [1, 2]) == ["a", "b", 1, 2]  # list != tuple
    assert f({"a": 1.0, "b": [1, 2]}, (1, 2)) == ["a", "b", 1, 2]  # 1.0 != 1
    assert len(calls) == 4


def test_cache_key_exclude():
    calls = []

    @fused.cache(cache_key_exclude=["verbose"])
    def f(x, verbose=False):
        calls.append(verbose)
        return x * 2

    assert f(2, verbose=False) == 4
    assert f(2, verbose=True) == 4
    assert calls == [False]
    # Call-site exclude overrides the decorator's.
    assert f(3, cache_key_exclude=[]) == 6
    assert f(3, verbose=True, cache_key_exclude=[]) == 6
    assert calls == [False, False, True]


def test_cache_reset_recomputes_and_overwrites():
    calls = []
    add = counted(calls)
    assert add(1, 1) == 2
    assert add(1, 1, cache_reset=True) == 2
    assert add(1, 1) == 2
    assert len(calls) == 2


def test_cache_max_age_expiry():
    calls = []

    @fused.cache(cache_max_age="1s")
    def f(x):
        calls.append(x)
        return x

    assert f(1) == 1
    assert f(1) == 1
    assert calls == [1]
    time.sleep(1.2)
    assert f(1) == 1
    assert calls == [1, 1]
    # Call-site override: an hour-long lifetime reads the entry that a 1 s one would not.
    time.sleep(1.2)
    assert f(1, cache_max_age="1h") == 1
    assert calls == [1, 1]
    # 0 bypasses: computes every time.
    f(1, cache_max_age=0)
    f(1, cache_max_age=0)
    assert calls == [1, 1, 1, 1]


def test_errors_are_not_cached():
    calls = []

    @fused.cache
    def flaky(x):
        calls.append(x)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return x

    with pytest.raises(RuntimeError, match="first call fails"):
        flaky(7)
    assert flaky(7) == 7
    assert flaky(7) == 7
    assert calls == [7, 7]


def test_unpicklable_result_names_the_function():
    @fused.cache
    def make_lambda(x):
        return lambda: x

    with pytest.raises(TypeError, match="make_lambda.*cannot be pickled"):
        make_lambda(1)


def test_call_site_options_stripped_and_validated(capsys):
    seen = []

    @fused.cache
    def f(x, **kwargs):
        seen.append(kwargs)
        return x

    out = f(
        1,
        cache_max_age="30m",
        cache_reset=True,
        cache_verbose=True,
        cache_storage="local",
        cache_folder_path=None,
        cache_key_exclude=[],
        concurrent_lock_timeout=5,
    )
    assert out == 1
    assert seen == [{}]
    assert "[fused.cache] reset " in capsys.readouterr().out
    f(1, cache_verbose=True)
    assert "[fused.cache] hit " in capsys.readouterr().out
    with pytest.raises(ValueError, match="cache_storage"):
        f(1, cache_storage="s3")
    with pytest.raises(ValueError, match="cache_max_age"):
        f(1, cache_max_age="soon")
    with pytest.raises(ValueError, match="concurrent_lock_timeout"):
        f(1, concurrent_lock_timeout=-1)


def test_bare_and_called_forms():
    @fused.cache
    def a(x):
        return x + 1

    @fused.cache()
    def b(x):
        return x + 2

    @fused.cache(cache_max_age=3600, cache_verbose=False, cache_storage="auto")
    def c(x):
        return x + 3

    assert (a(1), b(1), c(1)) == (2, 3, 4)
    assert (a(1), b(1), c(1)) == (2, 3, 4)
    with pytest.raises(TypeError, match="unexpected keyword"):
        fused.cache(cache_ttl=1)
    with pytest.raises(TypeError, match="decorates a function"):
        fused.cache(42)


def test_source_change_is_a_new_key():
    @fused.cache
    def f(x):
        return x + 1

    key1 = f.cache_key(1)

    @fused.cache
    def f(x):  # noqa: F811 - redefined on purpose
        return x + 2

    assert f.cache_key(1) != key1
    assert f(1) == 3


def test_native_store_round_trip(tmp_path):
    key = "ab" * 32
    assert _native.cache_get(tmp_path, key) is None
    _native.cache_put(tmp_path, key, b"payload")
    assert _native.cache_get(tmp_path, key, 60.0) == b"payload"
    with _native.cache_lock(tmp_path, key, 1.0) as got:
        assert got is True
        other = _native.cache_lock(tmp_path, key, 0.05)
        assert other.acquire() is False
    assert other.acquire() is True
    other.release()
    assert _native.cache_remove(tmp_path, key) is True
    assert _native.cache_get(tmp_path, key) is None
    with pytest.raises(ValueError, match="cache key"):
        _native.cache_get(tmp_path, "../x")


WORKER = textwrap.dedent(
    """
    import sys, time
    import fused

    counter, go = sys.argv[1], float(sys.argv[2])

    @fused.cache
    def slow(n):
        with open(counter, "a") as f:
            f.write("x")
        time.sleep(1.0)
        return n * 10

    while time.time() < go:
        time.sleep(0.005)
    print(slow(4))
    """
)


def test_two_processes_compute_once(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    counter = tmp_path / "count.txt"
    go = time.time() + 1.5
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(counter), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1] for o in outs]
    assert [o[0].strip() for o in outs] == ["40", "40", "40"]
    assert counter.read_text() == "x"


UDF_CODE = """
@fused.cache
def slow_square(n, counter):
    with open(counter, "a") as f:
        f.write("x")
    return n * n


@fused.udf
def udf(n: int = 2, counter: str = ""):
    return slow_square(n, counter) + 1
"""


def test_udf_run_uses_cached_helper(tmp_path):
    counter = str(tmp_path / "count.txt")
    udf = fused.load(UDF_CODE)
    assert fused.run(udf, engine="local", n=3, counter=counter) == 10
    # A fresh load re-executes the module: the helper is a new function, same source.
    again = fused.load(UDF_CODE)
    assert fused.run(again, engine="local", n="3", counter=counter) == 10
    assert Path(counter).read_text() == "x"
    assert fused.run(again, engine="local", n=4, counter=counter) == 17
    assert Path(counter).read_text() == "xx"


# -- the 1.x keywords (pinned catalog helpers: `@fused.cache(path="read_tiff2")`) ------------


def test_path_keyword_is_a_subfolder_of_the_cache():
    calls = []
    with pytest.warns(DeprecationWarning, match="path=.*cache_folder_path"):

        @fused.cache(path="read_tiff2")
        def read(x):
            calls.append(x)
            return x + 1

    assert read(1) == 2 and read(1) == 2
    assert calls == [1]
    root = Path(os.environ["FUSED_CACHE_DIR"]) / "fused_cache" / "read_tiff2"
    assert read.cache_dir().startswith(str(root))
    assert list(root.glob("*/*/*.bin"))
    with pytest.warns(DeprecationWarning):

        @fused.cache(path="/leading/slash/")  # Fused strips the slashes
        def other(x):
            return x

    assert other.cache_dir().startswith(
        str(Path(os.environ["FUSED_CACHE_DIR"]) / "fused_cache" / "leading" / "slash")
    )


@pytest.mark.parametrize("bad", ["../outside", "a/../../b", "..", "", "/"])
def test_path_cannot_escape_the_cache_folder(bad):
    with pytest.raises(ValueError, match=r"invalid path: expected a sub-folder"):
        fused.cache(path=bad)
    with pytest.raises(ValueError, match=r"invalid cache_folder_path"):
        fused.cache(cache_folder_path=bad if bad not in ("", "/") else "../x")
    with pytest.raises(ValueError, match="invalid path: expected a folder name"):
        fused.cache(path=3)


def test_reset_and_storage_old_names():
    calls = []
    with pytest.warns(DeprecationWarning):

        @fused.cache(reset=True, storage="local")
        def f(x):
            calls.append(x)
            return x

    f(1)
    f(1)
    assert calls == [1, 1]  # reset=True recomputes every time

    @fused.cache
    def g(x):
        calls.append(("g", x))
        return x

    g(2)
    with pytest.warns(DeprecationWarning, match="reset="):
        g(2, reset=True)  # a call-site reset= when g has no `reset` parameter
    assert calls.count(("g", 2)) == 2

    @fused.cache
    def h(x, reset=False):  # a function with its own `reset` gets it untouched
        calls.append(("h", x, reset))
        return reset

    assert h(1, reset=True) is True
    assert ("h", 1, True) in calls
    with pytest.raises(TypeError, match="both path= and cache_folder_path="):
        fused.cache(path="a", cache_folder_path="b")
    with pytest.raises(TypeError, match="unexpected keyword argument.*retry"):
        fused.cache(retry=3)


def test_string_forms_of_fused_options():
    calls = []

    @fused.cache(cache_key_exclude="conn", concurrent_lock_timeout="30s")
    def f(x, conn=None):
        calls.append(x)
        return x

    f(1, conn=object())
    f(1, conn=object())
    assert calls == [1]
    with pytest.raises(ValueError, match="cache_max_age|concurrent_lock_timeout|invalid"):
        fused.cache(concurrent_lock_timeout="soon")


def test_async_functions_are_cached():
    import asyncio

    calls = []

    @fused.cache
    async def fetch(x):
        calls.append(x)
        await asyncio.sleep(0)
        return {"x": x}

    assert asyncio.run(fetch(4)) == {"x": 4}
    assert asyncio.run(fetch(4)) == {"x": 4}
    assert calls == [4]
