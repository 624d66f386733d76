//! The account and registry endpoints over real HTTP: `auth::routes` served on 127.0.0.1 and
//! driven with a blocking client (the OAuth device flow, tokens, 401s, saved UDFs, share tokens).
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fused_server::auth::{routes, AuthConfig};
use fused_server::registry::Registry;
use serde_json::{json, Value};

mod common;

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        TempDir(std::env::temp_dir().join(format!(
            "fused-auth-http-test-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `routes(...)` served on a free port of 127.0.0.1 by a runtime on its own thread.
struct Server {
    base: String,
    registry: Arc<Registry>,
    agent: ureq::Agent,
    _tmp: TempDir,
}

struct Resp {
    status: u16,
    headers: ureq::http::HeaderMap,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The OAuth / API error code of a JSON error body.
    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_string()
    }
}

impl Server {
    fn start(config: AuthConfig) -> Server {
        let tmp = TempDir::new();
        let registry = Arc::new(Registry::open(&tmp.0).unwrap());
        let addr = common::serve(routes(registry.clone(), config));
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build(),
        );
        Server {
            base: format!("http://{addr}"),
            registry,
            agent,
            _tmp: tmp,
        }
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<(&str, String)>,
    ) -> Resp {
        self.try_send(method, path, bearer, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// As [`Server::send`], with transport errors returned.
    fn try_send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<(&str, String)>,
    ) -> Result<Resp, ureq::Error> {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(t) = bearer {
            b = b.header("Authorization", format!("Bearer {t}"));
        }
        let mut resp = match body {
            Some((content_type, text)) => self
                .agent
                .run(b.header("Content-Type", content_type).body(text).unwrap()),
            // POST without a body: an explicit empty one (Content-Length: 0), so the
            // connection stays reusable whether or not the handler reads the body.
            None if method == "POST" => self.agent.run(b.body("").unwrap()),
            None => self.agent.run(b.body(()).unwrap()),
        }?;
        Ok(Resp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.body_mut().read_to_string()?,
        })
    }

    fn get(&self, path: &str, bearer: Option<&str>) -> Resp {
        self.send("GET", path, bearer, None)
    }

    fn delete(&self, path: &str, bearer: Option<&str>) -> Resp {
        self.send("DELETE", path, bearer, None)
    }

    fn post_form(&self, path: &str, form: &str) -> Resp {
        self.send(
            "POST",
            path,
            None,
            Some(("application/x-www-form-urlencoded", form.to_string())),
        )
    }

    fn post_json(&self, path: &str, bearer: Option<&str>, body: &Value) -> Resp {
        self.send(
            "POST",
            path,
            bearer,
            Some(("application/json", body.to_string())),
        )
    }

    /// `POST /oauth/device/code` for the `fused` client: (`device_code`, `user_code`).
    fn device_code(&self) -> (String, String) {
        let r = self.post_form("/oauth/device/code", "client_id=fused");
        assert_eq!(r.status, 200, "{}", r.text);
        let j = r.json();
        (
            j["device_code"].as_str().unwrap().to_string(),
            j["user_code"].as_str().unwrap().to_string(),
        )
    }

    fn poll(&self, device_code: &str) -> Resp {
        self.post_form(
            "/oauth/token",
            &format!(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code\
                 &device_code={device_code}&client_id=fused"
            ),
        )
    }

    /// Approve on the device page; returns the page.
    fn approve(&self, user_code: &str, api_key: &str) -> Resp {
        self.post_form(
            "/device",
            &format!("user_code={user_code}&api_key={api_key}&action=approve"),
        )
    }

    /// The full device flow for `api_key`'s user: the token response.
    fn login(&self, api_key: &str) -> Value {
        let (device, user) = self.device_code();
        assert_eq!(self.approve(&user, api_key).status, 200);
        let r = self.poll(&device);
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    }
}

fn fast() -> AuthConfig {
    AuthConfig {
        poll_interval_s: 0,
        ..AuthConfig::default()
    }
}

fn package(name: &str, code: &str) -> Value {
    json!({"name": name, "code": code, "source_file": format!("{name}.py")})
}

const CODE: &str = "@fused.udf\ndef udf(n: int = 1):\n    return n\n";

#[test]
fn device_flow_end_to_end() {
    let s = Server::start(fast());
    let (alice, key) = s.registry.create_user("alice@example.com").unwrap();

    let r = s.post_form("/oauth/device/code", "client_id=fused&scope=openid");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let j = r.json();
    let device = j["device_code"].as_str().unwrap().to_string();
    let user_code = j["user_code"].as_str().unwrap().to_string();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code
        .chars()
        .filter(|&c| c != '-')
        .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
    assert_eq!(j["verification_uri"], format!("{}/device", s.base));
    assert_eq!(
        j["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", s.base)
    );
    assert_eq!(j["expires_in"], 600);
    assert_eq!(j["interval"], 0);

    // Pending until approved.
    let r = s.poll(&device);
    assert_eq!((r.status, r.error()), (400, "authorization_pending".into()));

    // The approval page carries the code and a form for the API key, approve and deny.
    let r = s.get(
        &format!("/device?user_code={}", user_code.to_lowercase()),
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text.contains("<form method=\"post\" action=\"device\">"));
    assert!(r.text.contains(&format!("value=\"{user_code}\"")));
    assert!(r.text.contains("name=\"api_key\""));
    assert!(r.text.contains("value=\"deny\""));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    let r = s.get("/device?user_code=%22%3E%3Cscript%3E", None);
    assert!(!r.text.contains("<script>"), "user input must be escaped");
    assert!(r.text.contains("&quot;&gt;&lt;script&gt;"));

    // A wrong API key, an access token instead of a key, an unknown code: 400 pages.
    let wrong = format!("fsk_{}", "0".repeat(64));
    let r = s.approve(&user_code, &wrong);
    assert_eq!(r.status, 400);
    assert!(r.text.contains("The API key is not valid."), "{}", r.text);
    let r = s.approve("BCDF-GHJK", &key);
    assert_eq!(r.status, 400);
    assert!(r.text.contains("Unknown code"), "{}", r.text);
    let r = s.approve("nonsense", &key);
    assert_eq!(r.status, 400);
    let r = s.poll(&device);
    assert_eq!(r.error(), "authorization_pending");

    // Approve (the code typed in lower case, space for dash).
    let typed = user_code.to_lowercase().replace('-', "+");
    let r = s.approve(&typed, &key);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("data-result=\"approved\""));
    // Approving twice is refused.
    let r = s.approve(&user_code, &key);
    assert_eq!(r.status, 400);
    assert!(r.text.contains("already used"));

    let r = s.poll(&device);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let t = r.json();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    let access = t["access_token"].as_str().unwrap();
    assert!(access.starts_with("fat_"));
    assert!(t["refresh_token"].as_str().unwrap().starts_with("frt_"));
    // The device code is single use.
    let r = s.poll(&device);
    assert_eq!((r.status, r.error()), (400, "invalid_grant".into()));

    // whoami with the access token and with the API key.
    for cred in [access, key.as_str()] {
        let r = s.get("/api/v1/me", Some(cred));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json(),
            json!({"email": "alice@example.com", "id": alice.id})
        );
    }
    // An access token cannot approve a device login.
    let (_, code2) = s.device_code();
    let r = s.approve(&code2, access);
    assert_eq!(r.status, 400);
    assert!(r.text.contains("The API key is not valid."));

    // JSON bodies are accepted too.
    let r = s.post_json("/oauth/device/code", None, &json!({"client_id": "fused"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let device3 = r.json()["device_code"].as_str().unwrap().to_string();
    let r = s.post_json(
        "/oauth/token",
        None,
        &json!({
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": device3,
            "client_id": "fused",
        }),
    );
    assert_eq!(r.error(), "authorization_pending");
}

#[test]
fn oauth_request_errors() {
    let s = Server::start(fast());
    let r = s.post_form("/oauth/device/code", "client_id=evil");
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"error": "invalid_client"}));
    let r = s.post_form("/oauth/device/code", "scope=x");
    assert_eq!((r.status, r.error()), (400, "invalid_request".into()));
    let r = s.post_form("/oauth/device/code", "client_id=fused&client_id=fused");
    assert_eq!((r.status, r.error()), (400, "invalid_request".into()));
    let r = s.send(
        "POST",
        "/oauth/device/code",
        None,
        Some(("application/json", "{not json".into())),
    );
    assert_eq!((r.status, r.error()), (400, "invalid_request".into()));

    let r = s.post_form("/oauth/token", "client_id=fused");
    assert_eq!((r.status, r.error()), (400, "invalid_request".into()));
    let r = s.post_form("/oauth/token", "grant_type=password&client_id=fused");
    assert_eq!(
        (r.status, r.error()),
        (400, "unsupported_grant_type".into())
    );
    let (device, _) = s.device_code();
    let grant = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code";
    let r = s.post_form(
        "/oauth/token",
        &format!("grant_type={grant}&device_code={device}&client_id=other"),
    );
    assert_eq!((r.status, r.error()), (401, "invalid_client".into()));
    let r = s.post_form(
        "/oauth/token",
        &format!("grant_type={grant}&client_id=fused"),
    );
    assert_eq!((r.status, r.error()), (400, "invalid_request".into()));
    let r = s.post_form(
        "/oauth/token",
        &format!("grant_type={grant}&device_code=fdc_nope&client_id=fused"),
    );
    assert_eq!((r.status, r.error()), (400, "invalid_grant".into()));
}

