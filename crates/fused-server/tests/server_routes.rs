//! The HTTP layer against a fake executor (no Python): auth, parameter validation before any
//! worker, metadata header, error statuses, tile and extension parsing, health, OpenAPI.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use fused_core::result::{CanonicalResult, Dtype};
use fused_server::executor::{
    ExecError, Executor, PoolStats, RunFuture, Task, TaskOutput, WorkerError,
};
use serde_json::{json, Value};

mod common;

/// Answers by the UDF's code: `json`, `raster`, `bytes`, `raise`, `param`, `crash`.
#[derive(Default)]
struct Fake {
    tasks: Mutex<Vec<Task>>,
    n: AtomicUsize,
}

impl Executor for Fake {
    fn run(&self, task: Task) -> RunFuture<'_> {
        self.n.fetch_add(1, Ordering::SeqCst);
        self.tasks.lock().unwrap().push(task.clone());
        Box::pin(async move {
            let code = task.udf.package().code.clone();
            let result = match code.as_str() {
                "json" => Ok(CanonicalResult::Json(
                    json!({"params": task.parameters, "tile": task.tile.map(|t| [t.x, t.y, u32::from(t.z)])}),
                )),
                "raster" => Ok(CanonicalResult::Raster {
                    data: vec![1, 2, 3, 4],
                    dtype: Dtype::U8,
                    shape: vec![2, 2],
                    bounds: None,
                }),
                "bytes" => Ok(CanonicalResult::Bytes {
                    data: b"<html></html>".to_vec(),
                    content_type: "text/html".into(),
                }),
                "raise" => Err(WorkerError {
                    kind: "runtime".into(),
                    exception_class: "ValueError".into(),
                    errormsg: "boom é".into(),
                    lineno: Some(4),
                    traceback: "Traceback ...".into(),
                    ..Default::default()
                }),
                "crash" => {
                    return Err(ExecError::WorkerCrash("worker 1 exited with code 1".into()))
                }
                other => panic!("unexpected code {other}"),
            };
            Ok(TaskOutput {
                result,
                stdout: "printed\n".into(),
                stderr: String::new(),
            })
        })
    }

    fn stats(&self) -> PoolStats {
        PoolStats {
            configured: 2,
            alive: 1,
            ..PoolStats::default()
        }
    }
}

type Server = common::Server<Fake>;

fn start() -> Server {
    common::start("routes", 0, &["other@example.com"])
}

fn body(code: &str, schema: Value, parameters: Value) -> Value {
    json!({"udf": {"name": "t", "code": code}, "schema": schema, "parameters": parameters})
}

#[test]
fn health_and_openapi() {
    let s = start();
    let r = s.get("/health", None);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["status"], "ok");
    assert_eq!(
        v["workers"],
        json!({"configured": 2, "alive": 1, "busy": 0, "queued": 0, "restarts": 0, "spares": 0})
    );
    let doc = s.get("/openapi.json", None).json();
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/api/v1/run/udf",
        "/api/v1/run/udf/tiles/{z}/{x}/{y}",
        "/api/v1/run/udf/saved/{email}/{name}",
        "/shared/{token}/run/tiles/{z}/{x}/{y}",
        "/oauth/device/code",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p}");
    }
}

#[test]
fn login_required() {
    let s = start();
    let r = s.post("/api/v1/run/udf", body("json", json!({}), json!({})), None);
    assert_eq!(r.status, 401);
    assert_eq!(r.meta()["error_type"], "unauthorized");
    let r = s.post(
        "/api/v1/run/udf",
        body("json", json!({}), json!({})),
        Some("wrong"),
    );
    assert_eq!(r.status, 401);
    // the one authentication: the same body and challenge on every run route
    assert_eq!(r.header("www-authenticate"), "Bearer");
    let v = r.json();
    assert_eq!(v["error_type"], "unauthorized");
    assert_eq!(v["error"], v["error_description"]);
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("invalid, expired or revoked"));
    assert_eq!(v["request_id"], r.meta()["request_id"]);
    assert_eq!(s.fake.n.load(Ordering::SeqCst), 0);
}

#[test]
fn file_run_validates_and_reports_ignored() {
    let s = start();
    let r = s.post(
        "/api/v1/run/udf?format=json",
        body(
            "json",
            json!({"n": "int", "xs": "list[int]"}),
            json!({"n": "3", "xs": [1, 2], "junk": 1}),
        ),
        Some(&s.key),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["params"], json!({"n": "3", "xs": [1, 2]}));
    let m = r.meta();
    assert_eq!(m["ignored_parameters"], json!(["junk"]));
    assert_eq!(m["stdout"], "printed\n");
    assert_eq!(m["has_exception"], false);
    assert!(m["request_id"].as_str().unwrap().contains('-'));
}

