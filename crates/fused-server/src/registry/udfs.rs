//! Saved UDFs: one `udfs` row per (owner, name) and one `udf_versions` row per save, addressed
//! by the content hash of the package and schema.

use std::collections::BTreeMap;

use fused_core::package::UdfPackage;
use fused_core::params::TypeSpec;
use rusqlite::{params, OptionalExtension, Row};
use serde_json::Value;

use super::{db_now_s, Registry, RegistryError, Result, SavedUdf, User};
use fused_core::hash::{hex, sha256};

/// Longest UDF name.
pub const MAX_UDF_NAME_LEN: usize = 100;
/// Most parameters a schema may declare.
pub const MAX_SCHEMA_PARAMS: usize = 1000;
/// Longest parameter name in a schema.
pub const MAX_PARAM_NAME_LEN: usize = 200;
/// Longest type spec in a schema.
pub const MAX_SPEC_LEN: usize = 4096;

/// Check a UDF name: 1 to 100 characters from `A-Z a-z 0-9 _ . -`, not starting with `.`.
pub fn validate_udf_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_UDF_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        let shown: String = name.chars().take(120).collect();
        Err(RegistryError::Invalid(format!(
            "UDF name {shown:?}: expected 1 to {MAX_UDF_NAME_LEN} characters from \
             A-Z a-z 0-9 _ . - (not starting with '.')"
        )))
    }
}

fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c == b'_' || c.is_ascii_alphabetic())
        && b.all(|c| c == b'_' || c.is_ascii_alphanumeric())
}

/// Validate a package for saving.
fn validate_package(package: &UdfPackage) -> Result<()> {
    validate_udf_name(&package.name)?;
    let name = &package.name;
    if package.code.trim().is_empty() {
        return Err(RegistryError::Invalid(format!(
            "UDF {name}: package code is empty"
        )));
    }
    if let Some(ep) = &package.entrypoint {
        if !is_identifier(ep) {
            return Err(RegistryError::Invalid(format!(
                "UDF {name}: entrypoint {ep:?} is not a Python identifier"
            )));
        }
    }
    for h in &package.headers {
        if !is_identifier(&h.module_name) {
            return Err(RegistryError::Invalid(format!(
                "UDF {name}: header module name {:?} is not a Python identifier",
                h.module_name
            )));
        }
    }
    Ok(())
}

/// Validate a schema and return it with each spec in canonical form.
fn canonical_schema(
    name: &str,
    schema: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    if schema.len() > MAX_SCHEMA_PARAMS {
        return Err(RegistryError::Invalid(format!(
            "UDF {name}: schema has {} parameters, at most {MAX_SCHEMA_PARAMS} allowed",
            schema.len()
        )));
    }
    let mut out = BTreeMap::new();
    for (param, spec) in schema {
        if param.is_empty()
            || param.len() > MAX_PARAM_NAME_LEN
            || param.chars().any(char::is_control)
        {
            let shown: String = param.chars().take(80).collect();
            return Err(RegistryError::Invalid(format!(
                "UDF {name}: schema parameter name {shown:?}: expected 1 to \
                 {MAX_PARAM_NAME_LEN} characters, no control characters"
            )));
        }
        if spec.len() > MAX_SPEC_LEN {
            return Err(RegistryError::Invalid(format!(
                "UDF {name}: type spec of parameter '{param}' is longer than {MAX_SPEC_LEN} characters"
            )));
        }
        let parsed = TypeSpec::parse(&spec).map_err(|e| {
            RegistryError::Invalid(format!("UDF {name}: type spec of parameter '{param}': {e}"))
        })?;
        out.insert(param, parsed.to_string());
    }
    Ok(out)
}

/// Write `v` as JSON with object keys sorted (recursively), so equal content hashes equal.
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The version of a package + schema: hex SHA-256 of their canonical JSON.
pub fn content_version(package: &Value, schema: &BTreeMap<String, String>) -> String {
    let mut text = String::new();
    write_canonical(package, &mut text);
    text.push('\n');
    let schema_value: Value = schema
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into();
    write_canonical(&schema_value, &mut text);
    hex(&sha256(text.as_bytes()))
}

const SAVED_COLUMNS: &str = "u.email, f.name, v.version, v.package, v.schema, v.created_at";

fn saved_from_row(r: &Row<'_>) -> rusqlite::Result<(String, String, String, String, String, i64)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn decode_saved(
    (owner_email, name, version, package, schema, created_at): (
        String,
        String,
        String,
        String,
        String,
        i64,
    ),
) -> Result<SavedUdf> {
    let package: UdfPackage = serde_json::from_str(&package).map_err(|e| {
        RegistryError::Db(format!(
            "stored package of {owner_email}/{name} is unreadable: {e}"
        ))
    })?;
    let schema: BTreeMap<String, String> = serde_json::from_str(&schema).map_err(|e| {
        RegistryError::Db(format!(
            "stored schema of {owner_email}/{name} is unreadable: {e}"
        ))
    })?;
    Ok(SavedUdf {
        owner_email,
        name,
        version,
        package,
        schema,
        created_at,
    })
}

