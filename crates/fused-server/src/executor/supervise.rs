//! Supervision of one task on one worker: its time limit, the worker's memory, the caller
//! going away (interrupt, then kill) and the worker dying; and whether a worker is kept,
//! replaced or recycled afterwards. The pool's slots call [`supervise`] for every task.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::config::PoolConfig;
use super::protocol::WorkerErrorKind;
use super::worker::{rss_bytes, send_signal, WorkerProcess, SIGCANCEL, SIGKILL};
use super::{ExecError, Task, TaskOutput};

/// What happens to the worker after a task.
pub(super) enum After {
    Keep,
    /// Dead or killed: drop it (`kill_on_drop`) and start another.
    Replace,
    /// Healthy but due for replacement: stop it gently.
    Recycle(&'static str),
}

/// Why a healthy worker should be replaced now, if it should.
pub(super) fn recycle_reason(cfg: &PoolConfig, pid: u32, tasks: u64) -> After {
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
/// and hand the outcome to the caller through `reply`. Returns what to do with the worker and
/// how long the task ran.
pub(super) async fn supervise(
    worker: &mut WorkerProcess,
    task: Task,
    mut reply: oneshot::Sender<Result<TaskOutput, ExecError>>,
    cfg: &PoolConfig,
) -> (After, Duration) {
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
                killed = Some(timeout_error(limit));
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
    let took = started.elapsed();
    let (outcome, after) = match (killed, outcome) {
        (Some(err), _) => {
            tracing::warn!(pid, task = %task.task_id, "{err}; replacing the worker");
            (Err(err), After::Replace)
        }
        (None, Err(err)) => {
            tracing::warn!(pid, task = %task.task_id, "{err}; replacing the worker");
            (Err(err), After::Replace)
        }
        (None, Ok(out)) => (outcome_of(out, pid), After::Keep),
    };
    let _ = reply.send(outcome);
    (after, took)
}

/// A worker's answer as the caller sees it: the failures a worker reports for its task but
/// the UDF did not cause (cancelled, a Dask worker crash, an unreachable scheduler,
/// `sys.exit()`) become the executor's errors; the rest is the task's output.
pub(super) fn outcome_of(out: TaskOutput, pid: u32) -> Result<TaskOutput, ExecError> {
    let Err(e) = &out.result else {
        return Ok(out);
    };
    match e.kind() {
        Some(WorkerErrorKind::Cancelled) => Err(ExecError::Cancelled),
        // a bridge to another executor (Dask) reports its backend's failures
        Some(WorkerErrorKind::WorkerCrash) => Err(ExecError::WorkerCrash(e.errormsg.clone())),
        Some(WorkerErrorKind::Unavailable) => Err(ExecError::Unavailable(e.errormsg.clone())),
        // sys.exit() in the UDF: the worker caught it and stays, the caller sees a crash.
        Some(WorkerErrorKind::Exit) => Err(ExecError::WorkerCrash(format!(
            "worker {pid}: {} (the worker caught it and was kept)",
            e.errormsg
        ))),
        _ => Ok(out),
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The error of a task stopped at its time limit.
pub(super) fn timeout_error(limit: Duration) -> ExecError {
    ExecError::Timeout(format!(
        "the UDF ran longer than its time limit of {} s and was stopped \
         (set another with the x-fused-timeout header, up to --max-timeout)",
        fmt_secs(limit)
    ))
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
