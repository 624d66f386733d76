//! `POST /api/v1/jobs`: the body checked whole before anything is stored or run: the UDF
//! (shipped or saved), every task's parameters against its schema (with fused-core's
//! rules, as a single run checks them), tiles, and the options against the server's limits.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fused_core::package::UdfPackage;
use fused_core::runcache::{key, DEFAULT_MAX_AGE};
use fused_core::tiles::Tile;
use std::cell::RefCell;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::super::access::own_udf;
use super::super::observe::RequestId;
use super::super::params::{self, option_text, OutputChoice, ParamError};
use super::super::AppState;
use super::{answer, blocking, jobs_of};
use crate::auth::AuthUser;
use crate::error::HttpError;
use crate::jobs::model::{JobSpec, TaskArgs};
use crate::prepared::{ParamSpec, PreparedUdf};
use crate::registry::User;
use std::sync::Arc;

/// Most tasks in one job.
pub const MAX_TASKS: usize = 1_000_000;
/// Most retries per task a job may ask for.
const MAX_RETRY_LIMIT: u64 = 100;

/// A JSON object kept as its pairs: a task's parameters, parsed without a map per task (a
/// 100,000-task body would otherwise hold 100,000 B-tree nodes while it is checked).
#[derive(Debug, Default)]
struct Pairs(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of parameter values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Pairs, A::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0));
                while let Some(pair) = m.next_entry::<String, Value>()? {
                    out.push(pair);
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// One task as sent: parameters and an optional tile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskIn {
    #[serde(default)]
    parameters: Option<Pairs>,
    #[serde(default)]
    tile: Option<Value>,
}

/// The second pass over the body: only `tasks`, each checked and turned into the JSON its
/// row stores as soon as it is read, so a 100,000-task body never exists as 100,000 parsed
/// tasks. A refused task stops the parse; its [`HttpError`] is kept in `refused`.
struct TasksPass<'a> {
    schema: Option<&'a BTreeMap<String, ParamSpec>>,
    fixed: &'a Map<String, Value>,
    ignored: RefCell<Vec<String>>,
    refused: RefCell<Option<HttpError>>,
}

