//! The harness of the HTTP tests that run the router in process against a fake executor (no
//! Python): a registry in a temporary directory with a user, the server on its own runtime
//! thread, and a client that returns every status as a [`Reply`].
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use fused_server::auth;
use fused_server::executor::Executor;
use fused_server::registry::Registry;
use fused_server::routes::{router, AppState};
use serde_json::Value;

pub struct Server<F> {
    pub base: String,
    /// The API key of `me@example.com`.
    pub key: String,
    pub fake: Arc<F>,
    agent: ureq::Agent,
}

pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: ureq::http::HeaderMap,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .expect("ASCII header")
            .to_string()
    }

    pub fn meta(&self) -> Value {
        serde_json::from_str(&self.header("x-fused-metadata")).unwrap()
    }
}

/// Serve the router over `fake` with users `me@example.com` (its key in [`Server::key`]) and
/// `others`; `cache_bytes` > 0 turns on the result cache's memory tier.
pub fn start<F: Executor + Default + 'static>(
    name: &str,
    cache_bytes: usize,
    others: &[&str],
) -> Server<F> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "fused-server-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let registry = Registry::open(&dir).unwrap();
    let (_, key) = registry.create_user("me@example.com").unwrap();
    for email in others {
        registry.create_user(email).unwrap();
    }
    let fake = Arc::new(F::default());
    let mut state = AppState::new(fake.clone() as Arc<dyn Executor>, Arc::new(registry));
    if cache_bytes > 0 {
        state = state.with_cache(cache_bytes, None);
    }
    let addr = serve(router(state, auth::AuthConfig::default()));
    Server {
        base: format!("http://{addr}"),
        key,
        fake,
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into(),
    }
}

/// Serve `app` on 127.0.0.1 (any free port) from a runtime on its own thread.
pub fn serve(app: axum::Router) -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap()
}

impl<F> Server<F> {
    pub fn post(&self, path: &str, body: Value, key: Option<&str>) -> Reply {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json");
        if let Some(k) = key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        reply(req.send(body.to_string().as_bytes()).unwrap())
    }

    pub fn get(&self, path: &str, key: Option<&str>) -> Reply {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        reply(req.call().unwrap())
    }
}

fn reply(mut resp: ureq::http::Response<ureq::Body>) -> Reply {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    Reply {
        status,
        body,
        headers,
    }
}
