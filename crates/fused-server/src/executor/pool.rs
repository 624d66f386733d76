//! `LocalPool`: N warm worker processes on this machine, each supervised by its own slot task.
//!
//! Tasks wait in one bounded queue (a full queue answers [`ExecError::QueueFull`] at once); a
//! slot takes the next task only when its worker is ready, so requests made while workers are
//! still starting simply wait. If workers cannot be started at all (no Python, no `fused`
//! package) tasks fail fast with the start error instead of waiting forever.
//!
//! While a task runs, its slot watches four things besides the answer:
//! * the time limit (from when the task starts): the worker is killed -> [`ExecError::Timeout`];
//! * the worker's resident memory (polled): over the limit it is killed ->
//!   [`ExecError::OutOfMemory`];
//! * the caller going away: the worker is asked to interrupt the UDF (SIGUSR1, see
//!   `fused._worker`) and killed if it has not answered within `cancel_grace`;
//! * the worker dying (segfault, `os._exit`, the kernel) -> [`ExecError::WorkerCrash`].
//!
//! Each of those fails only its own task; the slot replaces the worker (from the spares when
//! one is ready, so the replacement is immediate) and goes on with the queue. A worker is also
//! recycled between tasks after `max_tasks` tasks or when its memory stays over the limit.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
// A poisoned lock is taken over (`PoisonError::into_inner`): each guards a value (a sender, the
// worker tasks, the last start error) that stays whole if its holder panicked.
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::config::PoolConfig;
use super::pace::Pace;
use super::supervise::{recycle_reason, supervise, After};
use super::worker::WorkerProcess;
use super::{ExecError, Executor, PoolStats, RunFuture, Task, TaskOutput};

struct Job {
    task: Task,
    reply: oneshot::Sender<Result<TaskOutput, ExecError>>,
    /// Set while the job counts towards the queue depth; whoever clears it (the slot taking
    /// the job, or the caller going away first) decrements the depth.
    queued: Arc<AtomicBool>,
}

struct Shared {
    cfg: PoolConfig,
    alive: AtomicUsize,
    busy: AtomicUsize,
    queued: AtomicUsize,
    restarts: AtomicU64,
    spares_ready: AtomicUsize,
    /// Task run times (for `Retry-After`).
    pace: Pace,
    /// The last failure to start a worker, cleared when one starts.
    start_error: Mutex<Option<String>>,
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>,
    spares: tokio::sync::Mutex<mpsc::Receiver<WorkerProcess>>,
}

impl Shared {
    fn leave_queue(&self, flag: &AtomicBool) {
        if flag.swap(false, Ordering::SeqCst) {
            self.queued.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Decrements the queue depth when a caller gives up while its job still waits.
struct QueueGuard {
    shared: Arc<Shared>,
    flag: Arc<AtomicBool>,
}

impl Drop for QueueGuard {
    fn drop(&mut self) {
        self.shared.leave_queue(&self.flag);
    }
}

/// The default executor: a supervised pool of `python -m fused._worker` processes.
pub struct LocalPool {
    shared: Arc<Shared>,
    tx: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    stop: watch::Sender<bool>,
    slots: Mutex<Vec<JoinHandle<()>>>,
}

impl LocalPool {
    /// Start the slots (each spawns its worker in the background) and return at once.
    /// Must be called inside a tokio runtime.
    pub fn start(cfg: PoolConfig) -> std::io::Result<LocalPool> {
        std::fs::create_dir_all(&cfg.result_dir)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (spare_tx, spare_rx) = mpsc::channel(cfg.spares.max(1));
        let (stop, _) = watch::channel(false);
        let n = cfg.workers.max(1);
        let spares = cfg.spares;
        let shared = Arc::new(Shared {
            cfg,
            alive: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            restarts: AtomicU64::new(0),
            spares_ready: AtomicUsize::new(0),
            pace: Pace::default(),
            start_error: Mutex::new(None),
            queue: tokio::sync::Mutex::new(rx),
            spares: tokio::sync::Mutex::new(spare_rx),
        });
        let mut slots: Vec<JoinHandle<()>> = (0..n)
            .map(|i| tokio::spawn(slot_loop(i, shared.clone(), stop.subscribe())))
            .collect();
        if spares > 0 {
            slots.push(tokio::spawn(spare_loop(
                shared.clone(),
                spare_tx,
                stop.subscribe(),
            )));
        }
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
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let _ = self.stop.send(true);
        let slots: Vec<_> =
            std::mem::take(&mut *self.slots.lock().unwrap_or_else(PoisonError::into_inner));
        let deadline = tokio::time::Instant::now() + grace + self.shared.cfg.stop_grace;
        for mut slot in slots {
            if tokio::time::timeout_at(deadline, &mut slot).await.is_err() {
                slot.abort(); // drops the worker: kill_on_drop
                let _ = slot.await;
            }
        }
        let mut spares = self.shared.spares.lock().await;
        while let Ok(w) = spares.try_recv() {
            self.shared.spares_ready.fetch_sub(1, Ordering::SeqCst);
            w.shutdown(self.shared.cfg.stop_grace).await;
        }
    }
}

impl Drop for LocalPool {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for slot in self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            slot.abort();
        }
    }
}

impl Executor for LocalPool {
    fn run(&self, task: Task) -> RunFuture<'_> {
        Box::pin(async move {
            let shared = &self.shared;
            let tx = self
                .tx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .ok_or_else(|| ExecError::Unavailable("the server is shutting down".into()))?;
            if shared.alive.load(Ordering::SeqCst) == 0 {
                if let Some(err) = shared
                    .start_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
                {
                    return Err(ExecError::Unavailable(err));
                }
            }
            let limit = shared.cfg.queue_size;
            let before = shared.queued.fetch_add(1, Ordering::SeqCst);
            if before >= limit {
                shared.queued.fetch_sub(1, Ordering::SeqCst);
                return Err(ExecError::QueueFull {
                    queued: before,
                    limit,
                    retry_after: shared.pace.retry_after(before, shared.cfg.workers),
                });
            }
            let flag = Arc::new(AtomicBool::new(true));
            let _guard = QueueGuard {
                shared: shared.clone(),
                flag: flag.clone(),
            };
            let (reply, answer) = oneshot::channel();
            tx.send(Job {
                task,
                reply,
                queued: flag,
            })
            .map_err(|_| ExecError::Unavailable("the worker pool has stopped".into()))?;
            answer.await.map_err(|_| {
                ExecError::Unavailable(
                    "the server is shutting down and stopped the task before it finished".into(),
                )
            })?
        })
    }

