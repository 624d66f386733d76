"""fused.run / run_local in File mode: binding, conversion, isolation, output and errors."""

import sys

import pytest

import fused
from fused.types import UdfParameterError, UdfRuntimeError


def test_file_mode_returns_result_itself():
    @fused.udf
    def f(n: int = 2):
        import pandas as pd

        return pd.DataFrame({"v": list(range(n))})

    df = f.run_local(n=3)
    assert list(df.v) == [0, 1, 2]
    assert fused.run(f, engine="local", n="4").v.tolist() == [0, 1, 2, 3]


def test_unknown_keyword_arguments_named():
    @fused.udf
    def f(a: int = 1):
        return a

    with pytest.raises(TypeError) as info:
        f.run_local(a=1, bogus=2, other=3)
    assert "bogus" in str(info.value) and "other" in str(info.value)


def test_var_kwargs_accept_anything():
    @fused.udf
    def f(a: int = 1, **kw):
        return (a, kw)

    assert f.run_local(a="2", extra="yes") == (2, {"extra": "yes"})


def test_missing_required_parameter_named():
    @fused.udf
    def f(needed: int, optional: int = 0):
        return needed

    with pytest.raises(TypeError, match="needed"):
        f.run_local()


def test_parameters_dict_and_conflicts():
    @fused.udf
    def f(a: int = 0, b: int = 0):
        return a + b

    assert fused.run(f, parameters={"a": "1"}, b=2) == 3
    with pytest.raises(TypeError, match="twice"):
        fused.run(f, parameters={"a": 1}, a=2)


def test_fresh_namespace_each_run():
    @fused.udf
    def f():
        counter = globals().setdefault("counter", [])
        counter.append(1)
        return len(counter)

    assert f.run_local() == 1
    assert f.run_local() == 1


def test_fused_is_injected_and_importable():
    code = "@fused.udf\ndef udf():\n    import fused as f2\n    return f2 is fused\n"
    assert fused.load(code).run_local() is True


def test_compiled_once_per_code_hash():
    from fused._execute import prepare

    code = "@fused.udf\ndef udf(a: int = 1):\n    return a\n"
    u1, u2 = fused.load(code), fused.load(code)
    assert u1 is not u2
    assert prepare(u1) is prepare(u2)
    assert u1.run_local(a=5) == 5


def test_stdout_stderr_captured_and_echoed(capsys):
    @fused.udf
    def f():
        import sys

        print("to stdout")
        print("to stderr", file=sys.stderr)
        raise ValueError("boom")

    with pytest.raises(UdfRuntimeError) as info:
        f.run_local()
    captured = capsys.readouterr()
    assert "to stdout" in captured.out
    assert "to stderr" in captured.err
    assert info.value.stdout == "to stdout\n"
    assert info.value.stderr == "to stderr\n"


def test_exception_becomes_udf_runtime_error():
    code = (
        "@fused.udf\n"  # line 1
        "def udf(n: int = 0):\n"  # line 2
        "    x = 1\n"  # line 3
        "    return helper(n)\n"  # line 4
        "\n"  # line 5
        "def helper(n):\n"  # line 6
        "    return {}['missing' + str(n)]\n"  # line 7
    )
    u = fused.load(code)
    with pytest.raises(UdfRuntimeError) as info:
        u.run_local()
    err = info.value
    assert err.exception_class == "KeyError"
    assert err.errormsg == "'missing0'"
    assert err.lineno == 7
    assert "KeyError" in str(err) and "line 7" in str(err)
    # The traceback is trimmed to the UDF's own frames.
    assert "_execute.py" not in err.traceback and "_run.py" not in err.traceback
    assert "line 4" in err.traceback and "line 7" in err.traceback
    assert "return {}['missing' + str(n)]" in err.traceback
    assert isinstance(err.__cause__, KeyError)


def test_syntax_error_reported_with_line():
    with pytest.raises(UdfRuntimeError) as info:
        fused.load("@fused.udf\ndef udf():\n    return (\n\n")
    assert info.value.exception_class == "SyntaxError"
    assert info.value.lineno is not None


def test_parameter_errors_stop_before_code_runs(tmp_path):
    marker = tmp_path / "ran"

    @fused.udf
    def f(n: int = 0, path: str = ""):
        open(path, "w").close()
        return n

    with pytest.raises(UdfParameterError):
        f.run_local(n="not-a-number", path=str(marker))
    assert not marker.exists()
    assert f.run_local(n="3", path=str(marker)) == 3
    assert marker.exists()


def test_headers_importable_only_while_running():
    sentinel = type(sys)("utils")
    sys.modules["utils"] = sentinel
    try:
        u = fused.load(fused_examples_dir() / "Buffered_Points")
        gdf = u.run_local(bbox=[0, 0, 1, 1], n=2)
        assert len(gdf) == 2
        assert sys.modules["utils"] is sentinel  # restored, not leaked
    finally:
        del sys.modules["utils"]
    assert "utils" not in sys.modules


def fused_examples_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "examples" / "udfs"


def test_engine_choices():
    @fused.udf
    def f():
        return 1

    with pytest.raises(RuntimeError, match="no server configured"):
        fused.run(f, engine="remote")
    with pytest.raises(ValueError, match="engine"):
        fused.run(f, engine="cloud")
    assert fused.run(f, engine="local") == 1
    assert fused.run(f) == 1  # no server configured: local


def test_default_engine_is_remote_when_a_server_is_configured(monkeypatch):
    @fused.udf
    def f():
        return 1

    monkeypatch.setenv("FUSED_SERVER_URL", "http://127.0.0.1:9")
    with pytest.raises(RuntimeError, match="no server configured"):
        fused.run(f)
    assert f.run_local() == 1


def test_run_validates_cache_arguments():
    @fused.udf
    def f():
        return 1

    assert fused.run(f, cache_max_age="1h", cache=False) == 1
    with pytest.raises(ValueError, match="cache_max_age"):
        fused.run(f, cache_max_age="soon")


def test_run_rejects_non_udf():
    with pytest.raises(TypeError, match="Udf"):
        fused.run(lambda: 1)


def test_notebook_style_typing_imports_outside_the_function():
    # The seed's Typing example: `Dict` imported next to the UDF, not inside it.
    from typing import Dict

    @fused.udf
    def udf(my_param: int, my_dict: Dict):
        print(my_param, type(my_param))
        print(my_dict, type(my_dict))
        return (my_param, my_dict)

    assert udf.run_local(my_param="3", my_dict='{"a": 1}') == (3, {"a": 1})
    assert udf.parameters["my_dict"].spec.startswith("dict")
