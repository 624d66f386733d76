//! `LocalPool`: N warm worker processes on this machine, each supervised by its own slot task.
//!
//! Tasks wait in one queue; a slot takes the next task only when its worker is ready, so
//! requests made while workers are still starting simply wait. A worker that dies (or breaks
//! the protocol) fails only the task it was running and is replaced. If workers cannot be
//! started at all (no Python, no `fused` package) tasks fail fast with the start error instead
//! of waiting forever.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::protocol::DEFAULT_INLINE_LIMIT;
use super::worker::WorkerProcess;
use super::{ExecError, Executor, PoolStats, RunFuture, Task, TaskOutput};

/// How the pool starts its workers.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The Python interpreter (`python3`, or a venv's python).
    pub python: String,
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
}

impl PoolConfig {
    pub fn new(python: impl Into<String>, workers: usize, result_dir: std::path::PathBuf) -> Self {
        PoolConfig {
            python: python.into(),
            workers: workers.max(1),
            result_dir,
            inline_limit: DEFAULT_INLINE_LIMIT,
            env: Vec::new(),
            start_timeout: Duration::from_secs(120),
            stop_grace: Duration::from_secs(3),
        }
    }
}

struct Job {
    task: Task,
    reply: oneshot::Sender<Result<TaskOutput, ExecError>>,
}

struct Shared {
    cfg: PoolConfig,
    alive: AtomicUsize,
    /// The last failure to start a worker, cleared when one starts.
    start_error: Mutex<Option<String>>,
    queue: tokio::sync::Mutex<mpsc::Receiver<Job>>,
}

/// The default executor: a supervised pool of `python -m fused._worker` processes.
pub struct LocalPool {
    shared: Arc<Shared>,
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    stop: watch::Sender<bool>,
    slots: Mutex<Vec<JoinHandle<()>>>,
}

impl LocalPool {
    /// Start the slots (each spawns its worker in the background) and return at once.
    /// Must be called inside a tokio runtime.
    pub fn start(cfg: PoolConfig) -> std::io::Result<LocalPool> {
        std::fs::create_dir_all(&cfg.result_dir)?;
        let (tx, rx) = mpsc::channel(4096);
        let (stop, _) = watch::channel(false);
        let n = cfg.workers.max(1);
        let shared = Arc::new(Shared {
            cfg,
            alive: AtomicUsize::new(0),
            start_error: Mutex::new(None),
            queue: tokio::sync::Mutex::new(rx),
        });
        let slots = (0..n)
            .map(|i| tokio::spawn(slot_loop(i, shared.clone(), stop.subscribe())))
            .collect();
        Ok(LocalPool {
            shared,
            tx: Mutex::new(Some(tx)),
            stop,
            slots: Mutex::new(slots),
        })
    }

    /// Stop taking tasks, let idle workers exit (stdin closed), and kill what is still
    /// running after `grace` plus the workers' own stop grace.
    pub async fn shutdown(&self, grace: Duration) {
        self.tx.lock().unwrap().take();
        let _ = self.stop.send(true);
        let slots: Vec<_> = std::mem::take(&mut *self.slots.lock().unwrap());
        let deadline = tokio::time::Instant::now() + grace + self.shared.cfg.stop_grace;
        for mut slot in slots {
            if tokio::time::timeout_at(deadline, &mut slot).await.is_err() {
                slot.abort(); // drops the worker: kill_on_drop
                let _ = slot.await;
            }
        }
    }
}

impl Drop for LocalPool {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for slot in self.slots.lock().unwrap().drain(..) {
            slot.abort();
        }
    }
}

impl Executor for LocalPool {
    fn run(&self, task: Task) -> RunFuture<'_> {
        Box::pin(async move {
            let tx = self
                .tx
                .lock()
                .unwrap()
                .clone()
                .ok_or_else(|| ExecError::Unavailable("the server is shutting down".into()))?;
            if self.shared.alive.load(Ordering::SeqCst) == 0 {
                if let Some(err) = self.shared.start_error.lock().unwrap().clone() {
                    return Err(ExecError::Unavailable(err));
                }
            }
            let (reply, answer) = oneshot::channel();
            tx.send(Job { task, reply })
                .await
                .map_err(|_| ExecError::Unavailable("the worker pool has stopped".into()))?;
            answer.await.map_err(|_| {
                ExecError::Unavailable("the worker pool stopped before running the task".into())
            })?
        })
    }

    fn stats(&self) -> PoolStats {
        PoolStats {
            configured: self.shared.cfg.workers.max(1),
            alive: self.shared.alive.load(Ordering::SeqCst),
            ..PoolStats::default()
        }
    }
}

/// One slot: keep a worker alive and feed it tasks from the shared queue.
async fn slot_loop(slot: usize, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            return;
        }
        let started = tokio::select! {
            w = WorkerProcess::spawn(&shared.cfg) => w,
            _ = stop.changed() => return,
        };
        let mut worker = match started {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(slot, "{e}; retrying in {} ms", backoff.as_millis());
                *shared.start_error.lock().unwrap() = Some(e);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        shared.start_error.lock().unwrap().take();
        shared.alive.fetch_add(1, Ordering::SeqCst);
        tracing::info!(slot, pid = worker.pid, "worker ready");
        loop {
            let job = tokio::select! {
                job = async { shared.queue.lock().await.recv().await } => job,
                _ = stop.changed() => None,
            };
            let Some(job) = job else {
                shared.alive.fetch_sub(1, Ordering::SeqCst);
                worker.shutdown(shared.cfg.stop_grace).await;
                return;
            };
            if job.reply.is_closed() {
                continue; // the client went away while the task waited
            }
            let outcome = worker.run(&job.task, &shared.cfg).await;
            let failed = outcome.as_ref().err().cloned();
            let _ = job.reply.send(outcome);
            if let Some(err) = failed {
                shared.alive.fetch_sub(1, Ordering::SeqCst);
                tracing::warn!(slot, pid = worker.pid, task = %job.task.task_id, "{err}; replacing the worker");
                drop(worker); // kill_on_drop
                break;
            }
        }
    }
}
