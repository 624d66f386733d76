"""Typed UDF parameters end to end through `fused._coerce` (spec_of, param_specs, coerce)."""

from __future__ import annotations

import collections
import datetime as dt
import inspect
import math
import subprocess
import sys
import typing
import uuid
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.geometry as sg
from shapely.geometry.base import BaseGeometry

import fused.types
from fused import _native
from fused._coerce import coerce, param_specs, spec_of
from fused.types import UdfParameterError

UTC = dt.timezone.utc


def raises(spec: str, value: Any, expected: str, shown: str | None = None) -> UdfParameterError:
    """coerce must raise UdfParameterError naming parameter, expected type and value."""
    with pytest.raises(UdfParameterError) as info:
        coerce("my_param", spec, value)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.parameter == "my_param"
    assert err.expected == expected
    if shown is not None:
        assert err.value == shown
    assert str(err) == f"parameter 'my_param': expected {err.expected}, got {err.value}"
    return err


# ------------------------------------------------------------------ spec_of


@pytest.mark.parametrize(
    "annotation, spec",
    [
        (int, "int"),
        (float, "float"),
        (bool, "bool"),
        (str, "str"),
        (list, "list"),
        (dict, "dict"),
        (tuple, "tuple"),
        (set, "set"),
        (frozenset, "set"),
        (List, "list"),
        (Dict, "dict"),
        (Tuple, "tuple"),
        (Set, "set"),
        (Iterable, "iterable"),
        (Sequence, "list"),
        (List[int], "list[int]"),
        (list[int], "list[int]"),
        (dict[str, float], "dict[str,float]"),
        (Dict[str, List[int]], "dict[str,list[int]]"),
        (Tuple[int, str], "tuple[int,str]"),
        (tuple[float, ...], "tuple[float,...]"),
        (Set[int], "set[int]"),
        (Iterable[int], "iterable[int]"),
        (Sequence[uuid.UUID], "list[uuid]"),
        (typing.Mapping[str, int], "dict[str,int]"),
        (Optional[int], "optional[int]"),
        (Optional[List[int]], "optional[list[int]]"),
        (Union[int, None], "optional[int]"),
        (Union[int, str], "union[int,str]"),
        (Union[int, str, None], "optional[union[int,str]]"),
        (Union[int, Union[str, float]], "union[int,str,float]"),
        (Optional[Any], "any"),
        (Union[int, Any], "any"),
        (uuid.UUID, "uuid"),
        (dt.datetime, "datetime"),
        (dt.date, "date"),
        (pd.DataFrame, "dataframe"),
        (gpd.GeoDataFrame, "geodataframe"),
        (Optional[gpd.GeoDataFrame], "optional[geodataframe]"),
        (BaseGeometry, "geometry"),
        (sg.Polygon, "geometry[Polygon]"),
        (sg.Point, "geometry[Point]"),
        (sg.MultiPolygon, "geometry[MultiPolygon]"),
        (sg.LinearRing, "geometry[LineString]"),
        (sg.GeometryCollection, "geometry[GeometryCollection]"),
        (fused.types.Bounds, "bounds"),
        (fused.types.Bbox, "bbox"),
        (fused.types.TileXYZ, "tilexyz"),
        (fused.types.TileGDF, "tilegdf"),
        (fused.types.Tile, "tilegdf"),
        (fused.types.ViewportGDF, "viewportgdf"),
        (inspect.Parameter.empty, "any"),
        (Any, "any"),
        (None, "any"),
        (object, "any"),
        (bytes, "any"),
        (typing.Literal["a", "b"], "any"),
        (typing.Annotated[int, "meta"], "int"),
        (collections.OrderedDict, "dict"),
    ],
)
def test_spec_of(annotation, spec):
    assert spec_of(annotation) == spec


def test_spec_of_pep604():
    assert spec_of(eval("int | None")) == "optional[int]"
    assert spec_of(eval("int | str")) == "union[int,str]"


