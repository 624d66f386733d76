//! The conversion rules: a raw string (and, inside JSON documents, each decoded
//! element) becomes a [`Value`] of the parameter's [`TypeSpec`], or an error naming
//! the parameter, the expected type and the offending value. The rules are listed in
//! the parent module's docs.

use std::fmt::Write;

use super::json::{self, Json};
use super::spec::{GeometryKind, TupleItems, TypeSpec};
use super::{datetime, geojson, show, wkt, Value};
use crate::error::{Error, Result};

/// Longest integer accepted, in digits (CPython's default `int` string limit).
pub const MAX_INT_DIGITS: usize = 4300;

static ANY: TypeSpec = TypeSpec::Any;

/// Convert one raw string for parameter `parameter` by `spec`.
pub fn convert(parameter: &str, spec: &TypeSpec, raw: &str) -> Result<Value> {
    let mut cx = Cx {
        parameter,
        top: spec,
        path: String::new(),
    };
    cx.from_str(spec, raw)
}

/// True for the strings an `optional[...]` parameter reads as null.
pub fn is_null_str(raw: &str) -> bool {
    matches!(raw.trim(), "" | "null" | "None")
}

struct Cx<'a> {
    parameter: &'a str,
    top: &'a TypeSpec,
    /// Where inside the value we are, e.g. `[2]["a"]`; empty at the top.
    path: String,
}

