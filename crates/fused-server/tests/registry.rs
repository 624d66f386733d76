//! The registry's Rust API end to end on a real SQLite file: users and keys, saved UDFs and
//! their versions, share tokens, device codes and tokens, persistence.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use fused_core::package::{package_from_code, UdfPackage};
use fused_server::registry::{DevicePoll, Registry, RegistryError};

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "fused-registry-test-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pkg(name: &str, code: &str) -> UdfPackage {
    package_from_code(name, code).unwrap()
}

fn schema(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const CODE_A: &str = "@fused.udf\ndef udf(n: int = 1):\n    return n\n";
const CODE_B: &str = "@fused.udf\ndef udf(n: int = 2):\n    return n * 2\n";

#[test]
fn open_creates_the_data_dir_in_wal_mode() {
    let tmp = TempDir::new();
    let dir = tmp.0.join("nested/data");
    let _reg = Registry::open(&dir).unwrap();
    let db = dir.join("registry.sqlite");
    assert!(db.is_file());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2); // 1: accounts and UDFs, 2: jobs
}

#[test]
fn users_and_api_keys() {
    let tmp = TempDir::new();
    let reg = Registry::open(&tmp.0).unwrap();
    let (alice, key) = reg.create_user(" Alice@Example.COM ").unwrap();
    assert_eq!(alice.email, "alice@example.com");
    assert!(key.starts_with("fsk_"), "{key}");
    assert_eq!(key.len(), 4 + 64);

    assert_eq!(reg.authenticate(&key).unwrap(), Some(alice.clone()));
    // A wrong key of the right shape, a truncated key, garbage: nobody.
    let last = key.chars().last().unwrap();
    let wrong = format!(
        "{}{}",
        &key[..key.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    assert_eq!(reg.authenticate(&wrong).unwrap(), None);
    assert_eq!(reg.authenticate(&key[..40]).unwrap(), None);
    assert_eq!(reg.authenticate("").unwrap(), None);
    assert_eq!(reg.authenticate("alice@example.com").unwrap(), None);

    // Emails are unique, case-insensitively; malformed ones refused.
    assert!(matches!(
        reg.create_user("ALICE@example.com"),
        Err(RegistryError::Conflict(m)) if m.contains("alice@example.com")
    ));
    for bad in ["", "alice", "a b@c.d", "a@b/c", "@x.y"] {
        assert!(
            matches!(reg.create_user(bad), Err(RegistryError::Invalid(_))),
            "{bad:?}"
        );
    }

    let (bob, bob_key) = reg.create_user("bob@example.com").unwrap();
    assert_ne!(bob.id, alice.id);
    assert_eq!(reg.authenticate(&bob_key).unwrap(), Some(bob.clone()));
    let second = reg.create_api_key(&bob).unwrap();
    assert_ne!(second, bob_key);
    assert_eq!(reg.authenticate(&second).unwrap(), Some(bob.clone()));
    assert_eq!(reg.authenticate(&bob_key).unwrap(), Some(bob.clone()));
    assert_eq!(
        reg.user_by_email("BOB@example.com").unwrap(),
        Some(bob.clone())
    );
    assert_eq!(reg.user_by_email("carol@example.com").unwrap(), None);

    // Only hashes are stored: the keys appear nowhere in the database files.
    drop(reg);
    let db = tmp.0.join("registry.sqlite");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn.prepare("SELECT key_hash FROM api_keys").unwrap();
    let hashes: Vec<Vec<u8>> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(hashes.len(), 3);
    for k in [&key, &bob_key, &second] {
        assert!(hashes.contains(&fused_core::hash::sha256(k.as_bytes()).to_vec()));
    }
    drop(stmt);
    drop(conn);
    for entry in std::fs::read_dir(&tmp.0).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for k in [&key, &bob_key, &second] {
            let hexpart = &k.as_bytes()[4..];
            assert!(
                !bytes.windows(hexpart.len()).any(|w| w == hexpart),
                "an API key is stored in clear"
            );
        }
    }
}

#[test]
fn save_versions_conflict_and_overwrite() {
    let tmp = TempDir::new();
    let reg = Registry::open(&tmp.0).unwrap();
    let (alice, _) = reg.create_user("alice@example.com").unwrap();

    let v1 = reg
        .save_udf(
            &alice,
            pkg("my_udf", CODE_A),
            schema(&[("n", "int"), ("bbox", "optional[ bounds ]")]),
            false,
        )
        .unwrap();
    assert_eq!(v1.name, "my_udf");
    assert_eq!(v1.owner_email, "alice@example.com");
    assert_eq!(v1.version.len(), 64);
    assert!(v1.version.bytes().all(|b| b.is_ascii_hexdigit()));
    // Specs are stored in canonical form.
    assert_eq!(v1.schema["bbox"], "optional[bounds]");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((v1.created_at - now).abs() <= 5);

    let got = reg.get_udf("alice@example.com", "my_udf").unwrap().unwrap();
    assert_eq!(got.version, v1.version);
    assert_eq!(got.package, pkg("my_udf", CODE_A));
    assert_eq!(
        got.schema,
        schema(&[("n", "int"), ("bbox", "optional[bounds]")])
    );
    // The email in a lookup is case-insensitive.
    assert!(reg
        .get_udf("Alice@Example.com", "my_udf")
        .unwrap()
        .is_some());

    // Existing name without overwrite: conflict, nothing changes.
    let err = reg
        .save_udf(&alice, pkg("my_udf", CODE_B), BTreeMap::new(), false)
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Conflict(m) if m.contains("my_udf")),
        "{err}"
    );
    assert_eq!(
        reg.get_udf("alice@example.com", "my_udf")
            .unwrap()
            .unwrap()
            .version,
        v1.version
    );

    // Same content again with overwrite: the same version, no new row.
    let same = reg
        .save_udf(
            &alice,
            pkg("my_udf", CODE_A),
            schema(&[("n", "int"), ("bbox", "optional[bounds]")]),
            true,
        )
        .unwrap();
    assert_eq!(same.version, v1.version);
    assert_eq!(same.created_at, v1.created_at);

    // New content: a new version, which becomes the latest.
    let v2 = reg
        .save_udf(&alice, pkg("my_udf", CODE_B), schema(&[("n", "int")]), true)
        .unwrap();
    assert_ne!(v2.version, v1.version);
    let got = reg.get_udf("alice@example.com", "my_udf").unwrap().unwrap();
    assert_eq!(got.version, v2.version);
    assert_eq!(got.package.code, CODE_B);
    assert_eq!(got.schema, schema(&[("n", "int")]));

    // Going back to the first content: its version (content hash) again, latest again.
    let v3 = reg
        .save_udf(
            &alice,
            pkg("my_udf", CODE_A),
            schema(&[("n", "int"), ("bbox", "optional[bounds]")]),
            true,
        )
        .unwrap();
    assert_eq!(v3.version, v1.version);
    assert_eq!(
        reg.get_udf("alice@example.com", "my_udf")
            .unwrap()
            .unwrap()
            .package
            .code,
        CODE_A
    );

    // The schema is part of the version.
    let v4 = reg
        .save_udf(
            &alice,
            pkg("my_udf", CODE_A),
            schema(&[("n", "float")]),
            true,
        )
        .unwrap();
    assert_ne!(v4.version, v1.version);

    // Key order of maps inside the package does not change the version.
    let mut p1 = pkg("ordered", CODE_A);
    p1.parameters.insert("a".into(), 1.into());
    p1.parameters.insert("b".into(), 2.into());
    let mut p2 = pkg("ordered", CODE_A);
    p2.parameters.insert("b".into(), 2.into());
    p2.parameters.insert("a".into(), 1.into());
    let o1 = reg.save_udf(&alice, p1, BTreeMap::new(), false).unwrap();
    let o2 = reg.save_udf(&alice, p2, BTreeMap::new(), true).unwrap();
    assert_eq!(o1.version, o2.version);

    // Four version rows for my_udf: v1, v2, v1 again, v4 (the repeat of the latest added none).
    drop(reg);
    let conn = rusqlite::Connection::open(tmp.0.join("registry.sqlite")).unwrap();
    let rows: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM udf_versions v JOIN udfs f ON f.id = v.udf_id \
             WHERE f.name = 'my_udf'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 4);
}

