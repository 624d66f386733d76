//! `/api/v1/jobs`: one UDF over many tasks, run by the server (see [`crate::jobs`]).
//! Bearer login; a job belongs to its owner (anyone else gets 404).
//!
//! * `POST /api/v1/jobs` → 201 `{"id", "state", "n_tasks", "ignored_parameters"}`. Body:
//!   ```text
//!   {"udf": <package>, "schema"?: {name: spec}      shipped code, or
//!    "saved": "name" | "email/name"                 one of your saved UDFs;
//!    "tasks": [{"parameters"?: {name: value}, "tile"?: [x, y, z]}, ...],
//!    "parameters"?: {name: value}                   fixed, under each task's own;
//!    "max_retry"?: 2, "cache"?: true, "cache_max_age"?: "1h" | seconds,
//!    "timeout"?: seconds per attempt (at most the server's --max-timeout)}
//!   ```
//!   Every task is checked against the UDF's schema before anything runs: a bad value is a
//!   422 `{"error", "error_type": "parameter", "index", "parameter", "expected", "value"}`
//!   (`index` null for a fixed parameter).
//! * `GET /api/v1/jobs` → `{"jobs": [{"id", "state", "n_tasks", "counts", ...}]}`, newest
//!   first (`?limit=`, default 100).
//! * `GET /api/v1/jobs/{id}` → `{"id", "state", "n_tasks", "counts": {"pending", "running",
//!   "ok", "error", "cancelled"}, "created_at", "finished_at", "udf", "tasks": [{"index",
//!   "state", "attempts", "started_at", "finished_at", "error", "cached"}]}`; tasks are paged
//!   with `?offset=&limit=` (default 1000, at most 10000) and filtered with `?state=`.
//! * `GET /api/v1/jobs/{id}/results` → `application/vnd.fused.job-records`: the result
//!   records of finished tasks in the order they finished, streamed as they finish until the
//!   job is over (`?follow=false`: only what is finished now). Each record is
//!   `u32 LE header length, header JSON, u64 LE payload length, payload`; the header is
//!   `{"index", "status": "ok"|"error", "kind": "table"|"raster"|"json"|"bytes"|null,
//!   "attempts", "cached", "metadata": {"stdout", "stderr", "dtype", "shape", "bounds",
//!   "content_type", "error"}}` and the payload the canonical result (Arrow IPC stream, raw
//!   array bytes, JSON text, bytes; empty for an error). See `jobs/spool.rs`.
//! * `DELETE /api/v1/jobs/{id}` → the job's status after cancelling it (pending tasks never
//!   run, running ones are interrupted; a job already over is left as it is).
//!
//! Every task runs through the run result cache with the key a single run would use, so a
//! second job over the same tasks only computes what is missing or failed.

mod stream;
mod task;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use fused_core::package::UdfPackage;
use fused_core::runcache::{key, DEFAULT_MAX_AGE};
use fused_core::tiles::Tile;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::access::{authenticate, own_udf};
use super::observe::RequestId;
use super::params::{self, option_text, OutputChoice, ParamError};
use super::response::RunResponse;
use super::AppState;
use crate::jobs::model::{JobSpec, TaskArgs};
use crate::jobs::{Jobs, RunTask};
use crate::registry::jobs::JobRow;
use crate::registry::User;

pub use stream::results;

/// Most tasks in one job.
pub const MAX_TASKS: usize = 1_000_000;
/// Most retries per task a job may ask for.
const MAX_RETRY_LIMIT: u64 = 100;
/// The content type of the results stream.
pub const RECORDS_CONTENT_TYPE: &str = "application/vnd.fused.job-records";

/// Start the jobs of `state` (spool in `dir`, `slots` concurrent tasks), resuming the
/// unfinished ones; each task runs through `state`'s cache and executor.
pub fn start(
    state: &AppState,
    dir: std::path::PathBuf,
    slots: usize,
) -> std::io::Result<Arc<Jobs>> {
    let runner_state = state.clone();
    let run: RunTask = Arc::new(move |spec, task| {
        let state = runner_state.clone();
        Box::pin(async move { task::run_task(&state, &spec, task).await })
    });
    Jobs::start(state.registry.clone(), dir, slots, run)
}