#[test]
fn slow_down_when_polling_faster_than_the_interval() {
    let s = Server::start(AuthConfig {
        poll_interval_s: 1,
        ..AuthConfig::default()
    });
    let r = s.post_form("/oauth/device/code", "client_id=fused");
    assert_eq!(r.json()["interval"], 1);
    let device = r.json()["device_code"].as_str().unwrap().to_string();
    assert_eq!(s.poll(&device).error(), "authorization_pending");
    let r = s.poll(&device);
    assert_eq!((r.status, r.error()), (400, "slow_down".into()));
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(s.poll(&device).error(), "authorization_pending");
}

#[test]
fn denied_login() {
    let s = Server::start(fast());
    let (_, key) = s.registry.create_user("alice@example.com").unwrap();
    let (device, user_code) = s.device_code();
    // Denying needs no API key.
    let r = s.post_form("/device", &format!("user_code={user_code}&action=deny"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("data-result=\"denied\""));
    let r = s.poll(&device);
    assert_eq!((r.status, r.error()), (400, "access_denied".into()));
    // A denied code cannot be approved afterwards.
    let r = s.approve(&user_code, &key);
    assert_eq!(r.status, 400);
    assert_eq!(s.poll(&device).error(), "access_denied");
}

#[test]
fn expired_device_code() {
    let s = Server::start(AuthConfig {
        device_code_ttl_s: 1,
        poll_interval_s: 0,
        ..AuthConfig::default()
    });
    let (_, key) = s.registry.create_user("alice@example.com").unwrap();
    let (device, user_code) = s.device_code();
    assert_eq!(s.poll(&device).error(), "authorization_pending");
    std::thread::sleep(Duration::from_millis(1200));
    let r = s.poll(&device);
    assert_eq!((r.status, r.error()), (400, "expired_token".into()));
    let r = s.approve(&user_code, &key);
    assert_eq!(r.status, 400);
    assert!(r.text.contains("expired"), "{}", r.text);
}

#[test]
fn access_tokens_expire_and_refresh() {
    let s = Server::start(AuthConfig {
        access_token_ttl_s: 1,
        poll_interval_s: 0,
        ..AuthConfig::default()
    });
    let (_, key) = s.registry.create_user("alice@example.com").unwrap();
    let t = s.login(&key);
    assert_eq!(t["expires_in"], 1);
    let access = t["access_token"].as_str().unwrap().to_string();
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(s.get("/api/v1/me", Some(&access)).status, 200);
    std::thread::sleep(Duration::from_millis(1200));
    let r = s.get("/api/v1/me", Some(&access));
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));

    let r = s.post_form(
        "/oauth/token",
        &format!("grant_type=refresh_token&refresh_token={refresh}&client_id=fused"),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let t2 = r.json();
    assert_eq!(t2["token_type"], "Bearer");
    let access2 = t2["access_token"].as_str().unwrap();
    let refresh2 = t2["refresh_token"].as_str().unwrap();
    assert_ne!(access2, access);
    assert_ne!(refresh2, refresh);
    let r = s.get("/api/v1/me", Some(access2));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["email"], "alice@example.com");
    // The old refresh token is spent; a made-up one is refused; client_id may be omitted.
    let r = s.post_form(
        "/oauth/token",
        &format!("grant_type=refresh_token&refresh_token={refresh}"),
    );
    assert_eq!((r.status, r.error()), (400, "invalid_grant".into()));
    let r = s.post_form(
        "/oauth/token",
        "grant_type=refresh_token&refresh_token=frt_x",
    );
    assert_eq!((r.status, r.error()), (400, "invalid_grant".into()));
    let r = s.post_form("/oauth/token", "grant_type=refresh_token");
    assert_eq!((r.status, r.error()), (400, "invalid_request".into()));
    let r = s.post_form(
        "/oauth/token",
        &format!("grant_type=refresh_token&refresh_token={refresh2}"),
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn unauthorized_requests() {
    let s = Server::start(fast());
    s.registry.create_user("alice@example.com").unwrap();
    let fake = format!("fsk_{}", "a".repeat(64));
    for (method, path) in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/udfs"),
        ("POST", "/api/v1/udfs"),
        ("GET", "/api/v1/udfs/saved/alice@example.com/x"),
        ("DELETE", "/api/v1/udfs/x"),
        ("GET", "/api/v1/udfs/x/access-tokens"),
        ("POST", "/api/v1/udfs/x/access-tokens"),
        ("DELETE", "/api/v1/access-tokens/fsh_x"),
    ] {
        for bearer in [None, Some("garbage"), Some(fake.as_str())] {
            let body = (method == "POST").then(|| ("application/json", "{}".to_string()));
            let r = s.send(method, path, bearer, body);
            assert_eq!(r.status, 401, "{method} {path} {bearer:?}: {}", r.text);
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
            assert_eq!(r.error(), "unauthorized");
            assert!(r.json()["error_description"].is_string());
        }
    }
}

