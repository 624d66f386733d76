//! Where UDF code runs: the [`Executor`] trait and its default, [`LocalPool`] (a supervised pool
//! of warm `python -m fused._worker` processes on this machine), and [`DaskExecutor`] (a Dask
//! cluster, reached through one multiplexed bridge process).

mod bridge;
mod config;
pub mod dask;
mod mux;
mod pace;
pub mod pool;
pub mod protocol;
mod supervise;
mod worker;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use fused_core::result::CanonicalResult;

use crate::prepared::PreparedUdf;

pub use config::PoolConfig;
pub use dask::{DaskConfig, DaskExecutor};
pub use pool::LocalPool;
pub use protocol::{TileXyz, WorkerError};

/// One UDF call, parameters already validated.
#[derive(Debug, Clone)]
pub struct Task {
    /// Identifies the task in logs, in the worker protocol and in `x-fused-metadata`.
    pub task_id: String,
    /// The UDF (typed package and its content hash, by which the worker keys its compiled
    /// code); serialised only when sent to a worker.
    pub udf: Arc<PreparedUdf>,
    /// Parameter values (strings from a query string, or JSON values from a POST body).
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// Tile mode when set.
    pub tile: Option<TileXyz>,
    /// Time limit counted from when a worker starts the task (`None`: the pool's default).
    pub timeout: Option<std::time::Duration>,
    /// The call's run-cache key, when it has one (a Dask executor keys its task by it).
    pub run_key: Option<String>,
}

impl Task {
    /// A File-mode task with the pool's default time limit; set `tile` / `timeout` on the
    /// result for more.
    pub fn new(
        task_id: impl Into<String>,
        udf: Arc<PreparedUdf>,
        parameters: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        Task {
            task_id: task_id.into(),
            udf,
            parameters,
            run_key: None,
            tile: None,
            timeout: None,
        }
    }
}

/// What a finished task produced: a canonical result or the UDF's error, and its output.
#[derive(Debug, Clone)]
pub struct TaskOutput {
    pub result: Result<CanonicalResult, WorkerError>,
    pub stdout: String,
    pub stderr: String,
}

/// The task could not be run to an answer (as opposed to the UDF raising, which is a
/// [`TaskOutput`] with an error).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExecError {
    /// The worker died while running the task (exit code or signal in the message).
    #[error("worker crashed while running the task: {0}")]
    WorkerCrash(String),
    /// The worker went over its resident memory limit and was killed.
    #[error("the UDF ran out of memory: {0}")]
    OutOfMemory(String),
    /// The task ran longer than its time limit; the worker was killed.
    #[error("{0}")]
    Timeout(String),
    /// Too many tasks are waiting; try again after `retry_after` seconds.
    #[error("the server is busy: {queued} tasks are waiting for a worker (queue size {limit}); retry after {retry_after} s")]
    QueueFull {
        queued: usize,
        limit: usize,
        retry_after: u64,
    },
    /// The caller went away and the task was stopped (nobody receives this).
    #[error("the request was cancelled by its client")]
    Cancelled,
    /// The worker answered something that breaks the protocol.
    #[error("worker protocol error: {0}")]
    Protocol(String),
    /// The executor is shutting down or has no way to start workers.
    #[error("executor unavailable: {0}")]
    Unavailable(String),
}

impl ExecError {
    /// The `error_type` reported in `x-fused-metadata`.
    pub fn error_type(&self) -> &'static str {
        match self {
            ExecError::WorkerCrash(_) => "worker_crash",
            ExecError::OutOfMemory(_) => "out_of_memory",
            ExecError::Timeout(_) => "timeout",
            ExecError::QueueFull { .. } => "queue_full",
            ExecError::Cancelled => "cancelled",
            ExecError::Protocol(_) => "worker_protocol",
            ExecError::Unavailable(_) => "executor_unavailable",
        }
    }
}

/// Counts for `/health` and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PoolStats {
    /// Worker processes the pool keeps.
    pub configured: usize,
    /// Workers started and ready (idle or busy).
    pub alive: usize,
    /// Workers running a task now.
    pub busy: usize,
    /// Tasks waiting for a worker.
    pub queued: usize,
    /// Workers replaced since start (crash, timeout, memory limit, cancellation, recycling).
    pub restarts: u64,
    /// Started, idle spare workers ready to replace one.
    pub spares: usize,
}

/// A boxed future returned by [`Executor::run`].
pub type RunFuture<'a> = Pin<Box<dyn Future<Output = Result<TaskOutput, ExecError>> + Send + 'a>>;

/// A boxed future returned by [`Executor::shutdown`].
pub type ShutdownFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Runs tasks somewhere. Implementations queue tasks until a worker is free: [`LocalPool`]
/// (this machine's supervised workers) and [`DaskExecutor`] (a Dask cluster).
pub trait Executor: Send + Sync {
    fn run(&self, task: Task) -> RunFuture<'_>;
    fn stats(&self) -> PoolStats;
    /// Stop taking tasks, let idle workers exit (up to `grace`), release what the executor
    /// started.
    fn shutdown(&self, grace: std::time::Duration) -> ShutdownFuture<'_> {
        let _ = grace;
        Box::pin(async {})
    }
    /// `local` or `dask` (for `/health` and the logs).
    fn kind(&self) -> &'static str {
        "local"
    }
}
