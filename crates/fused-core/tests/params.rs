//! The parameter rules, end to end through the public API of `fused_core::params`.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use fused_core::params::{convert_str, Date, DateTime, GeometryKind, TupleItems, TypeSpec, Value};
use fused_core::Error;

fn ok(spec: &str, raw: &str) -> Value {
    convert_str("p", spec, raw).unwrap_or_else(|e| panic!("{spec} {raw:?}: {e}"))
}

/// (expected, value) of the error; also checks the parameter name and message.
fn bad(spec: &str, raw: &str) -> (String, String) {
    match convert_str("my_param", spec, raw) {
        Ok(v) => panic!("{spec} {raw:?} should fail, got {v:?}"),
        Err(e @ Error::Parameter { .. }) => {
            let msg = e.to_string();
            let Error::Parameter {
                parameter,
                expected,
                value,
            } = e
            else {
                unreachable!()
            };
            assert_eq!(parameter, "my_param");
            assert_eq!(
                msg,
                format!("parameter 'my_param': expected {expected}, got {value}")
            );
            (expected, value)
        }
        Err(e) => panic!("{spec} {raw:?}: wrong error kind {e:?}"),
    }
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}
fn f(v: f64) -> Value {
    Value::Float(v)
}
fn list(v: Vec<Value>) -> Value {
    Value::List(v)
}
fn dict(pairs: Vec<(&str, Value)>) -> Value {
    Value::Dict(pairs.into_iter().map(|(k, v)| (s(k), v)).collect())
}

// ---------------------------------------------------------------- spec grammar

#[test]
fn spec_roundtrip_canonical() {
    for (input, canonical) in [
        ("int", "int"),
        ("  list [ int ] ", "list[int]"),
        ("tuple[int, str]", "tuple[int,str]"),
        ("tuple[float, ...]", "tuple[float,...]"),
        ("dict[str, float]", "dict[str,float]"),
        ("set[int]", "set[int]"),
        ("iterable[int]", "iterable[int]"),
        ("optional[list[int]]", "optional[list[int]]"),
        ("optional[optional[int]]", "optional[int]"),
        ("union[int,str]", "union[int,str]"),
        ("union[int,union[str,int]]", "union[int,str]"),
        ("union[int,optional[str]]", "optional[union[int,str]]"),
        ("union[int,any]", "any"),
        ("union[int]", "int"),
        ("geometry[polygon]", "geometry[Polygon]"),
        ("geometry[MULTILINESTRING]", "geometry[MultiLineString]"),
        ("geometry", "geometry"),
        ("bounds", "bounds"),
        ("viewportgdf", "viewportgdf"),
        (
            "dict[str,list[optional[tuple[int,...]]]]",
            "dict[str,list[optional[tuple[int,...]]]]",
        ),
    ] {
        let t = TypeSpec::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(t.to_string(), canonical, "{input}");
        assert_eq!(TypeSpec::parse(canonical).unwrap(), t);
    }
    assert_eq!(
        TypeSpec::parse("tuple[int,...]").unwrap(),
        TypeSpec::Tuple(TupleItems::Variadic(Box::new(TypeSpec::Int)))
    );
    assert_eq!(
        TypeSpec::parse("geometry[Point]").unwrap(),
        TypeSpec::Geometry(Some(GeometryKind::Point))
    );
}

#[test]
fn spec_errors_are_clear() {
    for bad_spec in [
        "",
        "List[int]",
        "lst",
        "list[",
        "list[int",
        "list[int,str]",
        "dict[str]",
        "optional",
        "union",
        "int[str]",
        "tuple[...]",
        "tuple[int,...,str]",
        "list[...]",
        "geometry[Circle]",
        "list[int]]",
        "int str",
        "dict[str,int,float]",
    ] {
        let e = TypeSpec::parse(bad_spec).expect_err(bad_spec);
        let msg = e.to_string();
        assert!(
            matches!(e, Error::InvalidArgument { .. }),
            "{bad_spec}: {e:?}"
        );
        assert!(msg.starts_with("invalid type spec: expected "), "{msg}");
        assert!(msg.contains(&format!("'{bad_spec}'")), "{msg}");
    }
    let deep = format!("{}int{}", "list[".repeat(40), "]".repeat(40));
    assert!(TypeSpec::parse(&deep)
        .unwrap_err()
        .to_string()
        .contains("nesting"));
    // a bad spec is not a parameter error
    assert!(matches!(
        convert_str("p", "nope", "1"),
        Err(Error::InvalidArgument { .. })
    ));
}

// ---------------------------------------------------------------- scalars

