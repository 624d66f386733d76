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

    /// A tile-math argument (`fused.tiles`, mercantile-compatible) was out of its domain.
    /// `arg` says what the argument is, which picks the Python exception (mercantile's
    /// classes, all `ValueError`s); the message is that of [`Error::InvalidArgument`].
    #[error("invalid {name}: expected {expected}, got {value}")]
    Tile {
        arg: TileArg,
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

    /// A remote resource (GitHub folder or file, gist) does not exist: HTTP 404
    /// (maps to `FileNotFoundError`). `what` names owner, repo, ref and path, or the gist.
    #[error("{what} not found ({url} answered 404){hint}")]
    RemoteNotFound {
        what: String,
        url: String,
        hint: String,
    },

    /// GitHub's rate limit was hit (403/429 with rate-limit headers) (maps to `PermissionError`).
    #[error(
        "GitHub rate limit exceeded ({url} answered {status}); {reset}. Set GITHUB_TOKEN to a \
         GitHub token to raise the limit (5000 requests/hour instead of 60)"
    )]
    RateLimited {
        url: String,
        status: u16,
        /// Human text for when the limit resets, e.g. "resets in 1234 s (at 2024-05-01 12:00:00 UTC)".
        reset: String,
        /// The unix time the limit resets, when the server said.
        reset_at: Option<u64>,
    },

    /// Authentication is missing or was refused (401, a 403 that is not a rate limit, or an
    /// action that needs a token) (maps to `PermissionError`).
    #[error("{message}")]
    AuthRequired { url: String, message: String },

    /// The network failed: connection refused, DNS, timeout, TLS (maps to `ConnectionError`).
    #[error("cannot fetch {url}: {cause}")]
    Network { url: String, cause: String },

    /// A remote server answered with an unexpected status or a malformed/oversized body
    /// (maps to `OSError`).
    #[error("{url}: {message}")]
    Remote {
        url: String,
        status: Option<u16>,
        message: String,
    },

    /// A result could not be encoded in the chosen format: malformed input (IPC bytes, WKB,
    /// raster size) or a value the format cannot hold (maps to `ValueError`; HTTP 400/500
    /// at the server's discretion).
    #[error("cannot encode as {format}: {message}")]
    Encode { format: String, message: String },

    /// The requested output format does not fit the result (png of a table, mvt without a
    /// tile, an unknown name) (maps to `ValueError`; the server answers 400 with it).
    #[error(
        "cannot return a {kind} result as {requested}; formats for a {kind}: {}{hint}",
        choices.join(", ")
    )]
    UnsupportedFormat {
        /// What was asked for, with where it came from, e.g. `format=png`.
        requested: String,
        /// The result kind: `table`, `raster`, `json` or `bytes`.
        kind: String,
        /// Format names that fit this result.
        choices: Vec<String>,
        /// Extra advice (may be empty), e.g. why `mvt` is not possible here.
        hint: String,
    },

    /// A tileset file (PMTiles, MBTiles) is malformed or not what its name says (maps to
    /// `ValueError`).
    #[error("{path}: {message}")]
    Tileset { path: String, message: String },

    /// Any other I/O failure, with the path it happened on (maps to `OSError`).
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// What a refused tile-math argument is ([`Error::Tile`]); `fused-py` raises mercantile's
/// exception for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileArg {
    /// A zoom level (`InvalidZoomError`).
    Zoom,
    /// A latitude or a north/south edge (`InvalidLatitudeError`).
    Latitude,
    /// A quadkey (`QuadKeyError`).
    QuadKey,
    /// A tile's x or y index (`TileError`).
    Index,
    /// A whole tile argument that is not a tile (`TileArgParsingError`).
    Tile,
    /// Any other argument: a longitude, a box, a list of tiles (`ValueError`).
    Other,
}

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

    pub fn tile(
        arg: TileArg,
        name: impl Into<String>,
        expected: impl Into<String>,
        value: impl ToString,
    ) -> Self {
        Error::Tile {
            arg,
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

    pub fn encode(format: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Encode {
            format: format.into(),
            message: message.into(),
        }
    }

    pub fn tileset(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Tileset {
            path: path.into(),
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
