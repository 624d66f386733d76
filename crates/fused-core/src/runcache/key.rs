//! Cache keys: SHA-256 over a canonical, length-prefixed serialization of what decides a
//! run's result (code, entrypoint, headers, default parameters, parameters sorted by name,
//! tile). Not the output format: any format is encoded from the cached result.
//!
//! The UDF part is hashed once into a [`RunKeyer`]; each run then adds its parameters and
//! tile to a copy of that hash state. The server keys parameters by their string form
//! ([`ParamValue::Text`]); the local engine, whose UDF receives Python objects, keys a
//! non-string object by a type-tagged text ([`ParamValue::Typed`]), so `"5"` and `5` differ
//! there while a string parameter keys exactly as the server's does.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::hash::hex;
use crate::package::UdfPackage;

#[derive(Clone)]
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

/// The text of `v`'s member `name` ("" when missing or not a string).
fn text<'a>(v: &'a Value, name: &str) -> &'a str {
    v.get(name).and_then(Value::as_str).unwrap_or("")
}

/// One parameter's value as the key sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamValue<'a> {
    /// The string form (the server's view: every value arrives as text).
    Text(&'a str),
    /// A value of a non-string type, as `kind` (what the text means, e.g. `json`, `sha256`)
    /// and its canonical text. Never equal to any [`ParamValue::Text`].
    Typed { kind: &'a str, text: &'a str },
}

/// The UDF part of a run key, hashed once; [`RunKeyer::key`] completes it per run.
#[derive(Clone)]
pub struct RunKeyer {
    base: Fields,
}

impl RunKeyer {
    /// The UDF part: code, entrypoint, headers `(module name, source)` in order, and the
    /// default parameters (each value by its JSON text, sorted by name).
    pub fn new<'a>(
        code: &str,
        entrypoint: &str,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
        defaults: Option<&Map<String, Value>>,
    ) -> Self {
        let mut f = Fields(Sha256::new());
        f.field("fused-run-cache", b"1");
        f.field("code", code.as_bytes());
        f.field("entrypoint", entrypoint.as_bytes());
        for (module_name, source_code) in headers {
            f.field("header.module_name", module_name.as_bytes());
            f.field("header.source_code", source_code.as_bytes());
        }
        if let Some(defaults) = defaults {
            let mut names: Vec<&String> = defaults.keys().collect();
            names.sort();
            for n in names {
                f.field("default.name", n.as_bytes());
                f.field("default.value", defaults[n].to_string().as_bytes());
            }
        }
        RunKeyer { base: f }
    }

    /// The UDF part of a package (JSON with `code`, `entrypoint`, `headers` and
    /// `parameters`, the default parameters); name, README and metadata do not count.
    pub fn from_udf(udf: &Value) -> Self {
        let headers = udf
            .get("headers")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        RunKeyer::new(
            text(udf, "code"),
            text(udf, "entrypoint"),
            headers
                .iter()
                .map(|h| (text(h, "module_name"), text(h, "source_code"))),
            udf.get("parameters").and_then(Value::as_object),
        )
    }

    /// The UDF part of a typed package: what [`RunKeyer::from_udf`] reads from its JSON.
    pub fn from_package(pkg: &UdfPackage) -> Self {
        RunKeyer::new(
            &pkg.code,
            pkg.entrypoint.as_deref().unwrap_or(""),
            pkg.headers
                .iter()
                .map(|h| (h.module_name.as_str(), h.source_code.as_str())),
            Some(&pkg.parameters),
        )
    }

    /// The server's key of a run with validated `parameters`: each value by its string form;
    /// a JSON `null` parameter is "not given" and leaves the key unchanged.
    pub fn server_key(
        &self,
        parameters: &Map<String, Value>,
        tile: Option<(u32, u32, u32)>,
    ) -> String {
        let texts: Vec<(&str, String)> = parameters
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(n, v)| (n.as_str(), value_text(v)))
            .collect();
        self.key(texts.iter().map(|(n, t)| (*n, ParamValue::Text(t))), tile)
    }

    /// The key (64 hex digits) of a run with `parameters` (any order; a name given twice
    /// keeps its last value) and `tile` `(z, x, y)`.
    pub fn key<'a>(
        &self,
        parameters: impl IntoIterator<Item = (&'a str, ParamValue<'a>)>,
        tile: Option<(u32, u32, u32)>,
    ) -> String {
        let mut params: Vec<(&str, ParamValue<'_>)> = parameters.into_iter().collect();
        // stable: of equal names the last given sorts last; keep only it
        params.sort_by(|a, b| a.0.cmp(b.0));
        let mut f = self.base.clone();
        for (i, (name, value)) in params.iter().enumerate() {
            if params.get(i + 1).is_some_and(|next| next.0 == *name) {
                continue;
            }
            f.field("param.name", name.as_bytes());
            match value {
                ParamValue::Text(t) => f.field("param.value", t.as_bytes()),
                ParamValue::Typed { kind, text } => {
                    f.field("param.typed", kind.as_bytes());
                    f.field("param.value", text.as_bytes());
                }
            }
        }
        match tile {
            Some((z, x, y)) => f.field("tile", format!("{z}/{x}/{y}").as_bytes()),
            None => f.field("tile", b""),
        }
        hex(&f.0.finalize())
    }
}

/// The key (64 hex digits) of a run of `udf` (package JSON) with validated `parameters`
/// (the server's: each value by its string form). A JSON `null` parameter is "not given" and
/// leaves the key unchanged.
pub fn run_key(
    udf: &Value,
    parameters: &Map<String, Value>,
    tile: Option<(u32, u32, u32)>,
) -> String {
    RunKeyer::from_udf(udf).server_key(parameters, tile)
}

/// The namespace of a saved UDF's entries (what invalidation removes): hex SHA-256 of
/// `saved`, the owner's email (lowercase) and the name.
pub fn saved_namespace(owner_email: &str, name: &str) -> String {
    let mut f = Fields(Sha256::new());
    f.field("saved.owner", owner_email.to_ascii_lowercase().as_bytes());
    f.field("saved.name", name.as_bytes());
    hex(&f.0.finalize())
}

/// The namespace of runs of `code` (shipped to the server, or run locally): hex SHA-256.
pub fn code_namespace_of(code: &str) -> String {
    let mut f = Fields(Sha256::new());
    f.field("shipped.code", code.as_bytes());
    hex(&f.0.finalize())
}

/// The namespace of runs of shipped code: [`code_namespace_of`] the package's code.
pub fn code_namespace(udf: &Value) -> String {
    code_namespace_of(udf.get("code").and_then(Value::as_str).unwrap_or(""))
}

/// The ETag of a result in one format: a quoted hash of the key and the format name.
pub fn etag(key: &str, format: &str) -> String {
    let mut f = Fields(Sha256::new());
    f.field("key", key.as_bytes());
    f.field("format", format.as_bytes());
    format!("\"{}\"", &hex(&f.0.finalize())[..32])
}