#[test]
fn int_rules() {
    assert_eq!(ok("int", "42"), Value::Int(42));
    assert_eq!(ok("int", "-7"), Value::Int(-7));
    assert_eq!(ok("int", "+7"), Value::Int(7));
    assert_eq!(ok("int", " 12 "), Value::Int(12));
    assert_eq!(ok("int", "007"), Value::Int(7));
    assert_eq!(ok("int", "-0"), Value::Int(0));
    assert_eq!(ok("int", "3.0"), Value::Int(3));
    assert_eq!(ok("int", "-3.000"), Value::Int(-3));
    assert_eq!(ok("int", "9223372036854775807"), Value::Int(i64::MAX));
    assert_eq!(ok("int", "-9223372036854775808"), Value::Int(i64::MIN));
    assert_eq!(
        ok("int", "9223372036854775808"),
        Value::BigInt("9223372036854775808".into())
    );
    assert_eq!(
        ok("int", "-000123456789012345678901234567890"),
        Value::BigInt("-123456789012345678901234567890".into())
    );
    assert_eq!(
        ok("int", &"9".repeat(4300)),
        Value::BigInt("9".repeat(4300))
    );
    assert_eq!(bad("int", &"9".repeat(4301)).0, "int (at most 4300 digits)");
    assert_eq!(
        bad("int", "3.5"),
        ("int (a whole number)".into(), "'3.5'".into())
    );
    for raw in [
        "abc", "", " ", "3.", "1e3", "0x10", "1_000", "--1", "+", "1 2", "½", "inf",
    ] {
        let (expected, value) = bad("int", raw);
        assert_eq!(expected, "int", "{raw}");
        assert_eq!(value, format!("'{raw}'"));
    }
}

#[test]
fn float_rules() {
    assert_eq!(ok("float", "1"), f(1.0));
    assert_eq!(ok("float", "-2.5"), f(-2.5));
    assert_eq!(ok("float", ".5"), f(0.5));
    assert_eq!(ok("float", "5."), f(5.0));
    assert_eq!(ok("float", "1e3"), f(1000.0));
    assert_eq!(ok("float", "-1.5E-2"), f(-0.015));
    assert_eq!(ok("float", " 3.25 "), f(3.25));
    assert_eq!(ok("float", "inf"), f(f64::INFINITY));
    assert_eq!(ok("float", "-Infinity"), f(f64::NEG_INFINITY));
    assert_eq!(ok("float", "1e400"), f(f64::INFINITY));
    assert!(matches!(ok("float", "NaN"), Value::Float(x) if x.is_nan()));
    for raw in ["", "abc", "1,5", "1_0", "0x1p3", "1e", "e5", "--1", "1.2.3"] {
        assert_eq!(bad("float", raw).0, "float", "{raw}");
    }
}

#[test]
fn bool_rules() {
    for t in [
        "true", "TRUE", "True", "1", "yes", "YES", "on", "On", " true ",
    ] {
        assert_eq!(ok("bool", t), Value::Bool(true), "{t}");
    }
    for t in ["false", "False", "0", "no", "NO", "off", "OFF"] {
        assert_eq!(ok("bool", t), Value::Bool(false), "{t}");
    }
    for t in ["", "2", "y", "t", "truthy", "nope", "-1"] {
        let (expected, _) = bad("bool", t);
        assert_eq!(expected, "bool (true/false, 1/0, yes/no or on/off)");
    }
}

#[test]
fn str_any_union_unchanged() {
    for spec in ["str", "any", "union[int,str]", "union[int,float]"] {
        assert_eq!(ok(spec, " 12 x "), s(" 12 x "));
        assert_eq!(ok(spec, ""), s(""));
        assert_eq!(ok(spec, "[1,2]"), s("[1,2]"));
    }
}

#[test]
fn optional_rules() {
    for raw in ["", "null", "None", "  "] {
        assert_eq!(ok("optional[int]", raw), Value::Null);
        assert_eq!(ok("optional[list[int]]", raw), Value::Null);
        assert_eq!(ok("optional[str]", raw), Value::Null);
    }
    assert_eq!(ok("optional[int]", "5"), Value::Int(5));
    assert_eq!(ok("optional[str]", "none"), s("none"));
    assert_eq!(ok("optional[union[int,str]]", "x"), s("x"));
    assert_eq!(ok("optional[union[int,str]]", "null"), Value::Null);
    assert_eq!(
        bad("optional[int]", "x"),
        ("optional[int]".into(), "'x'".into())
    );
    assert_eq!(
        bad("optional[int]", "2.5").0,
        "optional[int] (a whole number)"
    );
    assert_eq!(
        bad("optional[list[int]]", "1,x").0,
        "int at [1] of optional[list[int]]"
    );
    assert_eq!(
        bad("list[optional[int]]", "[1,\"x\"]").0,
        "optional[int] at [1] of list[optional[int]]"
    );
    // null is not an int
    assert_eq!(bad("int", "null").0, "int");
}