// -- errors: the one place a job failure becomes an HTTP answer ---------------------------

/// An error answer: `{"error": message, "error_type", "request_id", ...extra}`.
fn error(status: StatusCode, rid: &str, error_type: &str, message: &str, extra: Value) -> Response {
    let mut resp = RunResponse::simple(status, rid, error_type, message);
    if let Value::Object(extra) = extra {
        let mut body: Map<String, Value> = serde_json::from_slice(&resp.body).unwrap_or_default();
        body.extend(extra);
        resp.body = serde_json::to_vec(&body).unwrap_or_default();
    }
    resp.into_response()
}

fn bad_request(rid: &str, message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        rid,
        "bad_request",
        message,
        Value::Null,
    )
}

fn invalid(rid: &str, parameter: &str, expected: &str, value: &str) -> Response {
    let message = format!("invalid {parameter}: expected {expected}, got {value}");
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        rid,
        "parameter",
        &message,
        json!({"index": null, "parameter": parameter, "expected": expected, "value": value}),
    )
}

fn not_found(rid: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        rid,
        "not_found",
        &format!("no job {id:?}"),
        Value::Null,
    )
}

fn internal(rid: &str, what: &str) -> Response {
    tracing::error!(request_id = rid, "jobs: {what}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        rid,
        "registry_error",
        "the job store failed; see the server log",
        Value::Null,
    )
}

/// Run `f` on the blocking pool; its failure is a 500.
async fn blocking<T: Send + 'static>(
    rid: &str,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(internal(rid, &e)),
        Err(e) => Err(internal(rid, &e.to_string())),
    }
}

fn jobs_of(state: &AppState, rid: &str) -> Result<Arc<Jobs>, Response> {
    state.jobs.clone().ok_or_else(|| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            rid,
            "jobs_unavailable",
            "this server runs no jobs",
            Value::Null,
        )
    })
}

// -- submission ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    #[serde(default)]
    udf: Option<UdfPackage>,
    #[serde(default)]
    schema: Option<BTreeMap<String, String>>,
    #[serde(default)]
    saved: Option<String>,
    tasks: Vec<Value>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(default)]
    max_retry: Option<Value>,
    #[serde(default)]
    cache: Option<Value>,
    #[serde(default)]
    cache_max_age: Option<Value>,
    #[serde(default)]
    timeout: Option<Value>,
}

/// The UDF a job runs: package JSON, schema, cache namespace, and its saved name.
async fn job_udf(
    state: &AppState,
    user: &User,
    body: &mut SubmitBody,
    rid: &str,
) -> Result<
    (
        Value,
        Option<BTreeMap<String, String>>,
        String,
        Option<String>,
    ),
    Response,
> {
    match (body.udf.take(), body.saved.take()) {
        (Some(pkg), None) => {
            let udf = serde_json::to_value(&pkg)
                .map_err(|e| bad_request(rid, &format!("invalid udf: {e}")))?;
            let ns = key::code_namespace(&udf);
            Ok((udf, body.schema.take(), ns, None))
        }
        (None, Some(saved)) => {
            let (email, name) = match saved.split_once('/') {
                Some((e, n)) => (e.to_string(), n.to_string()),
                None => (user.email.clone(), saved.clone()),
            };
            let found = own_udf(state, user, &email, &name, rid)
                .await
                .map_err(IntoResponse::into_response)?;
            let udf = serde_json::to_value(&found.package)
                .map_err(|e| internal(rid, &format!("saved UDF does not serialize: {e}")))?;
            let ns = key::saved_namespace(&found.owner_email, &found.name);
            Ok((
                udf,
                Some(found.schema),
                ns,
                Some(format!("{}/{}", found.owner_email, found.name)),
            ))
        }
        _ => Err(bad_request(
            rid,
            "a job runs either shipped code (\"udf\") or a saved UDF (\"saved\"), exactly one",
        )),
    }
}