#[test]
fn registry_endpoints() {
    let s = Server::start(fast());
    let (_, alice) = s.registry.create_user("alice@example.com").unwrap();
    let (_, bob) = s.registry.create_user("bob@example.com").unwrap();
    let alice = Some(alice.as_str());
    let bob = Some(bob.as_str());

    let r = s.get("/api/v1/udfs", alice);
    assert_eq!((r.status, r.json()), (200, json!({"udfs": []})));

    let body = json!({
        "package": package("my_udf", CODE),
        "schema": {"n": "int", "bbox": "optional[bounds]"},
        "overwrite": false,
    });
    let r = s.post_json("/api/v1/udfs", alice, &body);
    assert_eq!(r.status, 201, "{}", r.text);
    let saved = r.json();
    assert_eq!(saved["name"], "my_udf");
    assert_eq!(saved["owner_email"], "alice@example.com");
    let version = saved["version"].as_str().unwrap().to_string();
    assert_eq!(version.len(), 64);

    // Existing name without overwrite: 409; with it and the same content: the same version.
    let r = s.post_json("/api/v1/udfs", alice, &body);
    assert_eq!((r.status, r.error()), (409, "conflict".into()));
    let mut again = body.clone();
    again["overwrite"] = json!(true);
    let r = s.post_json("/api/v1/udfs", alice, &again);
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["version"], version.as_str());
    // Bob may use the same name for his own UDF.
    let r = s.post_json("/api/v1/udfs", bob, &body);
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["owner_email"], "bob@example.com");

    // Invalid requests.
    let bad = |b: Value| {
        let r = s.post_json("/api/v1/udfs", alice, &b);
        (r.status, r.error())
    };
    let unprocessable = (422, "invalid".to_string());
    assert_eq!(bad(json!({"schema": {}})), unprocessable);
    assert_eq!(bad(json!({"package": {"name": "x"}})), unprocessable);
    assert_eq!(bad(json!({"package": package("a b", CODE)})), unprocessable);
    assert_eq!(bad(json!({"package": package("x", "")})), unprocessable);
    assert_eq!(
        bad(json!({"package": package("x", CODE), "schema": {"n": "integer"}})),
        unprocessable
    );
    assert_eq!(
        bad(json!({"package": package("x", CODE), "schema": {"n": 1}})),
        unprocessable
    );
    assert_eq!(
        bad(json!({"package": package("x", CODE), "overwrite": "yes"})),
        unprocessable
    );
    assert_eq!(bad(json!([1, 2])), unprocessable);
    let r = s.send(
        "POST",
        "/api/v1/udfs",
        alice,
        Some(("application/json", "{\"package\":".into())),
    );
    assert_eq!((r.status, r.error()), (400, "invalid_request".into()));
    let r = s.post_json(
        "/api/v1/udfs",
        alice,
        &json!({"package": package("x", CODE), "schema": {"n": "integer"}}),
    );
    assert!(r.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("'n'"));

    // Load: the owner gets the package and schema; others get 404, like for a missing UDF.
    let r = s.get("/api/v1/udfs/saved/alice@example.com/my_udf", alice);
    assert_eq!(r.status, 200, "{}", r.text);
    let j = r.json();
    assert_eq!(j["name"], "my_udf");
    assert_eq!(j["owner_email"], "alice@example.com");
    assert_eq!(j["version"], version.as_str());
    assert_eq!(j["package"]["code"], CODE);
    assert_eq!(j["package"]["name"], "my_udf");
    assert_eq!(j["schema"], json!({"n": "int", "bbox": "optional[bounds]"}));
    let r = s.get("/api/v1/udfs/saved/Alice@Example.com/my_udf", alice);
    assert_eq!(r.status, 200);

    s.post_json(
        "/api/v1/udfs",
        alice,
        &json!({"package": package("private_one", CODE)}),
    );
    let hidden = s.get("/api/v1/udfs/saved/alice@example.com/private_one", bob);
    let missing = s.get("/api/v1/udfs/saved/alice@example.com/no_such_udf", bob);
    let own_missing = s.get("/api/v1/udfs/saved/alice@example.com/no_such_udf", alice);
    for r in [&hidden, &missing, &own_missing] {
        assert_eq!(
            (r.status, r.error()),
            (404, "not_found".into()),
            "{}",
            r.text
        );
    }
    assert_eq!(
        hidden.text.replace("private_one", "NAME"),
        missing.text.replace("no_such_udf", "NAME")
    );

    let r = s.get("/api/v1/udfs", alice);
    assert_eq!(r.json(), json!({"udfs": ["my_udf", "private_one"]}));
    let r = s.get("/api/v1/udfs", bob);
    assert_eq!(r.json(), json!({"udfs": ["my_udf"]}));

    // Delete: Bob cannot delete Alice's private_one (404); Alice can (204), once.
    let r = s.delete("/api/v1/udfs/private_one", bob);
    assert_eq!(r.status, 404);
    let r = s.delete("/api/v1/udfs/private_one", alice);
    assert_eq!(r.status, 204);
    assert_eq!(r.text, "");
    let r = s.delete("/api/v1/udfs/private_one", alice);
    assert_eq!(r.status, 404);
    let r = s.get("/api/v1/udfs/saved/alice@example.com/private_one", alice);
    assert_eq!(r.status, 404);
    let r = s.get("/api/v1/udfs", alice);
    assert_eq!(r.json(), json!({"udfs": ["my_udf"]}));

    // Bodies are capped at 10 MiB: 9 MiB is fine; 11 MiB is refused with a 413, or the
    // connection is closed while the client is still sending (a race on loopback), and
    // nothing is saved either way. Last, since it may leave the connection closed.
    let nine = json!({"package": package("big", &"#".repeat(9 * 1024 * 1024))});
    let r = s.post_json("/api/v1/udfs", alice, &nine);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(s.delete("/api/v1/udfs/big", alice).status, 204);
    let huge = json!({"package": package("big", &"#".repeat(11 * 1024 * 1024))});
    let sent = s.try_send(
        "POST",
        "/api/v1/udfs",
        alice,
        Some(("application/json", huge.to_string())),
    );
    if let Ok(r) = sent {
        assert_eq!(r.status, 413, "{}", r.text);
    }
    assert!(s
        .registry
        .get_udf("alice@example.com", "big")
        .unwrap()
        .is_none());
}

