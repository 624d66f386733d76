"""fused.load from folders, zips, .py files and code; saving with to_directory / to_file."""

import json
import zipfile

import pytest

import fused
from fused.types import UdfRuntimeError

CODE = '''# leading comment kept
@fused.udf
def udf(n: int = 2):
    """Docstring."""
    return helper(n)


def helper(n):
    return n * 10
'''


def test_load_example_folder(examples):
    u = fused.load(examples / "Country_Stats")
    assert u.name == "Country_Stats"
    assert u.entrypoint == "udf"
    assert u.code == (examples / "Country_Stats" / "Country_Stats.py").read_text()
    df = u.run_local(n=2)
    assert df.country.tolist() == ["India", "China"]


def test_load_str_path_and_pathlike(examples):
    a = fused.load(str(examples / "City_Points"))
    b = fused.load(examples / "City_Points")
    assert a.code == b.code
    assert sorted(a.run_local(region="europe").name) == ["London", "Paris"]


def test_load_code_string_and_module_attributes():
    u = fused.load(CODE)
    assert u.entrypoint == "udf"
    assert u.name == "udf"
    assert u.code == CODE
    assert u.run_local() == 20
    assert u.helper(3) == 30  # module globals are attributes
    with pytest.raises(AttributeError, match="nothing_here"):
        u.nothing_here  # noqa: B018


def test_load_py_file(tmp_path):
    path = tmp_path / "my_tool.py"
    path.write_bytes(CODE.encode())
    u = fused.load(path)
    assert u.name == "my_tool"
    assert u.code == CODE
    assert u.run_local(n=1) == 10


def test_load_header_module_attribute(examples):
    u = fused.load(examples / "Buffered_Points")
    assert [h.module_name for h in u.headers] == ["utils"]
    assert u.utils.buffer_degrees(111_320.0) == pytest.approx(1.0)


def test_entrypoint_rules(tmp_path):
    two = "@fused.udf\ndef first():\n    return 1\n\n@fused.udf\ndef udf():\n    return 2\n"
    assert fused.load(two).run_local() == 2  # several decorated: the one named udf
    single = "@fused.udf\ndef main_fn():\n    return 3\n\ndef udf():\n    return 4\n"
    assert fused.load(single).run_local() == 3  # the single decorated function
    plain = "def helper():\n    return 0\n\ndef udf():\n    return 5\n"
    assert fused.load(plain).run_local() == 5  # no decorator: the function named udf
    with pytest.raises(ValueError, match="entrypoint"):
        fused.load("def helper():\n    return 0\n")


def test_meta_entrypoint_wins(tmp_path):
    u = fused.load(
        "@fused.udf\ndef a():\n    return 'a'\n\n@fused.udf\ndef udf():\n    return 'udf'\n"
    )
    u.entrypoint = "a"
    target = u.to_directory(tmp_path / "pkg")
    loaded = fused.load(target)
    assert loaded.entrypoint == "a"
    assert loaded.run_local() == "a"


def test_to_directory_catalog_layout_and_round_trip(tmp_path):
    @fused.udf(name="Sample_UDF", cache_max_age="48h", default_parameters={"n": 4})
    def sample(n: int = 1):
        # comment kept
        return n + 1

    out = sample.to_directory(tmp_path / "Sample_UDF")
    files = sorted(p.name for p in out.iterdir())
    assert files == ["README.md", "Sample_UDF.py", "meta.json"]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["version"] == "0.0.3"
    step = meta["job_config"]["steps"][0]
    assert step["type"] == "udf"
    assert step["udf"]["name"] == "Sample_UDF"
    assert step["udf"]["entrypoint"] == "sample"
    assert step["udf"]["source"] == "Sample_UDF.py"
    assert step["udf"]["parameters"] == {"n": 4}
    assert (out / "Sample_UDF.py").read_text() == sample.code

    back = fused.load(out)
    assert back.code == sample.code
    assert back.name == "Sample_UDF"
    assert back.cache_max_age == 172800
    assert back.default_parameters == {"n": 4}
    assert back.run_local() == 5


def test_to_file_zip_round_trip_with_headers(tmp_path, examples):
    u = fused.load(examples / "Buffered_Points")
    path = u.to_file(tmp_path / "bp.zip")
    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist())
    assert "Buffered_Points/meta.json" in names
    assert "Buffered_Points/utils.py" in names
    back = fused.load(path)
    assert back.code == u.code
    assert [(h.module_name, h.source_code) for h in back.headers] == [
        (h.module_name, h.source_code) for h in u.headers
    ]
    assert len(back.run_local(bbox=[0, 0, 1, 1], n=4)) == 4


def test_round_trip_keeps_code_byte_for_byte(tmp_path):
    code = "@fused.udf\r\ndef udf():\r\n    return 'crlf'  # no trailing newline"
    u = fused.load(code)
    back_dir = fused.load(u.to_directory(tmp_path / "d"))
    back_zip = fused.load(u.to_file(tmp_path / "d.zip"))
    assert back_dir.code == code and back_zip.code == code
    assert back_zip.run_local() == "crlf"


