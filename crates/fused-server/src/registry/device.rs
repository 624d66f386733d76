//! OAuth 2.0 device authorization codes (RFC 8628): issued to a client, approved or denied by a
//! user on the verification page, polled by the client until it gets its tokens (once).

use fused_core::hash::sha256;
use rusqlite::{params, OptionalExtension};

use super::users::issue_tokens;
use super::users::IssuedTokens;
use super::{
    ct_eq, db_now_ms, is_secret_shape, new_secret, Registry, RegistryError, Result, User,
    DEVICE_CODE_PREFIX,
};

/// Alphabet of user codes: 20 consonants, no vowels (no words) and nothing that looks alike
/// (RFC 8628 section 6.1).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Expired device codes are kept this long (answering `expired_token`) before being dropped.
const EXPIRED_KEEP_MS: i64 = 3600 * 1000;

/// A device authorization just issued.
#[derive(Clone, Debug)]
pub struct DeviceAuthorization {
    /// The secret the client polls with (`fdc_...`).
    pub device_code: String,
    /// What the user types on the verification page, `ABCD-EFGH` (two groups of four).
    pub user_code: String,
    /// Seconds.
    pub expires_in: u64,
    /// Minimum seconds between polls.
    pub interval: u64,
}

/// The answer to one poll of a device code.
#[derive(Clone, Debug)]
pub enum DevicePoll {
    /// Not yet approved or denied (`authorization_pending`).
    Pending,
    /// Polled sooner than the interval after the previous poll (`slow_down`).
    SlowDown,
    /// The user denied it (`access_denied`).
    Denied,
    /// It expired (`expired_token`).
    Expired,
    /// Unknown, already exchanged, or issued to another client (`invalid_grant`).
    Unknown,
    /// Approved: the tokens (the device code is now spent).
    Approved(IssuedTokens),
}

/// The canonical `ABCD-EFGH` (two groups of four) form of what a user typed (case, spaces and dashes ignored),
/// or `None` if it cannot be a user code.
pub fn normalize_user_code(input: &str) -> Option<String> {
    let chars: Vec<u8> = input
        .bytes()
        .filter(|b| !matches!(b, b'-' | b' ' | b'\t'))
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if chars.len() != 8 || !chars.iter().all(|b| USER_CODE_ALPHABET.contains(b)) {
        return None;
    }
    let s = String::from_utf8(chars).ok()?;
    Some(format!("{}-{}", &s[..4], &s[4..]))
}

fn new_user_code() -> Result<String> {
    let mut out = String::with_capacity(9);
    let mut buf = [0u8; 32];
    while out.len() < 9 {
        getrandom::fill(&mut buf)
            .map_err(|e| RegistryError::Db(format!("system random source failed: {e}")))?;
        // Rejection sampling keeps the 20 letters equally likely (240 = 12 * 20).
        for &b in buf.iter().filter(|&&b| b < 240) {
            if out.len() == 4 {
                out.push('-');
            }
            if out.len() == 9 {
                break;
            }
            out.push(USER_CODE_ALPHABET[(b % 20) as usize] as char);
        }
    }
    Ok(out)
}

fn ms(seconds: u64) -> i64 {
    i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX / 2)
}

