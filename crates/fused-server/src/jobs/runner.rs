//! The job scheduler: which task of which job runs next.
//!
//! * **Bounded share of the pool.** At most `slots` job tasks are on the executor at once
//!   (the server gives jobs all workers but one), so interactive requests, which go to the
//!   same executor's queue, always find a worker free or about to be: a job never fills the
//!   queue in front of them.
//! * **Interactive requests first.** Before a job task is handed to the executor, the
//!   scheduler checks the executor's load (`busy + queued`, from its stats): while it holds
//!   more than the job tasks in flight, someone else's request is running or waiting, and
//!   the job task waits (up to [`YIELD_MAX`], so a steady stream of requests slows jobs down
//!   but never stops them).
//! * **Round robin between jobs.** Each free slot takes the next task of the next job in
//!   turn, so several jobs share the slots evenly whatever their sizes.
//! * **Never all in memory.** A job's pending tasks are read from the registry 256 at a time;
//!   results go to the spool file through the writer ([`super::writer`]).
//! * **Retries** go back into their job's queue (up to the job's `max_retry`), **cancelling**
//!   drops the job's queue and interrupts its running tasks (their futures are dropped, which
//!   the executor turns into an interruption of the worker).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{watch, Notify, Semaphore};

use super::model::{Attempt, JobSpec, TaskArgs, TaskRef};
use super::spool;
use super::writer::{self, Msg, Progress, Streams};
use crate::registry::jobs::TaskUpdate;
use crate::registry::{db_now_ms, Registry};

/// Pending tasks read from the registry at a time, per job.
const REFILL: i64 = 256;

/// Longest a job task waits for interactive requests to leave the executor.
pub const YIELD_MAX: std::time::Duration = std::time::Duration::from_millis(50);

/// Tasks on the executor now (running or waiting), everyone's.
pub type ExecutorLoad = Arc<dyn Fn() -> usize + Send + Sync>;

/// Runs one attempt of a task (the server's: through the run cache to the executor).
pub type RunTask = Arc<
    dyn Fn(Arc<JobSpec>, TaskRef) -> Pin<Box<dyn Future<Output = Attempt> + Send>> + Send + Sync,
>;

struct Active {
    spec: Arc<JobSpec>,
    queue: VecDeque<TaskRef>,
    /// Highest task index read from the registry.
    cursor: i64,
    /// The registry has no pending task above `cursor`.
    exhausted: bool,
    refilling: bool,
    /// Tasks not yet `ok` or `error`.
    unfinished: i64,
    cancel: watch::Sender<bool>,
}

#[derive(Default)]
struct Inner {
    jobs: HashMap<String, Active>,
    /// Round-robin order of the active jobs.
    order: Vec<String>,
    next: usize,
}

enum Pick {
    Task(Arc<JobSpec>, TaskRef, watch::Receiver<bool>),
    Refill(String, i64),
    Idle,
}

/// The server's jobs: submission, cancellation, progress, and the scheduler.
pub struct Jobs {
    registry: Arc<Registry>,
    dir: PathBuf,
    inner: Mutex<Inner>,
    wake: Notify,
    writer: Mutex<mpsc::Sender<Msg>>,
    streams: Streams,
    slots: usize,
    run: RunTask,
    load: ExecutorLoad,
}

impl Jobs {
    /// Open the spool directory, start the writer, resume the jobs the registry says are
    /// unfinished (tasks that were running run again; finished results are kept) and start
    /// the scheduler with `slots` concurrent tasks, yielding to the other work `load`
    /// reports. Must be called inside a tokio runtime.
    pub fn start(
        registry: Arc<Registry>,
        dir: PathBuf,
        slots: usize,
        run: RunTask,
        load: ExecutorLoad,
    ) -> std::io::Result<Arc<Jobs>> {
        std::fs::create_dir_all(&dir)?;
        let streams: Streams = Arc::default();
        let tx = writer::start(registry.clone(), dir.clone(), streams.clone())?;
        let jobs = Arc::new(Jobs {
            registry,
            dir,
            inner: Mutex::default(),
            wake: Notify::new(),
            writer: Mutex::new(tx),
            streams,
            slots: slots.max(1),
            run,
            load,
        });
        jobs.resume()?;
        tokio::spawn(jobs.clone().schedule());
        Ok(jobs)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, msg: Msg) {
        let tx = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if tx.send(msg).is_err() {
            tracing::error!("jobs: the writer thread has stopped");
        }
    }