#[test]
fn uuid_rules() {
    let canon = "12345678-1234-5678-9abc-def012345678";
    for raw in [
        canon,
        "12345678-1234-5678-9ABC-DEF012345678",
        "{12345678-1234-5678-9abc-def012345678}",
        "{12345678123456789abcdef012345678}",
        "urn:uuid:12345678-1234-5678-9abc-def012345678",
        "URN:UUID:12345678123456789abcdef012345678",
        "12345678123456789abcdef012345678",
        " 12345678123456789ABCDEF012345678 ",
    ] {
        assert_eq!(ok("uuid", raw), Value::Uuid(canon.into()), "{raw}");
    }
    for raw in [
        "",
        "not-a-uuid",
        "12345678-1234-5678-9abc-def01234567",
        "12345678-1234-5678-9abc-def0123456789",
        "1234567-81234-5678-9abc-def012345678",
        "12345678-1234-5678-9abc-def01234567g",
        "{12345678-1234-5678-9abc-def012345678",
        "ééééééééééééééééééééééééééééééééé",
    ] {
        assert_eq!(bad("uuid", raw).0, "uuid", "{raw}");
    }
}

#[allow(clippy::too_many_arguments)]
fn dt(y: u16, mo: u8, d: u8, h: u8, mi: u8, sec: u8, us: u32, off: Option<i32>) -> Value {
    Value::DateTime(DateTime {
        date: Date {
            year: y,
            month: mo,
            day: d,
        },
        hour: h,
        minute: mi,
        second: sec,
        microsecond: us,
        offset_seconds: off,
    })
}

#[test]
fn date_rules() {
    assert_eq!(
        ok("date", "2024-02-29"),
        Value::Date(Date {
            year: 2024,
            month: 2,
            day: 29
        })
    );
    assert_eq!(
        ok("date", "2000-02-29"),
        Value::Date(Date {
            year: 2000,
            month: 2,
            day: 29
        })
    );
    assert_eq!(
        ok("date", "0001-01-01"),
        Value::Date(Date {
            year: 1,
            month: 1,
            day: 1
        })
    );
    assert_eq!(
        ok("date", "9999-12-31"),
        Value::Date(Date {
            year: 9999,
            month: 12,
            day: 31
        })
    );
    assert_eq!(
        bad("date", "2023-02-29").0,
        "date (day out of range for the month)"
    );
    assert_eq!(
        bad("date", "1900-02-29").0,
        "date (day out of range for the month)"
    );
    assert_eq!(
        bad("date", "2024-04-31").0,
        "date (day out of range for the month)"
    );
    assert_eq!(bad("date", "2024-13-01").0, "date (month must be 01-12)");
    assert_eq!(bad("date", "2024-00-10").0, "date (month must be 01-12)");
    assert_eq!(
        bad("date", "2024-01-00").0,
        "date (day out of range for the month)"
    );
    assert_eq!(bad("date", "0000-01-01").0, "date (year must be 0001-9999)");
    for raw in [
        "2024-1-01",
        "24-01-01",
        "2024/01/01",
        "20240101",
        "2024-01-01T00:00",
        "",
        "x",
    ] {
        assert_eq!(bad("date", raw).0, "date (format YYYY-MM-DD)", "{raw}");
    }
}

#[test]
fn datetime_rules() {
    assert_eq!(
        ok("datetime", "2024-03-01"),
        dt(2024, 3, 1, 0, 0, 0, 0, None)
    );
    assert_eq!(
        ok("datetime", "2024-03-01T12:34"),
        dt(2024, 3, 1, 12, 34, 0, 0, None)
    );
    assert_eq!(
        ok("datetime", "2024-03-01 12:34:56"),
        dt(2024, 3, 1, 12, 34, 56, 0, None)
    );
    assert_eq!(
        ok("datetime", "2024-03-01t12:34:56z"),
        dt(2024, 3, 1, 12, 34, 56, 0, Some(0))
    );
    assert_eq!(
        ok("datetime", "2024-03-01T12:34:56.5Z"),
        dt(2024, 3, 1, 12, 34, 56, 500_000, Some(0))
    );
    assert_eq!(
        ok("datetime", "2024-03-01T12:34:56.123456+05:30"),
        dt(2024, 3, 1, 12, 34, 56, 123_456, Some(19800))
    );
    assert_eq!(
        ok("datetime", "2024-03-01T12:34:56,25-0800"),
        dt(2024, 3, 1, 12, 34, 56, 250_000, Some(-28800))
    );
    assert_eq!(
        ok("datetime", "2024-03-01T12:34:56.123456789-03"),
        dt(2024, 3, 1, 12, 34, 56, 123_456, Some(-10800))
    );
    assert_eq!(
        ok("datetime", "2024-02-29T23:59:59+23:59"),
        dt(2024, 2, 29, 23, 59, 59, 0, Some(86340))
    );
    assert_eq!(
        ok("datetime", " 2024-03-01T00:00:00Z "),
        dt(2024, 3, 1, 0, 0, 0, 0, Some(0))
    );
    for (raw, why) in [
        ("2024-03-01T24:00", "hour must be 00-23"),
        ("2024-03-01T23:60", "minute must be 00-59"),
        ("2024-03-01T23:59:60", "second must be 00-59"),
        ("2023-02-29T00:00", "day out of range for the month"),
        ("2024-03-01T00:00+24:00", "UTC offset must be within ±23:59"),
        (
            "2024-03-01T00:00:00.1234567890",
            "at most 9 fraction digits",
        ),
    ] {
        assert_eq!(bad("datetime", raw).0, format!("datetime ({why})"), "{raw}");
    }
    for raw in [
        "2024-03-01T",
        "2024-03-01T12",
        "2024-03-01T1234",
        "2024-03-01T12:34:56.",
        "2024-03-01T12:34Zx",
        "2024-03-01T12:34+5",
        "2024-03-01X12:34",
        "2024-03-01T12:34:56 UTC",
        "now",
    ] {
        assert!(bad("datetime", raw).0.starts_with("datetime ("), "{raw}");
    }
}

