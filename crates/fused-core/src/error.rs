//! The one error type of fused-core. `fused-py` maps each variant to one Python
//! exception class, once (see `crates/fused-py/src/error.rs`).

use std::path::Path;

/// Every error names the thing that was wrong and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A plain argument of a core function was out of its domain (maps to `ValueError`).
    #[error("invalid {name}: expected {expected}, got {value}")]
    InvalidArgument {
        name: String,
        expected: String,
        value: String,
    },

    /// A UDF parameter value did not convert to its annotated type
    /// (maps to `fused.types.UdfParameterError`, a `ValueError`).
    #[error("parameter '{parameter}': expected {expected}, got {value}")]
    Parameter {
        parameter: String,
        expected: String,
        value: String,
    },

    /// A UDF package (folder, zip, meta.json) is malformed or refused (maps to `ValueError`).
    #[error("{path}: {message}")]
    Package { path: String, message: String },

    /// A target exists and `overwrite` was not given (maps to `FileExistsError`).
    #[error("{path} already exists; pass overwrite=True to replace it")]
    AlreadyExists { path: String },

    /// A file or folder that should exist does not (maps to `FileNotFoundError`).
    #[error("{path}: no such file or directory")]
    NotFound { path: String },

    /// Any other I/O failure, with the path it happened on (maps to `OSError`).
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn invalid(
        name: impl Into<String>,
        expected: impl Into<String>,
        value: impl ToString,
    ) -> Self {
        Error::InvalidArgument {
            name: name.into(),
            expected: expected.into(),
            value: value.to_string(),
        }
    }

    pub fn parameter(
        parameter: impl Into<String>,
        expected: impl Into<String>,
        value: impl ToString,
    ) -> Self {
        Error::Parameter {
            parameter: parameter.into(),
            expected: expected.into(),
            value: value.to_string(),
        }
    }

    pub fn package(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Package {
            path: path.as_ref().display().to_string(),
            message: message.into(),
        }
    }

    /// Wrap an I/O error with the path it happened on; `NotFound` becomes [`Error::NotFound`].
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        let path = path.as_ref().display().to_string();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound { path }
        } else {
            Error::Io { path, source }
        }
    }
}
