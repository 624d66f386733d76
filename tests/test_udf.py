"""@fused.udf: the Udf object, its options and its code."""

import textwrap

import pytest

import fused
from fused.types import UdfParameterError


@fused.udf
def module_level_udf(a: int = 1, b: str = "x"):  # a comment on the def line
    # a comment inside
    return {"a": a, "b": b}


def test_bare_decorator_keeps_code_as_written():
    assert isinstance(module_level_udf, fused.Udf)
    assert module_level_udf.name == "module_level_udf"
    assert module_level_udf.entrypoint == "module_level_udf"
    assert module_level_udf.code == textwrap.dedent(
        """\
        @fused.udf
        def module_level_udf(a: int = 1, b: str = "x"):  # a comment on the def line
            # a comment inside
            return {"a": a, "b": b}
        """
    )


def test_called_decorator_options():
    @fused.udf(name="renamed", cache_max_age="30m", default_parameters={"k": 3})
    def inner(k: int = 0):
        return k * 2

    assert inner.name == "renamed"
    assert inner.entrypoint == "inner"
    assert inner.cache_max_age == 1800
    assert inner.default_parameters == {"k": 3}
    assert inner.code.startswith('@fused.udf(name="renamed"')
    assert inner.run_local() == 6
    assert inner.run_local(k=5) == 10


@pytest.mark.parametrize(
    "value, seconds",
    [("10s", 10), ("30m", 1800), ("48h", 172800), ("90d", 7776000), (120, 120), (0, 0)],
)
def test_cache_max_age_forms(value, seconds):
    @fused.udf(cache_max_age=value)
    def f():
        return 1

    assert f.cache_max_age == seconds


@pytest.mark.parametrize("value", ["10x", "", "1.5h", "-5s", -1, 1.5, True, "ten", [10]])
def test_cache_max_age_refused(value):
    with pytest.raises(ValueError, match="cache_max_age"):

        @fused.udf(cache_max_age=value)
        def f():
            return 1


def test_unknown_decorator_option_refused():
    with pytest.raises(TypeError, match="colour"):

        @fused.udf(colour="red")
        def f():
            return 1


def test_udf_is_callable_like_fused_run():
    @fused.udf
    def add(a: int, b: int = 2):
        return a + b

    assert add(a=1) == 3
    assert add(a="4", b="5") == 9
    assert add(10) == 12
    assert fused.run(add, a=1, b=1) == 2
    assert fused.run(udf=add, a=1) == 3


def test_parameters_and_annotations():
    from typing import Dict, List, Optional

    @fused.udf
    def f(
        bbox: fused.types.TileGDF = None,
        n: int = 3,
        tags: Optional[List[int]] = None,
        d: Dict = None,
        s="x",
    ):
        return n

    params = f.parameters
    assert list(params) == ["bbox", "n", "tags", "d", "s"]
    assert params["n"].annotation is int
    assert params["n"].default == 3
    assert params["n"].spec == "int"
    assert params["bbox"].spec == "tilegdf"
    assert params["s"].spec == "any"
    assert params["tags"].spec.startswith("optional[")


def test_default_parameters_fill_in_and_are_converted():
    @fused.udf(default_parameters={"n": "7"})
    def f(n: int = 1, m: int = 0):
        return (n, m)

    assert f.run_local() == (7, 0)
    assert f.run_local(n=2, m="3") == (2, 3)


def test_headers_from_files(tmp_path):
    helper = tmp_path / "helpers_mod.py"
    helper.write_text("def triple(v):\n    return 3 * v\n")

    @fused.udf(headers=[str(helper)])
    def f(v: int = 2):
        import helpers_mod

        return helpers_mod.triple(v)

    assert [h.module_name for h in f.headers] == ["helpers_mod"]
    assert f.headers[0].source_code == helper.read_text()
    assert f.run_local() == 6
    assert f.helpers_mod.triple(5) == 15


def test_headers_refusals(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.py"):

        @fused.udf(headers=["nope.py"])
        def f():
            return 1

    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(ValueError, match=r"\.py"):

        @fused.udf(headers=[str(tmp_path / "data.txt")])
        def g():
            return 1


def test_parameter_error_is_value_error():
    @fused.udf
    def f(n: int):
        return n

    with pytest.raises(UdfParameterError) as info:
        f.run_local(n="abc")
    assert isinstance(info.value, ValueError)
    assert "'n'" in str(info.value) and "int" in str(info.value) and "abc" in str(info.value)