/// One task of the body, checked: its parameters validated (with the fixed ones) against
/// the schema, its tile in the grid. A 422 names the index, the parameter, the expected
/// type and the value.
fn check_task(
    i: usize,
    raw: Value,
    schema: Option<&BTreeMap<String, String>>,
    fixed: &Map<String, Value>,
    ignored: &mut Vec<String>,
    rid: &str,
) -> Result<TaskArgs, Response> {
    let fail = |parameter: &str, expected: &str, value: &str, message: &str| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            rid,
            "parameter",
            &format!("task {i}: {message}"),
            json!({"index": i, "parameter": parameter, "expected": expected, "value": value}),
        )
    };
    let Value::Object(mut obj) = raw else {
        let v = raw.to_string();
        return Err(fail(
            "",
            "an object {\"parameters\": {..}, \"tile\": [x, y, z]}",
            &v,
            "not an object",
        ));
    };
    let tile = match obj.remove("tile") {
        None | Some(Value::Null) => None,
        Some(t) => {
            let xyz: Option<Vec<i64>> = t
                .as_array()
                .filter(|a| a.len() == 3)
                .and_then(|a| a.iter().map(Value::as_i64).collect());
            let Some(xyz) = xyz else {
                let v = t.to_string();
                return Err(fail(
                    "tile",
                    "[x, y, z] integers",
                    &v,
                    &format!("invalid tile {v}"),
                ));
            };
            match Tile::new(xyz[0], xyz[1], xyz[2]) {
                Ok(t) => Some([t.x, t.y, u32::from(t.z)]),
                Err(e) => {
                    let v = format!("{xyz:?}");
                    return Err(fail("tile", "a tile in the grid", &v, &e.to_string()));
                }
            }
        }
    };
    let own = match obj.remove("parameters") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            let v = other.to_string();
            return Err(fail(
                "parameters",
                "an object",
                &v,
                "parameters is not an object",
            ));
        }
    };
    if let Some(extra) = obj.keys().next() {
        let msg = format!("unknown field {extra:?} (expected \"parameters\" and \"tile\")");
        return Err(fail(extra, "\"parameters\" or \"tile\"", extra, &msg));
    }
    let mut all = fixed.clone();
    all.extend(own.clone());
    match params::validate(schema, all.into_iter().collect()) {
        Ok(v) => {
            for name in v.ignored {
                if !ignored.contains(&name) {
                    ignored.push(name);
                }
            }
            let parameters = own
                .into_iter()
                .filter(|(k, _)| v.parameters.contains_key(k))
                .collect();
            Ok(TaskArgs { parameters, tile })
        }
        Err(ParamError::Schema(msg)) => Err(error(
            StatusCode::BAD_REQUEST,
            rid,
            "bad_schema",
            &msg,
            Value::Null,
        )),
        Err(ParamError::Value {
            message,
            parameter,
            expected,
            value,
        }) => Err(fail(&parameter, &expected, &value, &message)),
    }
}

/// Options of the body: (max_retry, cache lifetime, timeout ms).
fn options(
    state: &AppState,
    body: &mut SubmitBody,
    udf: &Value,
    rid: &str,
) -> Result<(u32, Option<u64>, u64), Response> {
    let max_retry = match body.max_retry.take() {
        None | Some(Value::Null) => 2,
        Some(v) => match v.as_u64().filter(|n| *n <= MAX_RETRY_LIMIT) {
            Some(n) => u32::try_from(n).unwrap_or(2),
            None => {
                let expected = format!("an integer 0..={MAX_RETRY_LIMIT}");
                return Err(invalid(rid, "max_retry", &expected, &v.to_string()));
            }
        },
    };
    let out = OutputChoice {
        cache: option_text(body.cache.take()),
        cache_max_age: option_text(body.cache_max_age.take()),
        ..OutputChoice::default()
    };
    let lifetime = params::cache_lifetime(&out, udf.get("metadata"), DEFAULT_MAX_AGE)
        .map_err(|(p, e, v)| invalid(rid, &p, &e, &v))?;
    let limits = state.limits;
    let timeout = match option_text(body.timeout.take()) {
        None => limits.default_timeout,
        Some(raw) => {
            let max = limits.max_timeout.as_secs_f64();
            let expected = format!("a positive number of seconds, at most {max}");
            match crate::config::positive_seconds(&raw) {
                Some(s) if s <= max => Duration::from_secs_f64(s),
                _ => return Err(invalid(rid, "timeout", &expected, &raw)),
            }
        }
    };
    let ms = u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    Ok((max_retry, lifetime, ms))
}

