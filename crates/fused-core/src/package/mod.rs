//! The UDF package model: the catalog layout (github.com/fusedio/udfs) read from a folder, a
//! `.zip` or a single `.py` file, and written back as a folder or a zip.
//!
//! ```text
//! Sample_UDF/
//!   README.md       package documentation
//!   Sample_UDF.py   the code (a function decorated with @fused.udf)
//!   meta.json       {"version": "0.0.3", "job_config": {"steps": [{"type": "udf", "udf": {...}}]}}
//!   utils.py        header modules, importable by name while the UDF runs
//! ```
//!
//! Everything read is validated at the edge ([`read_package`]); everything written goes to a
//! temporary sibling first and is renamed into place ([`write_directory`], [`write_zip`]).

mod meta;
mod read;
mod write;
mod zipfile;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Result};

pub use read::read_package;
pub use write::{write_directory, write_zip};

/// The `type` of a UDF when meta.json does not say.
pub const DEFAULT_UDF_TYPE: &str = "geopandas_v2";
/// The meta.json format version written (and the one the catalog uses).
pub const META_VERSION: &str = "0.0.3";
/// Cap on the total uncompressed size of a package (zip entries or files read from a folder).
pub const MAX_PACKAGE_BYTES: u64 = 100 * 1024 * 1024;
/// Cap on the number of entries in a package zip.
pub const MAX_ZIP_ENTRIES: usize = 10_000;

/// One UDF package: code, header modules, default parameters, metadata and README.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UdfPackage {
    /// UDF name; also the name of the folder and of its `.py` file when written.
    pub name: String,
    /// Name of the function to call; `None` lets the runner pick (decorated function or `udf`).
    #[serde(default)]
    pub entrypoint: Option<String>,
    /// The code, byte for byte as read (no newline normalisation).
    pub code: String,
    /// File name the code was read from (`<name>.py` when written).
    #[serde(default)]
    pub source_file: String,
    /// Header modules (such as `utils.py`), importable by `module_name`.
    #[serde(default)]
    pub headers: Vec<Header>,
    /// Default parameter values.
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// meta.json `metadata` of the UDF, kept verbatim (`fused:description`, `fused:vizConfig`, ...).
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// README text, if the package has one.
    #[serde(default)]
    pub readme: Option<String>,
    /// The meta.json `type` of the UDF (`geopandas_v2` unless told otherwise).
    #[serde(rename = "type", default = "default_udf_type")]
    pub udf_type: String,
}

/// A header module of a UDF package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Importable name (a Python identifier).
    pub module_name: String,
    /// The module's code, byte for byte.
    pub source_code: String,
    /// File the code was read from (`<module_name>.py` when written or inline).
    #[serde(default)]
    pub source_file: String,
}

fn default_udf_type() -> String {
    DEFAULT_UDF_TYPE.to_string()
}

/// A package holding only `code`, named `name` (validated as for writing).
pub fn package_from_code(name: &str, code: &str) -> Result<UdfPackage> {
    validate_udf_name(name).map_err(|msg| Error::invalid("name", msg, format!("{name:?}")))?;
    Ok(UdfPackage {
        name: name.to_string(),
        entrypoint: None,
        code: code.to_string(),
        source_file: format!("{name}.py"),
        headers: Vec::new(),
        parameters: Map::new(),
        metadata: Map::new(),
        readme: None,
        udf_type: default_udf_type(),
    })
}

/// A UDF name usable as a folder and file name on every platform; `Err` says what is expected.
pub(crate) fn validate_udf_name(name: &str) -> std::result::Result<(), &'static str> {
    const EXPECTED: &str = "a non-empty file-safe name (no path separators, no '..', \
                            no control characters, not starting with '.' or ending with ' ')";
    let bad = name.is_empty()
        || name.len() > 200
        || name.starts_with('.')
        || name.ends_with(' ')
        || name.contains("..")
        || name.chars().any(|c| {
            c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
        });
    if bad {
        Err(EXPECTED)
    } else {
        Ok(())
    }
}

const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// True when `name` can be imported / called: a Python identifier that is not a keyword.
pub(crate) fn is_python_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic());
    first_ok && chars.all(|c| c == '_' || c.is_alphanumeric()) && !PYTHON_KEYWORDS.contains(&name)
}

/// The README written when the package has none: the name and the `fused:description`.
pub(crate) fn generated_readme(pkg: &UdfPackage) -> String {
    let mut text = format!("# {}\n", pkg.name);
    if let Some(Value::String(desc)) = pkg.metadata.get("fused:description") {
        if !desc.trim().is_empty() {
            text.push('\n');
            text.push_str(desc.trim_end());
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["utils", "_x", "a1", "état"] {
            assert!(is_python_identifier(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "class", "a b"] {
            assert!(!is_python_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn udf_names() {
        for ok in ["Sample_UDF", "my udf", "DuckDB-NYC"] {
            assert!(validate_udf_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a/b", "a\\b", "..", "a..b", ".hidden", "x\0", "c:x", "x ",
        ] {
            assert!(validate_udf_name(bad).is_err(), "{bad:?}");
        }
    }
}
