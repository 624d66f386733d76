//! Cache keys: SHA-256 over a canonical, length-prefixed serialization of what decides a
//! run's result (code, headers, entrypoint, default parameters, validated parameters sorted by
//! name, tile). Not the output format: any format is encoded from the cached result.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

struct Fields(Sha256);

impl Fields {
    fn field(&mut self, tag: &str, value: &[u8]) {
        self.0.update((tag.len() as u64).to_le_bytes());
        self.0.update(tag.as_bytes());
        self.0.update((value.len() as u64).to_le_bytes());
        self.0.update(value);
    }
}

/// The string form of a parameter value (strings as is, other JSON as its text).
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The key (64 hex digits) of a run of `udf` (package JSON) with validated `parameters`.
/// A JSON `null` parameter is "not given" and leaves the key unchanged.
pub fn run_key(
    udf: &Value,
    parameters: &Map<String, Value>,
    tile: Option<(u32, u32, u32)>,
) -> String {
    let mut f = Fields(Sha256::new());
    f.field("fused-run-cache", b"1");
    let text = |name: &str| udf.get(name).and_then(Value::as_str).unwrap_or("");
    f.field("code", text("code").as_bytes());
    f.field("entrypoint", text("entrypoint").as_bytes());
    if let Some(headers) = udf.get("headers").and_then(Value::as_array) {
        for h in headers {
            let t = |n: &str| h.get(n).and_then(Value::as_str).unwrap_or("");
            f.field("header.module_name", t("module_name").as_bytes());
            f.field("header.source_code", t("source_code").as_bytes());
        }
    }
    if let Some(defaults) = udf.get("parameters").and_then(Value::as_object) {
        let mut names: Vec<&String> = defaults.keys().collect();
        names.sort();
        for n in names {
            f.field("default.name", n.as_bytes());
            f.field("default.value", defaults[n].to_string().as_bytes());
        }
    }
    let mut names: Vec<&String> = parameters
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(n, _)| n)
        .collect();
    names.sort();
    for n in names {
        f.field("param.name", n.as_bytes());
        f.field("param.value", value_text(&parameters[n]).as_bytes());
    }
    match tile {
        Some((z, x, y)) => f.field("tile", format!("{z}/{x}/{y}").as_bytes()),
        None => f.field("tile", b""),
    }
    hex(&f.0.finalize())
}

/// The namespace of a saved UDF's entries (what invalidation removes): hex SHA-256 of
/// `saved`, the owner's email (lowercase) and the name.
pub fn saved_namespace(owner_email: &str, name: &str) -> String {
    let mut f = Fields(Sha256::new());
    f.field("saved.owner", owner_email.to_ascii_lowercase().as_bytes());
    f.field("saved.name", name.as_bytes());
    hex(&f.0.finalize())
}

/// The namespace of runs of shipped code: hex SHA-256 of the code.
pub fn code_namespace(udf: &Value) -> String {
    let mut f = Fields(Sha256::new());
    let code = udf.get("code").and_then(Value::as_str).unwrap_or("");
    f.field("shipped.code", code.as_bytes());
    hex(&f.0.finalize())
}

/// The ETag of a result in one format: a quoted hash of the key and the format name.
pub fn etag(key: &str, format: &str) -> String {
    let mut f = Fields(Sha256::new());
    f.field("key", key.as_bytes());
    f.field("format", format.as_bytes());
    format!("\"{}\"", &hex(&f.0.finalize())[..32])
}
