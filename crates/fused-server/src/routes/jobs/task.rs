//! One attempt at a job's task: through the run result cache (the key and namespace a single
//! run of the same UDF, parameters and tile would use) to the executor. Only successes are
//! cached, so a re-run of a job computes what is missing or failed.

use std::sync::Arc;
use std::time::Duration;

use fused_core::package::UdfPackage;
use serde_json::{json, Map, Value};

use super::super::run::{execute, Shared};
use super::super::AppState;
use crate::executor::{Task, TileXyz, WorkerError};
use crate::jobs::model::{Attempt, Done, Failure, JobSpec, TaskRef};
use crate::prepared::PreparedUdf;
use crate::runcache::{Fetched, Slot};

pub async fn run_task(state: &AppState, spec: &JobSpec, task: TaskRef) -> Attempt {
    let udf = match prepared(state, spec, &task.job) {
        Ok(udf) => udf,
        Err(message) => {
            let mut error = Map::new();
            error.insert("error_type".into(), "bad_request".into());
            error.insert("message".into(), message.into());
            return Err(Failure {
                error,
                stdout: String::new(),
                stderr: String::new(),
            });
        }
    };
    let tile = task.args.tile;
    let task_id = format!("{}-{}-{}", task.job, task.index, task.attempts + 1);
    let mut exec = Task::new(task_id, udf.clone(), task.args.merged(&spec.fixed));
    exec.tile = tile.map(|[x, y, z]| TileXyz {
        x,
        y,
        z: u8::try_from(z).unwrap_or(u8::MAX),
    });
    exec.timeout = Some(Duration::from_millis(spec.timeout_ms));
    let cache = &state.cache;
    let Some(max_age) = spec.cache_max_age.filter(|_| cache.enabled()) else {
        return attempt(execute(state, exec).await);
    };
    let tile_key = tile.map(|[x, y, z]| (z, x, y));
    let key = udf.run_key(&exec.parameters, tile_key);
    exec.run_key = Some(key.clone());
    let slot = Slot {
        namespace: &spec.namespace,
        key: &key,
        max_age,
        tile: tile_key,
    };
    match cache.get_or_compute(slot, || execute(state, exec)).await {
        Fetched::Cached(e) => Ok(Done {
            result: e.result,
            stdout: String::new(),
            stderr: String::new(),
            cached: true,
        }),
        Fetched::Computed(shared) => attempt(shared),
    }
}

/// The job's UDF, prepared once per job (from the LRU of prepared versions): the package
/// parsed, its content hash (the worker's compiled-code key) and run-key prefix computed.
fn prepared(state: &AppState, spec: &JobSpec, job: &str) -> Result<Arc<PreparedUdf>, String> {
    let id = format!("job-{job}");
    if let Some(udf) = state.prepared.get(&spec.namespace, &id) {
        return Ok(udf);
    }
    let package = serde_json::from_value::<UdfPackage>(spec.udf.clone())
        .map_err(|e| format!("the job's UDF package does not parse: {e}"))?;
    Ok(state.prepared.get_or_prepare(&spec.namespace, &id, || {
        let hash = crate::prepared::content_hash(&package, None);
        PreparedUdf::with_hash(package, None, hash, Some(spec.namespace.clone()))
    }))
}

/// The outcome as a job sees it.
fn attempt(shared: Shared) -> Attempt {
    match shared {
        Shared::Done {
            result,
            stdout,
            stderr,
            cached,
        } => Ok(Done {
            result,
            stdout,
            stderr,
            cached,
        }),
        Shared::Udf {
            err,
            stdout,
            stderr,
        } => Err(Failure {
            error: udf_error(&err),
            stdout,
            stderr,
        }),
        Shared::Exec(e) => {
            let mut error = Map::new();
            error.insert("error_type".into(), e.error_type().into());
            error.insert("message".into(), e.to_string().into());
            Err(Failure {
                error,
                stdout: String::new(),
                stderr: String::new(),
            })
        }
    }
}

/// The error object of a UDF failure, with the fields `x-fused-metadata` has for it.
fn udf_error(err: &WorkerError) -> Map<String, Value> {
    let error_type = match err.kind.as_str() {
        "runtime" => "udf_exception",
        "call" => "udf_call",
        "result" => "udf_result",
        "parameter" => "parameter",
        _ => "udf_error",
    };
    let message = match err.lineno {
        Some(l) => format!("{} at line {l}: {}", err.exception_class, err.errormsg),
        None => format!("{}: {}", err.exception_class, err.errormsg),
    };
    let v = json!({
        "error_type": error_type,
        "message": message,
        "exception_class": err.exception_class,
        "errormsg": err.errormsg,
        "lineno": err.lineno,
        "traceback": err.traceback,
        "parameter": err.parameter,
        "expected": err.expected,
        "value": err.value,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