impl Cx<'_> {
    fn fail(&self, spec: &TypeSpec, why: Option<&str>, shown: String) -> Error {
        let mut expected = spec.to_string();
        if let Some(why) = why {
            let _ = write!(expected, " ({why})");
        }
        if !self.path.is_empty() {
            let _ = write!(expected, " at {} of {}", self.path, self.top);
        }
        Error::parameter(self.parameter, expected, shown)
    }

    fn at<T>(
        &mut self,
        seg: std::fmt::Arguments<'_>,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let len = self.path.len();
        let _ = self.path.write_fmt(seg);
        let r = f(self);
        self.path.truncate(len);
        r
    }

    fn json(&self, spec: &TypeSpec, raw: &str) -> Result<Json> {
        json::parse(raw)
            .map_err(|e| self.fail(spec, Some(&format!("invalid JSON: {e}")), show::quoted(raw)))
    }

    #[allow(clippy::wrong_self_convention)]
    fn from_str(&mut self, spec: &TypeSpec, raw: &str) -> Result<Value> {
        let t = raw.trim();
        let bad = |cx: &Self, why: Option<&str>| cx.fail(spec, why, show::quoted(raw));
        match spec {
            TypeSpec::Any | TypeSpec::Str | TypeSpec::Union(_) => Ok(Value::Str(raw.to_string())),
            TypeSpec::Optional(inner) => {
                if is_null_str(raw) {
                    Ok(Value::Null)
                } else {
                    self.from_str(inner, raw)
                        .map_err(|e| as_optional(e, inner, spec))
                }
            }
            TypeSpec::Int => parse_int(t).map_err(|why| bad(self, why)),
            TypeSpec::Float => parse_float(t)
                .map(Value::Float)
                .ok_or_else(|| bad(self, None)),
            TypeSpec::Bool => parse_bool(t)
                .map(Value::Bool)
                .ok_or_else(|| bad(self, Some("true/false, 1/0, yes/no or on/off"))),
            TypeSpec::Uuid => parse_uuid(t)
                .map(Value::Uuid)
                .ok_or_else(|| bad(self, None)),
            TypeSpec::Date => datetime::parse_date(t)
                .map(Value::Date)
                .map_err(|why| bad(self, Some(why))),
            TypeSpec::DateTime => datetime::parse_datetime(t)
                .map(Value::DateTime)
                .map_err(|why| bad(self, Some(why))),
            TypeSpec::List(_) | TypeSpec::Set(_) | TypeSpec::Iterable(_) | TypeSpec::Tuple(_) => {
                if t.starts_with('[') {
                    let j = self.json(spec, raw)?;
                    return self.from_json(spec, &j);
                }
                let parts: Vec<&str> = if t.is_empty() {
                    vec![]
                } else {
                    t.split(',').map(str::trim).collect()
                };
                self.elements(
                    spec,
                    &parts,
                    || show::quoted(raw),
                    |cx, es, part| cx.from_str(es, part),
                )
            }
            TypeSpec::Dict(_) | TypeSpec::DataFrame => {
                let j = self.json(spec, raw)?;
                self.from_json(spec, &j)
            }
            TypeSpec::Geometry(want) => {
                let parsed = self.geometry_text(spec, raw)?;
                self.geometry(spec, *want, parsed, || show::quoted(raw))
            }
            TypeSpec::GeoDataFrame | TypeSpec::TileGdf | TypeSpec::ViewportGdf => {
                let parsed = if t.starts_with('{') || t.starts_with('[') {
                    let j = self.json(spec, raw)?;
                    geojson::features(&j)
                } else {
                    wkt::parse(t).map(|(_, g)| (vec![geojson::feature_of(g)], None))
                };
                match parsed {
                    Ok((features, crs)) => Ok(Value::FeatureCollection { features, crs }),
                    Err(why) => Err(bad(self, Some(&why))),
                }
            }
            TypeSpec::Bounds => self.four_str(spec, raw).map(bounds_value),
            TypeSpec::Bbox => {
                if t.starts_with('{') || t.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    let parsed = self.geometry_text(spec, raw)?;
                    self.geometry(spec, None, parsed, || show::quoted(raw))
                } else {
                    self.four_str(spec, raw).map(Value::Bbox)
                }
            }
            TypeSpec::TileXyz => {
                if t.starts_with('[') || t.starts_with('{') {
                    let j = self.json(spec, raw)?;
                    return self.from_json(spec, &j);
                }
                let parts: Vec<&str> = t.split(',').map(str::trim).collect();
                let nums: Option<Vec<u64>> = parts.iter().map(|p| p.parse::<u64>().ok()).collect();
                match nums.as_deref() {
                    Some(&[x, y, z]) => tile_value(x, y, z).map_err(|why| bad(self, Some(&why))),
                    _ => Err(bad(self, Some("x,y,z"))),
                }
            }
        }
    }

    #[allow(clippy::wrong_self_convention)]
    fn from_json(&mut self, spec: &TypeSpec, j: &Json) -> Result<Value> {
        // A string where a non-string type is expected follows the string rules.
        if let Json::Str(s) = j {
            if !matches!(spec, TypeSpec::Any | TypeSpec::Str | TypeSpec::Union(_)) {
                return self.from_str(spec, s);
            }
        }
        let bad = |cx: &Self, why: Option<&str>| cx.fail(spec, why, j.show());
        match spec {
            TypeSpec::Any | TypeSpec::Union(_) => Ok(Value::from_json(j)),
            TypeSpec::Str => match j {
                Json::Str(s) => Ok(Value::Str(s.clone())),
                _ => Err(bad(self, None)),
            },
            TypeSpec::Optional(inner) => match j {
                Json::Null => Ok(Value::Null),
                _ => self
                    .from_json(inner, j)
                    .map_err(|e| as_optional(e, inner, spec)),
            },
            TypeSpec::Int => match *j {
                Json::Int(i) => Ok(Value::Int(i)),
                Json::UInt(u) => Ok(Value::BigInt(u.to_string())),
                Json::Float(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => {
                    Ok(Value::Int(f as i64))
                }
                Json::Float(_) => Err(bad(self, Some("a whole number"))),
                _ => Err(bad(self, None)),
            },
            TypeSpec::Float => j.as_f64().map(Value::Float).ok_or_else(|| bad(self, None)),
            TypeSpec::Bool => match *j {
                Json::Bool(b) => Ok(Value::Bool(b)),
                Json::Int(0) => Ok(Value::Bool(false)),
                Json::Int(1) => Ok(Value::Bool(true)),
                _ => Err(bad(self, None)),
            },
            TypeSpec::Uuid | TypeSpec::Date | TypeSpec::DateTime => {
                Err(bad(self, Some("a string")))
            }
            TypeSpec::List(_) | TypeSpec::Set(_) | TypeSpec::Iterable(_) | TypeSpec::Tuple(_) => {
                match j {
                    Json::Array(items) => self.elements(spec, items, || j.show(), Cx::from_json),
                    _ => Err(bad(self, Some("a JSON array"))),
                }
            }
            TypeSpec::Dict(kv) => {
                let Json::Object(members) = j else {
                    return Err(bad(self, Some("a JSON object")));
                };
                let (key_spec, value_spec) = kv.as_deref().map_or((&ANY, &ANY), |(k, v)| (k, v));
                let mut out = Vec::with_capacity(members.len());
                for (k, v) in members {
                    let quoted_key = serde_json::to_string(&show::truncate(k)).unwrap_or_default();
                    let pair = self.at(format_args!("[{quoted_key}]"), |cx| {
                        let key = cx.from_str(key_spec, k)?;
                        Ok((key, cx.from_json(value_spec, v)?))
                    })?;
                    out.push(pair);
                }
                Ok(Value::Dict(out))
            }
            TypeSpec::Geometry(want) => self.geometry(spec, *want, geometry_json(j), || j.show()),
            TypeSpec::GeoDataFrame | TypeSpec::TileGdf | TypeSpec::ViewportGdf => {
                match geojson::features(j) {
                    Ok((features, crs)) => Ok(Value::FeatureCollection { features, crs }),
                    Err(why) => Err(bad(self, Some(&why))),
                }
            }
            TypeSpec::DataFrame => dataframe(j).ok_or_else(|| {
                bad(
                    self,
                    Some("a JSON list of records or an object of equal-length columns"),
                )
            }),
            TypeSpec::Bounds => four_json(j)
                .map(bounds_value)
                .ok_or_else(|| bad(self, Some("4 numbers"))),
            TypeSpec::Bbox => match j {
                Json::Object(_) => self.geometry(spec, None, geometry_json(j), || j.show()),
                _ => four_json(j)
                    .map(Value::Bbox)
                    .ok_or_else(|| bad(self, Some("4 numbers"))),
            },
            TypeSpec::TileXyz => {
                let get = |k: &str, i: usize| match j {
                    Json::Array(a) if a.len() == 3 => a.get(i),
                    Json::Object(_) => j.get(k),
                    _ => None,
                };
                let num = |o: Option<&Json>| match o {
                    Some(&Json::Int(i)) => u64::try_from(i).ok(),
                    _ => None,
                };
                match (num(get("x", 0)), num(get("y", 1)), num(get("z", 2))) {
                    (Some(x), Some(y), Some(z)) => {
                        tile_value(x, y, z).map_err(|why| bad(self, Some(&why)))
                    }
                    _ => Err(bad(self, Some("[x,y,z] or {\"x\":..,\"y\":..,\"z\":..}"))),
                }
            }
        }
    }

    /// Convert each item of a list-like value by its element spec.
    fn elements<T>(
        &mut self,
        spec: &TypeSpec,
        items: &[T],
        shown: impl Fn() -> String,
        mut conv: impl FnMut(&mut Self, &TypeSpec, &T) -> Result<Value>,
    ) -> Result<Value> {
        if let TypeSpec::Tuple(TupleItems::Fixed(specs)) = spec {
            if specs.len() != items.len() {
                let why = format!("{} items, got {}", specs.len(), items.len());
                return Err(self.fail(spec, Some(&why), shown()));
            }
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let es: &TypeSpec = match spec {
                TypeSpec::Tuple(TupleItems::Fixed(specs)) => &specs[i],
                other => other.element().unwrap_or(&ANY),
            };
            out.push(self.at(format_args!("[{i}]"), |cx| conv(cx, es, item))?);
        }
        Ok(match spec {
            TypeSpec::Set(_) => Value::Set(out),
            TypeSpec::Tuple(_) => Value::Tuple(out),
            _ => Value::List(out),
        })
    }

    /// GeoJSON (text starting with `{`) or WKT.
    fn geometry_text(
        &self,
        spec: &TypeSpec,
        raw: &str,
    ) -> Result<std::result::Result<(GeometryKind, Value), String>> {
        let t = raw.trim();
        Ok(if t.starts_with('{') {
            geometry_json(&self.json(spec, raw)?)
        } else {
            wkt::parse(t)
        })
    }

    fn geometry(
        &self,
        spec: &TypeSpec,
        want: Option<GeometryKind>,
        parsed: std::result::Result<(GeometryKind, Value), String>,
        shown: impl Fn() -> String,
    ) -> Result<Value> {
        match parsed {
            Err(why) => Err(self.fail(spec, Some(&why), shown())),
            Ok((kind, _)) if want.is_some_and(|w| w != kind) => {
                Err(self.fail(spec, Some(&format!("got a {}", kind.name())), shown()))
            }
            Ok((_, g)) => Ok(Value::Geometry(Box::new(g))),
        }
    }

    /// Four finite numbers from `[w,s,e,n]` JSON or `w,s,e,n`.
    fn four_str(&self, spec: &TypeSpec, raw: &str) -> Result<[f64; 4]> {
        let t = raw.trim();
        let four = if t.starts_with('[') {
            four_json(&self.json(spec, raw)?)
        } else {
            let nums: Option<Vec<f64>> = t
                .split(',')
                .map(|p| parse_float(p.trim()).filter(|f| f.is_finite()))
                .collect();
            nums.and_then(|v| <[f64; 4]>::try_from(v).ok())
        };
        four.ok_or_else(|| {
            self.fail(
                spec,
                Some("4 numbers west,south,east,north"),
                show::quoted(raw),
            )
        })
    }
}