@pytest.mark.parametrize(
    "text, spec",
    [
        ("int", "int"),
        ("List[int]", "list[int]"),
        ("Optional[Dict[str, float]]", "optional[dict[str,float]]"),
        ("list[int]", "list[int]"),
        ("int | None", "optional[int]"),
        ("gpd.GeoDataFrame", "geodataframe"),
        ("geopandas.GeoDataFrame", "geodataframe"),
        ("Optional[gpd.GeoDataFrame]", "optional[geodataframe]"),
        ("pd.DataFrame", "dataframe"),
        ("uuid.UUID", "uuid"),
        ("datetime.datetime", "datetime"),
        ("datetime.date", "date"),
        ("shapely.geometry.Polygon", "geometry[Polygon]"),
        ("fused.types.Bounds", "bounds"),
        ("fused.types.TileGDF", "tilegdf"),
        ("SomethingUnknown", "any"),
        ("not valid python (", "any"),
    ],
)
def test_spec_of_strings(text, spec):
    assert spec_of(text) == spec


def test_spec_of_string_uses_globals():
    class Custom(int):
        pass

    assert spec_of("Custom", {"Custom": Custom}) == "int"
    assert spec_of("datetime", {"datetime": dt.datetime}) == "datetime"
    assert spec_of("D", {"D": dt.date}) == "date"


