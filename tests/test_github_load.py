"""fused.load from GitHub and gists, end to end through the public API, against the fake
GitHub on 127.0.0.1 (tests/fake_github.py). Fixture UDFs imitate the catalog's shapes."""

from __future__ import annotations

import json

import pytest

import fused
from fused.types import UdfRuntimeError

SHA = "0123456789abcdef0123456789abcdef01234567"
OWNER, REPO = "fusedio", "udfs"
GH = f"https://github.com/{OWNER}/{REPO}"


def meta(name, source=None, code=None, headers=(), entrypoint="udf", parameters=None):
    udf = {
        "type": "geopandas_v2",
        "name": name,
        "entrypoint": entrypoint,
        "parameters": parameters or {},
        "metadata": {"fused:udfType": "auto", "fused:slug": name},
        "headers": list(headers),
    }
    if source is not None:
        udf["source"] = source
    if code is not None:
        udf["code"] = code
    return json.dumps(
        {
            "version": "0.0.3",
            "job_config": {
                "version": "0.0.3",
                "name": None,
                "steps": [{"type": "udf", "udf": udf}],
                "metadata": None,
            },
        },
        indent=2,
    )


# A shared helper folder, as the catalog's public/common: a legacy utils.py header and
# module-level helpers next to a trivial udf; source named after the folder.
COMMON_PY = """@fused.udf
def udf(bounds: fused.types.Bounds = [-122.42, 37.77, -122.41, 37.78]):
    return to_list(bounds)


def to_list(bounds):
    return [float(b) for b in bounds]


@fused.cache
def double(x):
    return 2 * x
"""
COMMON_UTILS = """from fused._optional_deps import GPD_GEODATAFRAME, HAS_GEOPANDAS, HAS_MERCANTILE
from fused.api.api import AnyBaseUdf


def describe(obj):
    return {"gdf": isinstance(obj, GPD_GEODATAFRAME), "udf": isinstance(obj, AnyBaseUdf)}


def flags():
    return (HAS_GEOPANDAS, HAS_MERCANTILE)
"""

# A catalog UDF: loads the pinned helper at module level and again inside its function.
APP_PY = f'''common = fused.load("{GH}/tree/{SHA}/public/common/")


@fused.udf
def udf(bbox: fused.types.TileGDF = None, n: int = 2):
    import pandas as pd

    inner = fused.load("{GH}/tree/{SHA}/public/common")
    doubled = common.double(n, cache_max_age="1d", cache_reset=True, cache_verbose=False)
    return pd.DataFrame({{
        "z": [int(bbox.z.iloc[0])],
        "doubled": [doubled],
        "gdf": [common.utils.describe(bbox)["gdf"]],
        "same_code": [inner.code == common.code],
        "flags": [str(common.utils.flags())],
    }})
'''

# Two decorated functions in one file; source not named after the folder.
TWO_PY = """@fused.udf
def helper_udf(a: int = 1):
    return a


@fused.udf
def udf(a: int = 1):
    return helper_udf.__name__, a * 3
"""


@pytest.fixture
def gh(fake_github, monkeypatch):
    for key, value in fake_github.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("FUSED_GITHUB_REVALIDATE_S", raising=False)
    fake_github.add_tree(
        OWNER,
        REPO,
        SHA,
        {
            "public/common/meta.json": meta(
                "common", "common.py", headers=[{"module_name": "utils", "source_file": "utils.py"}]
            ),
            "public/common/common.py": COMMON_PY,
            "public/common/utils.py": COMMON_UTILS,
            "public/common/README.MD": "# common\n",
        },
    )
    fake_github.add_tree(
        OWNER,
        REPO,
        "main",
        {
            "public/App/meta.json": meta("App", "App.py"),
            "public/App/App.py": APP_PY,
            "public/Inline/meta.json": meta(
                "Inline", code="@fused.udf\ndef udf(x: float = 1.5):\n    return x * 2\n"
            ),
            "public/Two/meta.json": meta("Two", "main_code.py"),
            "public/Two/main_code.py": TWO_PY,
            "public/NoMeta/NoMeta.py": "@fused.udf\ndef udf():\n    return 'no meta'\n",
            "public/Docs/README.md": "# only docs\n",
        },
    )
    return fake_github


def test_tree_url_forms(gh):
    for url in (f"{GH}/tree/main/public/Inline", f"{GH}/tree/main/public/Inline/"):
        u = fused.load(url)
        assert u.name == "Inline"
        assert u.run_local(x="2.5") == 5.0


def test_blob_and_raw_urls(gh):
    blob_py = fused.load(f"{GH}/blob/main/public/NoMeta/NoMeta.py")
    assert blob_py.run_local() == "no meta"
    blob_meta = fused.load(f"{GH}/blob/main/public/Two/meta.json")
    assert blob_meta.name == "Two"
    raw = fused.load(
        f"https://raw.githubusercontent.com/{OWNER}/{REPO}/main/public/NoMeta/NoMeta.py"
    )
    assert raw.run_local() == "no meta"


def test_folder_without_meta_json(gh):
    u = fused.load(f"{GH}/tree/main/public/NoMeta")
    assert u.name == "NoMeta"
    assert u.run_local() == "no meta"


def test_catalog_shapes_nested_loads_headers_and_helpers(gh):
    app = fused.load(f"{GH}/tree/main/public/App")
    df = fused.run(app, x=1, y=2, z=3, n=21)
    assert df.to_dict("records") == [
        {"z": 3, "doubled": 42, "gdf": True, "same_code": True, "flags": "(True, True)"}
    ]
    # module globals and the legacy header are attributes of a loaded UDF
    common = fused.load(f"{GH}/tree/{SHA}/public/common")
    assert common.to_list((1, 2)) == [1.0, 2.0]
    assert common.utils.describe(common) == {"gdf": False, "udf": True}
    assert common.run_local() == [-122.42, 37.77, -122.41, 37.78]


