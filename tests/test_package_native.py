"""fused._native package binding: read_package / write_package / package_from_code."""

import json
import math
import zipfile

import pytest

from fused import _native

CODE = "@fused.udf\r\ndef udf(n: int = 2):\r\n    from utils import twice\r\n    return twice(n)"
UTILS = "def twice(x):\n    return 2 * x\n"


def make_package(**overrides):
    pkg = {
        "name": "Sample_UDF",
        "entrypoint": "udf",
        "code": CODE,
        "source_file": "Sample_UDF.py",
        "headers": [{"module_name": "utils", "source_code": UTILS, "source_file": "utils.py"}],
        "parameters": {"n": 2, "names": ["a", None], "ratio": 0.5, "flag": True},
        "metadata": {"fused:description": "Twice n.", "nested": {"k": [1, {"z": False}]}},
        "readme": "# Sample\n",
        "type": "geopandas_v2",
    }
    pkg.update(overrides)
    return pkg


def catalog_folder(tmp_path):
    folder = tmp_path / "Sample_UDF"
    folder.mkdir()
    meta = {
        "version": "0.0.3",
        "job_config": {
            "version": "0.0.3",
            "name": None,
            "steps": [
                {
                    "type": "udf",
                    "udf": {
                        "type": "geopandas_v2",
                        "name": "Sample_UDF",
                        "entrypoint": "udf",
                        "parameters": {},
                        "metadata": {"fused:udfType": "auto"},
                        "source": "Sample_UDF.py",
                        "headers": [{"module_name": "utils", "source_file": "utils.py"}],
                    },
                }
            ],
            "metadata": None,
        },
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "Sample_UDF.py").write_bytes(CODE.encode())
    (folder / "utils.py").write_text(UTILS)
    (folder / "README.MD").write_text("# Sample\n")
    return folder


def test_read_catalog_folder(tmp_path):
    pkg = _native.read_package(str(catalog_folder(tmp_path)))
    assert list(pkg) == [
        "name",
        "entrypoint",
        "code",
        "source_file",
        "headers",
        "parameters",
        "metadata",
        "readme",
        "type",
    ]
    assert pkg["name"] == "Sample_UDF"
    assert pkg["entrypoint"] == "udf"
    assert pkg["code"] == CODE  # CRLF and no trailing newline kept
    assert pkg["headers"] == [
        {"module_name": "utils", "source_code": UTILS, "source_file": "utils.py"}
    ]
    assert pkg["metadata"] == {"fused:udfType": "auto"}
    assert pkg["readme"] == "# Sample\n"
    assert pkg["type"] == "geopandas_v2"


def test_read_accepts_pathlike_and_single_py(tmp_path):
    path = tmp_path / "hello.py"
    path.write_text("def udf():\n    return 1\n")
    pkg = _native.read_package(path)
    assert (pkg["name"], pkg["entrypoint"], pkg["headers"]) == ("hello", None, [])


@pytest.mark.parametrize("as_zip", [False, True])
def test_round_trip(tmp_path, as_zip):
    pkg = make_package()
    target = tmp_path / ("out.zip" if as_zip else "out")
    _native.write_package(pkg, str(target), as_zip=as_zip)
    assert _native.read_package(str(target)) == pkg
    if as_zip:
        names = sorted(zipfile.ZipFile(target).namelist())
        assert "Sample_UDF/meta.json" in names and "Sample_UDF/utils.py" in names
    else:
        assert (target / "Sample_UDF.py").read_bytes() == CODE.encode()
        meta = json.loads((target / "meta.json").read_text())
        assert meta["job_config"]["steps"][0]["udf"]["source"] == "Sample_UDF.py"


def test_minimal_dict_and_package_from_code(tmp_path):
    pkg = _native.package_from_code("quick", "x = 1")
    assert pkg["source_file"] == "quick.py" and pkg["readme"] is None
    _native.write_package({"name": "quick", "code": "x = 1"}, tmp_path / "q")
    back = _native.read_package(tmp_path / "q")
    assert back["readme"] == "# quick\n"
    assert {k: back[k] for k in ("name", "code", "type")} == {
        "name": "quick",
        "code": "x = 1",
        "type": "geopandas_v2",
    }
    with pytest.raises(ValueError, match="invalid name"):
        _native.package_from_code("a/b", "")


def test_existing_target_raises_file_exists_and_keeps_it(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        _native.write_package(make_package(), str(target))
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    _native.write_package(make_package(), str(target), overwrite=True)
    assert not (target / "keep.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_errors_map_to_python_exceptions(tmp_path):
    with pytest.raises(FileNotFoundError):
        _native.read_package(str(tmp_path / "missing"))
    note = tmp_path / "note"
    note.mkdir()
    (note / "meta.json").write_text(
        json.dumps({"job_config": {"steps": [{"udf": {"metadata": {"isNodeTemplate": True}}}]}})
    )
    with pytest.raises(ValueError, match="canvas note"):
        _native.read_package(str(note))
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("Top/Top.py", "x = 1")
        zf.writestr("../evil.py", "boom")
    with pytest.raises(ValueError, match="refused"):
        _native.read_package(str(evil))
    bad_json = tmp_path / "bad"
    bad_json.mkdir()
    (bad_json / "meta.json").write_text("{\n  oops")
    with pytest.raises(ValueError, match="line 2, column 3"):
        _native.read_package(str(bad_json))


@pytest.mark.parametrize(
    ("overrides", "exc", "match"),
    [
        ({"name": 3}, TypeError, r"pkg\['name'\]: expected str"),
        ({"name": "../x"}, ValueError, "invalid name"),
        ({"entrypoint": "not valid"}, ValueError, "entrypoint"),
        ({"parameters": {"when": object()}}, TypeError, r"pkg\['parameters'\]\[\"when\"\]"),
        ({"parameters": {"x": math.nan}}, ValueError, "not a JSON number"),
        ({"parameters": {1: "a"}}, TypeError, "dict keys must be str"),
        ({"metadata": [1]}, TypeError, r"pkg\['metadata'\]: expected dict"),
        ({"metadata": {"big": 2**70}}, ValueError, "64 bits"),
        ({"headers": [{"module_name": "my-utils", "source_code": ""}]}, ValueError, "identifier"),
        ({"headers": [{"module_name": "u"}]}, ValueError, "source_code"),
        ({"headers": "utils"}, TypeError, "list of dicts"),
        ({"colour": "blue"}, ValueError, "unknown key"),
    ],
)
def test_bad_dicts_are_refused_before_writing(tmp_path, overrides, exc, match):
    with pytest.raises(exc, match=match):
        _native.write_package(make_package(**overrides), str(tmp_path / "out"))
    assert list(tmp_path.iterdir()) == []


def test_missing_required_key(tmp_path):
    pkg = make_package()
    del pkg["code"]
    with pytest.raises(ValueError, match="missing required key 'code'"):
        _native.write_package(pkg, str(tmp_path / "out"))