def test_spec_of_does_not_import_heavy_modules():
    code = (
        "import sys; from fused._coerce import spec_of, param_specs, coerce\n"
        "assert spec_of('gpd.GeoDataFrame') == 'geodataframe'\n"
        "assert coerce('a', 'list[int]', '1,2') == [1, 2]\n"
        "heavy = [m for m in ('pandas', 'geopandas', 'shapely', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_param_specs():
    def udf(
        a: int,
        b,
        c: Optional[List[int]] = None,
        *args,
        d: gpd.GeoDataFrame = None,
        bounds: fused.types.Bounds = None,
        e: dict[str, float] = None,  # a string too (future annotations)
        **kwargs,
    ):
        pass

    assert param_specs(udf) == {
        "a": "int",
        "b": "any",
        "c": "optional[list[int]]",
        "d": "geodataframe",
        "bounds": "bounds",
        "e": "dict[str,float]",
    }


def test_param_specs_future_annotations():
    namespace: dict = {}
    exec(
        "from __future__ import annotations\n"
        "import uuid\n"
        "import geopandas as gpd\n"
        "from typing import Optional\n"
        "def udf(n: int, u: uuid.UUID, g: Optional[gpd.GeoDataFrame] = None,"
        " m: NotDefined = 1, t: fused.types.TileXYZ = None): pass\n",
        namespace,
    )
    assert param_specs(namespace["udf"]) == {
        "n": "int",
        "u": "uuid",
        "g": "optional[geodataframe]",
        "m": "any",
        "t": "tilexyz",
    }


# ------------------------------------------------------------------ spec grammar via Rust


def test_check_spec_and_bad_specs():
    assert _native.check_spec(" list [ int ] ") == "list[int]"
    assert _native.check_spec("union[int,optional[str]]") == "optional[union[int,str]]"
    for bad in ["List[int]", "list[int", "wat", "dict[str]"]:
        with pytest.raises(ValueError, match="invalid type spec") as info:
            _native.check_spec(bad)
        assert not isinstance(info.value, UdfParameterError)
    with pytest.raises(ValueError, match="invalid type spec"):
        coerce("p", "nope", "1")


# ------------------------------------------------------------------ coerce: strings


@pytest.mark.parametrize(
    "spec, raw, value",
    [
        ("int", "42", 42),
        ("int", " -7 ", -7),
        ("int", "3.0", 3),
        ("int", "123456789012345678901234567890", 123456789012345678901234567890),
        ("float", "2.5", 2.5),
        ("float", "1e3", 1000.0),
        ("float", "7", 7.0),
        ("float", "-inf", -math.inf),
        ("bool", "true", True),
        ("bool", "YES", True),
        ("bool", "on", True),
        ("bool", "1", True),
        ("bool", "False", False),
        ("bool", "no", False),
        ("bool", "OFF", False),
        ("bool", "0", False),
        ("str", " as is ", " as is "),
        ("any", "[1,2]", "[1,2]"),
        ("union[int,str]", "5", "5"),
        ("list", '[1, "a"]', [1, "a"]),
        ("list", "a,b", ["a", "b"]),
        ("list", "", []),
        ("list[int]", "[1,2]", [1, 2]),
        ("list[int]", "1, 2", [1, 2]),
        ("list[float]", '[1, "2.5"]', [1.0, 2.5]),
        ("list[list[int]]", "[[1],[2,3]]", [[1], [2, 3]]),
        ("iterable[int]", "[1,2]", [1, 2]),
        ("tuple", '[1,"a"]', (1, "a")),
        ("tuple[int,str]", "1,a", (1, "a")),
        ("tuple[float,...]", "[1,2,3]", (1.0, 2.0, 3.0)),
        ("set[int]", "[1,2,2]", {1, 2}),
        ("dict", '{"b": 1, "a": [2]}', {"b": 1, "a": [2]}),
        ("dict[str,float]", '{"x": 1}', {"x": 1.0}),
        ("dict[int,list[str]]", '{"1": ["a"]}', {1: ["a"]}),
        ("optional[int]", "", None),
        ("optional[int]", "null", None),
        ("optional[int]", "None", None),
        ("optional[int]", "4", 4),
        ("optional[str]", "", None),
        ("optional[list[int]]", "[1]", [1]),
        ("list[optional[int]]", "[1,null]", [1, None]),
        (
            "uuid",
            "{12345678-1234-5678-9ABC-DEF012345678}",
            uuid.UUID("12345678-1234-5678-9abc-def012345678"),
        ),
        (
            "uuid",
            "urn:uuid:12345678123456789abcdef012345678",
            uuid.UUID("12345678-1234-5678-9abc-def012345678"),
        ),
        ("date", "2024-02-29", dt.date(2024, 2, 29)),
        ("datetime", "2024-02-29", dt.datetime(2024, 2, 29)),
        ("datetime", "2024-03-01T12:34:56.789", dt.datetime(2024, 3, 1, 12, 34, 56, 789000)),
        ("datetime", "2024-03-01 12:34Z", dt.datetime(2024, 3, 1, 12, 34, tzinfo=UTC)),
        (
            "datetime",
            "2024-03-01T12:34:56.123456-05:30",
            dt.datetime(
                2024,
                3,
                1,
                12,
                34,
                56,
                123456,
                tzinfo=dt.timezone(-dt.timedelta(hours=5, minutes=30)),
            ),
        ),
        ("list[date]", '["2024-01-01"]', [dt.date(2024, 1, 1)]),
        ("bounds", "-10,-5,10,5", [-10.0, -5.0, 10.0, 5.0]),
        ("bounds", "[0, 1, 2, 3]", [0.0, 1.0, 2.0, 3.0]),
    ],
)
def test_coerce_strings(spec, raw, value):
    out = coerce("p", spec, raw)
    assert out == value
    assert type(out) is type(value)
    if isinstance(value, (list, tuple)):
        assert [type(x) for x in out] == [type(x) for x in value]


def test_coerce_datetime_tz_objects():
    out = coerce("p", "datetime", "2024-03-01T00:00:00+02:00")
    assert out.utcoffset() == dt.timedelta(hours=2)
    assert coerce("p", "datetime", "2024-03-01T00:00:00Z").tzinfo is UTC
    assert coerce("p", "datetime", "2024-03-01T00:00:00").tzinfo is None


def test_coerce_float_nan():
    assert math.isnan(coerce("p", "float", "nan"))


def test_coerce_geometry_from_wkt_and_geojson():
    assert coerce("p", "geometry", "POINT (1 2)").equals(sg.Point(1, 2))
    poly = coerce("p", "geometry[Polygon]", "POLYGON ((0 0, 1 0, 1 1, 0 0))")
    assert isinstance(poly, sg.Polygon) and poly.area == 0.5
    assert coerce("p", "geometry", "POINT Z (1 2 3)").has_z
    assert coerce("p", "geometry", "POINT EMPTY").is_empty
    assert coerce("p", "geometry", "GEOMETRYCOLLECTION EMPTY").is_empty
    mp = coerce("p", "geometry", "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))")
    assert mp.geom_type == "MultiPolygon" and len(mp.geoms) == 2
    gc = coerce("p", "geometry", "GEOMETRYCOLLECTION (POINT (1 2), LINESTRING (0 0, 1 1))")
    assert [g.geom_type for g in gc.geoms] == ["Point", "LineString"]
    line = coerce("p", "geometry", '{"type": "LineString", "coordinates": [[0, 0], [3, 4]]}')
    assert line.length == 5.0
    feat = '{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[7,8]}}'
    assert coerce("p", "geometry[Point]", feat).equals(sg.Point(7, 8))


def test_coerce_geodataframe_from_geojson():
    fc = (
        '{"type":"FeatureCollection","features":['
        '{"type":"Feature","properties":{"name":"a","n":1},"geometry":{"type":"Point","coordinates":[1,2]}},'
        '{"type":"Feature","properties":{"name":"b","n":2},"geometry":{"type":"Point","coordinates":[3,4]}}]}'
    )
    gdf = coerce("p", "geodataframe", fc)
    assert isinstance(gdf, gpd.GeoDataFrame)
    assert gdf.crs == "EPSG:4326"
    assert list(gdf["name"]) == ["a", "b"]
    assert list(gdf["n"]) == [1, 2]
    assert [(g.x, g.y) for g in gdf.geometry] == [(1, 2), (3, 4)]

    with_crs = (
        '{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:3857"}},'
        '"features":[{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1,2]}}]}'
    )
    assert coerce("p", "geodataframe", with_crs).crs == "EPSG:3857"
    one = coerce("p", "geodataframe", '{"type":"Point","coordinates":[5,6]}')
    assert len(one) == 1 and one.geometry[0].equals(sg.Point(5, 6))
    assert len(coerce("p", "geodataframe", '{"type":"FeatureCollection","features":[]}')) == 0
    assert coerce("p", "geodataframe", "POLYGON ((0 0, 1 0, 1 1, 0 0))").geometry[0].area == 0.5


def test_coerce_dataframe():
    df = coerce("p", "dataframe", '[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]')
    assert isinstance(df, pd.DataFrame)
    assert df.to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}
    df = coerce("p", "dataframe", '{"b": [1.5, 2.5], "a": ["x", "y"]}')
    assert list(df.columns) == ["b", "a"]
    assert df.to_dict("list") == {"b": [1.5, 2.5], "a": ["x", "y"]}
    assert coerce("p", "dataframe", "[]").empty