    fn stats(&self) -> PoolStats {
        let s = &self.shared;
        PoolStats {
            configured: s.cfg.workers.max(1),
            alive: s.alive.load(Ordering::SeqCst),
            busy: s.busy.load(Ordering::SeqCst),
            queued: s.queued.load(Ordering::SeqCst),
            restarts: s.restarts.load(Ordering::SeqCst),
            spares: s.spares_ready.load(Ordering::SeqCst),
        }
    }

    fn shutdown(&self, grace: Duration) -> super::ShutdownFuture<'_> {
        Box::pin(LocalPool::shutdown(self, grace))
    }
}

/// Start a worker, retrying with backoff; `None` when the pool stops first.
async fn start_worker(
    shared: &Shared,
    who: &str,
    stop: &mut watch::Receiver<bool>,
) -> Option<WorkerProcess> {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            return None;
        }
        let started = tokio::select! {
            w = WorkerProcess::spawn(&shared.cfg) => w,
            _ = stop.changed() => return None,
        };
        match started {
            Ok(w) => {
                shared
                    .start_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                return Some(w);
            }
            Err(e) => {
                tracing::error!(who, "{e}; retrying in {} ms", backoff.as_millis());
                *shared
                    .start_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(e);
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return None,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Keep `spares` started workers ready. Starts after the slots' first workers are up, so
/// the spares do not slow down the server's start.
async fn spare_loop(
    shared: Arc<Shared>,
    tx: mpsc::Sender<WorkerProcess>,
    mut stop: watch::Receiver<bool>,
) {
    let begun = Instant::now();
    while shared.alive.load(Ordering::SeqCst) < shared.cfg.workers.max(1)
        && begun.elapsed() < shared.cfg.start_timeout
    {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = stop.changed() => return,
        }
    }
    loop {
        let permit = tokio::select! {
            p = tx.reserve() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        let Some(worker) = start_worker(&shared, "spare", &mut stop).await else {
            return;
        };
        tracing::info!(pid = worker.pid, "spare worker ready");
        shared.spares_ready.fetch_add(1, Ordering::SeqCst);
        permit.send(worker);
    }
}

/// A ready spare if there is one (and it is still alive), else a newly started worker.
async fn next_worker(
    shared: &Shared,
    slot: usize,
    stop: &mut watch::Receiver<bool>,
) -> Option<WorkerProcess> {
    if shared.cfg.spares > 0 {
        let mut spares = shared.spares.lock().await;
        while let Ok(mut w) = spares.try_recv() {
            shared.spares_ready.fetch_sub(1, Ordering::SeqCst);
            if w.is_alive() {
                return Some(w);
            }
        }
    }
    start_worker(shared, &format!("slot {slot}"), stop).await
}

/// One slot: keep a worker alive and feed it tasks from the shared queue.
async fn slot_loop(slot: usize, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut first = true;
    loop {
        let Some(mut worker) = next_worker(&shared, slot, &mut stop).await else {
            return;
        };
        if !first {
            shared.restarts.fetch_add(1, Ordering::SeqCst);
        }
        first = false;
        shared.alive.fetch_add(1, Ordering::SeqCst);
        tracing::info!(slot, pid = worker.pid, "worker ready");
        let mut tasks: u64 = 0;
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
            shared.leave_queue(&job.queued);
            if job.reply.is_closed() {
                continue; // the client went away while the task waited
            }
            shared.busy.fetch_add(1, Ordering::SeqCst);
            let (after, took) = supervise(&mut worker, job.task, job.reply, &shared.cfg).await;
            shared.pace.record(took);
            shared.busy.fetch_sub(1, Ordering::SeqCst);
            tasks += 1;
            let after = match after {
                After::Keep => recycle_reason(&shared.cfg, worker.pid, tasks),
                other => other,
            };
            match after {
                After::Keep => continue,
                After::Replace => {
                    shared.alive.fetch_sub(1, Ordering::SeqCst);
                    drop(worker); // kill_on_drop
                }
                After::Recycle(why) => {
                    shared.alive.fetch_sub(1, Ordering::SeqCst);
                    tracing::info!(slot, pid = worker.pid, "recycling the worker: {why}");
                    let grace = shared.cfg.stop_grace;
                    tokio::spawn(worker.shutdown(grace));
                }
            }
            break;
        }
    }
}