// ---------------------------------------------------------------- containers

#[test]
fn list_rules() {
    assert_eq!(
        ok("list", "[1,\"a\",null]"),
        list(vec![Value::Int(1), s("a"), Value::Null])
    );
    assert_eq!(ok("list", "a, b ,c"), list(vec![s("a"), s("b"), s("c")]));
    assert_eq!(ok("list", ""), list(vec![]));
    assert_eq!(ok("list", "[]"), list(vec![]));
    assert_eq!(ok("list", "solo"), list(vec![s("solo")]));
    assert_eq!(
        ok("list[int]", "[1, 2, 3]"),
        list(vec![Value::Int(1), Value::Int(2), Value::Int(3)])
    );
    assert_eq!(
        ok("list[int]", "1,2, 3"),
        list(vec![Value::Int(1), Value::Int(2), Value::Int(3)])
    );
    assert_eq!(
        ok("list[int]", "[\"1\", 2.0]"),
        list(vec![Value::Int(1), Value::Int(2)])
    );
    assert_eq!(
        ok("list[float]", "[1, 2.5, \"3\"]"),
        list(vec![f(1.0), f(2.5), f(3.0)])
    );
    assert!(
        matches!(&ok("list[float]", "[\"nan\"]"), Value::List(v) if matches!(v[0], Value::Float(x) if x.is_nan()))
    );
    assert_eq!(ok("iterable[int]", "[1]"), list(vec![Value::Int(1)]));
    assert_eq!(ok("list[str]", "[\"a\",\"b\"]"), list(vec![s("a"), s("b")]));
    assert_eq!(
        ok("list[bool]", "[true, 0, \"yes\"]"),
        list(vec![
            Value::Bool(true),
            Value::Bool(false),
            Value::Bool(true)
        ])
    );

    assert_eq!(
        bad("list[int]", "[1,\"x\"]"),
        ("int at [1] of list[int]".into(), "'x'".into())
    );
    assert_eq!(
        bad("list[int]", "1,x"),
        ("int at [1] of list[int]".into(), "'x'".into())
    );
    assert_eq!(
        bad("list[int]", "[1,2.5]"),
        (
            "int (a whole number) at [1] of list[int]".into(),
            "2.5".into()
        )
    );
    assert_eq!(
        bad("list[int]", "[true]"),
        ("int at [0] of list[int]".into(), "true".into())
    );
    assert_eq!(
        bad("list[int]", "[null]"),
        ("int at [0] of list[int]".into(), "null".into())
    );
    assert_eq!(
        bad("list[str]", "[1]"),
        ("str at [0] of list[str]".into(), "1".into())
    );
    let (expected, value) = bad("list[int]", "[1,2");
    assert!(
        expected.starts_with("list[int] (invalid JSON: "),
        "{expected}"
    );
    assert_eq!(value, "'[1,2'");
    assert_eq!(bad("list[int]", "{\"a\":1}").0, "int at [0] of list[int]");
}

#[test]
fn nested_generics() {
    assert_eq!(
        ok("list[list[int]]", "[[1],[2,3]]"),
        list(vec![
            list(vec![Value::Int(1)]),
            list(vec![Value::Int(2), Value::Int(3)])
        ])
    );
    assert_eq!(
        ok("list[list[int]]", "[\"1,2\"]"),
        list(vec![list(vec![Value::Int(1), Value::Int(2)])])
    );
    assert_eq!(
        bad(
            "list[dict[str,list[int]]]",
            "[{\"a\":[1]},{\"b\":[2,\"z\"]}]"
        ),
        (
            "int at [1][\"b\"][1] of list[dict[str,list[int]]]".into(),
            "'z'".into()
        )
    );
    assert_eq!(
        ok("optional[list[optional[int]]]", "[1,null,\"None\"]"),
        list(vec![Value::Int(1), Value::Null, Value::Null])
    );
    assert_eq!(
        ok("list[union[int,str]]", "[1,\"a\"]"),
        list(vec![Value::Int(1), s("a")])
    );
    assert_eq!(
        ok("list[any]", "[{\"a\":[1]}]"),
        list(vec![dict(vec![("a", list(vec![Value::Int(1)]))])])
    );
}

