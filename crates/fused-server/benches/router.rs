//! A run-cache hit through the whole HTTP stack: the axum router (request id, log and metrics
//! middleware, API-key authentication against the registry, the saved-UDF lookup, parameter
//! validation, run key, memory-tier hit, encoding) answering `GET` for a tile of a saved UDF
//! that has run once. The executor is an in-process fake (no Python), as in
//! `tests/common`; it counts its runs so the bench can check that every measured request is
//! a hit. Requests go through `tower::ServiceExt::oneshot` (no socket).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use criterion::{criterion_group, criterion_main, Criterion};
use fused_core::package::package_from_code;
use fused_core::result::CanonicalResult;
use fused_server::auth::AuthConfig;
use fused_server::executor::{Executor, PoolStats, RunFuture, Task, TaskOutput};
use fused_server::registry::Registry;
use fused_server::routes::{router, AppState};
use serde_json::json;
use tower::ServiceExt;

/// Answers every task with its tile and parameters as JSON, and counts the runs.
#[derive(Default)]
struct Fake {
    runs: AtomicUsize,
}

impl Executor for Fake {
    fn run(&self, task: Task) -> RunFuture<'_> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let tile = task.tile.map(|t| [t.x, t.y, u32::from(t.z)]);
            Ok(TaskOutput {
                result: Ok(CanonicalResult::Json(
                    json!({"tile": tile, "params": task.parameters}),
                )),
                stdout: String::new(),
                stderr: String::new(),
            })
        })
    }

    fn stats(&self) -> PoolStats {
        PoolStats::default()
    }
}

fn cache_hit(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("fused-bench-router-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let registry = Registry::open(&dir).expect("a registry in a temporary directory");
    let (user, key) = registry.create_user("me@example.com").expect("a new user");
    let package = package_from_code("roads", "@fused.udf\ndef udf(n: int = 1): ...\n")
        .expect("a valid package");
    let schema = BTreeMap::from([("n".to_string(), "int".to_string())]);
    registry
        .save_udf(&user, package, schema, false)
        .expect("the UDF is saved");
    let fake = Arc::new(Fake::default());
    let state = AppState::new(fake.clone() as Arc<dyn Executor>, Arc::new(registry))
        .with_cache(64 << 20, None);
    let app = router(state, AuthConfig::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let uri = "/api/v1/run/udf/saved/me@example.com/roads/tiles/12/701/1635?format=json&n=5";
    let get = || {
        let request = Request::get(uri)
            .header("authorization", format!("Bearer {key}"))
            .body(Body::empty())
            .expect("a valid request");
        let app = app.clone();
        rt.block_on(async move {
            let response = app.oneshot(request).await.expect("infallible");
            let status = response.status();
            let cached = response.headers().get("x-fused-cached").cloned();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .expect("a body under 1 MiB");
            (status, cached, body)
        })
    };
    // the first request runs the UDF; every later one must be a hit with the same body
    let (status, cached, first) = get();
    assert_eq!(status, StatusCode::OK, "{first:?}");
    assert_eq!(
        cached.as_ref().map(axum::http::HeaderValue::as_bytes),
        Some(&b"false"[..])
    );
    let (status, cached, again) = get();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        cached.as_ref().map(axum::http::HeaderValue::as_bytes),
        Some(&b"true"[..])
    );
    assert_eq!(again, first);

    c.bench_function("router/saved_tile_cache_hit", |b| {
        b.iter(|| black_box(get()));
    });
    assert_eq!(
        fake.runs.load(Ordering::SeqCst),
        1,
        "a measured request missed the cache"
    );
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, cache_hit);
criterion_main!(benches);
