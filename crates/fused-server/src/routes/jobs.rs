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
mod submit;
mod task;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::observe::RequestId;
use super::AppState;
use crate::auth::AuthUser;
use crate::error::{ErrorCode, HttpError};
use crate::jobs::runner::ExecutorLoad;
use crate::jobs::{Jobs, RunTask};
use crate::registry::jobs::JobRow;
use crate::registry::User;

pub use stream::results;
pub use submit::submit;

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
    let executor = state.executor.clone();
    let load: ExecutorLoad = Arc::new(move || {
        let stats = executor.stats();
        stats.busy + stats.queued
    });
    Jobs::start(state.registry.clone(), dir, slots, run, load)
}

/// The jobs endpoints in the OpenAPI document.
pub fn openapi_paths() -> Value {
    let bearer = json!([{"bearer": []}]);
    let id = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
    let q = |name: &str, ty: &str| json!({"name": name, "in": "query", "schema": {"type": ty}});
    let common = |ok: &str| {
        json!({"200": {"description": ok}, "401": {"description": "missing or invalid login"},
               "404": {"description": "unknown job, or another user's"}})
    };
    let submit_body = json!({"required": true, "content": {"application/json": {"schema": {
        "type": "object", "required": ["tasks"],
        "properties": {
            "udf": {"$ref": "#/components/schemas/UdfPackage"},
            "schema": {"type": "object", "additionalProperties": {"type": "string"}},
            "saved": {"type": "string", "description": "name or email/name of a saved UDF"},
            "tasks": {"type": "array", "items": {"type": "object", "properties": {
                "parameters": {"type": "object"},
                "tile": {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 3}}}},
            "parameters": {"type": "object"},
            "max_retry": {"type": "integer", "default": 2},
            "cache": {"type": "boolean"},
            "cache_max_age": {"type": ["string", "integer"]},
            "timeout": {"type": "number"}}}}}});
    json!({
        "/api/v1/jobs": {
            "post": {"summary": "start a job: one UDF over many tasks (parameters or tiles)", "security": bearer,
                     "requestBody": submit_body,
                     "responses": {"201": {"description": "{\"id\", \"state\", \"n_tasks\", \"ignored_parameters\"}"},
                                   "401": {"description": "missing or invalid login"},
                                   "422": {"description": "a task (index), fixed parameter or option is invalid; nothing runs"}}},
            "get": {"summary": "the caller's jobs, newest first", "security": bearer,
                    "parameters": [q("limit", "integer")], "responses": common("{\"jobs\": [...]}")}},
        "/api/v1/jobs/{id}": {
            "get": {"summary": "a job's state, counts and tasks", "security": bearer,
                    "parameters": [id[0], q("offset", "integer"), q("limit", "integer"), q("state", "string")],
                    "responses": common("job status")},
            "delete": {"summary": "cancel a job", "security": bearer, "parameters": id, "responses": common("job status")}},
        "/api/v1/jobs/{id}/results": {
            "get": {"summary": "results of finished tasks, streamed as framed records (application/vnd.fused.job-records)",
                    "security": bearer, "parameters": [id[0], q("follow", "boolean")], "responses": common("record stream")}},
    })
}

// -- errors: the one place a job failure becomes an HTTP answer ---------------------------

/// 400: the UDF's schema has a spec that does not parse.
pub(super) fn bad_schema(message: String) -> HttpError {
    HttpError::new(StatusCode::BAD_REQUEST, ErrorCode::BadSchema, message)
}

/// 422 `{"index", "parameter", "expected", "value"}` (`index`: the task, `None` for a fixed
/// parameter or an option).
pub(super) fn invalid_value(
    index: Option<usize>,
    parameter: &str,
    expected: &str,
    value: &str,
    message: String,
) -> HttpError {
    let mut e = HttpError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Parameter,
        message,
    );
    e.extra.insert("index".into(), json!(index));
    e.extra.insert("parameter".into(), parameter.into());
    e.extra.insert("expected".into(), expected.into());
    e.extra.insert("value".into(), value.into());
    e
}

/// An invalid option or fixed value (no task index).
pub(super) fn invalid_option(parameter: &str, expected: &str, value: &str) -> HttpError {
    let message = format!("invalid {parameter}: expected {expected}, got {value}");
    invalid_value(None, parameter, expected, value, message)
}

