//! Users, API keys, access and refresh tokens, and bearer authentication.

use fused_core::hash::sha256;
use rusqlite::{params, OptionalExtension, Transaction};

use super::{
    ct_eq, db_now_ms, db_now_s, is_secret_shape, new_secret, Registry, RegistryError, Result, User,
    ACCESS_TOKEN_PREFIX, API_KEY_PREFIX, REFRESH_TOKEN_PREFIX,
};

/// Lifetime of a refresh token (90 days); each use rotates it.
pub const REFRESH_TOKEN_TTL_S: u64 = 90 * 24 * 3600;

/// Tokens issued to an OAuth client (device flow or refresh).
#[derive(Clone, Debug)]
pub struct IssuedTokens {
    pub user: User,
    pub access_token: String,
    pub refresh_token: String,
    /// Lifetime of the access token, seconds.
    pub expires_in: u64,
}

/// Check an email address and return its normalised (trimmed, lowercase) form.
///
/// Accepted: `local@domain`, at most 254 characters; the local part (1-64 characters) of
/// ASCII letters, digits and `. _ + -`, not starting or ending with a dot and without `..`;
/// the domain of one or more dot-separated labels of letters, digits and `-` (1-63 characters,
/// not starting or ending with `-`). Kept this narrow because emails appear in URL paths.
pub fn validate_email(email: &str) -> Result<String> {
    let e = email.trim().to_ascii_lowercase();
    let invalid = |why: &str| {
        let shown: String = email.chars().take(80).collect();
        RegistryError::Invalid(format!(
            "email {shown:?}: expected an address like name@example.com ({why})"
        ))
    };
    if e.len() > 254 {
        return Err(invalid("longer than 254 characters"));
    }
    let Some((local, domain)) = e.split_once('@') else {
        return Err(invalid("no '@'"));
    };
    if local.is_empty() || local.len() > 64 {
        return Err(invalid("the part before '@' must have 1 to 64 characters"));
    }
    if !local
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
    {
        return Err(invalid(
            "the part before '@' may hold letters, digits and . _ + - only",
        ));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !domain.split('.').all(label_ok) {
        return Err(invalid("bad domain"));
    }
    Ok(e)
}

impl Registry {
    /// Create a user and a first API key (returned once; only its hash is stored).
    /// `Invalid` for a malformed email, `Conflict` if the user exists.
    pub fn create_user(&self, email: &str) -> Result<(User, String)> {
        let email = validate_email(email)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email = ?1)",
            [&email],
            |r| r.get(0),
        )?;
        if exists {
            return Err(RegistryError::Conflict(format!(
                "user {email} already exists"
            )));
        }
        tx.execute(
            "INSERT INTO users (email, created_at) VALUES (?1, ?2)",
            params![email, db_now_s()],
        )?;
        let user = User {
            id: tx.last_insert_rowid(),
            email,
        };
        let key = insert_api_key(&tx, &user)?;
        tx.commit()?;
        tracing::info!(user_id = user.id, email = %user.email, "user created");
        Ok((user, key))
    }

    /// A new additional API key for `user` (returned once).
    pub fn create_api_key(&self, user: &User) -> Result<String> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)",
            [user.id],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(RegistryError::NotFound(format!("user {}", user.email)));
        }
        let key = insert_api_key(&tx, user)?;
        tx.commit()?;
        tracing::info!(user_id = user.id, "API key created");
        Ok(key)
    }

    /// The user with this email (normalised as by [`validate_email`]), if any.
    pub fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let email = email.trim().to_ascii_lowercase();
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT id, email FROM users WHERE email = ?1",
                [&email],
                |r| {
                    Ok(User {
                        id: r.get(0)?,
                        email: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// The user a bearer credential belongs to: an API key (`fsk_...`) or an unexpired access
    /// token (`fat_...`). `None` for anything else.
    pub fn authenticate(&self, bearer: &str) -> Result<Option<User>> {
        let bearer = bearer.trim();
        if is_secret_shape(bearer, API_KEY_PREFIX) {
            self.user_by_api_key(bearer)
        } else if is_secret_shape(bearer, ACCESS_TOKEN_PREFIX) {
            let hash = sha256(bearer.as_bytes());
            let conn = self.conn();
            let row: Option<(Vec<u8>, i64, String, i64)> = conn
                .prepare_cached(
                    "SELECT t.token_hash, u.id, u.email, t.expires_at_ms
                     FROM access_tokens t JOIN users u ON u.id = t.user_id
                     WHERE t.token_hash = ?1",
                )?
                .query_row([&hash[..]], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            Ok(row.and_then(|(stored, id, email, expires_at_ms)| {
                (ct_eq(&stored, &hash) && db_now_ms() < expires_at_ms).then_some(User { id, email })
            }))
        } else {
            Ok(None)
        }
    }

    /// The user an API key belongs to (API keys only: approving a device login needs one,
    /// so a short-lived access token cannot be turned into a long-lived refresh token).
    pub fn user_by_api_key(&self, key: &str) -> Result<Option<User>> {
        let key = key.trim();
        if !is_secret_shape(key, API_KEY_PREFIX) {
            return Ok(None);
        }
        let hash = sha256(key.as_bytes());
        let conn = self.conn();
        let row: Option<(Vec<u8>, i64, String)> = conn
            .prepare_cached(
                "SELECT k.key_hash, u.id, u.email
                 FROM api_keys k JOIN users u ON u.id = k.user_id
                 WHERE k.key_hash = ?1",
            )?
            .query_row([&hash[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        Ok(row.and_then(|(stored, id, email)| ct_eq(&stored, &hash).then_some(User { id, email })))
    }

    /// Exchange a refresh token for a new access token and a new refresh token (the old one is
    /// spent). `None` if the token is unknown, spent or expired.
    pub fn refresh_tokens(
        &self,
        refresh_token: &str,
        access_ttl_s: u64,
    ) -> Result<Option<IssuedTokens>> {
        let refresh_token = refresh_token.trim();
        if !is_secret_shape(refresh_token, REFRESH_TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = sha256(refresh_token.as_bytes());
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let row: Option<(Vec<u8>, i64, String, i64)> = tx
            .query_row(
                "SELECT t.token_hash, u.id, u.email, t.expires_at_ms
                 FROM refresh_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = ?1",
                [&hash[..]],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((stored, id, email, expires_at_ms)) = row else {
            return Ok(None);
        };
        if !ct_eq(&stored, &hash) {
            return Ok(None);
        }
        tx.execute(
            "DELETE FROM refresh_tokens WHERE token_hash = ?1",
            [&hash[..]],
        )?;
        if db_now_ms() >= expires_at_ms {
            tx.commit()?;
            return Ok(None);
        }
        let issued = issue_tokens(&tx, User { id, email }, access_ttl_s)?;
        tx.commit()?;
        tracing::info!(user_id = id, "access token refreshed");
        Ok(Some(issued))
    }
}

fn insert_api_key(tx: &Transaction<'_>, user: &User) -> Result<String> {
    let key = new_secret(API_KEY_PREFIX)?;
    tx.execute(
        "INSERT INTO api_keys (key_hash, user_id, created_at) VALUES (?1, ?2, ?3)",
        params![&sha256(key.as_bytes())[..], user.id, db_now_s()],
    )?;
    Ok(key)
}

/// Issue an access token and a refresh token to `user` inside `tx`, dropping expired ones.
pub(super) fn issue_tokens(
    tx: &Transaction<'_>,
    user: User,
    access_ttl_s: u64,
) -> Result<IssuedTokens> {
    let now = db_now_ms();
    tx.execute("DELETE FROM access_tokens WHERE expires_at_ms <= ?1", [now])?;
    tx.execute(
        "DELETE FROM refresh_tokens WHERE expires_at_ms <= ?1",
        [now],
    )?;
    let ttl_ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
    let access_token = new_secret(ACCESS_TOKEN_PREFIX)?;
    let refresh_token = new_secret(REFRESH_TOKEN_PREFIX)?;
    tx.execute(
        "INSERT INTO access_tokens (token_hash, user_id, created_at, expires_at_ms)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            &sha256(access_token.as_bytes())[..],
            user.id,
            now / 1000,
            now.saturating_add(ttl_ms(access_ttl_s))
        ],
    )?;
    tx.execute(
        "INSERT INTO refresh_tokens (token_hash, user_id, created_at, expires_at_ms)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            &sha256(refresh_token.as_bytes())[..],
            user.id,
            now / 1000,
            now.saturating_add(ttl_ms(REFRESH_TOKEN_TTL_S))
        ],
    )?;
    Ok(IssuedTokens {
        user,
        access_token,
        refresh_token,
        expires_in: access_ttl_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            validate_email(" Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        for ok in ["a@b", "first.last+tag@sub.example.org", "x_y-z@localhost"] {
            assert!(validate_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "@b.com",
            "a@",
            "a@@b.com",
            "a b@c.com",
            "a@b..com",
            ".a@b.com",
            "a.@b.com",
            "a@-b.com",
            "a/b@c.com",
            "a@b.com/x",
            "a%40@b.com",
        ] {
            assert!(
                matches!(validate_email(bad), Err(RegistryError::Invalid(_))),
                "{bad:?}"
            );
        }
    }
}