#[test]
fn tuple_and_set_rules() {
    assert_eq!(
        ok("tuple", "[1,\"a\"]"),
        Value::Tuple(vec![Value::Int(1), s("a")])
    );
    assert_eq!(
        ok("tuple[int,str]", "[1,\"a\"]"),
        Value::Tuple(vec![Value::Int(1), s("a")])
    );
    assert_eq!(
        ok("tuple[int,str]", "1,a"),
        Value::Tuple(vec![Value::Int(1), s("a")])
    );
    assert_eq!(
        ok("tuple[float,...]", "1,2,3"),
        Value::Tuple(vec![f(1.0), f(2.0), f(3.0)])
    );
    assert_eq!(ok("tuple[float,...]", ""), Value::Tuple(vec![]));
    assert_eq!(
        bad("tuple[int,str]", "[1]"),
        ("tuple[int,str] (2 items, got 1)".into(), "[1]".into())
    );
    assert_eq!(
        bad("tuple[int,str]", "1,a,b").0,
        "tuple[int,str] (2 items, got 3)"
    );
    assert_eq!(
        bad("tuple[int,str]", "[\"a\",1]").0,
        "int at [0] of tuple[int,str]"
    );
    assert_eq!(
        ok("set[int]", "[1,2,2]"),
        Value::Set(vec![Value::Int(1), Value::Int(2), Value::Int(2)])
    );
    assert_eq!(ok("set", "a,b"), Value::Set(vec![s("a"), s("b")]));
    assert_eq!(bad("set[int]", "1,b").0, "int at [1] of set[int]");
}

#[test]
fn dict_rules() {
    assert_eq!(
        ok("dict", "{\"b\":1,\"a\":[2]}"),
        dict(vec![("b", Value::Int(1)), ("a", list(vec![Value::Int(2)]))])
    );
    assert_eq!(ok("dict", "{}"), Value::Dict(vec![]));
    assert_eq!(
        ok("dict[str,float]", "{\"x\":1,\"y\":\"2.5\"}"),
        dict(vec![("x", f(1.0)), ("y", f(2.5))])
    );
    assert_eq!(
        ok("dict[int,str]", "{\"1\":\"a\",\"-2\":\"b\"}"),
        Value::Dict(vec![(Value::Int(1), s("a")), (Value::Int(-2), s("b"))])
    );
    assert_eq!(
        bad("dict[int,str]", "{\"a\":\"b\"}"),
        ("int at [\"a\"] of dict[int,str]".into(), "'a'".into())
    );
    assert_eq!(
        bad("dict[str,float]", "{\"x\":\"q\"}"),
        ("float at [\"x\"] of dict[str,float]".into(), "'q'".into())
    );
    assert_eq!(
        bad("dict", "[1]"),
        ("dict (a JSON object)".into(), "[1]".into())
    );
    assert!(bad("dict", "a=1").0.starts_with("dict (invalid JSON"));
    assert_eq!(bad("dict", "").1, "''");
}

// ---------------------------------------------------------------- geo

fn geometry(spec: &str, raw: &str) -> Value {
    match ok(spec, raw) {
        Value::Geometry(g) => *g,
        other => panic!("{other:?}"),
    }
}

fn pt(c: &[f64]) -> Value {
    list(c.iter().map(|&x| f(x)).collect())
}

fn geo(kind: &str, coords: Value) -> Value {
    dict(vec![("type", s(kind)), ("coordinates", coords)])
}

