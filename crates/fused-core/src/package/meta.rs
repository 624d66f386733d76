//! meta.json: parsed into [`MetaUdf`] (every field checked, errors naming the JSON path), and
//! rendered back in the catalog's shape.

use serde_json::{json, Map, Value};

use super::{is_python_identifier, UdfPackage, DEFAULT_UDF_TYPE, META_VERSION};
use crate::{Error, Result};

/// Where a piece of code comes from: a file of the package, or inline in meta.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CodeRef {
    /// A relative path inside the package, already checked by [`safe_relative_path`].
    File(String),
    Inline(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetaHeader {
    pub module_name: String,
    pub code: CodeRef,
}

/// The `job_config.steps[0].udf` object of a meta.json, validated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetaUdf {
    pub name: Option<String>,
    pub entrypoint: Option<String>,
    pub udf_type: String,
    pub parameters: Map<String, Value>,
    pub metadata: Map<String, Value>,
    pub code: CodeRef,
    pub headers: Vec<MetaHeader>,
}

const UDF_PATH: &str = "job_config.steps[0].udf";

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parse and validate a meta.json; `at` names the file in errors.
pub(crate) fn parse_meta(bytes: &[u8], at: &str) -> Result<MetaUdf> {
    let err = |msg: String| Error::package(at, msg);
    let root: Value = serde_json::from_slice(bytes).map_err(|e| {
        err(format!(
            "invalid JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    if let Some(path) = find_node_template(&root, "") {
        return Err(err(format!(
            "this is a canvas note ({path} is set), not a Python UDF; \
             only UDFs with Python code can be loaded"
        )));
    }
    let root = root
        .as_object()
        .ok_or_else(|| err(format!("expected a JSON object, got {}", kind(&root))))?;
    let job = match root.get("job_config") {
        Some(Value::Object(job)) => job,
        Some(other) => {
            return Err(err(format!(
                "job_config: expected an object, got {}",
                kind(other)
            )))
        }
        None => {
            return Err(err(
                "missing job_config (expected {\"job_config\": {\"steps\": [...]}})".into(),
            ))
        }
    };
    let step = match job.get("steps") {
        Some(Value::Array(steps)) => steps
            .first()
            .ok_or_else(|| err("job_config.steps is empty; expected one udf step".into()))?,
        Some(other) => {
            return Err(err(format!(
                "job_config.steps: expected an array, got {}",
                kind(other)
            )))
        }
        None => return Err(err("missing job_config.steps".into())),
    };
    let step = step.as_object().ok_or_else(|| {
        err(format!(
            "job_config.steps[0]: expected an object, got {}",
            kind(step)
        ))
    })?;
    match step.get("type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "udf" => {}
        Some(other) => {
            return Err(err(format!(
                "job_config.steps[0].type: expected \"udf\", got {other}"
            )))
        }
    }
    let udf = match step.get("udf") {
        Some(Value::Object(udf)) => udf,
        Some(other) => {
            return Err(err(format!(
                "{UDF_PATH}: expected an object, got {}",
                kind(other)
            )))
        }
        None => return Err(err(format!("missing {UDF_PATH}"))),
    };
    parse_udf(udf, at)
}

fn parse_udf(udf: &Map<String, Value>, at: &str) -> Result<MetaUdf> {
    let err = |msg: String| Error::package(at, msg);
    let opt_string = |key: &str| -> Result<Option<String>> {
        match udf.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(err(format!(
                "{UDF_PATH}.{key}: expected a string, got {}",
                kind(other)
            ))),
        }
    };
    let opt_object = |key: &str| -> Result<Map<String, Value>> {
        match udf.get(key) {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(other) => Err(err(format!(
                "{UDF_PATH}.{key}: expected an object, got {}",
                kind(other)
            ))),
        }
    };

    let name = opt_string("name")?.filter(|n| !n.is_empty());
    let entrypoint = opt_string("entrypoint")?;
    if let Some(ep) = &entrypoint {
        if !is_python_identifier(ep) {
            return Err(err(format!(
                "{UDF_PATH}.entrypoint: expected a Python function name, got {ep:?}"
            )));
        }
    }
    let udf_type = opt_string("type")?.unwrap_or_else(|| DEFAULT_UDF_TYPE.to_string());
    let parameters = opt_object("parameters")?;
    let metadata = opt_object("metadata")?;

    let code = match (opt_string("source")?, opt_string("code")?) {
        (Some(source), _) => {
            CodeRef::File(checked_path(&source, &format!("{UDF_PATH}.source"), at)?)
        }
        (None, Some(code)) => CodeRef::Inline(code),
        (None, None) => {
            return Err(err(format!(
                "{UDF_PATH} has no Python code: expected \"source\" naming a .py file \
                 of the package, or inline \"code\""
            )))
        }
    };

    let headers = match udf.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, h)| parse_header(h, i, at))
            .collect::<Result<Vec<_>>>()?,
        Some(other) => {
            return Err(err(format!(
                "{UDF_PATH}.headers: expected an array, got {}",
                kind(other)
            )))
        }
    };
    for (i, h) in headers.iter().enumerate() {
        if headers[..i].iter().any(|o| o.module_name == h.module_name) {
            return Err(err(format!(
                "{UDF_PATH}.headers: module name {:?} appears more than once",
                h.module_name
            )));
        }
    }

    Ok(MetaUdf {
        name,
        entrypoint,
        udf_type,
        parameters,
        metadata,
        code,
        headers,
    })
}