/// An error about `optional[T]`'s inner `T` at the same level names `optional[T]`.
fn as_optional(e: Error, inner: &TypeSpec, optional: &TypeSpec) -> Error {
    match e {
        Error::Parameter {
            parameter,
            expected,
            value,
        } => {
            let inner = inner.to_string();
            let expected = match expected.strip_prefix(&inner) {
                Some(rest) if rest.is_empty() || rest.starts_with(' ') => {
                    format!("{optional}{rest}")
                }
                _ => expected,
            };
            Error::Parameter {
                parameter,
                expected,
                value,
            }
        }
        other => other,
    }
}

fn bounds_value(b: [f64; 4]) -> Value {
    Value::List(b.into_iter().map(Value::Float).collect())
}

fn four_json(j: &Json) -> Option<[f64; 4]> {
    match j {
        Json::Array(items) if items.len() == 4 => {
            let v: Option<Vec<f64>> = items
                .iter()
                .map(|n| n.as_f64().filter(|f| f.is_finite()))
                .collect();
            v.and_then(|v| <[f64; 4]>::try_from(v).ok())
        }
        _ => None,
    }
}

fn tile_value(x: u64, y: u64, z: u64) -> std::result::Result<Value, String> {
    if z > 30 {
        return Err(format!("zoom {z} out of range 0-30"));
    }
    let n = 1u64 << z;
    if x >= n || y >= n {
        return Err(format!("x and y must be below {n} at zoom {z}"));
    }
    Ok(Value::Tile {
        x: x as u32,
        y: y as u32,
        z: z as u8,
    })
}