impl Registry {
    /// Save `package` under `owner` with the name `package.name`.
    ///
    /// `Invalid` for a bad name, package or schema spec; `Conflict` if the name exists and
    /// `overwrite` is false. Each save adds a version; saving the same content as the latest
    /// version (with `overwrite`) returns that version unchanged. Schema specs are stored in
    /// canonical form.
    pub fn save_udf(
        &self,
        owner: &User,
        package: UdfPackage,
        schema: BTreeMap<String, String>,
        overwrite: bool,
    ) -> Result<SavedUdf> {
        validate_package(&package)?;
        let schema = canonical_schema(&package.name, schema)?;
        let package_value = serde_json::to_value(&package)
            .map_err(|e| RegistryError::Invalid(format!("UDF {}: {e}", package.name)))?;
        let version = content_version(&package_value, &schema);
        let package_json = package_value.to_string();
        let schema_json = serde_json::to_string(&schema)
            .map_err(|e| RegistryError::Invalid(format!("UDF {}: {e}", package.name)))?;
        let name = package.name.clone();

        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let owner_email: Option<String> = tx
            .query_row("SELECT email FROM users WHERE id = ?1", [owner.id], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(owner_email) = owner_email else {
            return Err(RegistryError::NotFound(format!("user {}", owner.email)));
        };
        let udf_id: Option<i64> = tx
            .query_row(
                "SELECT id FROM udfs WHERE owner_id = ?1 AND name = ?2",
                params![owner.id, name],
                |r| r.get(0),
            )
            .optional()?;
        let now = db_now_s();
        let udf_id = match udf_id {
            Some(_) if !overwrite => {
                return Err(RegistryError::Conflict(format!(
                    "UDF {owner_email}/{name} already exists; save with overwrite to replace it"
                )));
            }
            Some(id) => {
                let latest: Option<(String, i64)> = tx
                    .query_row(
                        "SELECT version, created_at FROM udf_versions
                         WHERE udf_id = ?1 ORDER BY id DESC LIMIT 1",
                        [id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                if let Some((latest_version, created_at)) = latest {
                    if latest_version == version {
                        drop(tx);
                        tracing::info!(owner = %owner_email, udf = %name, %version, "UDF saved (unchanged)");
                        return Ok(SavedUdf {
                            owner_email,
                            name,
                            version,
                            package,
                            schema,
                            created_at,
                        });
                    }
                }
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO udfs (owner_id, name, created_at) VALUES (?1, ?2, ?3)",
                    params![owner.id, name, now],
                )?;
                tx.last_insert_rowid()
            }
        };
        tx.execute(
            "INSERT INTO udf_versions (udf_id, version, package, schema, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![udf_id, version, package_json, schema_json, now],
        )?;
        tx.commit()?;
        tracing::info!(owner = %owner_email, udf = %name, %version, "UDF saved");
        Ok(SavedUdf {
            owner_email,
            name,
            version,
            package,
            schema,
            created_at: now,
        })
    }

    /// The latest version of `owner_email`'s UDF `name`, if any.
    pub fn get_udf(&self, owner_email: &str, name: &str) -> Result<Option<SavedUdf>> {
        let email = owner_email.trim().to_ascii_lowercase();
        let conn = self.conn();
        let row = conn
            .prepare_cached(&format!(
                "SELECT {SAVED_COLUMNS}
                 FROM udfs f JOIN users u ON u.id = f.owner_id
                 JOIN udf_versions v ON v.udf_id = f.id
                 WHERE u.email = ?1 AND f.name = ?2
                 ORDER BY v.id DESC LIMIT 1"
            ))?
            .query_row(params![email, name], saved_from_row)
            .optional()?;
        drop(conn);
        row.map(decode_saved).transpose()
    }

    /// Names of `owner`'s UDFs, sorted.
    pub fn list_udfs(&self, owner: &User) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name FROM udfs WHERE owner_id = ?1 ORDER BY name")?;
        let names = stmt
            .query_map([owner.id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(names)
    }

    /// Delete `owner`'s UDF `name` with all its versions and share tokens; false if it did not
    /// exist.
    pub fn delete_udf(&self, owner: &User, name: &str) -> Result<bool> {
        let conn = self.conn();
        let n = conn.execute(
            "DELETE FROM udfs WHERE owner_id = ?1 AND name = ?2",
            params![owner.id, name],
        )?;
        if n > 0 {
            tracing::info!(user_id = owner.id, udf = %name, "UDF deleted");
        }
        Ok(n > 0)
    }

    /// The row id of `owner`'s UDF `name`.
    pub(super) fn udf_id(
        conn: &rusqlite::Connection,
        owner: &User,
        name: &str,
    ) -> Result<Option<i64>> {
        Ok(conn
            .query_row(
                "SELECT id FROM udfs WHERE owner_id = ?1 AND name = ?2",
                params![owner.id, name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The latest version of the UDF with row id `udf_id`.
    pub(super) fn udf_by_id(conn: &rusqlite::Connection, udf_id: i64) -> Result<Option<SavedUdf>> {
        let row = conn
            .prepare_cached(&format!(
                "SELECT {SAVED_COLUMNS}
                 FROM udfs f JOIN users u ON u.id = f.owner_id
                 JOIN udf_versions v ON v.udf_id = f.id
                 WHERE f.id = ?1
                 ORDER BY v.id DESC LIMIT 1"
            ))?
            .query_row([udf_id], saved_from_row)
            .optional()?;
        row.map(decode_saved).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "Sample_UDF", "v1.2-x", &"x".repeat(100)] {
            assert!(validate_udf_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".x", "a b", "a/b", "é", &"x".repeat(101)] {
            assert!(validate_udf_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"z":1,"y":2}],"c":"x"}}"#).unwrap();
        let mut s = String::new();
        write_canonical(&a, &mut s);
        assert_eq!(s, r#"{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}"#);
    }
}