def test_coerce_markers_from_strings():
    box = coerce("p", "bbox", "0,0,2,1")
    assert isinstance(box, sg.Polygon) and box.bounds == (0, 0, 2, 1)
    assert coerce("p", "bbox", "POINT (1 2)").equals(sg.Point(1, 2))
    tile = coerce("p", "tilexyz", "1,2,3")
    assert tuple(tile) == (1, 2, 3)
    assert tuple(coerce("p", "tilexyz", '{"x": 0, "y": 0, "z": 0}')) == (0, 0, 0)
    gdf = coerce("p", "tilegdf", '{"type":"Point","coordinates":[1,2]}')
    assert isinstance(gdf, gpd.GeoDataFrame)


# ------------------------------------------------------------------ coerce: bad strings


@pytest.mark.parametrize(
    "spec, raw, expected",
    [
        ("int", "abc", "int"),
        ("int", "3.5", "int (a whole number)"),
        ("int", "", "int"),
        ("float", "abc", "float"),
        ("float", "1_000", "float"),
        ("bool", "maybe", "bool (true/false, 1/0, yes/no or on/off)"),
        ("bool", "", "bool (true/false, 1/0, yes/no or on/off)"),
        ("optional[int]", "x", "optional[int]"),
        ("list[int]", '[1,"x"]', "int at [1] of list[int]"),
        ("list[int]", "1,x", "int at [1] of list[int]"),
        ("list[int]", "[1, 2", None),
        ("tuple[int,str]", "[1]", "tuple[int,str] (2 items, got 1)"),
        ("dict", "[1]", "dict (a JSON object)"),
        ("dict[str,float]", '{"a": "q"}', 'float at ["a"] of dict[str,float]'),
        ("uuid", "not-a-uuid", "uuid"),
        ("date", "2023-02-29", "date (day out of range for the month)"),
        ("date", "2024-13-01", "date (month must be 01-12)"),
        ("datetime", "2024-01-01T24:00", "datetime (hour must be 00-23)"),
        ("datetime", "yesterday", "datetime (format YYYY-MM-DD)"),
        ("geometry", "POINT (1)", "geometry (a position needs 2 or 3 numbers at offset 8)"),
        (
            "geometry",
            "POLYGON ((0 0, 1 0, 1 1, 0 1))",
            "geometry (Polygon ring 0 is not closed (last position must equal the first))",
        ),
        ("geometry[Polygon]", "POINT (1 2)", "geometry[Polygon] (got a Point)"),
        (
            "geodataframe",
            '{"type":"FeatureCollection"}',
            'geodataframe (FeatureCollection needs "features")',
        ),
        (
            "dataframe",
            "[1, 2]",
            "dataframe (a JSON list of records or an object of equal-length columns)",
        ),
        ("bounds", "1,2,3", "bounds (4 numbers west,south,east,north)"),
        ("tilexyz", "9,0,3", "tilexyz (x and y must be below 8 at zoom 3)"),
        ("set[list]", "[[1]]", None),
    ],
)
def test_coerce_bad_strings(spec, raw, expected):
    with pytest.raises(UdfParameterError) as info:
        coerce("my_param", spec, raw)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.parameter == "my_param"
    if expected is not None:
        assert err.expected == expected
    else:
        assert err.expected.startswith(_native.check_spec(spec) + " (")
    assert str(err) == f"parameter 'my_param': expected {err.expected}, got {err.value}"
    assert "my_param" in str(err)