impl<'de> DeserializeSeed<'de> for &TasksPass<'_> {
    type Value = Vec<String>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<String>, D::Error> {
        struct Body<'p, 'a>(&'p TasksPass<'a>);
        impl<'de> Visitor<'de> for Body<'_, '_> {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Vec<String>, A::Error> {
                let mut tasks = Vec::new();
                while let Some(key) = m.next_key::<String>()? {
                    if key == "tasks" {
                        tasks = m.next_value_seed(Seq(self.0))?;
                    } else {
                        m.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(tasks)
            }
        }
        struct Seq<'p, 'a>(&'p TasksPass<'a>);
        impl<'de> DeserializeSeed<'de> for Seq<'_, '_> {
            type Value = Vec<String>;
            fn deserialize<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Vec<String>, D::Error> {
                d.deserialize_seq(self)
            }
        }
        impl<'de> Visitor<'de> for Seq<'_, '_> {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of tasks {\"parameters\": {..}, \"tile\": [x, y, z]}")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Vec<String>, A::Error> {
                let pass = self.0;
                let mut out = Vec::with_capacity(s.size_hint().unwrap_or(0).min(MAX_TASKS));
                loop {
                    let i = out.len();
                    let task = match s.next_element::<TaskIn>() {
                        Ok(Some(t)) => t,
                        Ok(None) => return Ok(out),
                        Err(e) => return Err(serde::de::Error::custom(format!("task {i}: {e}"))),
                    };
                    let refuse = |e: HttpError| {
                        *pass.refused.borrow_mut() = Some(e);
                        serde::de::Error::custom("refused")
                    };
                    if i >= MAX_TASKS {
                        let expected = format!("1 to {MAX_TASKS} tasks");
                        let got = format!("more than {MAX_TASKS}");
                        return Err(refuse(super::invalid_option("tasks", &expected, &got)));
                    }
                    let mut ignored = pass.ignored.borrow_mut();
                    match check_task(i, task, pass.schema, pass.fixed, &mut ignored) {
                        Ok(args) => out.push(args),
                        Err(e) => {
                            drop(ignored);
                            return Err(refuse(e));
                        }
                    }
                }
            }
        }
        d.deserialize_map(Body(self))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    #[serde(default)]
    udf: Option<UdfPackage>,
    #[serde(default)]
    schema: Option<BTreeMap<String, String>>,
    #[serde(default)]
    saved: Option<String>,
    /// Read by the second pass ([`TasksPass`]).
    #[allow(dead_code)]
    tasks: IgnoredAny,
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

/// The UDF a job runs.
struct JobUdf {
    udf: Value,
    prepared: Arc<PreparedUdf>,
    namespace: String,
    saved: Option<String>,
}

async fn job_udf(
    state: &AppState,
    user: &User,
    body: &mut SubmitBody,
) -> Result<JobUdf, HttpError> {
    match (body.udf.take(), body.saved.take()) {
        (Some(pkg), None) => {
            let udf = serde_json::to_value(&pkg)
                .map_err(|e| HttpError::bad_request(format!("invalid udf: {e}")))?;
            let schema = body.schema.take();
            let namespace = key::code_namespace_of(&pkg.code);
            let hash = crate::prepared::content_hash(&pkg, schema.as_ref());
            let prepared = state.prepared.get_or_prepare(&namespace, &hash, || {
                PreparedUdf::with_hash(pkg, schema, hash.clone(), None)
            });
            Ok(JobUdf {
                namespace,
                udf,
                prepared,
                saved: None,
            })
        }
        (None, Some(saved)) => {
            let (email, name) = match saved.split_once('/') {
                Some((e, n)) => (e.to_string(), n.to_string()),
                None => (user.email.clone(), saved.clone()),
            };
            let found = own_udf(state, user, &email, &name).await?;
            let udf = serde_json::to_value(&found.package)
                .map_err(|e| super::internal(format!("saved UDF does not serialize: {e}")))?;
            let saved = Some(format!("{}/{}", found.owner_email, found.name));
            let prepared = super::super::run::prepare_saved(state, found);
            Ok(JobUdf {
                udf,
                namespace: prepared.namespace().to_string(),
                saved,
                prepared,
            })
        }
        _ => Err(HttpError::bad_request(
            "a job runs either shipped code (\"udf\") or a saved UDF (\"saved\"), exactly one",
        )),
    }
}

/// A refused value of task `index` (`None`: a fixed parameter).
fn refused(
    index: Option<usize>,
    parameter: &str,
    expected: &str,
    value: &str,
    why: &str,
) -> HttpError {
    let message = match index {
        Some(i) => format!("task {i}: {why}"),
        None => why.to_string(),
    };
    super::invalid_value(index, parameter, expected, value, message)
}

/// Parameters checked against the schema: the validated ones and the names ignored.
fn validated(
    index: Option<usize>,
    schema: Option<&BTreeMap<String, ParamSpec>>,
    given: Map<String, Value>,
) -> Result<params::Validated, HttpError> {
    params::validate(schema, given.into_iter().collect()).map_err(|e| match e {
        ParamError::Schema(msg) => super::bad_schema(msg),
        ParamError::Value {
            message,
            parameter,
            expected,
            value,
        } => refused(index, &parameter, &expected, &value, &message),
    })
}

/// One task of the body, as the JSON its row stores: its tile in the grid, its parameters
/// (with the fixed ones) valid for the schema.
fn check_task(
    i: usize,
    task: TaskIn,
    schema: Option<&BTreeMap<String, ParamSpec>>,
    fixed: &Map<String, Value>,
    ignored: &mut Vec<String>,
) -> Result<String, HttpError> {
    let tile = match task.tile {
        None | Some(Value::Null) => None,
        Some(t) => {
            let v = t.to_string();
            let xyz: Option<Vec<i64>> = t
                .as_array()
                .filter(|a| a.len() == 3)
                .and_then(|a| a.iter().map(Value::as_i64).collect());
            let Some(xyz) = xyz else {
                let why = format!("invalid tile {v}");
                return Err(refused(Some(i), "tile", "[x, y, z] integers", &v, &why));
            };
            let t = Tile::new(xyz[0], xyz[1], xyz[2])
                .map_err(|e| refused(Some(i), "tile", "a tile in the grid", &v, &e.to_string()))?;
            Some([t.x, t.y, u32::from(t.z)])
        }
    };
    let own = task.parameters.unwrap_or_default().0;
    let mut all = fixed.clone();
    all.extend(own.iter().cloned());
    let v = validated(Some(i), schema, all)?;
    for name in v.ignored {
        if !ignored.contains(&name) {
            ignored.push(name);
        }
    }
    let parameters = own
        .into_iter()
        .filter(|(k, _)| v.parameters.contains_key(k))
        .collect();
    serde_json::to_string(&TaskArgs { parameters, tile })
        .map_err(|e| super::internal(format!("task {i} does not serialize: {e}")))
}

/// The options of the body: (max_retry, cache lifetime, timeout in ms).
fn options(
    state: &AppState,
    body: &mut SubmitBody,
    udf_max_age: Option<u64>,
) -> Result<(u32, Option<u64>, u64), HttpError> {
    let max_retry = match body.max_retry.take() {
        None | Some(Value::Null) => 2,
        Some(v) => {
            let n = v.as_u64().filter(|n| *n <= MAX_RETRY_LIMIT);
            let expected = format!("an integer 0..={MAX_RETRY_LIMIT}");
            let n =
                n.ok_or_else(|| super::invalid_option("max_retry", &expected, &v.to_string()))?;
            u32::try_from(n).unwrap_or(2)
        }
    };
    let out = OutputChoice {
        cache: option_text(body.cache.take()),
        cache_max_age: option_text(body.cache_max_age.take()),
        ..OutputChoice::default()
    };
    let lifetime = params::cache_lifetime(&out, udf_max_age, DEFAULT_MAX_AGE)
        .map_err(|(p, e, v)| super::invalid_option(&p, &e, &v))?;
    let limits = state.limits;
    let timeout = match option_text(body.timeout.take()) {
        None => limits.default_timeout,
        Some(raw) => {
            let max = limits.max_timeout.as_secs_f64();
            match crate::config::positive_seconds(&raw) {
                Some(s) if s <= max => Duration::from_secs_f64(s),
                _ => {
                    let expected = format!("a positive number of seconds, at most {max}");
                    return Err(super::invalid_option("timeout", &expected, &raw));
                }
            }
        }
    };
    let ms = u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    Ok((max_retry, lifetime, ms))
}

/// The tasks of the body, checked, as the JSON their rows store, and the parameter names
/// the schema does not know (after `ignored`).
fn parse_tasks(
    raw: &[u8],
    schema: Option<&BTreeMap<String, ParamSpec>>,
    fixed: &Map<String, Value>,
    ignored: Vec<String>,
) -> Result<(Vec<String>, Vec<String>), HttpError> {
    let pass = TasksPass {
        schema,
        fixed,
        ignored: RefCell::new(ignored),
        refused: RefCell::new(None),
    };
    let mut de = serde_json::Deserializer::from_slice(raw);
    let parsed = (&pass).deserialize(&mut de);
    if let Some(e) = pass.refused.take() {
        return Err(e);
    }
    let tasks = parsed.map_err(|e| HttpError::bad_request(format!("invalid request body: {e}")))?;
    Ok((tasks, pass.ignored.take()))
}

pub async fn submit(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    AuthUser(user): AuthUser,
    body: Bytes,
) -> Response {
    answer(submit_inner(&state, &rid, user, &body).await, &rid)
}

async fn submit_inner(
    state: &AppState,
    rid: &str,
    user: User,
    raw: &[u8],
) -> Result<Response, HttpError> {
    let jobs = jobs_of(state)?;
    let mut body: SubmitBody = serde_json::from_slice(raw).map_err(|e| {
        HttpError::bad_request(format!(
            "invalid request body: expected JSON {{\"udf\" or \"saved\", \"tasks\": [..]}}: {e}"
        ))
    })?;
    let job_udf = job_udf(state, &user, &mut body).await?;
    let (max_retry, cache_max_age, timeout_ms) =
        options(state, &mut body, job_udf.prepared.cache_max_age())?;
    let schema = job_udf.prepared.schema();
    let fixed = validated(None, schema, body.parameters.take().unwrap_or_default())?;
    let (tasks, ignored) = parse_tasks(raw, schema, &fixed.parameters, fixed.ignored)?;
    let n = tasks.len();
    if n == 0 {
        let expected = format!("1 to {MAX_TASKS} tasks");
        return Err(super::invalid_option("tasks", &expected, "0"));
    }
    let spec = JobSpec {
        udf: job_udf.udf,
        saved: job_udf.saved,
        namespace: job_udf.namespace,
        fixed: fixed.parameters,
        max_retry,
        cache_max_age,
        timeout_ms,
    };
    let id = crate::registry::new_secret("job_").map_err(|e| super::internal(e.to_string()))?[..28]
        .to_string();
    let (job_id, owner) = (id.clone(), user.id);
    blocking(move || {
        jobs.submit(&job_id, owner, spec, &tasks)?;
        drop(tasks);
        release_freed_memory();
        Ok(())
    })
    .await?;
    tracing::info!(
        request_id = rid,
        job = id,
        tasks = n,
        user = user.email,
        "job submitted"
    );
    let answer = json!({"id": id, "state": "running", "n_tasks": n, "ignored_parameters": ignored});
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

/// Hand the heap pages freed after a big submission back to the system (glibc keeps them
/// otherwise, and the server's resident size would stay at its peak).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator; no pointer is involved.
    unsafe {
        libc::malloc_trim(0);
    }
}
