//! One attempt at a job's task: through the run result cache (the key and namespace a single
//! run of the same UDF, parameters and tile would use) to the executor. Only successes are
//! cached, so a re-run of a job computes what is missing or failed.

use std::sync::Arc;
use std::time::Duration;

use fused_core::runcache::entry::Entry;
use fused_core::runcache::key;
use fused_core::time::now_ms;
use serde_json::{json, Map, Value};

use super::super::run::Shared;
use super::super::AppState;
use crate::executor::{Task, TaskOutput, TileXyz, WorkerError};
use crate::jobs::model::{Attempt, Done, Failure, JobSpec, TaskRef};
use crate::runcache::flight::Role;

pub async fn run_task(state: &AppState, spec: &JobSpec, task: TaskRef) -> Attempt {
    let parameters = task.args.merged(&spec.fixed);
    let tile = task.args.tile;
    let exec = Task {
        task_id: format!("{}-{}-{}", task.job, task.index, task.attempts + 1),
        udf: spec.udf.clone(),
        parameters,
        tile: tile.map(|[x, y, z]| TileXyz {
            x,
            y,
            z: u8::try_from(z).unwrap_or(u8::MAX),
        }),
        timeout: Some(Duration::from_millis(spec.timeout_ms)),
    };
    let cache = state.cache.clone();
    let Some(max_age) = spec.cache_max_age.filter(|_| cache.enabled()) else {
        return attempt(execute(state, exec).await);
    };
    let tile_key = tile.map(|[x, y, z]| (z, x, y));
    let ns = &spec.namespace;
    let key = key::run_key(&spec.udf, &exec.parameters, tile_key);
    if let Some(e) = cache.get_memory(ns, &key) {
        cache.count_hit();
        return Ok(hit(e.result));
    }
    let shared = match cache.flights.join(&format!("{ns}/{key}")).await {
        Role::Joined(shared) => {
            if matches!(shared, Shared::Done { .. }) {
                cache.count_hit();
            }
            shared
        }
        Role::Leader(leader) => {
            let shared = if let Some(e) = cache.get_disk(ns, &key).await {
                cache.count_hit();
                Shared::Done {
                    result: e.result,
                    stdout: String::new(),
                    stderr: String::new(),
                    cached: true,
                }
            } else {
                cache.count_miss();
                let shared = execute(state, exec).await;
                if let Shared::Done { result, .. } = &shared {
                    let entry = Entry {
                        result: result.clone(),
                        created_at: now_ms(),
                        max_age,
                        tile: tile_key,
                    };
                    cache.put(ns, &key, entry).await;
                }
                shared
            };
            leader.finish(shared.clone());
            shared
        }
    };
    attempt(shared)
}

fn hit(result: Arc<fused_core::result::CanonicalResult>) -> Done {
    Done {
        result,
        stdout: String::new(),
        stderr: String::new(),
        cached: true,
    }
}

async fn execute(state: &AppState, task: Task) -> Shared {
    match state.executor.run(task).await {
        Err(e) => Shared::Exec(e),
        Ok(TaskOutput {
            result: Ok(result),
            stdout,
            stderr,
        }) => Shared::Done {
            result: Arc::new(result),
            stdout,
            stderr,
            cached: false,
        },
        Ok(TaskOutput {
            result: Err(err),
            stdout,
            stderr,
        }) => Shared::Udf {
            err,
            stdout,
            stderr,
        },
    }
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