def test_error_value_is_quoted_and_truncated():
    err = raises("int", "x" * 300, "int")
    assert err.value == "'" + "x" * 80 + "... (300 chars)'"
    err = raises("list[int]", '[1, 2, "oops"]', "int at [2] of list[int]", "'oops'")
    assert "oops" in str(err)


def test_error_is_exported_from_fused_types():
    assert fused.types.UdfParameterError is _native.UdfParameterError
    assert issubclass(UdfParameterError, ValueError)


# ------------------------------------------------------------------ coerce: objects


@pytest.mark.parametrize(
    "spec, value",
    [
        ("int", 5),
        ("float", 1.5),
        ("bool", False),
        ("str", "x"),
        ("list", [1, "a"]),
        ("dict", {"a": 1}),
        ("tuple", (1, 2)),
        ("set", {1}),
        ("any", object()),
        ("union[int,str]", 1.5),
        ("optional[int]", 3),
        ("list[int]", [1, 2]),
        ("dict[str,int]", {"a": 1}),
        ("tuple[int,str]", (1, "a")),
        ("iterable[int]", [1, 2]),
        ("uuid", uuid.uuid4()),
        ("datetime", dt.datetime(2024, 1, 1, tzinfo=UTC)),
        ("datetime", pd.Timestamp("2024-01-01")),
        ("date", dt.date(2024, 1, 1)),
        ("geometry", sg.Point(1, 2)),
        ("geometry[Polygon]", sg.box(0, 0, 1, 1)),
        ("geometry[LineString]", sg.LinearRing([(0, 0), (1, 0), (1, 1)])),
        ("bbox", sg.box(0, 0, 1, 1)),
        ("dataframe", pd.DataFrame({"a": [1]})),
        ("dataframe", gpd.GeoDataFrame({"a": [1]}, geometry=[sg.Point(0, 0)])),
        ("geodataframe", gpd.GeoDataFrame({"a": [1]}, geometry=[sg.Point(0, 0)])),
        ("tilegdf", gpd.GeoDataFrame(geometry=[sg.Point(0, 0)])),
    ],
)
def test_coerce_keeps_right_objects(spec, value):
    assert coerce("p", spec, value) is value