def test_existing_targets_refused_without_overwrite(tmp_path):
    u = fused.load(CODE)
    target = tmp_path / "pkg"
    u.to_directory(target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    other = fused.load(CODE.replace("n * 10", "n * 11"))
    with pytest.raises(FileExistsError, match="overwrite"):
        other.to_directory(target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    other.to_directory(target, overwrite=True)
    assert fused.load(target).run_local(n=1) == 11

    zpath = tmp_path / "pkg.zip"
    u.to_file(zpath)
    data = zpath.read_bytes()
    with pytest.raises(FileExistsError):
        other.to_file(zpath)
    assert zpath.read_bytes() == data
    other.to_file(zpath, overwrite=True)
    assert fused.load(zpath).run_local(n=1) == 11
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg", "pkg.zip"]  # no temp leftovers


def _zip_with(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


@pytest.mark.parametrize(
    "entry",
    [
        ("../evil.py", "x = 1", None),
        ("/abs/evil.py", "x = 1", None),
        ("link.py", "target.py", 0o120777),
    ],
    ids=["dotdot", "absolute", "symlink"],
)
def test_unsafe_zip_entries_refused(tmp_path, entry):
    path = _zip_with(tmp_path / "bad.zip", [("udf.py", "def udf():\n    return 1\n", None), entry])
    with pytest.raises(ValueError, match="bad.zip"):
        fused.load(path)


def test_folder_without_code_refused(tmp_path):
    (tmp_path / "empty_udf").mkdir()
    (tmp_path / "empty_udf" / "README.md").write_text("# nothing\n")
    with pytest.raises(ValueError, match="empty_udf"):
        fused.load(tmp_path / "empty_udf")


def test_missing_path_and_urls():
    with pytest.raises(FileNotFoundError, match="no/such/dir"):
        fused.load("no/such/dir")
    with pytest.raises(ValueError, match="server"):
        fused.load("someone@example.com/My_UDF")


def test_errors_in_module_code_at_load():
    with pytest.raises(UdfRuntimeError) as info:
        fused.load("x = 1 / 0\n\n@fused.udf\ndef udf():\n    return 1\n")
    assert info.value.exception_class == "ZeroDivisionError"
    assert info.value.lineno == 1


def test_canvas_note_refused(tmp_path):
    note = tmp_path / "My_Note"
    note.mkdir()
    (note / "meta.json").write_text(
        json.dumps(
            {
                "version": "0.0.3",
                "job_config": {
                    "steps": [
                        {
                            "type": "udf",
                            "udf": {
                                "name": "My_Note",
                                "code": "",
                                "metadata": {"fused:isNodeTemplate": True},
                            },
                        }
                    ]
                },
            }
        )
    )
    with pytest.raises(ValueError, match="isNodeTemplate"):
        fused.load(note)


def _package_with_broken_header(tmp_path, code):
    """A catalog-layout folder whose `utils.py` header does not compile (line 4)."""
    pkg = tmp_path / "Broken_Header"
    pkg.mkdir()
    (pkg / "Broken_Header.py").write_text(code)
    (pkg / "utils.py").write_text("def ok():\n    return 1\n\ndef broken(:\n    pass\n")
    step = {
        "type": "udf",
        "udf": {
            "type": "geopandas_v2",
            "name": "Broken_Header",
            "entrypoint": "udf",
            "parameters": {},
            "metadata": {},
            "source": "Broken_Header.py",
            "headers": [{"module_name": "utils", "source_file": "utils.py"}],
        },
    }
    meta = {"version": "0.0.3", "job_config": {"version": "0.0.3", "steps": [step]}}
    (pkg / "meta.json").write_text(json.dumps(meta))
    return pkg


def test_broken_header_never_imported_still_runs(tmp_path):
    pkg = _package_with_broken_header(tmp_path, "@fused.udf\ndef udf(n: int = 2):\n    return n\n")
    u = fused.load(pkg)
    assert [h.module_name for h in u.headers] == ["utils"]
    assert u.run_local(n=7) == 7
    assert fused.run(u, n=3, cache=False) == 3


def test_importing_a_broken_header_names_its_file_and_line(tmp_path):
    code = "@fused.udf\ndef udf():\n    import utils\n    return utils.ok()\n"
    u = fused.load(_package_with_broken_header(tmp_path, code))
    with pytest.raises(UdfRuntimeError) as info:
        u.run_local()
    err = info.value
    assert err.exception_class == "SyntaxError"
    assert "utils.py" in str(err) and "line 4" in str(err)
    assert err.lineno == 3  # the `import utils` line of the UDF
    with pytest.raises(UdfRuntimeError, match=r"utils\.py.*line 4"):
        u.utils  # noqa: B018 - the header as an attribute compiles it too