#[test]
fn wkt_each_kind() {
    assert_eq!(
        geometry("geometry", "POINT (1 2)"),
        geo("Point", pt(&[1.0, 2.0]))
    );
    assert_eq!(
        geometry("geometry", "point(1.5 -2e1)"),
        geo("Point", pt(&[1.5, -20.0]))
    );
    assert_eq!(
        geometry("geometry", "POINT Z (1 2 3)"),
        geo("Point", pt(&[1.0, 2.0, 3.0]))
    );
    assert_eq!(
        geometry("geometry", "POINT (1 2 3)"),
        geo("Point", pt(&[1.0, 2.0, 3.0]))
    );
    assert_eq!(
        geometry("geometry", "POINT EMPTY"),
        geo("Point", list(vec![]))
    );
    assert_eq!(
        geometry("geometry", "POINT Z EMPTY"),
        geo("Point", list(vec![]))
    );
    assert_eq!(
        geometry("geometry", "LINESTRING (0 0, 1 1, 2 0)"),
        geo(
            "LineString",
            list(vec![pt(&[0.0, 0.0]), pt(&[1.0, 1.0]), pt(&[2.0, 0.0])])
        )
    );
    assert_eq!(
        geometry("geometry", "LINESTRING EMPTY"),
        geo("LineString", list(vec![]))
    );
    let square = list(vec![
        pt(&[0.0, 0.0]),
        pt(&[1.0, 0.0]),
        pt(&[1.0, 1.0]),
        pt(&[0.0, 0.0]),
    ]);
    assert_eq!(
        geometry("geometry", "POLYGON ((0 0, 1 0, 1 1, 0 0))"),
        geo("Polygon", list(vec![square.clone()]))
    );
    assert_eq!(
        geometry(
            "geometry[Polygon]",
            "POLYGON((0 0,1 0,1 1,0 0),(0 0,1 0,1 1,0 0))"
        ),
        geo("Polygon", list(vec![square.clone(), square.clone()]))
    );
    let ring3 = list(vec![
        pt(&[0.0, 0.0, 1.0]),
        pt(&[1.0, 0.0, 1.0]),
        pt(&[1.0, 1.0, 1.0]),
        pt(&[0.0, 0.0, 1.0]),
    ]);
    assert_eq!(
        geometry("geometry", "POLYGON Z ((0 0 1, 1 0 1, 1 1 1, 0 0 1))"),
        geo("Polygon", list(vec![ring3]))
    );
    assert_eq!(
        geometry("geometry", "POLYGON EMPTY"),
        geo("Polygon", list(vec![]))
    );
    let mp = geo("MultiPoint", list(vec![pt(&[1.0, 2.0]), pt(&[3.0, 4.0])]));
    assert_eq!(geometry("geometry", "MULTIPOINT (1 2, 3 4)"), mp);
    assert_eq!(geometry("geometry", "MULTIPOINT ((1 2), (3 4))"), mp);
    assert_eq!(
        geometry("geometry", "MULTIPOINT EMPTY"),
        geo("MultiPoint", list(vec![]))
    );
    assert_eq!(
        geometry("geometry", "MULTILINESTRING ((0 0, 1 1), (2 2, 3 3))"),
        geo(
            "MultiLineString",
            list(vec![
                list(vec![pt(&[0.0, 0.0]), pt(&[1.0, 1.0])]),
                list(vec![pt(&[2.0, 2.0]), pt(&[3.0, 3.0])])
            ])
        )
    );
    assert_eq!(
        geometry("geometry", "MULTILINESTRING EMPTY"),
        geo("MultiLineString", list(vec![]))
    );
    assert_eq!(
        geometry(
            "geometry[MultiPolygon]",
            "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((0 0, 1 0, 1 1, 0 0)))"
        ),
        geo(
            "MultiPolygon",
            list(vec![list(vec![square.clone()]), list(vec![square.clone()])])
        )
    );
    assert_eq!(
        geometry("geometry", "MULTIPOLYGON EMPTY"),
        geo("MultiPolygon", list(vec![]))
    );
    assert_eq!(
        geometry(
            "geometry",
            "GEOMETRYCOLLECTION (POINT (1 2), LINESTRING Z (0 0 0, 1 1 1), POINT EMPTY)"
        ),
        dict(vec![
            ("type", s("GeometryCollection")),
            (
                "geometries",
                list(vec![
                    geo("Point", pt(&[1.0, 2.0])),
                    geo(
                        "LineString",
                        list(vec![pt(&[0.0, 0.0, 0.0]), pt(&[1.0, 1.0, 1.0])])
                    ),
                    geo("Point", list(vec![])),
                ])
            ),
        ])
    );
    assert_eq!(
        geometry("geometry", "GEOMETRYCOLLECTION EMPTY"),
        dict(vec![
            ("type", s("GeometryCollection")),
            ("geometries", list(vec![]))
        ])
    );
}

#[test]
fn wkt_refusals() {
    for (raw, why) in [
        ("POINT (1)", "a position needs 2 or 3 numbers"),
        ("POINT (1 2 3 4)", "a position needs 2 or 3 numbers"),
        ("POINT Z (1 2)", "mixed coordinate dimensions"),
        ("LINESTRING (0 0, 1 1 1)", "mixed coordinate dimensions"),
        ("LINESTRING (0 0)", "LineString needs at least 2 positions"),
        (
            "POLYGON ((0 0, 1 0, 0 0))",
            "Polygon ring 0 needs at least 4 positions",
        ),
        (
            "POLYGON ((0 0, 1 0, 1 1, 0 1))",
            "Polygon ring 0 is not closed",
        ),
        ("POINT M (1 2 3)", "M coordinates are not supported"),
        ("POINT ZM (1 2 3 4)", "M coordinates are not supported"),
        ("SRID=4326;POINT (1 2)", "EWKT"),
        ("CIRCLE (1 2)", "unknown geometry type 'CIRCLE'"),
        ("POINT (1 2) x", "unexpected text after the geometry"),
        ("POINT (1 2", "expected ')'"),
        ("POINT (nan 2)", "a position needs 2 or 3 numbers"),
        ("POINT (1e999 2)", "bad number"),
        ("POINT 1 2", "expected '(' at offset 6"),
        ("POINT Z", "expected '(' at offset 7"),
        ("MULTIPOINT (EMPTY, 1 2)", "2 or 3 numbers"),
        ("", "expected a geometry type"),
    ] {
        let (expected, value) = bad("geometry", raw);
        assert!(
            expected.starts_with("geometry (") && expected.contains(why),
            "{raw}: {expected}"
        );
        assert_eq!(value, format!("'{raw}'"));
    }
    let deep = format!(
        "{}POINT (1 2){}",
        "GEOMETRYCOLLECTION (".repeat(20),
        ")".repeat(20)
    );
    assert!(bad("geometry", &deep).0.contains("nested deeper"));
    assert_eq!(
        bad("geometry[Polygon]", "POINT (1 2)").0,
        "geometry[Polygon] (got a Point)"
    );
}