@pytest.mark.parametrize("spec", ["int", "list[int]", "geodataframe", "uuid", "str", "bounds"])
def test_coerce_none_passes(spec):
    assert coerce("p", spec, None) is None


@pytest.mark.parametrize(
    "spec, value, out",
    [
        ("int", np.int64(7), 7),
        ("int", np.int32(-2), -2),
        ("int", 3.0, 3),
        ("int", np.float64(4.0), 4),
        ("float", 2, 2.0),
        ("float", np.float32(0.5), 0.5),
        ("float", np.int64(3), 3.0),
        ("bool", np.bool_(True), True),
        ("bool", 0, False),
        ("bool", 1, True),
        ("list", (1, 2), [1, 2]),
        ("list", np.array([1, 2]), [1, 2]),
        ("list[int]", [1, "2", np.int64(3)], [1, 2, 3]),
        ("list[float]", [1, 2.5], [1.0, 2.5]),
        ("list[list[int]]", [[1], ["2"], "3,4"], [[1], [2], [3, 4]]),
        ("tuple", [1, 2], (1, 2)),
        ("tuple[int,...]", [1, "2"], (1, 2)),
        ("set[int]", [1, 1, "2"], {1, 2}),
        ("iterable[int]", (1, "2"), (1, 2)),
        ("dict[str,float]", {"a": 1}, {"a": 1.0}),
        ("dict[int,str]", {"1": "x"}, {1: "x"}),
        ("optional[list[int]]", ["1"], [1]),
        ("list[optional[int]]", [1, None], [1, None]),
        ("datetime", dt.date(2024, 1, 2), dt.datetime(2024, 1, 2)),
        (
            "list[uuid]",
            ["12345678123456789abcdef012345678"],
            [uuid.UUID("12345678-1234-5678-9abc-def012345678")],
        ),
        ("bounds", [0, 1, 2, 3], [0.0, 1.0, 2.0, 3.0]),
        ("bounds", (0, 1.5, np.float64(2), 3), [0.0, 1.5, 2.0, 3.0]),
        ("bounds", np.array([0, 1, 2, 3]), [0.0, 1.0, 2.0, 3.0]),
        ("bounds", sg.box(0, 1, 2, 3), [0.0, 1.0, 2.0, 3.0]),
        ("bounds", gpd.GeoDataFrame(geometry=[sg.box(0, 1, 2, 3)]), [0.0, 1.0, 2.0, 3.0]),
    ],
)
def test_coerce_converts_objects(spec, value, out):
    got = coerce("p", spec, value)
    assert got == out
    assert type(got) is type(out)
    if isinstance(out, (list, tuple)):
        assert [type(x) for x in got] == [type(x) for x in out]


def test_coerce_iterable_keeps_generators():
    gen = (i for i in range(3))
    assert coerce("p", "iterable[int]", gen) is gen
    assert coerce("p", "iterable", range(3)) == range(3)


def test_coerce_geo_objects():
    geojson = {"type": "Point", "coordinates": [1, 2]}
    assert coerce("p", "geometry", geojson).equals(sg.Point(1, 2))
    assert coerce("p", "geometry[Point]", sg.Point(3, 4).__geo_interface__).equals(sg.Point(3, 4))
    gdf = coerce(
        "p",
        "geodataframe",
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {"v": 1}, "geometry": geojson}],
        },
    )
    assert isinstance(gdf, gpd.GeoDataFrame) and list(gdf["v"]) == [1] and gdf.crs == "EPSG:4326"
    gdf = coerce("p", "geodataframe", sg.Point(1, 2))
    assert isinstance(gdf, gpd.GeoDataFrame) and gdf.crs == "EPSG:4326" and len(gdf) == 1
    box = coerce("p", "bbox", [0, 0, 1, 1])
    assert isinstance(box, sg.Polygon) and box.bounds == (0, 0, 1, 1)
    df = coerce("p", "dataframe", [{"a": 1}, {"a": 2}])
    assert isinstance(df, pd.DataFrame) and list(df["a"]) == [1, 2]
    df = coerce("p", "dataframe", {"a": [1, 2]})
    assert list(df["a"]) == [1, 2]
    assert tuple(coerce("p", "tilexyz", (1, 2, 3))) == (1, 2, 3)