pub async fn submit(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match authenticate(&state, &headers, &rid).await {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let jobs = match jobs_of(&state, &rid) {
        Ok(j) => j,
        Err(r) => return r,
    };
    let mut body: SubmitBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return bad_request(
                &rid,
                &format!("invalid request body: expected JSON {{\"udf\" or \"saved\", \"tasks\": [..]}}: {e}"),
            )
        }
    };
    if body.tasks.is_empty() || body.tasks.len() > MAX_TASKS {
        let n = body.tasks.len();
        return invalid(
            &rid,
            "tasks",
            &format!("1 to {MAX_TASKS} tasks"),
            &n.to_string(),
        );
    }
    let (udf, schema, namespace, saved) = match job_udf(&state, &user, &mut body, &rid).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let (max_retry, cache_max_age, timeout_ms) = match options(&state, &mut body, &udf, &rid) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let given_fixed: Vec<(String, Value)> = body
        .parameters
        .take()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let fixed = match params::validate(schema.as_ref(), given_fixed) {
        Ok(v) => v.parameters,
        Err(ParamError::Schema(msg)) => {
            return error(
                StatusCode::BAD_REQUEST,
                &rid,
                "bad_schema",
                &msg,
                Value::Null,
            )
        }
        Err(ParamError::Value {
            message,
            parameter,
            expected,
            value,
        }) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &rid,
                "parameter",
                &message,
                json!({"index": null, "parameter": parameter, "expected": expected, "value": value}),
            )
        }
    };
    let mut ignored = Vec::new();
    let mut tasks = Vec::with_capacity(body.tasks.len());
    for (i, raw) in std::mem::take(&mut body.tasks).into_iter().enumerate() {
        match check_task(i, raw, schema.as_ref(), &fixed, &mut ignored, &rid) {
            Ok(t) => tasks.push(t),
            Err(r) => return r,
        }
    }
    let spec = JobSpec {
        udf,
        saved,
        namespace,
        fixed,
        max_retry,
        cache_max_age,
        timeout_ms,
    };
    let id = match crate::registry::new_secret("job_") {
        Ok(s) => s[..28].to_string(),
        Err(e) => return internal(&rid, &e.to_string()),
    };
    let n = tasks.len();
    let (job_id, owner) = (id.clone(), user.id);
    if let Err(r) = blocking(&rid, move || jobs.submit(&job_id, owner, spec, &tasks)).await {
        return r;
    }
    tracing::info!(
        request_id = rid,
        job = id,
        tasks = n,
        user = user.email,
        "job submitted"
    );
    let answer = json!({"id": id, "state": "running", "n_tasks": n, "ignored_parameters": ignored});
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

// -- status, listing, cancelling -----------------------------------------------------------

/// The caller's job `id`, or a 404 (missing, or someone else's).
async fn own_job(state: &AppState, user: &User, id: &str, rid: &str) -> Result<JobRow, Response> {
    let registry = state.registry.clone();
    let key = id.to_string();
    let row = blocking(rid, move || {
        registry.get_job(&key).map_err(|e| e.to_string())
    })
    .await?;
    match row {
        Some(j) if j.owner_id == user.id => Ok(j),
        _ => Err(not_found(rid, id)),
    }
}

