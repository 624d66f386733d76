//! Share tokens: anonymous run access to the latest version of one saved UDF. Only a token's
//! hash and a short non-secret hint (its first 12 characters) are stored.

use fused_core::hash::sha256;
use rusqlite::{params, OptionalExtension};

use super::{
    ct_eq, db_now_s, is_secret_shape, new_secret, Registry, RegistryError, Result, SavedUdf,
    ShareToken, User, SHARE_TOKEN_PREFIX,
};

/// Characters of a share token kept as its hint (prefix + 8 hex digits).
const HINT_LEN: usize = SHARE_TOKEN_PREFIX.len() + 8;
/// What follows the hint where a listing shows a token.
const HINT_ELLIPSIS: &str = "...";

impl Registry {
    /// A new share token for `owner`'s UDF `name`; `NotFound` if `owner` has no such UDF.
    pub fn create_share_token(&self, owner: &User, name: &str) -> Result<ShareToken> {
        let conn = self.conn();
        let Some(udf_id) = Self::udf_id(&conn, owner, name)? else {
            return Err(RegistryError::NotFound(format!("UDF {name}")));
        };
        let token = new_secret(SHARE_TOKEN_PREFIX)?;
        let now = db_now_s();
        conn.execute(
            "INSERT INTO share_tokens (token_hash, token_hint, udf_id, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                &sha256(token.as_bytes())[..],
                &token[..HINT_LEN],
                udf_id,
                now
            ],
        )?;
        tracing::info!(user_id = owner.id, udf = %name, hint = %&token[..HINT_LEN], "share token created");
        Ok(ShareToken {
            token,
            owner_email: owner.email.clone(),
            udf_name: name.to_string(),
            created_at: now,
        })
    }

    /// The latest version of the UDF a share token grants; `None` if the token is unknown,
    /// revoked, or its UDF was deleted.
    pub fn resolve_share_token(&self, token: &str) -> Result<Option<SavedUdf>> {
        let token = token.trim();
        if !is_secret_shape(token, SHARE_TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = sha256(token.as_bytes());
        let conn = self.conn();
        let row: Option<(Vec<u8>, i64)> = conn
            .prepare_cached("SELECT token_hash, udf_id FROM share_tokens WHERE token_hash = ?1")?
            .query_row([&hash[..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match row {
            Some((stored, udf_id)) if ct_eq(&stored, &hash) => Self::udf_by_id(&conn, udf_id),
            _ => Ok(None),
        }
    }

    /// Revoke one of `owner`'s share tokens, given in full or as listed by
    /// [`Registry::list_share_tokens`] (its hint, with or without the trailing `...`, when it
    /// names exactly one of the owner's tokens). False if no such token of `owner`'s exists.
    pub fn revoke_share_token(&self, owner: &User, token: &str) -> Result<bool> {
        let token = token.trim();
        let conn = self.conn();
        let n = if is_secret_shape(token, SHARE_TOKEN_PREFIX) {
            let hash = sha256(token.as_bytes());
            conn.execute(
                "DELETE FROM share_tokens WHERE token_hash = ?1
                 AND udf_id IN (SELECT id FROM udfs WHERE owner_id = ?2)",
                params![&hash[..], owner.id],
            )?
        } else {
            let hint = token.strip_suffix(HINT_ELLIPSIS).unwrap_or(token);
            if hint.len() != HINT_LEN || !hint.starts_with(SHARE_TOKEN_PREFIX) {
                return Ok(false);
            }
            let mut stmt = conn.prepare(
                "SELECT s.token_hash FROM share_tokens s JOIN udfs f ON f.id = s.udf_id
                 WHERE s.token_hint = ?1 AND f.owner_id = ?2",
            )?;
            let hashes = stmt
                .query_map(params![hint, owner.id], |r| r.get::<_, Vec<u8>>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            drop(stmt);
            match hashes.as_slice() {
                [one] => conn.execute("DELETE FROM share_tokens WHERE token_hash = ?1", [one])?,
                [] => 0,
                _ => {
                    return Err(RegistryError::Invalid(format!(
                        "share token {hint}...: names several tokens; give the full token"
                    )))
                }
            }
        };
        if n > 0 {
            tracing::info!(user_id = owner.id, "share token revoked");
        }
        Ok(n > 0)
    }

    /// `owner`'s share tokens of UDF `name`, oldest first, each shown by its hint
    /// (`fsh_xxxxxxxx...`); `NotFound` if `owner` has no such UDF.
    pub fn list_share_tokens(&self, owner: &User, name: &str) -> Result<Vec<ShareToken>> {
        let conn = self.conn();
        let Some(udf_id) = Self::udf_id(&conn, owner, name)? else {
            return Err(RegistryError::NotFound(format!("UDF {name}")));
        };
        let mut stmt = conn.prepare(
            "SELECT token_hint, created_at FROM share_tokens WHERE udf_id = ?1
             ORDER BY created_at, token_hint",
        )?;
        let tokens = stmt
            .query_map([udf_id], |r| {
                Ok(ShareToken {
                    token: format!("{}{HINT_ELLIPSIS}", r.get::<_, String>(0)?),
                    owner_email: owner.email.clone(),
                    udf_name: name.to_string(),
                    created_at: r.get(1)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(tokens)
    }
}
