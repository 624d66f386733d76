"""Names that catalog code, its pinned helpers and its CI import from older `fused` releases."""

from __future__ import annotations

import http.server
import importlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import fused

CODE = """@fused.udf
def udf(n: int = 2):
    import utils
    return utils.double(n)
"""


def _with_header() -> fused.Udf:
    u = fused.load(CODE)
    u.headers = [fused.Header("utils", "def double(n):\n    return 2 * n\n", "utils.py")]
    u.metadata = {"fused:udfType": "vector_single"}
    u.default_parameters = {"n": 5}
    return u


def test_models_udf_any_base_udf_is_the_udf_class():
    from fused.models.udf import AnyBaseUdf

    assert isinstance(fused.load(CODE), AnyBaseUdf)
    from fused.api.api import AnyBaseUdf as api_any

    assert api_any is AnyBaseUdf


def test_catalog_ci_collects_with_its_imports():
    # the catalog's tests/test_public_udfs.py and tests/conftest.py, first lines, as written
    script = (
        "import fused\nimport math\nfrom fused.models.udf import AnyBaseUdf\n"
        "import mercantile\nfrom typing import Any\n"
        "assert callable(fused._auth.refresh_token)\n"
        "print(AnyBaseUdf.__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "Udf"


def test_geopandas_udf_v2_parse_raw_round_trip():
    u = _with_header()
    text = u.json()
    back = fused.models.udf.udf.GeoPandasUdfV2.parse_raw(text)  # attribute path, as used
    assert isinstance(back, fused.Udf)
    assert (back.name, back.code, back.entrypoint) == (u.name, u.code, "udf")
    assert [(h.module_name, h.source_code) for h in back.headers] == [
        ("utils", "def double(n):\n    return 2 * n\n")
    ]
    assert back.default_parameters == {"n": 5}
    assert back.metadata == {"fused:udfType": "vector_single"}
    assert back.run_local() == 10 and fused.run(back, n=4, engine="local") == 8
    assert fused.models.udf.udf.GeoPandasUdfV2.model_validate_json(text).code == u.code


@pytest.mark.parametrize(
    "text, message",
    [
        ("not json", "does not parse"),
        ("[1]", "JSON object"),
        ('{"name": "x"}', "'code': expected a string"),
        ('{"name": "x", "code": "", "headers": [{"module_name": 1}]}', r"headers\[0\]"),
        ('{"name": "x", "code": "", "parameters": []}', "'parameters': expected an object"),
    ],
)
def test_parse_raw_refuses_bad_json(text, message):
    from fused.models.udf.udf import GeoPandasUdfV2

    with pytest.raises(ValueError, match=message):
        GeoPandasUdfV2.parse_raw(text)


def test_h3_ingest_says_it_is_not_provided():
    for statement in (
        "import fused._h3.ingest",
        "from fused._h3.ingest import infer_defaults, _list_files",
        "from fused._h3 import ingest_raster",
    ):
        with pytest.raises(ImportError, match="fused-rs does not provide"):
            exec(statement, {})
    sys.modules.pop("fused._h3.ingest", None)


def test_every_catalog_import_resolves():
    """Each `from fused.X import Y` / `fused.X.Y` name found in the catalog's Python files
    (HEAD and the commits its UDFs pin helpers to), the H3 subsystem aside."""
    names = {
        "fused.models.udf": ["AnyBaseUdf"],
        "fused.api.api": ["AnyBaseUdf"],
        "fused._optional_deps": [
            "GPD_GEODATAFRAME",
            "HAS_GEOPANDAS",
            "HAS_MERCANTILE",
            "HAS_SHAPELY",
            "MERCANTILE_TILE",
            "SHAPELY_GEOMETRY",
        ],
        "fused.models.udf.udf": ["GeoPandasUdfV2"],
        "fused.core": ["download", "create_path", "load_udf_from_github", "import_from_github"],
        "fused._auth": ["refresh_token"],
    }
    for module, attrs in names.items():
        mod = importlib.import_module(module)
        for attr in attrs:
            assert getattr(mod, attr) is not None, f"{module}.{attr}"


class _Files(http.server.SimpleHTTPRequestHandler):
    hits: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        _Files.hits.append(self.path)
        super().do_GET()


@pytest.fixture
def file_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "data.csv").write_text("a,b\n1,2\n")

    def handler(*args, **kwargs):
        return _Files(*args, directory=str(root), **kwargs)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Files.hits = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def test_core_download_once_and_atomically(file_server):
    base, root = file_server
    path = fused.core.download(f"{base}/data.csv", "/tmp/my/data.csv")
    expected = Path(os.environ["FUSED_CACHE_DIR"]) / "files" / "tmp" / "my" / "data.csv"
    assert path == str(expected)
    assert expected.read_text() == "a,b\n1,2\n"
    (root / "data.csv").write_text("changed")
    assert fused.core.download(f"{base}/data.csv", "tmp/my/data.csv") == path
    assert expected.read_text() == "a,b\n1,2\n"  # downloaded once
    assert _Files.hits == ["/data.csv"]
    with pytest.raises(ConnectionError, match="missing.csv"):
        fused.core.download(f"{base}/missing.csv", "tmp/missing.csv")
    assert not list(expected.parent.glob("*missing*"))  # no partial file left
    local = fused.core.download((root / "data.csv").as_uri(), "copy.csv")
    assert Path(local).read_text() == "changed"


def test_core_download_and_create_path_refuse_bad_input():
    with pytest.raises(ValueError, match="invalid file_path.*'..'"):
        fused.core.download("https://example.com/x", "../outside.bin")
    with pytest.raises(ValueError, match="s3:// scheme"):
        fused.core.download("s3://bucket/key.tif", "key.tif")
    folder = fused.core.create_path("work/dir")
    assert Path(folder).is_dir()
    assert Path(fused.core.create_path("work/a.parquet")).parent.is_dir()
    with pytest.raises(ValueError, match="invalid file_path"):
        fused.core.create_path("a/../../b")
