//! [`BridgePool`]: tasks carried to a Dask cluster by one multiplexed bridge process
//! ([`MuxProcess`]), kept alive by a keeper task that restarts it when it dies.
//!
//! Up to `in_flight` tasks are on the cluster at once; more wait here for a slot, in order,
//! up to the queue size (then [`ExecError::QueueFull`]). A task's time limit counts from when
//! it is handed to the cluster: at the limit, or when its caller goes away, it is cancelled
//! on the cluster (a cancel frame) and the caller is answered at once.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use super::config::PoolConfig;
use super::mux::{gone, MuxProcess};
use super::pace::Pace;
use super::supervise::{outcome_of, timeout_error};
use super::worker::{request_for, task_output};
use super::{ExecError, PoolStats, Task, TaskOutput};

/// Where the bridge process is, as the keeper publishes it.
#[derive(Clone)]
enum Bridge {
    Starting,
    Up(Arc<MuxProcess>),
    /// The last start failed (why); the keeper retries.
    Failed(String),
}

/// The bridge process and the tasks waiting for it.
pub(super) struct BridgePool {
    cfg: PoolConfig,
    in_flight: usize,
    slots: Arc<Semaphore>,
    current: watch::Receiver<Bridge>,
    waiting: AtomicUsize,
    busy: AtomicUsize,
    restarts: Arc<AtomicU64>,
    /// Task run times (for `Retry-After`).
    pace: Pace,
    stop: watch::Sender<bool>,
    keeper: Mutex<Option<JoinHandle<()>>>,
}

/// Subtracts one from a counter when dropped.
struct Count<'a>(&'a AtomicUsize);

impl Drop for Count<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Cancels a task on the cluster unless disarmed (the caller went away, or its time ran out).
struct CancelOnDrop<'a> {
    bridge: &'a MuxProcess,
    task_id: &'a str,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.bridge.cancel(self.task_id);
        }
    }
}

impl BridgePool {
    /// Start the keeper (which starts the bridge in the background) and return at once.
    /// Must be called inside a tokio runtime.
    pub fn start(cfg: PoolConfig, in_flight: usize) -> std::io::Result<BridgePool> {
        std::fs::create_dir_all(&cfg.result_dir)?;
        let in_flight = in_flight.max(1);
        let (tx, current) = watch::channel(Bridge::Starting);
        let (stop, stopped) = watch::channel(false);
        let restarts = Arc::new(AtomicU64::new(0));
        let keeper = tokio::spawn(keep(cfg.clone(), tx, restarts.clone(), stopped));
        Ok(BridgePool {
            cfg,
            in_flight,
            slots: Arc::new(Semaphore::new(in_flight)),
            current,
            waiting: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            restarts,
            pace: Pace::default(),
            stop,
            keeper: Mutex::new(Some(keeper)),
        })
    }

    pub async fn run(&self, task: Task) -> Result<TaskOutput, ExecError> {
        if *self.stop.borrow() {
            return Err(ExecError::Unavailable("the server is shutting down".into()));
        }
        let limit = self.cfg.queue_size;
        let before = self.waiting.fetch_add(1, Ordering::SeqCst);
        let queued = Count(&self.waiting);
        if before >= limit {
            return Err(ExecError::QueueFull {
                queued: before,
                limit,
                retry_after: self.pace.retry_after(before, self.in_flight),
            });
        }
        let _permit = self
            .slots
            .acquire()
            .await
            .map_err(|_| ExecError::Unavailable("the server is shutting down".into()))?;
        drop(queued);
        self.busy.fetch_add(1, Ordering::SeqCst);
        let _busy = Count(&self.busy);
        let bridge = self.bridge().await?;
        let frame = serde_json::to_vec(&request_for(&task, &self.cfg))
            .map_err(|e| ExecError::Protocol(format!("cannot encode the request: {e}")))?;
        let answer = bridge.send(&task.task_id, frame)?;
        let mut cancel = CancelOnDrop {
            bridge: &bridge,
            task_id: &task.task_id,
            armed: true,
        };
        let time_limit = task.timeout.unwrap_or(self.cfg.timeout);
        let started = Instant::now();
        let answer = tokio::select! {
            a = answer => a,
            () = tokio::time::sleep(time_limit) => {
                tracing::warn!(task = %task.task_id, "time limit reached; cancelling its Dask task");
                return Err(timeout_error(time_limit)); // `cancel` fires
            }
        };
        cancel.armed = false;
        self.pace.record(started.elapsed());
        let (header, inline) = answer.map_err(|_| gone(bridge.pid))??;
        let out = task_output(header, inline, &self.cfg.result_dir, &task.task_id).await?;
        outcome_of(out, bridge.pid)
    }

    /// The live bridge, waiting while one starts; the start error when it cannot start.
    async fn bridge(&self) -> Result<Arc<MuxProcess>, ExecError> {
        let mut current = self.current.clone();
        loop {
            match current.borrow_and_update().clone() {
                Bridge::Up(bridge) if bridge.is_alive() => return Ok(bridge),
                Bridge::Failed(why) => return Err(ExecError::Unavailable(why)),
                Bridge::Up(_) | Bridge::Starting => {}
            }
            if current.changed().await.is_err() {
                return Err(ExecError::Unavailable(
                    "the Dask executor has stopped".into(),
                ));
            }
        }
    }

    pub fn stats(&self) -> PoolStats {
        let up = matches!(&*self.current.borrow(), Bridge::Up(b) if b.is_alive());
        PoolStats {
            configured: self.in_flight,
            alive: if up { self.in_flight } else { 0 },
            busy: self.busy.load(Ordering::SeqCst),
            queued: self.waiting.load(Ordering::SeqCst),
            restarts: self.restarts.load(Ordering::SeqCst),
            spares: 0,
        }
    }

    /// Stop taking tasks and stop the bridge (it cancels what is in flight), killing it
    /// after `grace` plus the stop grace.
    pub async fn shutdown(&self, grace: Duration) {
        let _ = self.stop.send(true);
        self.slots.close();
        let keeper = self
            .keeper
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(keeper) = keeper {
            let _ = keeper.await;
        }
        let bridge = self.current.borrow().clone();
        if let Bridge::Up(bridge) = bridge {
            bridge.shutdown(grace + self.cfg.stop_grace).await;
        }
    }
}

impl Drop for BridgePool {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(keeper) = self
            .keeper
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            keeper.abort();
        }
    }
}

/// Keep one bridge process running: start it (retrying with backoff, the failure published
/// for the tasks to report), publish it, and start another when it ends, until stopped.
async fn keep(
    cfg: PoolConfig,
    current: watch::Sender<Bridge>,
    restarts: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = tokio::select! {
            b = MuxProcess::spawn(&cfg) => b,
            _ = stop.changed() => return,
        };
        match started {
            Ok(bridge) => {
                backoff = Duration::from_millis(100);
                if !first {
                    restarts.fetch_add(1, Ordering::SeqCst);
                }
                first = false;
                tracing::info!(pid = bridge.pid, "Dask bridge ready");
                let bridge = Arc::new(bridge);
                current.send_replace(Bridge::Up(bridge.clone()));
                tokio::select! {
                    () = bridge.ended() => {
                        tracing::warn!(pid = bridge.pid, "the Dask bridge ended; starting another");
                        current.send_replace(Bridge::Starting);
                    }
                    _ = stop.changed() => return,
                }
            }
            Err(e) => {
                tracing::error!(
                    "cannot start the Dask bridge: {e}; retrying in {} ms",
                    backoff.as_millis()
                );
                current.send_replace(Bridge::Failed(e));
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}