def test_two_decorated_functions_and_source_not_named_after_folder(gh):
    u = fused.load(f"{GH}/tree/main/public/Two")
    assert u.entrypoint == "udf"
    assert u.run_local(a=2) == ("helper_udf", 6)


def test_map_df(gh):
    u = fused.load(f"{GH}/tree/main/public/Inline")
    df = u.map([1, 2, {"x": 4}]).df()
    # Fused's shape: the arguments are the index, the values a `result` column
    assert df.index.name == "x"
    assert df.reset_index().to_dict("records") == [
        {"x": 1, "result": 2.0},
        {"x": 2, "result": 4.0},
        {"x": 4, "result": 8.0},
    ]


def test_pinned_sha_fetched_once(gh):
    url = f"{GH}/tree/{SHA}/public/common"
    first = fused.load(url)
    assert gh.total_requests > 0
    gh.reset_counts()
    second = fused.load(url)
    assert gh.total_requests == 0
    assert second.code == first.code


def test_short_sha_pin_is_immutable_across_processes(gh, monkeypatch):
    import os
    import subprocess
    import sys

    url = f"{GH}/tree/{SHA[:7]}/public/common"
    assert fused.load(url).to_list([1, 2, 3, 4]) == [1.0, 2.0, 3.0, 4.0]
    gh.reset_counts()
    monkeypatch.setenv("FUSED_GITHUB_REVALIDATE_S", "0")  # a branch would be rechecked now
    script = f"import fused\nprint(fused.load({url!r}).to_list([1, 2, 3, 4]))"
    for _ in range(2):  # new processes, same cache
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ),
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "[1.0, 2.0, 3.0, 4.0]"
    assert fused.load(url).code  # and in this process
    assert gh.total_requests == 0  # no conditional request, ever


def test_branch_revalidated_at_most_once_per_interval(gh, monkeypatch):
    url = f"{GH}/tree/main/public/Inline"
    fused.load(url)
    gh.reset_counts()
    fused.load(url)
    assert gh.total_requests == 0  # within FUSED_GITHUB_REVALIDATE_S (default 60)
    monkeypatch.setenv("FUSED_GITHUB_REVALIDATE_S", "0")
    gh.add_tree(
        OWNER,
        REPO,
        "main",
        {"public/Inline/meta.json": meta("Inline", code="def udf():\n    return 'new'\n")},
    )
    assert fused.load(url).run_local() == "new"  # changed upstream: downloaded again


def test_offline_fallback_and_offline_without_cache(gh, monkeypatch):
    url = f"{GH}/tree/main/public/Inline"
    fused.load(url)
    monkeypatch.setenv("FUSED_GITHUB_REVALIDATE_S", "0")
    gh.stop()
    with pytest.warns(UserWarning, match="cached"):
        u = fused.load(url)
    assert u.run_local() == 3.0
    with pytest.raises(ConnectionError) as info:
        fused.load(f"{GH}/tree/main/public/Two")
    assert "public/Two" in str(info.value)


def test_not_found_names_owner_repo_ref_path(gh):
    with pytest.raises(FileNotFoundError) as info:
        fused.load(f"{GH}/tree/main/public/Missing_UDF")
    message = str(info.value)
    for part in (OWNER, REPO, "main", "public/Missing_UDF"):
        assert part in message


def test_rate_limit_error_gives_reset_and_token_hint(gh):
    gh.rate_limit(True, status=403, reset_in=1234)
    with pytest.raises(PermissionError) as info:
        fused.load(f"{GH}/tree/main/public/Inline")
    assert "GITHUB_TOKEN" in str(info.value)
    assert "reset" in str(info.value).lower()


def test_token_sent_when_set(gh, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret123")
    fused.load(f"{GH}/tree/main/public/Inline")
    assert any(h and "ghp_secret123" in h for h in gh.auth_headers)


def test_folder_without_python_code(gh):
    with pytest.raises(ValueError, match="Docs"):
        fused.load(f"{GH}/tree/main/public/Docs")


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/fusedio",
        "https://github.com/fusedio/udfs/commits/main",
        "https://gist.github.com/",
        "https://example.com/fusedio/udfs/tree/main/x",
    ],
)
def test_malformed_urls(gh, url):
    with pytest.raises(ValueError):
        fused.load(url)


def test_gist_round_trip(gh, monkeypatch, examples):
    u = fused.load(examples / "Buffered_Points")
    with pytest.raises(PermissionError, match="GITHUB_TOKEN"):
        u.to_gist()
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_gist")
    url = u.to_gist(public=False)
    assert url.startswith("https://gist.github.com/")
    back = fused.load(url)
    assert back.name == u.name
    assert back.code == u.code
    assert [(h.module_name, h.source_code) for h in back.headers] == [
        (h.module_name, h.source_code) for h in u.headers
    ]
    assert len(back.run_local(bbox=[0, 0, 1, 1], n=2)) == 2


def test_error_inside_github_udf_is_runtime_error(gh):
    gh.add_tree(
        OWNER,
        REPO,
        "main",
        {"public/Bad/meta.json": meta("Bad", code="def udf():\n    return 1 / 0\n")},
    )
    with pytest.raises(UdfRuntimeError) as info:
        fused.load(f"{GH}/tree/main/public/Bad").run_local()
    assert info.value.exception_class == "ZeroDivisionError" and info.value.lineno == 2