#[test]
fn invalid_saves_are_refused() {
    let tmp = TempDir::new();
    let reg = Registry::open(&tmp.0).unwrap();
    let (alice, _) = reg.create_user("alice@example.com").unwrap();
    let invalid =
        |p: UdfPackage, s: BTreeMap<String, String>| match reg.save_udf(&alice, p, s, true) {
            Err(RegistryError::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        };
    let mut p = pkg("ok", CODE_A);
    for bad in ["", "a b", "a/b", ".hidden", "é", &"x".repeat(101)] {
        p.name = bad.to_string();
        let m = invalid(p.clone(), BTreeMap::new());
        assert!(m.contains("UDF name"), "{m}");
    }
    let m = invalid(pkg("ok", "   \n"), BTreeMap::new());
    assert!(m.contains("code is empty"), "{m}");
    let m = invalid(pkg("ok", CODE_A), schema(&[("n", "integer")]));
    assert!(m.contains("parameter 'n'"), "{m}");
    let m = invalid(pkg("ok", CODE_A), schema(&[("", "int")]));
    assert!(m.contains("parameter name"), "{m}");
    let mut p = pkg("ok", CODE_A);
    p.entrypoint = Some("not valid".into());
    assert!(invalid(p, BTreeMap::new()).contains("entrypoint"));
    assert_eq!(reg.list_udfs(&alice).unwrap(), Vec::<String>::new());
    // A name of 100 characters from the whole alphabet is fine.
    let long = format!("A-z_0.9{}", "x".repeat(93));
    assert_eq!(
        reg.save_udf(&alice, pkg(&long, CODE_A), BTreeMap::new(), false)
            .unwrap()
            .name,
        long
    );
}

#[test]
fn list_and_delete() {
    let tmp = TempDir::new();
    let reg = Registry::open(&tmp.0).unwrap();
    let (alice, _) = reg.create_user("alice@example.com").unwrap();
    let (bob, _) = reg.create_user("bob@example.com").unwrap();
    for name in ["zeta", "Alpha", "beta"] {
        reg.save_udf(&alice, pkg(name, CODE_A), BTreeMap::new(), false)
            .unwrap();
    }
    reg.save_udf(&bob, pkg("beta", CODE_B), BTreeMap::new(), false)
        .unwrap();
    assert_eq!(reg.list_udfs(&alice).unwrap(), ["Alpha", "beta", "zeta"]);
    assert_eq!(reg.list_udfs(&bob).unwrap(), ["beta"]);
    // Same name, different owners: separate UDFs.
    let code_of = |email: &str, name: &str| {
        reg.get_udf(email, name)
            .unwrap()
            .map(|s| s.package.code.clone())
    };
    assert_eq!(code_of("bob@example.com", "beta").as_deref(), Some(CODE_B));
    assert_eq!(
        code_of("alice@example.com", "beta").as_deref(),
        Some(CODE_A)
    );
    assert_eq!(code_of("bob@example.com", "zeta"), None);
    assert_eq!(code_of("nobody@example.com", "zeta"), None);

    // Bob cannot delete Alice's zeta.
    assert!(!reg.delete_udf(&bob, "zeta").unwrap());
    assert!(code_of("alice@example.com", "zeta").is_some());
    assert!(reg.delete_udf(&alice, "zeta").unwrap());
    assert!(!reg.delete_udf(&alice, "zeta").unwrap());
    assert_eq!(code_of("alice@example.com", "zeta"), None);
    assert_eq!(reg.list_udfs(&alice).unwrap(), ["Alpha", "beta"]);
    // A deleted name is free again (no overwrite needed).
    let again = reg
        .save_udf(&alice, pkg("zeta", CODE_B), BTreeMap::new(), false)
        .unwrap();
    assert_eq!(again.package.code, CODE_B);
}

#[test]
fn share_tokens_lifecycle() {
    let tmp = TempDir::new();
    let reg = Registry::open(&tmp.0).unwrap();
    let (alice, _) = reg.create_user("alice@example.com").unwrap();
    let (bob, _) = reg.create_user("bob@example.com").unwrap();
    let v1 = reg
        .save_udf(
            &alice,
            pkg("shared", CODE_A),
            schema(&[("n", "int")]),
            false,
        )
        .unwrap();

    let t1 = reg.create_share_token(&alice, "shared").unwrap();
    assert!(
        t1.token.starts_with("fsh_") && t1.token.len() == 68,
        "{}",
        t1.token
    );
    assert_eq!(t1.owner_email, "alice@example.com");
    assert_eq!(t1.udf_name, "shared");
    let t2 = reg.create_share_token(&alice, "shared").unwrap();
    assert_ne!(t1.token, t2.token);

    // Not Bob's UDF, nor an existing one: NotFound either way.
    assert!(matches!(
        reg.create_share_token(&bob, "shared"),
        Err(RegistryError::NotFound(_))
    ));
    assert!(matches!(
        reg.create_share_token(&alice, "missing"),
        Err(RegistryError::NotFound(_))
    ));
    assert!(matches!(
        reg.list_share_tokens(&bob, "shared"),
        Err(RegistryError::NotFound(_))
    ));

    let r = reg.resolve_share_token(&t1.token).unwrap().unwrap();
    assert_eq!(r.owner_email, "alice@example.com");
    assert_eq!(r.name, "shared");
    assert_eq!(r.version, v1.version);
    assert_eq!(r.schema, schema(&[("n", "int")]));
    // A token resolves to the latest version.
    let v2 = reg
        .save_udf(&alice, pkg("shared", CODE_B), BTreeMap::new(), true)
        .unwrap();
    assert_eq!(
        reg.resolve_share_token(&t1.token).unwrap().unwrap().version,
        v2.version
    );
    assert!(reg.resolve_share_token("fsh_nope").unwrap().is_none());
    let unknown = format!("fsh_{}", "0".repeat(64));
    assert!(reg.resolve_share_token(&unknown).unwrap().is_none());

    // Listing shows hints only (the tokens themselves are not stored).
    let listed = reg.list_share_tokens(&alice, "shared").unwrap();
    assert_eq!(listed.len(), 2);
    let hints: Vec<&str> = listed.iter().map(|t| t.token.as_str()).collect();
    for t in [&t1, &t2] {
        let hint = format!("{}...", &t.token[..12]);
        assert!(hints.contains(&hint.as_str()), "{hints:?}");
    }

    // Bob cannot revoke Alice's token; Alice can, once.
    assert!(!reg.revoke_share_token(&bob, &t1.token).unwrap());
    assert!(reg.resolve_share_token(&t1.token).unwrap().is_some());
    assert!(reg.revoke_share_token(&alice, &t1.token).unwrap());
    assert!(!reg.revoke_share_token(&alice, &t1.token).unwrap());
    assert!(reg.resolve_share_token(&t1.token).unwrap().is_none());
    assert!(reg.resolve_share_token(&t2.token).unwrap().is_some());

    // Revoking by the listed hint works too.
    let hint = reg.list_share_tokens(&alice, "shared").unwrap()[0]
        .token
        .clone();
    assert!(!reg.revoke_share_token(&bob, &hint).unwrap());
    assert!(reg.revoke_share_token(&alice, &hint).unwrap());
    assert!(reg.resolve_share_token(&t2.token).unwrap().is_none());

    // Deleting the UDF revokes its tokens, and a re-saved UDF of the same name does not
    // bring them back.
    let t3 = reg.create_share_token(&alice, "shared").unwrap();
    assert!(reg.resolve_share_token(&t3.token).unwrap().is_some());
    assert!(reg.delete_udf(&alice, "shared").unwrap());
    assert!(reg.resolve_share_token(&t3.token).unwrap().is_none());
    reg.save_udf(&alice, pkg("shared", CODE_A), BTreeMap::new(), false)
        .unwrap();
    assert!(reg.resolve_share_token(&t3.token).unwrap().is_none());
    assert!(reg.list_share_tokens(&alice, "shared").unwrap().is_empty());

    // Share tokens are not credentials.
    let t4 = reg.create_share_token(&alice, "shared").unwrap();
    assert_eq!(reg.authenticate(&t4.token).unwrap(), None);
}

#[test]
fn device_codes_and_tokens() {
    let tmp = TempDir::new();
    let reg = Registry::open(&tmp.0).unwrap();
    let (alice, key) = reg.create_user("alice@example.com").unwrap();
    let poll = |code: &str, client: &str| reg.poll_device_code(code, client, 3600).unwrap();

    let auth = reg.create_device_code("fused", None, 600, 0).unwrap();
    assert!(auth.device_code.starts_with("fdc_"));
    assert_eq!(auth.user_code.len(), 9);
    assert!(matches!(
        poll(&auth.device_code, "fused"),
        DevicePoll::Pending
    ));
    // Another client cannot poll it.
    assert!(matches!(
        poll(&auth.device_code, "other"),
        DevicePoll::Unknown
    ));
    assert_eq!(reg.user_by_api_key(&key).unwrap(), Some(alice.clone()));
    // The user code is accepted in any case, with spaces for the dash.
    let typed = auth.user_code.to_lowercase().replace('-', " ");
    reg.approve_device_code(&typed, &alice).unwrap();
    assert!(matches!(
        reg.approve_device_code(&auth.user_code, &alice),
        Err(RegistryError::Conflict(_))
    ));
    let DevicePoll::Approved(tokens) = poll(&auth.device_code, "fused") else {
        panic!("expected approval")
    };
    assert_eq!(tokens.user, alice);
    assert_eq!(tokens.expires_in, 3600);
    assert!(tokens.access_token.starts_with("fat_"));
    assert!(tokens.refresh_token.starts_with("frt_"));
    assert_eq!(
        reg.authenticate(&tokens.access_token).unwrap(),
        Some(alice.clone())
    );
    // An access token is not an API key (it cannot approve device logins).
    assert_eq!(reg.user_by_api_key(&tokens.access_token).unwrap(), None);
    // The device code is single use.
    assert!(matches!(
        poll(&auth.device_code, "fused"),
        DevicePoll::Unknown
    ));

    // Refresh rotates: new access and refresh tokens; the old refresh token is spent.
    let fresh = reg
        .refresh_tokens(&tokens.refresh_token, 60)
        .unwrap()
        .unwrap();
    assert_eq!(fresh.expires_in, 60);
    assert_ne!(fresh.access_token, tokens.access_token);
    assert_ne!(fresh.refresh_token, tokens.refresh_token);
    assert_eq!(
        reg.authenticate(&fresh.access_token).unwrap(),
        Some(alice.clone())
    );
    assert!(reg
        .refresh_tokens(&tokens.refresh_token, 60)
        .unwrap()
        .is_none());
    assert!(reg.refresh_tokens("frt_bogus", 60).unwrap().is_none());

    // An access token with no lifetime is expired at once.
    let short = reg
        .refresh_tokens(&fresh.refresh_token, 0)
        .unwrap()
        .unwrap();
    assert_eq!(reg.authenticate(&short.access_token).unwrap(), None);

    // Denial and expiry.
    let denied = reg
        .create_device_code("fused", Some("openid"), 600, 0)
        .unwrap();
    reg.deny_device_code(&denied.user_code).unwrap();
    assert!(matches!(
        poll(&denied.device_code, "fused"),
        DevicePoll::Denied
    ));
    let expired = reg.create_device_code("fused", None, 0, 0).unwrap();
    assert!(matches!(
        poll(&expired.device_code, "fused"),
        DevicePoll::Expired
    ));
    assert!(matches!(
        reg.approve_device_code(&expired.user_code, &alice),
        Err(RegistryError::Invalid(_))
    ));
    assert!(matches!(
        reg.approve_device_code("BCDF-GHJK", &alice),
        Err(RegistryError::NotFound(_))
    ));

    // Polling faster than the interval.
    let slow = reg.create_device_code("fused", None, 600, 30).unwrap();
    assert!(matches!(
        poll(&slow.device_code, "fused"),
        DevicePoll::Pending
    ));
    assert!(matches!(
        poll(&slow.device_code, "fused"),
        DevicePoll::SlowDown
    ));
}

#[test]
fn everything_persists_across_reopen() {
    let tmp = TempDir::new();
    let (alice, key, saved, share, access) = {
        let reg = Registry::open(&tmp.0).unwrap();
        let (alice, key) = reg.create_user("alice@example.com").unwrap();
        let saved = reg
            .save_udf(&alice, pkg("kept", CODE_A), schema(&[("n", "int")]), false)
            .unwrap();
        let share = reg.create_share_token(&alice, "kept").unwrap();
        let auth = reg.create_device_code("fused", None, 600, 0).unwrap();
        reg.approve_device_code(&auth.user_code, &alice).unwrap();
        let DevicePoll::Approved(t) = reg
            .poll_device_code(&auth.device_code, "fused", 3600)
            .unwrap()
        else {
            panic!("expected approval")
        };
        (alice, key, saved, share, t.access_token)
    };
    let reg = Registry::open(&tmp.0).unwrap();
    assert_eq!(reg.authenticate(&key).unwrap(), Some(alice.clone()));
    assert_eq!(reg.authenticate(&access).unwrap(), Some(alice.clone()));
    let got = reg.get_udf("alice@example.com", "kept").unwrap().unwrap();
    assert_eq!(got.version, saved.version);
    assert_eq!(got.package, saved.package);
    assert_eq!(got.created_at, saved.created_at);
    assert_eq!(got.schema, schema(&[("n", "int")]));
    assert_eq!(reg.list_udfs(&alice).unwrap(), ["kept"]);
    assert_eq!(
        reg.resolve_share_token(&share.token)
            .unwrap()
            .unwrap()
            .version,
        saved.version
    );
}