fn parse_header(h: &Value, i: usize, at: &str) -> Result<MetaHeader> {
    let here = format!("{UDF_PATH}.headers[{i}]");
    let err = |msg: String| Error::package(at, msg);
    let h = h
        .as_object()
        .ok_or_else(|| err(format!("{here}: expected an object, got {}", kind(h))))?;
    let field = |key: &str| -> Result<Option<&str>> {
        match h.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(err(format!(
                "{here}.{key}: expected a string, got {}",
                kind(other)
            ))),
        }
    };
    let module_name = field("module_name")?
        .ok_or_else(|| err(format!("{here}: missing module_name")))?
        .to_string();
    if !is_python_identifier(&module_name) {
        return Err(err(format!(
            "{here}.module_name: expected a Python identifier (importable module name), \
             got {module_name:?}"
        )));
    }
    let code = match (field("source_file")?, field("source_code")?) {
        (Some(file), _) => CodeRef::File(checked_path(file, &format!("{here}.source_file"), at)?),
        (None, Some(code)) => CodeRef::Inline(code.to_string()),
        (None, None) => {
            return Err(err(format!(
                "{here} ({module_name}): expected \"source_file\" or inline \"source_code\""
            )))
        }
    };
    Ok(MetaHeader { module_name, code })
}

fn checked_path(raw: &str, key: &str, at: &str) -> Result<String> {
    safe_relative_path(raw).ok_or_else(|| {
        Error::package(
            at,
            format!(
                "{key}: expected a relative path inside the package folder, got {raw:?} \
                 (absolute paths and '..' are refused)"
            ),
        )
    })
}

/// Normalise a relative path (`/` or `\` separated) to `a/b.py`; `None` when it is empty,
/// absolute, has a drive letter or NUL, or steps out with `..`.
pub(crate) fn safe_relative_path(raw: &str) -> Option<String> {
    if raw.is_empty() || raw.contains('\0') || raw.starts_with(['/', '\\']) {
        return None;
    }
    let bytes = raw.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return None;
    }
    let mut parts = Vec::new();
    for part in raw.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

/// The JSON path of a key `isNodeTemplate` (or `<prefix>:isNodeTemplate`) set to a true value,
/// which marks a canvas note instead of a UDF.
fn find_node_template(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::Object(map) => map.iter().find_map(|(k, val)| {
            let here = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            let is_flag = k == "isNodeTemplate" || k.ends_with(":isNodeTemplate");
            let truthy = matches!(val, Value::Bool(true))
                || matches!(val, Value::String(s) if s.eq_ignore_ascii_case("true"));
            if is_flag && truthy {
                Some(here)
            } else {
                find_node_template(val, &here)
            }
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find_node_template(item, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// The catalog meta.json for `pkg`: pretty JSON, 2-space indent, trailing newline.
pub(crate) fn render_meta(pkg: &UdfPackage) -> String {
    let headers: Vec<Value> = pkg
        .headers
        .iter()
        .map(|h| {
            json!({
                "module_name": h.module_name,
                "source_file": format!("{}.py", h.module_name),
            })
        })
        .collect();
    let meta = json!({
        "version": META_VERSION,
        "job_config": {
            "version": META_VERSION,
            "name": null,
            "steps": [{
                "type": "udf",
                "udf": {
                    "type": pkg.udf_type,
                    "name": pkg.name,
                    "entrypoint": pkg.entrypoint,
                    "parameters": pkg.parameters,
                    "metadata": pkg.metadata,
                    "source": format!("{}.py", pkg.name),
                    "headers": headers,
                }
            }],
            "metadata": null,
        }
    });
    let mut text = serde_json::to_string_pretty(&meta).expect("a JSON value always serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(safe_relative_path("a.py").as_deref(), Some("a.py"));
        assert_eq!(
            safe_relative_path("./src\\a.py").as_deref(),
            Some("src/a.py")
        );
        for bad in [
            "",
            "/etc/x.py",
            "\\x.py",
            "C:x.py",
            "../x.py",
            "a/../../x.py",
            "a/..",
            ".",
        ] {
            assert_eq!(safe_relative_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn node_template_found_anywhere() {
        let v: Value = serde_json::json!({"a": [{"b": {"fused:isNodeTemplate": true}}]});
        assert_eq!(
            find_node_template(&v, "").as_deref(),
            Some("a[0].b.fused:isNodeTemplate")
        );
        let v: Value = serde_json::json!({"isNodeTemplate": false});
        assert_eq!(find_node_template(&v, ""), None);
    }
}