@pytest.mark.parametrize(
    "spec, value, expected, shown",
    [
        ("int", True, "int", "True"),
        ("int", 3.5, "int (a whole number)", "3.5"),
        ("int", [1], "int", "[1]"),
        ("float", False, "float", "False"),
        ("float", "x", "float", "'x'"),
        ("bool", 2, "bool", "2"),
        ("str", 5, "str", "5"),
        ("list", b"abc", "list", "b'abc'"),
        ("list", {"a": 1}, "list", "{'a': 1}"),
        ("list[int]", [1, "x"], "int at [1] of list[int]", "'x'"),
        ("list[int]", [1, 2.5], "int (a whole number) at [1] of list[int]", "2.5"),
        ("list[int]", [1, None], "int at [1] of list[int]", "None"),
        ("list[int]", [True], "int at [0] of list[int]", "True"),
        ("list[list[int]]", [[1], [2, "z"]], "int at [1][1] of list[list[int]]", "'z'"),
        ("tuple[int,str]", (1,), "tuple[int,str] (2 items, got 1)", "(1,)"),
        ("dict", [1], "dict", "[1]"),
        ("dict[str,int]", {"a": "b"}, 'int at ["a"] of dict[str,int]', "'b'"),
        ("dict[str,int]", {1: 1}, "str at [1] of dict[str,int]", "1"),
        ("optional[int]", 2.5, "optional[int] (a whole number)", "2.5"),
        ("uuid", 5, "uuid", "5"),
        ("datetime", 5, "datetime", "5"),
        ("date", "2024-02-30", "date (day out of range for the month)", "'2024-02-30'"),
        (
            "dataframe",
            [1, 2],
            "dataframe (a list of records or a dict of equal-length columns)",
            "[1, 2]",
        ),
        ("geodataframe", pd.DataFrame({"a": [1]}), "geodataframe", None),
        ("geodataframe", {"type": "Nope"}, None, None),
        ("geometry", 5, "geometry", "5"),
        ("geometry[Polygon]", sg.Point(0, 0), "geometry[Polygon] (got a Point)", "<POINT (0 0)>"),
        ("bounds", [1, 2, 3], "bounds (4 numbers west,south,east,north)", "[1, 2, 3]"),
        ("bounds", [1, 2, 3, float("nan")], "bounds (4 numbers west,south,east,north)", None),
        ("tilexyz", (1, 2), "tilexyz (x, y, z)", "(1, 2)"),
        ("tilexyz", (9, 0, 3), "tilexyz (x, y, z in range)", "(9, 0, 3)"),
        ("set[list]", [[1]], None, None),
    ],
)
def test_coerce_bad_objects(spec, value, expected, shown):
    with pytest.raises(UdfParameterError) as info:
        coerce("my_param", spec, value)
    err = info.value
    assert err.parameter == "my_param"
    if expected is not None:
        assert err.expected == expected
    if shown is not None:
        assert err.value == shown
    assert str(err) == f"parameter 'my_param': expected {err.expected}, got {err.value}"


def test_coerce_fast_path_is_fast():
    import timeit

    n = 20000
    for spec, value in [
        ("int", 5),
        ("float", 1.0),
        ("str", "s"),
        ("list", [1]),
        ("optional[int]", 1),
    ]:
        per_call = timeit.timeit(lambda s=spec, v=value: coerce("p", s, v), number=n) / n
        assert per_call < 5e-6, (spec, per_call)


def test_shapely_and_numpy_versions_are_usable():
    # guard: the conversion table relies on shapely 2 and numpy scalars
    assert int(shapely.__version__.split(".")[0]) >= 2
    assert np.int64(1) == 1