#[test]
fn bad_parameter_is_422_and_never_reaches_a_worker() {
    let s = start();
    let r = s.post(
        "/api/v1/run/udf",
        body("json", json!({"n": "int"}), json!({"n": "abc"})),
        Some(&s.key),
    );
    assert_eq!(r.status, 422);
    let v = r.json();
    assert_eq!(v["parameter"], "n");
    assert_eq!(v["expected"], "int");
    assert!(v["value"].as_str().unwrap().contains("abc"));
    assert!(v["error"].as_str().unwrap().contains("'n'"));
    assert_eq!(r.meta()["error_type"], "parameter");
    assert_eq!(s.fake.n.load(Ordering::SeqCst), 0);
}

#[test]
fn udf_exception_is_422_with_metadata() {
    let s = start();
    let r = s.post(
        "/api/v1/run/udf",
        body("raise", json!({}), json!({})),
        Some(&s.key),
    );
    assert_eq!(r.status, 422);
    let m = r.meta();
    assert_eq!(m["has_exception"], true);
    assert_eq!(m["exception_class"], "ValueError");
    assert_eq!(m["errormsg"], "boom é");
    assert_eq!(m["lineno"], 4);
    assert_eq!(m["error_type"], "udf_exception");
    assert_eq!(r.json()["traceback"], "Traceback ...");
}

#[test]
fn worker_crash_is_502() {
    let s = start();
    let r = s.post(
        "/api/v1/run/udf",
        body("crash", json!({}), json!({})),
        Some(&s.key),
    );
    assert_eq!(r.status, 502);
    assert_eq!(r.meta()["error_type"], "worker_crash");
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("exited with code 1"));
}

#[test]
fn tiles_are_validated_and_passed_on() {
    let s = start();
    let r = s.post(
        "/api/v1/run/udf/tiles/3/2/5?format=json",
        body("json", json!({}), json!({})),
        Some(&s.key),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["tile"], json!([2, 5, 3]));
    let r = s.post(
        "/api/v1/run/udf/tiles/3/8/5",
        body("json", json!({}), json!({})),
        Some(&s.key),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"].as_str().unwrap().contains("tile x"),
        "{}",
        r.body
    );
    // Outside the grid (the catalog CI's x=1, y=2, z=1): fused.run extrapolates it, a tile
    // endpoint refuses it (a map client never asks for it).
    let r = s.post(
        "/api/v1/run/udf/tiles/1/1/2",
        body("json", json!({}), json!({})),
        Some(&s.key),
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("tile y"), "{}", r.body);
    let r = s.post(
        "/api/v1/run/udf/tiles/31/0/0",
        body("json", json!({}), json!({})),
        Some(&s.key),
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("tile z"), "{}", r.body);
    assert_eq!(s.fake.n.load(Ordering::SeqCst), 1);
}

#[test]
fn impossible_format_is_400() {
    let s = start();
    let r = s.post(
        "/api/v1/run/udf?format=png",
        body("json", json!({}), json!({})),
        Some(&s.key),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.meta()["error_type"], "unsupported_format");
}

#[test]
fn bytes_keep_their_content_type() {
    let s = start();
    let r = s.post(
        "/api/v1/run/udf",
        body("bytes", json!({}), json!({})),
        Some(&s.key),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["content-type"], "text/html");
    assert_eq!(r.body, "<html></html>");
}

#[test]
fn malformed_body_is_400() {
    let s = start();
    let r = s.post("/api/v1/run/udf", json!({"code": "x"}), Some(&s.key));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("invalid request body"), "{}", r.body);
}

#[test]
fn saved_and_shared_unknown_are_404_with_cors() {
    let s = start();
    let r = s.get("/api/v1/run/udf/saved/me@example.com/nothing", Some(&s.key));
    assert_eq!(r.status, 404);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    // another user's namespace: 404, not 403
    let r = s.get(
        "/api/v1/run/udf/saved/other@example.com/x.parquet",
        Some(&s.key),
    );
    assert_eq!(r.status, 404);
    let r = s.get("/api/v1/run/udf/saved/me@example.com/x", None);
    assert_eq!(r.status, 401);
    let r = s.get("/shared/nope/run/file.parquet", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    let r = s.get("/shared/nope/run/tiles/1/0/0.mvt", None);
    assert_eq!(r.status, 404);
    let r = s.get("/shared/nope/run/tiles/1/2/0.mvt", None);
    assert_eq!(r.status, 400);
    let r = s.get("/shared/nope/run/other", None);
    assert_eq!(r.status, 404);
}