/// A geometry object, or a Feature's (non-null) geometry.
fn geometry_json(j: &Json) -> std::result::Result<(GeometryKind, Value), String> {
    match j.get("type") {
        Some(Json::Str(t)) if t == "Feature" => match j.get("geometry") {
            Some(g @ Json::Object(_)) => geojson::geometry(g),
            _ => Err("the Feature has no geometry".into()),
        },
        _ => geojson::geometry(j),
    }
}

fn dataframe(j: &Json) -> Option<Value> {
    match j {
        Json::Array(rows) => {
            if !rows.iter().all(|r| matches!(r, Json::Object(_))) {
                return None;
            }
            Some(Value::DataFrame(Box::new(Value::from_json(j))))
        }
        Json::Object(columns) => {
            let mut len = None;
            for (_, c) in columns {
                let Json::Array(items) = c else { return None };
                if *len.get_or_insert(items.len()) != items.len() {
                    return None;
                }
            }
            Some(Value::DataFrame(Box::new(Value::from_json(j))))
        }
        _ => None,
    }
}

/// `[+-]digits` with an optional all-zero fraction (`"3.0"`), any size up to
/// [`MAX_INT_DIGITS`] digits.
pub fn parse_int(t: &str) -> std::result::Result<Value, Option<&'static str>> {
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (digits, frac) = match rest.split_once('.') {
        Some((d, f)) => (d, Some(f)),
        None => (rest, None),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(None);
    }
    if let Some(f) = frac {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return Err(None);
        }
        if !f.bytes().all(|b| b == b'0') {
            return Err(Some("a whole number"));
        }
    }
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(Value::Int(0));
    }
    if digits.len() > MAX_INT_DIGITS {
        return Err(Some("at most 4300 digits"));
    }
    let signed = if neg {
        format!("-{digits}")
    } else {
        digits.to_string()
    };
    Ok(signed
        .parse::<i64>()
        .map_or(Value::BigInt(signed), Value::Int))
}

/// Decimal, exponent, `inf`/`infinity`/`nan` (any case, optional sign), as Python's
/// `float()` reads them (no underscores, no hex).
pub fn parse_float(t: &str) -> Option<f64> {
    if t.is_empty() || t.contains('_') {
        return None;
    }
    t.parse::<f64>().ok()
}

/// true/false, 1/0, yes/no, on/off in any case.
pub fn parse_bool(t: &str) -> Option<bool> {
    match t.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Hyphenated, `{braced}`, `urn:uuid:` or 32 hex digits, any case; canonical
/// lowercase hyphenated out.
pub fn parse_uuid(t: &str) -> Option<String> {
    let mut s = t;
    if s.get(..9)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:uuid:"))
    {
        s = &s[9..];
    }
    if let Some(inner) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        s = inner;
    }
    let b = s.as_bytes();
    let hex: Vec<u8> = match b.len() {
        32 => b.to_vec(),
        36 if [8, 13, 18, 23].iter().all(|&i| b[i] == b'-') => b
            .iter()
            .enumerate()
            .filter(|(i, _)| ![8, 13, 18, 23].contains(i))
            .map(|(_, &c)| c)
            .collect(),
        _ => return None,
    };
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let h = String::from_utf8(hex).ok()?.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}
