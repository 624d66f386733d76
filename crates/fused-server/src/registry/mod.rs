//! The registry: users, API keys, access and refresh tokens, OAuth device codes, saved UDFs
//! (one row per version, addressed by content hash) and share tokens, in one SQLite file
//! (`<data_dir>/registry.sqlite`, WAL mode).
//!
//! Secrets (API keys `fsk_`, access tokens `fat_`, refresh tokens `frt_`, share tokens `fsh_`,
//! OAuth device codes `fdc_`) are 32 random bytes, hex-encoded behind their prefix. Only their
//! SHA-256 is stored; a row found by hash is confirmed with a constant-time comparison.
//!
//! * [`schema`]: the tables and their migrations (`PRAGMA user_version`).
//! * [`users`]: users, API keys, access and refresh tokens, bearer authentication.
//! * [`udfs`]: saving, versioning, loading, listing and deleting UDFs.
//! * [`share`]: share tokens of saved UDFs.
//! * [`device`]: OAuth 2.0 device authorization codes (RFC 8628) and their approval.
//! * [`jobs`]: server-side jobs and their tasks (state only; results are spooled to disk).

mod device;
pub mod jobs;
mod schema;
mod share;
mod udfs;
mod users;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use fused_core::hash::hex;
use rusqlite::Connection;
use serde::Serialize;

pub use device::{normalize_user_code, DeviceAuthorization, DevicePoll, USER_CODE_ALPHABET};
pub use udfs::{content_version, validate_udf_name};
pub use users::{validate_email, IssuedTokens, REFRESH_TOKEN_TTL_S};

/// File name of the registry database inside the data directory.
pub const DB_FILE_NAME: &str = "registry.sqlite";

/// Prefix of API keys.
pub const API_KEY_PREFIX: &str = "fsk_";
/// Prefix of OAuth access tokens.
pub const ACCESS_TOKEN_PREFIX: &str = "fat_";
/// Prefix of OAuth refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "frt_";
/// Prefix of share tokens.
pub const SHARE_TOKEN_PREFIX: &str = "fsh_";
/// Prefix of OAuth device codes.
pub const DEVICE_CODE_PREFIX: &str = "fdc_";

/// An account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    /// Lowercase, validated by [`validate_email`].
    pub email: String,
}

/// One saved version of a UDF.
#[derive(Clone, Debug, Serialize)]
pub struct SavedUdf {
    pub owner_email: String,
    pub name: String,
    /// Hex SHA-256 of the canonical JSON (keys sorted) of the package and the schema.
    pub version: String,
    pub package: fused_core::package::UdfPackage,
    /// Parameter name -> canonical type spec (`fused_core::params::TypeSpec` rendering).
    pub schema: BTreeMap<String, String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A share token: anonymous run access to the latest version of one saved UDF.
#[derive(Clone, Debug, Serialize)]
pub struct ShareToken {
    /// The full token when just created ([`Registry::create_share_token`]); in listings
    /// ([`Registry::list_share_tokens`]) only its first 12 characters followed by `...`,
    /// since the registry keeps nothing but the token's hash.
    pub token: String,
    pub owner_email: String,
    pub udf_name: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// Errors of the registry; each names the thing that was wrong.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}: not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("registry database: {0}")]
    Db(String),
}

impl From<rusqlite::Error> for RegistryError {
    fn from(e: rusqlite::Error) -> Self {
        RegistryError::Db(e.to_string())
    }
}

type Result<T> = std::result::Result<T, RegistryError>;

/// The registry: one SQLite connection behind a mutex (`Send + Sync`; every operation is a
/// short transaction).
pub struct Registry {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// Open (or create) `<data_dir>/registry.sqlite`, creating `data_dir` and its parents,
    /// in WAL mode with foreign keys on, and bring its schema up to date.
    pub fn open(data_dir: &Path) -> Result<Registry> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            RegistryError::Db(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(DB_FILE_NAME);
        let mut conn = Connection::open(&path)
            .map_err(|e| RegistryError::Db(format!("cannot open {}: {e}", path.display())))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(RegistryError::Db(format!(
                "{}: cannot switch to WAL journal mode (got {mode})",
                path.display()
            )));
        }
        conn.execute_batch(
            "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        )?;
        schema::migrate(&mut conn)?;
        tracing::info!(path = %path.display(), "registry opened");
        Ok(Registry {
            conn: Mutex::new(conn),
        })
    }

    /// The connection; a poisoned lock is recovered (SQLite transactions roll back on drop,
    /// so a panic mid-operation leaves no half-written state).
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Unix time in seconds, as the database stores it.
pub(crate) fn db_now_s() -> i64 {
    db_now_ms() / 1000
}

/// Unix time in milliseconds ([`fused_core::time::now_ms`]), as the database stores it.
pub(crate) fn db_now_ms() -> i64 {
    i64::try_from(fused_core::time::now_ms()).unwrap_or(i64::MAX)
}

/// A new secret: `prefix` followed by 32 random bytes in lowercase hex.
pub(crate) fn new_secret(prefix: &str) -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| RegistryError::Db(format!("system random source failed: {e}")))?;
    Ok(format!("{prefix}{}", hex(&bytes)))
}

/// Constant-time equality of two byte strings (the length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// True when `token` has the shape of a secret with `prefix`: prefix + 64 lowercase hex digits.
pub(crate) fn is_secret_shape(token: &str, prefix: &str) -> bool {
    token.len() == prefix.len() + 64
        && token.starts_with(prefix)
        && token[prefix.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Registry>();
    }

    #[test]
    fn secrets_have_their_shape() {
        let s = new_secret(API_KEY_PREFIX).unwrap();
        assert!(is_secret_shape(&s, API_KEY_PREFIX), "{s}");
        assert!(!is_secret_shape(&s, ACCESS_TOKEN_PREFIX));
        assert_ne!(s, new_secret(API_KEY_PREFIX).unwrap());
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