    /// The spool file of job `id`.
    pub fn spool_path(&self, id: &str) -> PathBuf {
        spool::path(&self.dir, id)
    }

    /// The progress of a job that is not over; `None` once it is (its spool is complete).
    pub fn progress(&self, id: &str) -> Option<watch::Receiver<Progress>> {
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .map(|s| s.subscribe())
    }

    fn resume(&self) -> std::io::Result<()> {
        let err = |e: crate::registry::RegistryError| std::io::Error::other(e.to_string());
        for job in self.registry.unfinished_jobs().map_err(err)? {
            let (end, unfinished) = self.registry.resume_job(&job.id).map_err(err)?;
            // a job that cannot go on is cancelled; the server keeps starting
            let give_up = |why: String| {
                tracing::error!(job = job.id, "cannot resume the job, cancelling it: {why}");
                self.registry.apply_job_updates(&[TaskUpdate::JobCancelled {
                    job: job.id.clone(),
                    at: db_now_ms(),
                }])
            };
            let spec: JobSpec = match serde_json::from_str(&job.spec) {
                Ok(s) => s,
                Err(e) => {
                    give_up(format!("unreadable job spec: {e}")).map_err(err)?;
                    continue;
                }
            };
            if let Err(e) = spool::truncate(&self.spool_path(&job.id), end) {
                // its results are gone (the file was removed or cut)
                give_up(format!("its results file: {e}")).map_err(err)?;
                continue;
            }
            tracing::info!(job = job.id, unfinished, "resuming job");
            self.activate(&job.id, spec, unfinished, end);
        }
        Ok(())
    }

