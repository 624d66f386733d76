//! UDF parameter types and the rules that turn strings into typed values.
//!
//! One set of rules serves the Python SDK (through `fused._native`) and the HTTP
//! server: a parameter's annotation becomes a compact *type spec* string (stored per
//! parameter in a UDF's schema), and [`convert`] turns a raw string (query string,
//! CLI, JSON body member) into a [`Value`] tree that Python turns into objects.
//!
//! # Spec grammar
//!
//! ```text
//! spec     := name [ "[" args "]" ]           whitespace between tokens is ignored
//! args     := spec ("," spec)*                (tuple also: spec "," "...")
//! name     := any | str | int | float | bool
//!           | list | set | iterable | tuple | dict      (bare or with arguments)
//!           | optional | union                           (arguments required)
//!           | uuid | datetime | date | dataframe | geodataframe
//!           | geometry | bounds | bbox | tilexyz | tilegdf | viewportgdf
//! geometry := "geometry" [ "[" kind "]" ]     kind: Point | LineString | Polygon |
//!                                             MultiPoint | MultiLineString |
//!                                             MultiPolygon | GeometryCollection
//!                                             (any case, rendered as spelled here)
//! ```
//!
//! Arity: `list[T]`, `set[T]`, `iterable[T]`, `optional[T]` take one argument,
//! `dict[K,V]` two, `tuple[A,B,...]` any number (or `tuple[T,...]` for "any length,
//! all T"), `union[...]` one or more. Names are lowercase. Nesting is limited to
//! [`spec::MAX_SPEC_DEPTH`] levels. Parsing normalises: `optional[optional[T]]` is
//! `optional[T]`; unions are flattened and deduplicated, an optional member makes the
//! union optional (`union[int,optional[str]]` is `optional[union[int,str]]`), an `any`
//! member makes it `any`, one member stands for itself. `to_string()` renders the
//! canonical form (no spaces), which is also the "expected" text of errors.
//!
//! # Conversion of a raw string
//!
//! | spec | accepted | value |
//! |---|---|---|
//! | `any`, `str`, `union[...]` | anything | the string unchanged |
//! | `int` | `[+-]digits`, optionally `.0…` (`"3.0"` is 3, `"3.5"` is refused); surrounding whitespace ignored; any size up to 4300 digits (beyond `i64`: [`Value::BigInt`]) | `Int` / `BigInt` |
//! | `float` | ints, decimals (`.5`, `5.`), exponents, `nan`, `inf`, `infinity` (any case, signed); no `_`, no hex | `Float` |
//! | `bool` | `true/false/1/0/yes/no/on/off`, any case | `Bool` |
//! | `optional[T]` | `""`, `"null"`, `"None"` (after trimming) | `Null`, else as `T` |
//! | `list`, `set`, `iterable`, `tuple` (bare or typed) | a JSON array (text starting with `[`), else comma-separated items (each trimmed; `""` is empty) | `List` (`iterable` too) / `Set` / `Tuple`; `tuple[A,B]` checks the length |
//! | `dict`, `dict[K,V]` | a JSON object; keys converted by `K`'s string rules | `Dict` |
//! | `uuid` | hyphenated, `{braced}`, `urn:uuid:`, 32 hex digits; any case | `Uuid` (canonical lowercase hyphenated) |
//! | `date` | `YYYY-MM-DD` | `Date` |
//! | `datetime` | ISO 8601, see [`datetime`] | `DateTime` (naive or with an offset) |
//! | `geometry`, `geometry[Kind]` | WKT (see [`wkt`]), a GeoJSON geometry or Feature | `Geometry` (a GeoJSON geometry dict); the kind is checked |
//! | `geodataframe`, `tilegdf`, `viewportgdf` | GeoJSON FeatureCollection, Feature or bare geometry; or WKT | `FeatureCollection` (features, `crs` name if given) |
//! | `dataframe` | JSON list of records, or object of equal-length column arrays | `DataFrame` |
//! | `bounds` | `[w,s,e,n]` JSON or `w,s,e,n`: four finite numbers | `List` of 4 `Float` |
//! | `bbox` | four numbers as for `bounds`, or a geometry (WKT/GeoJSON) | `Bbox` / `Geometry` |
//! | `tilexyz` | `x,y,z`, `[x,y,z]` or `{"x":..,"y":..,"z":..}`; z 0-30, x/y in range | `Tile` |
//!
//! Inside JSON documents, each element is checked against its element type: numbers
//! for `int` must be whole (`2.0` is 2), `int` numbers become `float`, `bool` takes
//! `true`/`false`/`0`/`1`, `null` only for `optional[...]`, a `str` element must be a
//! JSON string; and a JSON *string* where a non-string type is expected follows the
//! string rules above (`["1","2"]` is a valid `list[int]`). JSON integers beyond
//! `u64` arrive as floats (`serde_json`), so exact huge integers need the plain form.
//!
//! Every error is [`crate::Error::Parameter`]: the parameter, the expected type
//! (canonical spec, with a reason in parentheses and, inside a value, the position:
//! `int at [1] of list[int]`), and the offending value (quoted, truncated to 80
//! characters).

pub mod convert;
pub mod datetime;
pub mod geojson;
pub mod json;
pub mod show;
pub mod spec;
pub mod wkt;

pub use convert::convert;
pub use datetime::{Date, DateTime};
pub use spec::{GeometryKind, TupleItems, TypeSpec};

use json::Json;

/// A converted parameter value. Plain JSON-like kinds plus tagged kinds the
/// caller finishes into richer objects (Python: `uuid.UUID`, `datetime`, shapely,
/// pandas, geopandas).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer outside `i64`, as decimal text (`-` sign, no leading zeros).
    BigInt(String),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Set(Vec<Value>),
    /// Key/value pairs in input order.
    Dict(Vec<(Value, Value)>),
    /// Canonical lowercase hyphenated text.
    Uuid(String),
    DateTime(DateTime),
    Date(Date),
    /// A GeoJSON geometry as a `Dict` (`type`, `coordinates` / `geometries`).
    Geometry(Box<Value>),
    /// GeoJSON Features (each a `Dict` with `type`, `geometry`, `properties`) and the
    /// CRS named by the input's `crs` member, if any (the default is EPSG:4326).
    FeatureCollection {
        features: Vec<Value>,
        crs: Option<String>,
    },
    /// A `List` of record `Dict`s or a `Dict` of column `List`s.
    DataFrame(Box<Value>),
    /// `[west, south, east, north]` to become a box polygon.
    Bbox([f64; 4]),
    /// A web-mercator tile.
    Tile {
        x: u32,
        y: u32,
        z: u8,
    },
}

impl Value {
    /// The plain value of a JSON document (objects become `Dict`s with `Str` keys).
    pub fn from_json(j: &Json) -> Value {
        match j {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(i) => Value::Int(*i),
            Json::UInt(u) => Value::BigInt(u.to_string()),
            Json::Float(f) => Value::Float(*f),
            Json::Str(s) => Value::Str(s.clone()),
            Json::Array(items) => Value::List(items.iter().map(Value::from_json).collect()),
            Json::Object(members) => Value::Dict(
                members
                    .iter()
                    .map(|(k, v)| (Value::Str(k.clone()), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Look a `Str` key up in a `Dict` (the last occurrence wins).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(pairs) => pairs
                .iter()
                .rev()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parse `spec` and convert `raw` for `parameter` in one step.
pub fn convert_str(parameter: &str, spec: &str, raw: &str) -> crate::Result<Value> {
    convert(parameter, &TypeSpec::parse(spec)?, raw)
}
