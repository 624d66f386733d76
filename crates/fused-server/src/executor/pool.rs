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

use super::protocol::DEFAULT_INLINE_LIMIT;
use super::worker::{rss_bytes, send_signal, WorkerProcess, SIGCANCEL, SIGKILL};
use super::{ExecError, Executor, PoolStats, RunFuture, Task, TaskOutput};

/// How the pool starts and supervises its workers.
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
    /// Moving average of task run times in ms (for `Retry-After`).
    avg_task_ms: AtomicU64,
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

    /// Seconds until a slot is likely free for a new task.
    fn retry_after(&self) -> u64 {
        let queued = self.queued.load(Ordering::SeqCst) as u64;
        let per_task = self.avg_task_ms.load(Ordering::Relaxed).max(1);
        let workers = self.cfg.workers.max(1) as u64;
        (queued * per_task / workers / 1000).clamp(1, 60)
    }

    fn record_duration(&self, took: Duration) {
        let ms = took.as_millis().min(u128::from(u32::MAX)) as u64;
        let old = self.avg_task_ms.load(Ordering::Relaxed);
        let new = if old == 0 { ms } else { (old * 7 + ms) / 8 };
        self.avg_task_ms.store(new, Ordering::Relaxed);
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
            avg_task_ms: AtomicU64::new(0),
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
                    retry_after: shared.retry_after(),
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

/// What happens to the worker after a task.
enum After {
    Keep,
    /// Dead or killed: drop it (`kill_on_drop`) and start another.
    Replace,
    /// Healthy but due for replacement: stop it gently.
    Recycle(&'static str),
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
            let after = supervise(&mut worker, job, &shared).await;
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

/// Why a healthy worker should be replaced now, if it should.
fn recycle_reason(cfg: &PoolConfig, pid: u32, tasks: u64) -> After {
    if cfg.max_tasks > 0 && tasks >= cfg.max_tasks {
        return After::Recycle("it ran --worker-max-tasks tasks");
    }
    if let (Some(limit), Some(rss)) = (cfg.memory_limit, rss_bytes(pid)) {
        if rss > limit {
            return After::Recycle("its memory stayed above --worker-memory-mb after a task");
        }
    }
    After::Keep
}

/// Run one task on `worker`, enforcing its time limit, the memory limit and cancellation,
/// and hand the outcome to the caller. Returns what to do with the worker.
async fn supervise(worker: &mut WorkerProcess, job: Job, shared: &Shared) -> After {
    let cfg = &shared.cfg;
    let Job {
        task, mut reply, ..
    } = job;
    let pid = worker.pid;
    let limit = task.timeout.unwrap_or(cfg.timeout);
    let started = Instant::now();
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    // The first reading one period in: a task shorter than that costs no /proc read here
    // (the check after the task still sees its memory).
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + cfg.memory_poll,
        cfg.memory_poll,
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut cancel_deadline: Option<tokio::time::Instant> = None;
    let mut killed: Option<ExecError> = None;
    let run = worker.run(&task, cfg);
    tokio::pin!(run);
    let outcome = loop {
        tokio::select! {
            biased;
            r = &mut run => break r,
            () = &mut deadline, if killed.is_none() => {
                send_signal(pid, SIGKILL);
                killed = Some(ExecError::Timeout(format!(
                    "the UDF ran longer than its time limit of {} s and was stopped \
                     (set another with the x-fused-timeout header, up to --max-timeout)",
                    fmt_secs(limit)
                )));
            }
            () = reply.closed(), if cancel_deadline.is_none() && killed.is_none() => {
                send_signal(pid, SIGCANCEL);
                cancel_deadline = Some(tokio::time::Instant::now() + cfg.cancel_grace);
            }
            () = sleep_until_opt(cancel_deadline), if cancel_deadline.is_some() && killed.is_none() => {
                send_signal(pid, SIGKILL);
                killed = Some(ExecError::Cancelled);
            }
            _ = ticker.tick(), if cfg.memory_limit.is_some() && killed.is_none() => {
                let limit = cfg.memory_limit.unwrap_or(u64::MAX);
                if let Some(rss) = rss_bytes(pid).filter(|r| *r > limit) {
                    send_signal(pid, SIGKILL);
                    killed = Some(ExecError::OutOfMemory(format!(
                        "worker {pid} used {} MiB, over the limit of {} MiB \
                         (--worker-memory-mb), and was killed",
                        rss >> 20,
                        limit >> 20
                    )));
                }
            }
        }
    };
    shared.record_duration(started.elapsed());
    let (outcome, after) = match (killed, outcome) {
        (Some(err), _) => {
            tracing::warn!(pid, task = %task.task_id, "{err}; replacing the worker");
            (Err(err), After::Replace)
        }
        (None, Err(err)) => {
            tracing::warn!(pid, task = %task.task_id, "{err}; replacing the worker");
            (Err(err), After::Replace)
        }
        (None, Ok(out)) => match &out.result {
            Err(e) if e.kind == "cancelled" => (Err(ExecError::Cancelled), After::Keep),
            // sys.exit() in the UDF: the worker caught it and stays, the caller sees a crash.
            Err(e) if e.kind == "exit" => (
                Err(ExecError::WorkerCrash(format!(
                    "worker {pid}: {} (the worker caught it and was kept)",
                    e.errormsg
                ))),
                After::Keep,
            ),
            _ => (Ok(out), After::Keep),
        },
    };
    let _ = reply.send(outcome);
    after
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// `2`, `0.5`, `1.25`.
fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}
