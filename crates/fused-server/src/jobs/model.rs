//! What a job is: its spec (stored as JSON in the registry), one task's arguments, and what
//! one attempt at a task produced.

use std::sync::Arc;

use fused_core::result::CanonicalResult;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Everything the runner needs to run any task of a job; fixed when the job is submitted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobSpec {
    /// The UDF package JSON (shipped code, or the saved version at submission).
    pub udf: Value,
    /// The saved UDF (`email/name`) the job runs, for listings; `None`: shipped code.
    #[serde(default)]
    pub saved: Option<String>,
    /// The run-cache namespace a single run of this UDF uses.
    pub namespace: String,
    /// Parameters every task gets (validated), under each task's own.
    #[serde(default)]
    pub fixed: Map<String, Value>,
    /// Failed attempts retried per task (0: none).
    pub max_retry: u32,
    /// Run-cache lifetime in seconds; `None`: the cache is bypassed.
    #[serde(default)]
    pub cache_max_age: Option<u64>,
    /// Time limit of one attempt, milliseconds.
    pub timeout_ms: u64,
}

/// One task's own arguments (stored per task): parameters and an optional tile `[x, y, z]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TaskArgs {
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub parameters: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tile: Option<[u32; 3]>,
}

impl TaskArgs {
    /// The parameters of a run: the job's fixed ones with this task's on top.
    pub fn merged(&self, fixed: &Map<String, Value>) -> Map<String, Value> {
        let mut all = fixed.clone();
        for (k, v) in &self.parameters {
            all.insert(k.clone(), v.clone());
        }
        all
    }
}

/// A task to run: which job, which index, its arguments, and how many attempts failed.
#[derive(Debug, Clone)]
pub struct TaskRef {
    pub job: String,
    pub index: i64,
    pub args: TaskArgs,
    pub attempts: u32,
}

/// A successful attempt.
#[derive(Debug, Clone)]
pub struct Done {
    pub result: Arc<CanonicalResult>,
    pub stdout: String,
    pub stderr: String,
    /// Served from the run result cache.
    pub cached: bool,
}

/// A failed attempt: `error` is a JSON object with at least `error_type` and `message`
/// (and the UDF's `exception_class`, `errormsg`, `lineno`, `traceback` when it raised).
#[derive(Debug, Clone)]
pub struct Failure {
    pub error: Map<String, Value>,
    pub stdout: String,
    pub stderr: String,
}

impl Failure {
    /// The executor refused the task without running it (`executor_unavailable`,
    /// `queue_full`): it does not count as an attempt.
    pub fn not_attempted(&self) -> bool {
        matches!(
            self.error.get("error_type").and_then(Value::as_str),
            Some("executor_unavailable" | "queue_full")
        )
    }

    pub fn message(&self) -> String {
        self.error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("failed")
            .to_string()
    }
}

/// What one attempt produced.
pub type Attempt = Result<Done, Failure>;