#[test]
fn share_token_lifecycle() {
    let s = Server::start(fast());
    let (_, alice) = s.registry.create_user("alice@example.com").unwrap();
    let (_, bob) = s.registry.create_user("bob@example.com").unwrap();
    let alice = Some(alice.as_str());
    let bob = Some(bob.as_str());
    let r = s.post_json(
        "/api/v1/udfs",
        alice,
        &json!({"package": package("shared_udf", CODE), "schema": {"n": "int"}}),
    );
    assert_eq!(r.status, 201);
    let version = r.json()["version"].as_str().unwrap().to_string();

    let r = s.send("POST", "/api/v1/udfs/shared_udf/access-tokens", alice, None);
    assert_eq!(r.status, 201, "{}", r.text);
    let j = r.json();
    assert_eq!(j["udf_name"], "shared_udf");
    assert_eq!(j["owner_email"], "alice@example.com");
    let token = j["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("fsh_"));

    // The token resolves (this is what /shared/{token}/... uses) to the latest version.
    let resolved = s.registry.resolve_share_token(&token).unwrap().unwrap();
    assert_eq!(resolved.version, version);
    assert_eq!(resolved.owner_email, "alice@example.com");

    // Not Bob's: 404 to create or list; unknown UDF likewise.
    for who in [bob, alice] {
        let path = if who == bob {
            "/api/v1/udfs/shared_udf/access-tokens"
        } else {
            "/api/v1/udfs/nope/access-tokens"
        };
        assert_eq!(s.send("POST", path, who, None).status, 404);
        assert_eq!(s.get(path, who).status, 404);
    }

    let r = s.get("/api/v1/udfs/shared_udf/access-tokens", alice);
    assert_eq!(r.status, 200);
    let listed = r.json()["tokens"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["token"], format!("{}...", &token[..12]));
    assert_eq!(listed[0]["udf_name"], "shared_udf");

    // Revocation: only the owner, once.
    let path = format!("/api/v1/access-tokens/{token}");
    assert_eq!(s.delete(&path, bob).status, 404);
    assert!(s.registry.resolve_share_token(&token).unwrap().is_some());
    assert_eq!(s.delete(&path, alice).status, 204);
    assert_eq!(s.delete(&path, alice).status, 404);
    assert!(s.registry.resolve_share_token(&token).unwrap().is_none());

    // Deleting the UDF revokes its tokens.
    let r = s.send("POST", "/api/v1/udfs/shared_udf/access-tokens", alice, None);
    let token2 = r.json()["token"].as_str().unwrap().to_string();
    assert!(s.registry.resolve_share_token(&token2).unwrap().is_some());
    assert_eq!(s.delete("/api/v1/udfs/shared_udf", alice).status, 204);
    assert!(s.registry.resolve_share_token(&token2).unwrap().is_none());
    assert_eq!(
        s.delete(&format!("/api/v1/access-tokens/{token2}"), alice)
            .status,
        404
    );
}
