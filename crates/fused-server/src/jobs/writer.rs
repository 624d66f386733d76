//! The job writer: one thread that appends result records to the jobs' spool files and
//! applies task state changes to the registry in batches (one transaction for whatever
//! arrived since the last one), then tells the readers of each job how far its spool is
//! committed. A record is appended before the registry marks its task finished, so after
//! a crash the spool is cut back to what the registry knows (`Registry::resume_job`).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::spool::{self, Appender};
use crate::registry::jobs::TaskUpdate;
use crate::registry::{db_now_ms, Registry};

/// How far a job's spool may be read, and whether more will come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Bytes of complete, committed records.
    pub committed: u64,
    /// The job is over (done or cancelled): nothing is appended any more.
    pub finished: bool,
}

/// The progress channels of jobs that are not over, by job id (removed once over).
pub type Streams = Arc<Mutex<HashMap<String, Arc<watch::Sender<Progress>>>>>;

/// Most messages applied in one transaction.
const BATCH: usize = 4096;

pub enum Msg {
    /// A job's spool is to be appended to from now on (before any of its other messages).
    Open {
        job: String,
    },
    Update(TaskUpdate),
    /// A finished task: its record is appended, then the update (with `spool_end`) applied.
    Finished {
        update: TaskUpdate,
        record: Vec<u8>,
    },
}

/// Start the writer thread; it ends when every sender is dropped.
pub fn start(
    registry: Arc<Registry>,
    dir: PathBuf,
    streams: Streams,
) -> std::io::Result<mpsc::Sender<Msg>> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("fused-jobs-writer".into())
        .spawn(move || run(&registry, &dir, &streams, &rx))?;
    Ok(tx)
}

fn stream(streams: &Streams, job: &str) -> Option<Arc<watch::Sender<Progress>>> {
    streams
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(job)
        .cloned()
}

fn run(registry: &Registry, dir: &std::path::Path, streams: &Streams, rx: &mpsc::Receiver<Msg>) {
    let mut files: HashMap<String, Appender> = HashMap::new();
    let mut over: HashSet<String> = HashSet::new();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let mut updates = Vec::with_capacity(batch.len());
        let mut touched: HashSet<String> = HashSet::new();
        let mut ended: Vec<String> = Vec::new();
        for msg in batch {
            match msg {
                Msg::Open { job } => match Appender::open(&spool::path(dir, &job)) {
                    Ok(a) => {
                        over.remove(&job);
                        files.insert(job, a);
                    }
                    Err(e) => tracing::error!(job, "cannot open the job's spool file: {e}"),
                },
                Msg::Update(u) => {
                    match &u {
                        TaskUpdate::JobDone { job, .. } | TaskUpdate::JobCancelled { job, .. } => {
                            if !over.insert(job.clone()) {
                                continue; // cancelled and done at once: the first wins
                            }
                            ended.push(job.clone());
                        }
                        TaskUpdate::Started { job, .. } | TaskUpdate::Retry { job, .. }
                            if over.contains(job) =>
                        {
                            continue;
                        }
                        _ => {}
                    }
                    updates.push(u);
                }
                Msg::Finished { mut update, record } => {
                    let TaskUpdate::Finished {
                        job,
                        index,
                        spool_end,
                        ..
                    } = &mut update
                    else {
                        continue;
                    };
                    let (job, index) = (job.as_str(), *index);
                    if over.contains(job) {
                        continue; // the job was cancelled while this task ran
                    }
                    let Some(file) = files.get_mut(job) else {
                        tracing::error!(job, index, "no spool file open for the job");
                        continue;
                    };
                    match file.append(&record) {
                        Ok(end) => {
                            *spool_end = end;
                            touched.insert(job.to_string());
                            updates.push(update);
                        }
                        Err(e) => {
                            // The task is not marked finished: it runs again after a restart.
                            tracing::error!(job, index, "cannot append to the spool: {e}");
                        }
                    }
                }
            }
        }
        if let Err(e) = registry.apply_job_updates(&updates) {
            tracing::error!(
                "jobs: registry update of {} changes failed: {e}",
                updates.len()
            );
        }
        for job in &touched {
            if let (Some(s), Some(f)) = (stream(streams, job), files.get(job)) {
                let len = f.len;
                s.send_modify(|p| p.committed = len);
            }
        }
        for job in ended {
            if let Some(s) = stream(streams, &job) {
                s.send_modify(|p| p.finished = true);
            }
            streams
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&job);
            files.remove(&job);
        }
    }
}

/// A finished-task update stamped now (its `spool_end` is filled in by the writer).
pub fn finished(
    job: &str,
    index: i64,
    ok: bool,
    attempts: u32,
    error: Option<String>,
    cached: bool,
) -> TaskUpdate {
    TaskUpdate::Finished {
        job: job.to_string(),
        index,
        ok,
        attempts: i64::from(attempts),
        at: db_now_ms(),
        error,
        cached,
        spool_end: 0,
    }
}