#[test]
fn geojson_geometry() {
    assert_eq!(
        geometry("geometry", r#"{"type":"Point","coordinates":[1,2]}"#),
        geo("Point", pt(&[1.0, 2.0]))
    );
    assert_eq!(
        geometry(
            "geometry",
            r#"{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1,2,3]}}"#
        ),
        geo("Point", pt(&[1.0, 2.0, 3.0]))
    );
    assert_eq!(
        geometry(
            "geometry[Polygon]",
            r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]],"bbox":[0,0,1,1]}"#
        ),
        geo(
            "Polygon",
            list(vec![list(vec![
                pt(&[0.0, 0.0]),
                pt(&[1.0, 0.0]),
                pt(&[1.0, 1.0]),
                pt(&[0.0, 0.0])
            ])])
        )
    );
    for (raw, why) in [
        (r#"{"type":"Point"}"#, "Point needs \"coordinates\""),
        (r#"{"coordinates":[1,2]}"#, "needs a \"type\""),
        (
            r#"{"type":"Circle","coordinates":[1,2]}"#,
            "unknown GeoJSON geometry type",
        ),
        (r#"{"type":"Point","coordinates":[1]}"#, "2 or 3 numbers"),
        (
            r#"{"type":"Point","coordinates":[1,"a"]}"#,
            "finite numbers",
        ),
        (
            r#"{"type":"LineString","coordinates":[[0,0]]}"#,
            "at least 2 positions",
        ),
        (
            r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}"#,
            "ring 0 is not closed",
        ),
        (
            r#"{"type":"MultiPolygon","coordinates":[[[0,0]]]}"#,
            "must be an array",
        ),
        (r#"{"type":"GeometryCollection"}"#, "needs \"geometries\""),
        (r#"{"type":"Feature","geometry":null}"#, "no geometry"),
    ] {
        let (expected, _) = bad("geometry", raw);
        assert!(expected.contains(why), "{raw}: {expected}");
    }
    assert_eq!(
        bad(
            "geometry[LineString]",
            r#"{"type":"Point","coordinates":[1,2]}"#
        )
        .0,
        "geometry[LineString] (got a Point)"
    );
}

fn fc(raw: &str) -> (Vec<Value>, Option<String>) {
    match ok("geodataframe", raw) {
        Value::FeatureCollection { features, crs } => (features, crs),
        other => panic!("{other:?}"),
    }
}

#[test]
fn geodataframe_rules() {
    let (features, crs) = fc(r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","properties":{"name":"a","n":1},"geometry":{"type":"Point","coordinates":[1,2]}},
        {"type":"Feature","properties":null,"geometry":null}]}"#);
    assert_eq!(crs, None);
    assert_eq!(features.len(), 2);
    assert_eq!(
        features[0].get("properties"),
        Some(&dict(vec![("name", s("a")), ("n", Value::Int(1))]))
    );
    assert_eq!(
        features[0].get("geometry"),
        Some(&geo("Point", pt(&[1.0, 2.0])))
    );
    assert_eq!(features[1].get("geometry"), Some(&Value::Null));
    assert_eq!(features[1].get("properties"), Some(&Value::Dict(vec![])));

    let (features, crs) = fc(
        r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:3857"}},"features":[]}"#,
    );
    assert_eq!((features.len(), crs.as_deref()), (0, Some("EPSG:3857")));

    let (features, _) = fc(
        r#"{"type":"Feature","properties":{"k":true},"geometry":{"type":"Point","coordinates":[0,0]}}"#,
    );
    assert_eq!(features.len(), 1);
    let (features, _) = fc(r#"{"type":"Point","coordinates":[5,6]}"#);
    assert_eq!(
        features[0].get("geometry"),
        Some(&geo("Point", pt(&[5.0, 6.0])))
    );
    let (features, _) = fc("POINT (5 6)");
    assert_eq!(
        features[0].get("geometry"),
        Some(&geo("Point", pt(&[5.0, 6.0])))
    );

    for (raw, why) in [
        (r#"{"type":"FeatureCollection"}"#, "needs \"features\""),
        (
            r#"{"type":"FeatureCollection","features":[{"type":"Point","coordinates":[0,0]}]}"#,
            "features[0] is not a GeoJSON Feature",
        ),
        (
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[0]}}]}"#,
            "2 or 3 numbers",
        ),
        (
            r#"{"type":"Feature","properties":[1],"geometry":null}"#,
            "\"properties\" must be an object",
        ),
        (
            r#"{"type":"Feature","properties":{}}"#,
            "needs \"geometry\"",
        ),
        (
            r#"{"type":"FeatureCollection","features":[],"crs":5}"#,
            "\"crs\" must be",
        ),
        ("[1,2]", "must be an object"),
        ("{", "invalid JSON"),
    ] {
        let (expected, _) = bad("geodataframe", raw);
        assert!(
            expected.starts_with("geodataframe (") && expected.contains(why),
            "{raw}: {expected}"
        );
    }
    // tilegdf/viewportgdf read the same way
    assert!(matches!(
        ok("tilegdf", "POINT (1 2)"),
        Value::FeatureCollection { .. }
    ));
    assert!(matches!(
        ok("viewportgdf", r#"{"type":"Point","coordinates":[1,2]}"#),
        Value::FeatureCollection { .. }
    ));
}

#[test]
fn dataframe_rules() {
    assert_eq!(
        ok("dataframe", r#"[{"a":1,"b":"x"},{"a":2}]"#),
        Value::DataFrame(Box::new(list(vec![
            dict(vec![("a", Value::Int(1)), ("b", s("x"))]),
            dict(vec![("a", Value::Int(2))])
        ])))
    );
    assert_eq!(
        ok("dataframe", r#"{"b":[1,2],"a":["x","y"]}"#),
        Value::DataFrame(Box::new(dict(vec![
            ("b", list(vec![Value::Int(1), Value::Int(2)])),
            ("a", list(vec![s("x"), s("y")]))
        ])))
    );
    assert_eq!(
        ok("dataframe", "[]"),
        Value::DataFrame(Box::new(list(vec![])))
    );
    for raw in ["[1,2]", r#"{"a":[1],"b":[1,2]}"#, r#"{"a":1}"#, "5"] {
        assert_eq!(
            bad("dataframe", raw).0,
            "dataframe (a JSON list of records or an object of equal-length columns)"
        );
    }
    assert!(bad("dataframe", "a,b")
        .0
        .starts_with("dataframe (invalid JSON"));
}

#[test]
fn marker_rules() {
    let b = list(vec![f(-10.0), f(-5.5), f(10.0), f(5.5)]);
    assert_eq!(ok("bounds", "-10,-5.5,10,5.5"), b);
    assert_eq!(ok("bounds", "[-10, -5.5, 10, 5.5]"), b);
    assert_eq!(ok("bounds", " -10 , -5.5 , 10 , 5.5 "), b);
    for raw in [
        "1,2,3",
        "1,2,3,4,5",
        "[1,2,3]",
        "a,b,c,d",
        "1,2,3,inf",
        "[1,2,3,\"4\"]",
        "",
    ] {
        assert_eq!(
            bad("bounds", raw).0,
            "bounds (4 numbers west,south,east,north)",
            "{raw}"
        );
    }
    assert_eq!(ok("bbox", "0,0,1,1"), Value::Bbox([0.0, 0.0, 1.0, 1.0]));
    assert_eq!(ok("bbox", "[0,0,1,1]"), Value::Bbox([0.0, 0.0, 1.0, 1.0]));
    assert_eq!(
        ok("bbox", "POINT (1 2)"),
        Value::Geometry(Box::new(geo("Point", pt(&[1.0, 2.0]))))
    );
    assert!(bad("bbox", "POINT (1)").0.starts_with("bbox ("));
    assert_eq!(ok("tilexyz", "1,2,3"), Value::Tile { x: 1, y: 2, z: 3 });
    assert_eq!(ok("tilexyz", "[1,2,3]"), Value::Tile { x: 1, y: 2, z: 3 });
    assert_eq!(
        ok("tilexyz", r#"{"z":3,"x":1,"y":2}"#),
        Value::Tile { x: 1, y: 2, z: 3 }
    );
    assert_eq!(ok("tilexyz", "0,0,0"), Value::Tile { x: 0, y: 0, z: 0 });
    assert_eq!(
        bad("tilexyz", "8,0,3").0,
        "tilexyz (x and y must be below 8 at zoom 3)"
    );
    assert_eq!(
        bad("tilexyz", "0,0,31").0,
        "tilexyz (zoom 31 out of range 0-30)"
    );
    assert_eq!(bad("tilexyz", "1,2").0, "tilexyz (x,y,z)");
    assert_eq!(bad("tilexyz", "-1,2,3").0, "tilexyz (x,y,z)");
}

#[test]
fn long_values_are_truncated() {
    let raw = format!("[{}\"x\"]", "1,".repeat(500));
    let (expected, value) = bad("list[int]", &raw);
    assert_eq!(expected, "int at [500] of list[int]");
    assert_eq!(value, "'x'");
    let (_, value) = bad("int", &"x".repeat(500));
    assert_eq!(value, format!("'{}... (500 chars)'", "x".repeat(80)));
    let (_, value) = bad("list[int]", &format!("[[{}]]", "1,".repeat(300) + "1"));
    assert!(value.ends_with("chars)") && value.len() < 120, "{value}");
}
