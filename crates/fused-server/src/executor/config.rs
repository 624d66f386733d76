//! [`PoolConfig`]: how the pool starts and supervises its workers (read by the pool, the
//! supervisor and the worker process handle).

use std::time::Duration;

use super::protocol::DEFAULT_INLINE_LIMIT;

/// How the pool starts and supervises its workers.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The Python interpreter (`python3`, or a venv's python).
    pub python: String,
    /// The module a worker runs (`python -m MODULE ARGS...`): `fused._worker`, or
    /// `fused._dask_bridge` for the Dask executor (the same protocol).
    pub worker_module: String,
    /// Arguments after the module.
    pub worker_args: Vec<String>,
    /// Number of worker processes (at least 1).
    pub workers: usize,
    /// Directory for payload files (`<data_dir>/tmp`); absolute.
    pub result_dir: std::path::PathBuf,
    /// Results up to this many bytes come back through the pipe; bigger ones through a file.
    pub inline_limit: usize,
    /// Extra environment for the workers.
    pub env: Vec<(String, String)>,
    /// How long a worker may take to import its libraries and say hello.
    pub start_timeout: Duration,
    /// How long a worker may take to exit after its stdin closes at shutdown.
    pub stop_grace: Duration,
    /// Time limit of a task whose [`Task::timeout`] is `None`.
    pub timeout: Duration,
    /// Resident memory limit of one worker in bytes (`None`: no limit).
    pub memory_limit: Option<u64>,
    /// How often a busy worker's memory is read.
    pub memory_poll: Duration,
    /// Replace a worker after this many tasks (0: never).
    pub max_tasks: u64,
    /// Tasks that may wait for a worker.
    pub queue_size: usize,
    /// Ready workers kept aside to replace one that dies.
    pub spares: usize,
    /// How long an interrupted UDF has to stop before its worker is killed.
    pub cancel_grace: Duration,
}

impl PoolConfig {
    pub fn new(python: impl Into<String>, workers: usize, result_dir: std::path::PathBuf) -> Self {
        PoolConfig {
            python: python.into(),
            worker_module: "fused._worker".into(),
            worker_args: Vec::new(),
            workers: workers.max(1),
            result_dir,
            inline_limit: DEFAULT_INLINE_LIMIT,
            env: Vec::new(),
            start_timeout: Duration::from_secs(120),
            stop_grace: Duration::from_secs(3),
            timeout: Duration::from_secs(120),
            memory_limit: None,
            memory_poll: Duration::from_millis(20),
            max_tasks: 1000,
            queue_size: 1024,
            spares: 0,
            cancel_grace: Duration::from_secs(1),
        }
    }
}