/// 404: no such job, or someone else's.
fn job_not_found(id: &str) -> HttpError {
    HttpError::not_found(format!("no job {id:?}"))
}

/// 503: the server was started without jobs.
fn unavailable() -> HttpError {
    HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ExecutorUnavailable,
        "this server runs no jobs",
    )
}

/// 500: the registry or the spool failed (logged; the answer says no more).
pub(super) fn internal(what: impl std::fmt::Display) -> HttpError {
    tracing::error!("jobs: {what}");
    HttpError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::RegistryError,
        "the job store failed; see the server log",
    )
}

/// A handler's outcome as a response.
fn answer(r: Result<Response, HttpError>, rid: &str) -> Response {
    r.unwrap_or_else(|e| e.for_request(rid).into_response())
}

// -- shared helpers -----------------------------------------------------------------------

/// Run `f` on the blocking pool; its failure is a 500.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, HttpError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(internal),
        Err(e) => Err(internal(e.to_string())),
    }
}

fn jobs_of(state: &AppState) -> Result<Arc<Jobs>, HttpError> {
    state.jobs.clone().ok_or(unavailable())
}

/// The caller's job `id`, or a 404 (missing, or someone else's).
async fn own_job(state: &AppState, user: &User, id: &str) -> Result<JobRow, HttpError> {
    let registry = state.registry.clone();
    let key = id.to_string();
    let row = blocking(move || registry.get_job(&key).map_err(|e| e.to_string())).await?;
    match row {
        Some(j) if j.owner_id == user.id => Ok(j),
        _ => Err(job_not_found(id)),
    }
}

/// The last value of query parameter `name`.
fn query_value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn query_int(
    query: &[(String, String)],
    name: &str,
    default: i64,
    max: i64,
) -> Result<i64, HttpError> {
    match query_value(query, name) {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (0..=max).contains(&n) => Ok(n),
            _ => Err(invalid_option(name, &format!("an integer 0..={max}"), v)),
        },
    }
}

const TASK_STATES: [&str; 5] = ["pending", "running", "ok", "error", "cancelled"];

fn all_counts(counts: &BTreeMap<String, i64>) -> Value {
    let mut out = Map::new();
    for s in TASK_STATES {
        out.insert(s.into(), json!(counts.get(s).copied().unwrap_or(0)));
    }
    Value::Object(out)
}

// -- status, listing, cancelling -----------------------------------------------------------

async fn status_body(
    state: &AppState,
    job: JobRow,
    query: &[(String, String)],
) -> Result<Value, HttpError> {
    let offset = query_int(query, "offset", 0, i64::MAX)?;
    let limit = query_int(query, "limit", 1000, 10_000)?;
    let filter = query_value(query, "state").map(str::to_string);
    if let Some(s) = &filter {
        if !TASK_STATES.contains(&s.as_str()) {
            let expected = "pending, running, ok, error or cancelled";
            return Err(invalid_option("state", expected, s));
        }
    }
    let registry = state.registry.clone();
    let id = job.id.clone();
    let (counts, tasks) = blocking(move || {
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
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let run = async {
        let job = own_job(&state, &user, &id).await?;
        Ok(axum::Json(status_body(&state, job, &query).await?).into_response())
    };
    answer(run.await, &rid)
}

pub async fn list(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    AuthUser(user): AuthUser,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let run = async {
        let limit = query_int(&query, "limit", 100, 10_000)?;
        let registry = state.registry.clone();
        let jobs = blocking(move || {
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
        .await?;
        Ok(axum::Json(json!({ "jobs": jobs })).into_response())
    };
    answer(run.await, &rid)
}

pub async fn cancel(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Response {
    let run = async {
        let jobs = jobs_of(&state)?;
        own_job(&state, &user, &id).await?;
        if jobs.cancel(&id) {
            tracing::info!(request_id = rid, job = id, "job cancelled");
            // the writer marks it cancelled; wait for that so the answer shows it
            if let Some(mut p) = jobs.progress(&id) {
                let wait = p.wait_for(|p| p.finished);
                let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
            }
        }
        let job = own_job(&state, &user, &id).await?;
        let no_tasks = [("limit".to_string(), "0".to_string())];
        Ok(axum::Json(status_body(&state, job, &no_tasks).await?).into_response())
    };
    answer(run.await, &rid)
}
