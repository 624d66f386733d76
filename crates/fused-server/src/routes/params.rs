//! UDF parameters of a run request: reserved names split off, every value validated against the
//! UDF's schema with fused-core's rules before any worker sees it.

use std::collections::BTreeMap;

use fused_core::params::convert;
use serde_json::{Map, Value};

use crate::prepared::ParamSpec;

/// Query names that steer the run instead of being UDF parameters.
pub const RESERVED: [&str; 5] = [
    "format",
    "dtype_out_vector",
    "dtype_out_raster",
    "cache_max_age",
    "cache",
];

/// The output-format and cache choices of a request (the reserved names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputChoice {
    pub format: Option<String>,
    pub dtype_out_vector: Option<String>,
    pub dtype_out_raster: Option<String>,
    pub extension: Option<String>,
    /// `cache_max_age` as given ("10s", "30m", "48h", "90d" or seconds; 0 bypasses).
    pub cache_max_age: Option<String>,
    /// `cache` as given (`false` bypasses the result cache).
    pub cache: Option<String>,
}

/// Query pairs split into UDF parameters (strings) and output choices. A repeated name keeps
/// its last value.
pub fn split_query(query: Vec<(String, String)>) -> (Vec<(String, Value)>, OutputChoice) {
    let mut params: Vec<(String, Value)> = Vec::new();
    let mut out = OutputChoice::default();
    for (name, value) in query {
        match name.as_str() {
            "format" => out.format = Some(value),
            "dtype_out_vector" => out.dtype_out_vector = Some(value),
            "dtype_out_raster" => out.dtype_out_raster = Some(value),
            "cache_max_age" => out.cache_max_age = Some(value),
            "cache" => out.cache = Some(value),
            n if RESERVED.contains(&n) => {}
            _ => {
                params.retain(|(n, _)| *n != name);
                params.push((name, Value::String(value)));
            }
        }
    }
    (params, out)
}

/// A reserved option given in a JSON body (string, number or bool) as its string form.
pub fn option_text(v: Option<Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

/// A bad `cache` / `cache_max_age`: (parameter, expected, value).
pub type CacheOptionError = (String, String, String);

/// The result-cache lifetime a request asks for, in seconds; `None` bypasses the cache.
/// The request's `cache_max_age`, else the UDF's own (`udf_max_age`: `fused:cacheMaxAge` in
/// its metadata, seconds), else `default`; `cache=false` or a lifetime of 0 bypass.
pub fn cache_lifetime(
    out: &OutputChoice,
    udf_max_age: Option<u64>,
    default: u64,
) -> Result<Option<u64>, CacheOptionError> {
    if let Some(c) = &out.cache {
        match c.trim().to_ascii_lowercase().as_str() {
            "false" | "0" | "no" | "off" => return Ok(None),
            "true" | "1" | "yes" | "on" | "" => {}
            _ => return Err(("cache".into(), "true or false".into(), format!("{c:?}"))),
        }
    }
    let age = match &out.cache_max_age {
        Some(v) => fused_core::duration::parse_max_age(v).map_err(|e| match e {
            fused_core::Error::InvalidArgument {
                name,
                expected,
                value,
            } => (name, expected, value),
            other => ("cache_max_age".into(), other.to_string(), v.clone()),
        })?,
        None => udf_max_age.unwrap_or(default),
    };
    Ok((age > 0).then_some(age))
}

/// Validated parameters, ready for the worker, and the names that were ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Validated {
    pub parameters: Map<String, Value>,
    pub ignored: Vec<String>,
}

/// Why a request's parameters are refused.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamError {
    /// A value does not convert: 422 `{"error", "parameter", "expected", "value"}`.
    Value {
        message: String,
        parameter: String,
        expected: String,
        value: String,
    },
    /// The schema itself is unusable (a spec that does not parse): 400.
    Schema(String),
}

/// Check `given` against `schema`. Names not in the schema are ignored (and reported); with no
/// schema at all every value is passed on unchecked (the worker converts and checks them).
/// Strings follow the string rules; other JSON values are checked through their JSON text; a
/// JSON `null` is passed on as "not given".
pub fn validate(
    schema: Option<&BTreeMap<String, ParamSpec>>,
    given: Vec<(String, Value)>,
) -> Result<Validated, ParamError> {
    let mut out = Validated::default();
    for (name, value) in given {
        let Some(schema) = schema else {
            out.parameters.insert(name, value);
            continue;
        };
        let Some(param_spec) = schema.get(&name) else {
            out.ignored.push(name);
            continue;
        };
        let spec = param_spec.parsed.as_ref().map_err(|e| {
            let text = &param_spec.text;
            ParamError::Schema(format!("schema of parameter '{name}' ({text:?}): {e}"))
        })?;
        let raw = match &value {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        if let Some(raw) = raw {
            convert(&name, spec, &raw).map_err(|e| match e {
                fused_core::Error::Parameter {
                    ref parameter,
                    ref expected,
                    ref value,
                } => ParamError::Value {
                    message: e.to_string(),
                    parameter: parameter.clone(),
                    expected: expected.clone(),
                    value: value.clone(),
                },
                other => ParamError::Value {
                    message: other.to_string(),
                    parameter: name.clone(),
                    expected: spec.to_string(),
                    value: raw.clone(),
                },
            })?;
        }
        out.parameters.insert(name, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(pairs: &[(&str, &str)]) -> BTreeMap<String, ParamSpec> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), ParamSpec::parse(b)))
            .collect()
    }

    #[test]
    fn reserved_names_split_off() {
        let (p, o) = split_query(vec![
            ("n".into(), "1".into()),
            ("format".into(), "json".into()),
            ("cache".into(), "false".into()),
            ("n".into(), "2".into()),
        ]);
        assert_eq!(p, vec![("n".to_string(), Value::String("2".into()))]);
        assert_eq!(o.format.as_deref(), Some("json"));
    }

    #[test]
    fn values_checked_unknown_ignored() {
        let s = schema(&[("n", "int"), ("xs", "list[float]")]);
        let v = validate(
            Some(&s),
            vec![
                ("n".into(), "3".into()),
                ("xs".into(), serde_json::json!([1, 2.5])),
                ("zzz".into(), "1".into()),
            ],
        )
        .unwrap();
        assert_eq!(v.ignored, vec!["zzz"]);
        assert_eq!(v.parameters["n"], "3");
        let err = validate(Some(&s), vec![("n".into(), "abc".into())]).unwrap_err();
        match err {
            ParamError::Value {
                parameter,
                expected,
                value,
                ..
            } => {
                assert_eq!(parameter, "n");
                assert_eq!(expected, "int");
                assert!(value.contains("abc"));
            }
            other @ ParamError::Schema(_) => panic!("{other:?}"),
        }
        assert!(matches!(
            validate(
                Some(&schema(&[("n", "nope[")])),
                vec![("n".into(), "1".into())]
            ),
            Err(ParamError::Schema(_))
        ));
        // no schema: passed on
        let v = validate(None, vec![("q".into(), "x".into())]).unwrap();
        assert_eq!(v.parameters["q"], "x");
    }
}