fn all_counts(counts: &BTreeMap<String, i64>) -> Value {
    let mut out = Map::new();
    for s in ["pending", "running", "ok", "error", "cancelled"] {
        out.insert(s.into(), json!(counts.get(s).copied().unwrap_or(0)));
    }
    Value::Object(out)
}

fn query_int(
    query: &[(String, String)],
    name: &str,
    default: i64,
    max: i64,
    rid: &str,
) -> Result<i64, Response> {
    match query.iter().rev().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) => match v.parse::<i64>() {
            Ok(n) if (0..=max).contains(&n) => Ok(n),
            _ => Err(invalid(rid, name, &format!("an integer 0..={max}"), v)),
        },
    }
}

async fn status_body(
    state: &AppState,
    job: JobRow,
    query: &[(String, String)],
    rid: &str,
) -> Result<Value, Response> {
    let offset = query_int(query, "offset", 0, i64::MAX, rid)?;
    let limit = query_int(query, "limit", 1000, 10_000, rid)?;
    let filter = query
        .iter()
        .rev()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.clone());
    if let Some(s) = &filter {
        if !["pending", "running", "ok", "error", "cancelled"].contains(&s.as_str()) {
            return Err(invalid(
                rid,
                "state",
                "pending, running, ok, error or cancelled",
                s,
            ));
        }
    }
    let registry = state.registry.clone();
    let id = job.id.clone();
    let (counts, tasks) = blocking(rid, move || {
        let counts = registry.job_counts(&id).map_err(|e| e.to_string())?;
        let tasks = registry
            .job_tasks(&id, offset, limit, filter.as_deref())
            .map_err(|e| e.to_string())?;
        Ok((counts, tasks))
    })
    .await?;
    let udf = serde_json::from_str::<Value>(&job.spec)
        .ok()
        .and_then(|s| s.get("saved").cloned())
        .unwrap_or(Value::Null);
    Ok(json!({
        "id": job.id,
        "state": job.state,
        "n_tasks": job.n_tasks,
        "counts": all_counts(&counts),
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "udf": udf,
        "offset": offset,
        "limit": limit,
        "tasks": tasks,
    }))
}

pub async fn status(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let user = match authenticate(&state, &headers, &rid).await {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let job = match own_job(&state, &user, &id, &rid).await {
        Ok(j) => j,
        Err(r) => return r,
    };
    match status_body(&state, job, &query, &rid).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => r,
    }
}

pub async fn list(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let user = match authenticate(&state, &headers, &rid).await {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let limit = match query_int(&query, "limit", 100, 10_000, &rid) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let registry = state.registry.clone();
    let listed = blocking(&rid, move || {
        let rows = registry
            .list_jobs(user.id, limit)
            .map_err(|e| e.to_string())?;
        rows.into_iter()
            .map(|j| {
                let counts = registry.job_counts(&j.id).map_err(|e| e.to_string())?;
                let mut v = serde_json::to_value(&j).map_err(|e| e.to_string())?;
                v["counts"] = all_counts(&counts);
                Ok(v)
            })
            .collect::<Result<Vec<Value>, String>>()
    })
    .await;
    match listed {
        Ok(jobs) => axum::Json(json!({ "jobs": jobs })).into_response(),
        Err(r) => r,
    }
}

pub async fn cancel(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let user = match authenticate(&state, &headers, &rid).await {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let jobs = match jobs_of(&state, &rid) {
        Ok(j) => j,
        Err(r) => return r,
    };
    if let Err(r) = own_job(&state, &user, &id, &rid).await {
        return r;
    }
    if jobs.cancel(&id) {
        tracing::info!(request_id = rid, job = id, "job cancelled");
        // the writer marks it cancelled; wait for that so the answer shows it
        if let Some(mut p) = jobs.progress(&id) {
            let _ = tokio::time::timeout(Duration::from_secs(5), p.wait_for(|p| p.finished)).await;
        }
    }
    let job = match own_job(&state, &user, &id, &rid).await {
        Ok(j) => j,
        Err(r) => return r,
    };
    match status_body(&state, job, &[("limit".into(), "0".into())], &rid).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => r,
    }
}