impl Registry {
    /// Issue a device code and user code for `client_id`, valid `ttl_s` seconds, to be polled
    /// no more often than every `interval_s` seconds.
    pub fn create_device_code(
        &self,
        client_id: &str,
        scope: Option<&str>,
        ttl_s: u64,
        interval_s: u64,
    ) -> Result<DeviceAuthorization> {
        let conn = self.conn();
        let now = db_now_ms();
        conn.execute(
            "DELETE FROM device_codes WHERE expires_at_ms < ?1",
            [now - EXPIRED_KEEP_MS],
        )?;
        let device_code = new_secret(DEVICE_CODE_PREFIX)?;
        let hash = sha256(device_code.as_bytes());
        for _ in 0..8 {
            let user_code = new_user_code()?;
            let inserted = conn.execute(
                "INSERT OR IGNORE INTO device_codes
                 (code_hash, user_code, client_id, scope, created_at, expires_at_ms, interval_s,
                  status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending')",
                params![
                    &hash[..],
                    user_code,
                    client_id,
                    scope,
                    now / 1000,
                    now.saturating_add(ms(ttl_s)),
                    i64::try_from(interval_s).unwrap_or(i64::MAX),
                ],
            )?;
            if inserted == 1 {
                tracing::info!(client_id, "device code issued");
                return Ok(DeviceAuthorization {
                    device_code,
                    user_code,
                    expires_in: ttl_s,
                    interval: interval_s,
                });
            }
        }
        Err(RegistryError::Db(
            "could not find a free user code; try again".to_string(),
        ))
    }

    /// One poll of `device_code` by `client_id`; approved codes yield tokens (access token
    /// valid `access_ttl_s` seconds) exactly once.
    pub fn poll_device_code(
        &self,
        device_code: &str,
        client_id: &str,
        access_ttl_s: u64,
    ) -> Result<DevicePoll> {
        let device_code = device_code.trim();
        if !is_secret_shape(device_code, DEVICE_CODE_PREFIX) {
            return Ok(DevicePoll::Unknown);
        }
        let hash = sha256(device_code.as_bytes());
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        type Row = (
            Vec<u8>,
            String,
            i64,
            i64,
            Option<i64>,
            String,
            Option<i64>,
            Option<String>,
        );
        let row: Option<Row> = tx
            .query_row(
                "SELECT d.code_hash, d.client_id, d.expires_at_ms, d.interval_s, d.last_poll_ms,
                        d.status, d.user_id, u.email
                 FROM device_codes d LEFT JOIN users u ON u.id = d.user_id
                 WHERE d.code_hash = ?1",
                [&hash[..]],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                },
            )
            .optional()?;
        let Some((
            stored,
            owner_client,
            expires_at_ms,
            interval_s,
            last_poll_ms,
            status,
            user_id,
            email,
        )) = row
        else {
            return Ok(DevicePoll::Unknown);
        };
        if !ct_eq(&stored, &hash) || owner_client != client_id {
            return Ok(DevicePoll::Unknown);
        }
        let now = db_now_ms();
        if now >= expires_at_ms {
            return Ok(DevicePoll::Expired);
        }
        tx.execute(
            "UPDATE device_codes SET last_poll_ms = ?1 WHERE code_hash = ?2",
            params![now, &hash[..]],
        )?;
        let too_soon = last_poll_ms
            .is_some_and(|last| now.saturating_sub(last) < interval_s.saturating_mul(1000));
        let answer = if too_soon {
            DevicePoll::SlowDown
        } else {
            match (status.as_str(), user_id, email) {
                ("approved", Some(id), Some(email)) => {
                    tx.execute("DELETE FROM device_codes WHERE code_hash = ?1", [&hash[..]])?;
                    let issued = issue_tokens(&tx, User { id, email }, access_ttl_s)?;
                    tracing::info!(
                        user_id = id,
                        client_id,
                        "device login completed; tokens issued"
                    );
                    DevicePoll::Approved(issued)
                }
                ("denied", _, _) => DevicePoll::Denied,
                _ => DevicePoll::Pending,
            }
        };
        tx.commit()?;
        Ok(answer)
    }

    /// Approve the pending device code with this user code on behalf of `user`.
    /// `NotFound` for an unknown code, `Invalid` for an expired one, `Conflict` if it was
    /// already approved or denied.
    pub fn approve_device_code(&self, user_code: &str, user: &User) -> Result<()> {
        self.decide_device_code(user_code, Some(user))
    }

    /// Deny the pending device code with this user code (errors as for approval).
    pub fn deny_device_code(&self, user_code: &str) -> Result<()> {
        self.decide_device_code(user_code, None)
    }

    fn decide_device_code(&self, user_code: &str, approve_as: Option<&User>) -> Result<()> {
        let Some(code) = normalize_user_code(user_code) else {
            return Err(RegistryError::NotFound(format!(
                "code {:?}",
                user_code.chars().take(20).collect::<String>()
            )));
        };
        let conn = self.conn();
        let row: Option<(i64, String)> = conn
            .query_row(
                "SELECT expires_at_ms, status FROM device_codes WHERE user_code = ?1",
                [&code],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((expires_at_ms, status)) = row else {
            return Err(RegistryError::NotFound(format!("code {code}")));
        };
        if db_now_ms() >= expires_at_ms {
            return Err(RegistryError::Invalid(format!("code {code} has expired")));
        }
        if status != "pending" {
            return Err(RegistryError::Conflict(format!(
                "code {code} was already {status}"
            )));
        }
        if let Some(user) = approve_as {
            conn.execute(
                "UPDATE device_codes SET status = 'approved', user_id = ?1
                 WHERE user_code = ?2 AND status = 'pending'",
                params![user.id, code],
            )?;
            tracing::info!(user_id = user.id, "device login approved");
        } else {
            conn.execute(
                "UPDATE device_codes SET status = 'denied' WHERE user_code = ?1 AND status = 'pending'",
                [&code],
            )?;
            tracing::info!("device login denied");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes() {
        for _ in 0..50 {
            let c = new_user_code().unwrap();
            assert_eq!(c.len(), 9, "{c}");
            assert_eq!(&c[4..5], "-");
            assert_eq!(normalize_user_code(&c).as_deref(), Some(c.as_str()));
        }
        assert_eq!(
            normalize_user_code("wdjb mjht").as_deref(),
            Some("WDJB-MJHT")
        );
        assert_eq!(
            normalize_user_code("WDJBMJHT").as_deref(),
            Some("WDJB-MJHT")
        );
        assert_eq!(normalize_user_code("WDJB-MJH"), None);
        assert_eq!(normalize_user_code("WDJB-MJHA"), None);
    }
}