    /// Make a stored job runnable: `unfinished` tasks to go, `committed` spool bytes so far.
    fn activate(&self, id: &str, spec: JobSpec, unfinished: i64, committed: u64) {
        // the spool exists from the start (empty), so readers find it
        if let Err(e) = spool::truncate(&self.spool_path(id), committed) {
            tracing::error!(job = id, "cannot create the job's spool file: {e}");
        }
        let (progress, _) = watch::channel(Progress {
            committed,
            finished: false,
        });
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_string(), Arc::new(progress));
        self.send(Msg::Open {
            job: id.to_string(),
        });
        if unfinished == 0 {
            self.send(Msg::Update(TaskUpdate::JobDone {
                job: id.to_string(),
                at: db_now_ms(),
            }));
            return;
        }
        let mut inner = self.lock();
        inner.jobs.insert(
            id.to_string(),
            Active {
                spec: Arc::new(spec),
                queue: VecDeque::new(),
                cursor: -1,
                exhausted: false,
                refilling: false,
                unfinished,
                cancel: watch::channel(false).0,
            },
        );
        inner.order.push(id.to_string());
        drop(inner);
        self.wake.notify_one();
    }

    /// Store a new job of `owner_id` with its tasks (each a [`TaskArgs`] as JSON) and start
    /// it. Blocking: call it off the async threads.
    pub fn submit(
        &self,
        id: &str,
        owner_id: i64,
        spec: JobSpec,
        tasks: &[String],
    ) -> Result<(), String> {
        let spec_text = serde_json::to_string(&spec).map_err(|e| e.to_string())?;
        self.registry
            .create_job(id, owner_id, &spec_text, tasks)
            .map_err(|e| e.to_string())?;
        self.activate(id, spec, tasks.len() as i64, 0);
        Ok(())
    }

    /// Cancel job `id`: its pending tasks never run, running ones are interrupted. False
    /// when it is not running (already over).
    pub fn cancel(&self, id: &str) -> bool {
        let mut inner = self.lock();
        let Some(active) = inner.jobs.remove(id) else {
            return false;
        };
        inner.order.retain(|j| j != id);
        drop(inner);
        active.cancel.send_replace(true);
        self.send(Msg::Update(TaskUpdate::JobCancelled {
            job: id.to_string(),
            at: db_now_ms(),
        }));
        true
    }

    /// The next task, round robin over the jobs, or what to do instead.
    fn pick(&self) -> Pick {
        let mut inner = self.lock();
        let n = inner.order.len();
        for k in 0..n {
            let i = (inner.next + k) % n;
            let id = inner.order[i].clone();
            let Some(active) = inner.jobs.get_mut(&id) else {
                continue;
            };
            if let Some(task) = active.queue.pop_front() {
                let picked = Pick::Task(active.spec.clone(), task, active.cancel.subscribe());
                inner.next = i + 1;
                return picked;
            }
            if !active.exhausted && !active.refilling {
                active.refilling = true;
                return Pick::Refill(id, active.cursor);
            }
        }
        Pick::Idle
    }

    /// Read the next pending tasks of `id` after `cursor` from the registry.
    async fn refill(self: &Arc<Self>, id: String, cursor: i64) {
        let me = self.clone();
        let job = id.clone();
        let rows =
            tokio::task::spawn_blocking(move || me.registry.pending_tasks(&job, cursor, REFILL))
                .await;
        let rows = match rows {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                tracing::error!(job = id, "cannot read pending tasks: {e}");
                Vec::new()
            }
            Err(e) => {
                tracing::error!(job = id, "pending tasks: {e}");
                Vec::new()
            }
        };
        let mut inner = self.lock();
        let Some(active) = inner.jobs.get_mut(&id) else {
            return;
        };
        active.refilling = false;
        if rows.is_empty() {
            active.exhausted = true;
            return;
        }
        for (index, args, attempts) in rows {
            active.cursor = active.cursor.max(index);
            let args: TaskArgs = serde_json::from_str(&args).unwrap_or_else(|e| {
                tracing::error!(job = id, index, "unreadable task arguments: {e}");
                TaskArgs::default()
            });
            active.queue.push_back(TaskRef {
                job: id.clone(),
                index,
                args,
                attempts: u32::try_from(attempts).unwrap_or(0),
            });
        }
    }

    async fn schedule(self: Arc<Self>) {
        let slots = Arc::new(Semaphore::new(self.slots));
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            // the job tasks in flight besides this one; more load than that is someone else's
            let ours = self.slots - slots.available_permits() - 1;
            let waited = std::time::Instant::now();
            while (self.load)() > ours && waited.elapsed() < YIELD_MAX {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            loop {
                let notified = self.wake.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                match self.pick() {
                    Pick::Task(spec, task, cancel) => {
                        let me = self.clone();
                        tokio::spawn(async move {
                            me.run_one(spec, task, cancel).await;
                            drop(permit);
                        });
                        break;
                    }
                    Pick::Refill(id, cursor) => self.refill(id, cursor).await,
                    Pick::Idle => notified.await,
                }
            }
        }
    }

    async fn run_one(&self, spec: Arc<JobSpec>, task: TaskRef, mut cancel: watch::Receiver<bool>) {
        let (job, index) = (task.job.clone(), task.index);
        self.send(Msg::Update(TaskUpdate::Started {
            job: job.clone(),
            index,
            at: db_now_ms(),
        }));
        let attempt = tokio::select! {
            a = (self.run)(spec.clone(), task.clone()) => a,
            _ = cancel.wait_for(|c| *c) => return,
        };
        let attempts = task.attempts + 1;
        match attempt {
            Ok(done) => {
                let record = spool::ok_record(index, attempts, &done);
                let update = writer::finished(&job, index, true, attempts, None, done.cached);
                self.send(Msg::Finished { update, record });
            }
            // The executor could not take it (shutting down, no worker can start, queue
            // full): not an attempt. It waits a moment and goes back to the queue (if the
            // server is stopping, the registry still says `running`: it runs after restart).
            Err(failure) if failure.not_attempted() => {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let mut inner = self.lock();
                if let Some(active) = inner.jobs.get_mut(&job) {
                    active.queue.push_front(task);
                }
                drop(inner);
                self.wake.notify_one();
                return;
            }
            Err(failure) if attempts <= spec.max_retry => {
                self.send(Msg::Update(TaskUpdate::Retry {
                    job: job.clone(),
                    index,
                    attempts: i64::from(attempts),
                    error: failure.message(),
                }));
                let mut inner = self.lock();
                if let Some(active) = inner.jobs.get_mut(&job) {
                    active.queue.push_back(TaskRef { attempts, ..task });
                }
                drop(inner);
                self.wake.notify_one();
                return;
            }
            Err(failure) => {
                let record = spool::error_record(index, attempts, &failure);
                let update =
                    writer::finished(&job, index, false, attempts, Some(failure.message()), false);
                self.send(Msg::Finished { update, record });
            }
        }
        let mut inner = self.lock();
        let over = match inner.jobs.get_mut(&job) {
            Some(active) => {
                active.unfinished -= 1;
                active.unfinished <= 0
            }
            None => false,
        };
        if over {
            inner.jobs.remove(&job);
            inner.order.retain(|j| *j != job);
            drop(inner);
            self.send(Msg::Update(TaskUpdate::JobDone {
                job,
                at: db_now_ms(),
            }));
        }
    }
}
