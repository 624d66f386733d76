//! `GET /metrics` and the request id middleware against a fake executor (no Python): the
//! counters move with requests, the pool and cache figures come from their stats, and the id
//! in `x-fused-metadata` is the one in `x-request-id`.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test
#![allow(clippy::float_cmp)] // the samples compared are whole counts, exact in an f64

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use fused_core::result::CanonicalResult;
use fused_server::executor::{Executor, PoolStats, RunFuture, Task, TaskOutput};
use serde_json::{json, Value};

mod common;

/// Answers every task with `{"n": <its parameter n>}` and counts the runs.
#[derive(Default)]
struct Fake {
    runs: AtomicUsize,
}

impl Executor for Fake {
    fn run(&self, task: Task) -> RunFuture<'_> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            Ok(TaskOutput {
                result: Ok(CanonicalResult::Json(json!({"n": task.parameters["n"]}))),
                stdout: String::new(),
                stderr: String::new(),
            })
        })
    }

    fn stats(&self) -> PoolStats {
        PoolStats {
            configured: 4,
            alive: 3,
            busy: 2,
            queued: 5,
            restarts: 7,
            spares: 0,
        }
    }
}

type Server = common::Server<Fake>;

fn start() -> Server {
    common::start("metrics", 1 << 20, &[])
}

fn run(s: &Server, n: i64) -> common::Reply {
    let body = json!({
        "udf": {"name": "t", "code": "json"},
        "schema": {"n": "int"},
        "parameters": {"n": n},
    });
    s.post("/api/v1/run/udf", body, Some(&s.key))
}

/// The samples of `/metrics`: `name{labels}` -> value.
fn metrics(s: &Server) -> BTreeMap<String, f64> {
    let r = s.get("/metrics", None);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    r.body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn request_counts_by_status_and_duration_histogram() {
    let s = start();
    assert_eq!(s.get("/health", None).status, 200);
    assert_eq!(s.get("/health", None).status, 200);
    let missing = s.get("/no/such/route", None);
    assert_eq!(missing.status, 404);
    let m = metrics(&s);
    assert_eq!(m["fused_requests_total{status=\"200\"}"], 2.0);
    assert_eq!(m["fused_requests_total{status=\"404\"}"], 1.0);
    assert_eq!(m["fused_request_duration_seconds_count"], 3.0);
    assert_eq!(m["fused_request_duration_seconds_bucket{le=\"+Inf\"}"], 3.0);
    assert_eq!(m["fused_request_duration_seconds_bucket{le=\"120\"}"], 3.0);
    assert!(m["fused_request_duration_seconds_sum"] > 0.0);
    assert!(m["fused_request_duration_seconds_sum"] < 10.0);
    // The first scrape is counted once it is answered.
    let m = metrics(&s);
    assert_eq!(m["fused_requests_total{status=\"200\"}"], 3.0);
    assert_eq!(m["fused_request_duration_seconds_count"], 4.0);
}

#[test]
fn pool_and_cache_figures() {
    let s = start();
    let m = metrics(&s);
    assert_eq!(m["fused_queue_depth"], 5.0);
    assert_eq!(m["fused_workers_configured"], 4.0);
    assert_eq!(m["fused_workers_alive"], 3.0);
    assert_eq!(m["fused_workers_busy"], 2.0);
    assert_eq!(m["fused_worker_restarts_total"], 7.0);
    assert_eq!(m["fused_cache_hits_total"], 0.0);
    assert_eq!(m["fused_cache_misses_total"], 0.0);
    assert_eq!(m["fused_cache_bytes"], 0.0);
    assert!(!m.keys().any(|k| k.starts_with("fused_requests_total")));

    let first = run(&s, 3);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("x-fused-cached"), "false");
    let again = run(&s, 3);
    assert_eq!(again.header("x-fused-cached"), "true");
    assert_eq!(again.body, first.body);
    assert_eq!(s.fake.runs.load(Ordering::SeqCst), 1);
    let m = metrics(&s);
    assert_eq!(m["fused_cache_hits_total"], 1.0);
    assert_eq!(m["fused_cache_misses_total"], 1.0);
    assert!(m["fused_cache_bytes"] > 0.0);
    assert_eq!(m["fused_cache_entries"], 1.0);
    // The first scrape and the two runs.
    assert_eq!(m["fused_requests_total{status=\"200\"}"], 3.0);
}

#[test]
fn one_request_id_per_request_in_metadata_and_header() {
    let s = start();
    let a = run(&s, 1);
    let b = run(&s, 2);
    let (id_a, id_b) = (a.header("x-request-id"), b.header("x-request-id"));
    assert_eq!(a.meta()["request_id"], id_a.as_str());
    assert_eq!(b.meta()["request_id"], id_b.as_str());
    assert_ne!(id_a, id_b);
    // `<start, hex>-<counter>`: consecutive requests, same server run.
    let (start_a, n_a) = id_a.rsplit_once('-').unwrap();
    let (start_b, n_b) = id_b.rsplit_once('-').unwrap();
    assert_eq!(start_a, start_b);
    assert_eq!(n_b.parse::<u64>().unwrap(), n_a.parse::<u64>().unwrap() + 1);

    // Errors from every kind of run endpoint carry the same id as the header.
    for (path, status) in [
        ("/shared/nope/run/file.json", 404),
        ("/shared/nope/run/tiles/1/9/0.mvt", 400),
        ("/api/v1/run/udf/saved/me@example.com/x", 401),
    ] {
        let r = s.get(path, None);
        assert_eq!(r.status, status, "{path}");
        let id = r.header("x-request-id");
        assert_eq!(r.meta()["request_id"], id.as_str(), "{path}");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["request_id"], id.as_str(), "{path}");
    }
    // Routes without metadata (health, the registry API) still get an id.
    let doc: Value = serde_json::from_str(&s.get("/openapi.json", None).body).unwrap();
    assert!(doc["paths"]["/metrics"]["get"].is_object());
    let h = s.get("/health", None).header("x-request-id");
    let me = s.get("/api/v1/me", None).header("x-request-id");
    assert_ne!(h, me);
}
