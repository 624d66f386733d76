//! The registry's tables and their migrations, applied in order on open; `PRAGMA user_version`
//! records how many have been applied. A migration is never edited once released: changes go
//! in a new one at the end of [`MIGRATIONS`].

use rusqlite::Connection;

use super::{RegistryError, Result};

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: accounts, tokens, UDFs, share tokens, device codes.
    r"
    CREATE TABLE users (
        id          INTEGER PRIMARY KEY,
        email       TEXT NOT NULL UNIQUE,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE api_keys (
        key_hash    BLOB PRIMARY KEY,
        user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE access_tokens (
        token_hash     BLOB PRIMARY KEY,
        user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at     INTEGER NOT NULL,
        expires_at_ms  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE refresh_tokens (
        token_hash     BLOB PRIMARY KEY,
        user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at     INTEGER NOT NULL,
        expires_at_ms  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE udfs (
        id          INTEGER PRIMARY KEY,
        owner_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        UNIQUE (owner_id, name)
    );
    CREATE TABLE udf_versions (
        id          INTEGER PRIMARY KEY,
        udf_id      INTEGER NOT NULL REFERENCES udfs(id) ON DELETE CASCADE,
        version     TEXT NOT NULL,
        package     TEXT NOT NULL,
        schema      TEXT NOT NULL,
        created_at  INTEGER NOT NULL
    );
    CREATE INDEX udf_versions_by_udf ON udf_versions (udf_id, id);
    CREATE TABLE share_tokens (
        token_hash  BLOB PRIMARY KEY,
        token_hint  TEXT NOT NULL,
        udf_id      INTEGER NOT NULL REFERENCES udfs(id) ON DELETE CASCADE,
        created_at  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX share_tokens_by_udf ON share_tokens (udf_id);
    CREATE TABLE device_codes (
        code_hash      BLOB PRIMARY KEY,
        user_code      TEXT NOT NULL UNIQUE,
        client_id      TEXT NOT NULL,
        scope          TEXT,
        created_at     INTEGER NOT NULL,
        expires_at_ms  INTEGER NOT NULL,
        interval_s     INTEGER NOT NULL,
        last_poll_ms   INTEGER,
        status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
        user_id        INTEGER REFERENCES users(id) ON DELETE CASCADE
    ) WITHOUT ROWID;
    ",
    // 2: server-side jobs (`crate::jobs`): one row per job, one per task; results are
    // spooled to `<data_dir>/jobs/<id>.records`, `spool_end` is where a finished task's
    // record ends there.
    r"
    CREATE TABLE jobs (
        id           TEXT PRIMARY KEY,
        owner_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        spec         TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('running', 'done', 'cancelled')),
        n_tasks      INTEGER NOT NULL,
        created_at   INTEGER NOT NULL,
        finished_at  INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX jobs_by_owner ON jobs (owner_id, created_at);
    CREATE INDEX jobs_by_state ON jobs (state);
    CREATE TABLE job_tasks (
        job_id       TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        idx          INTEGER NOT NULL,
        args         TEXT NOT NULL,
        state        TEXT NOT NULL
                     CHECK (state IN ('pending', 'running', 'ok', 'error', 'cancelled')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        started_at   INTEGER,
        finished_at  INTEGER,
        error        TEXT,
        cached       INTEGER,
        spool_end    INTEGER,
        PRIMARY KEY (job_id, idx)
    ) WITHOUT ROWID;
    ",
];

/// Apply the migrations the database has not seen, each in its own transaction.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current < 0 || current as usize > MIGRATIONS.len() {
        return Err(RegistryError::Db(format!(
            "schema version {current} is newer than this server knows ({}); upgrade fused",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "registry schema migrated");
    }
    Ok(())
}
