//! One multiplexed worker process (`python -m fused._dask_bridge`): many tasks in flight on
//! one pipe.
//!
//! The frames are the worker protocol's ([`super::protocol`]); what differs is that requests
//! do not wait for each other. A writer task owns the process's stdin and writes request and
//! cancel frames as they come; a reader task reads answers (a header frame, and the inline
//! payload frame when there is one) and hands each to the task waiting for its `task_id`. A
//! task that gives up (its client went away, its time limit) is forgotten here and cancelled
//! with a `{"cancel": TASK_ID}` frame; its late answer is dropped (and its payload file
//! deleted). When the process dies, or breaks the protocol, every task in flight fails with
//! [`ExecError::Unavailable`]: its Dask tasks went with the process's client.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::BufReader;
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;

use super::config::PoolConfig;
use super::protocol::{self, FrameError, Payload, ResponseHeader};
use super::worker::{ended_how, take_payload_file, WorkerProcess};
use super::ExecError;

/// An answer as read from the pipe: the header and the inline payload frame, if any.
pub(super) type Answer = Result<(ResponseHeader, Option<Vec<u8>>), ExecError>;

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>;

enum Outgoing {
    Frame(Vec<u8>),
    /// Close stdin: the process finishes and exits.
    Close,
}

/// A started multiplexed process.
pub(super) struct MuxProcess {
    pub pid: u32,
    out: mpsc::UnboundedSender<Outgoing>,
    pending: Pending,
    ended: watch::Receiver<bool>,
    /// The reader task owns the child (`kill_on_drop`): aborting it kills the process.
    reader: AbortHandle,
}

impl MuxProcess {
    /// Start `cfg`'s worker program and wait for its hello, which must say `"mux": true`.
    pub async fn spawn(cfg: &PoolConfig) -> Result<MuxProcess, String> {
        let worker = WorkerProcess::spawn(cfg).await?;
        if !worker.mux {
            let module = cfg.worker_module.clone();
            worker.shutdown(cfg.stop_grace).await;
            return Err(format!(
                "{module} does not carry several tasks at once (its hello lacks \"mux\": true); \
                 is the fused package of {} as new as the server?",
                cfg.python
            ));
        }
        let pid = worker.pid;
        let (child, stdin, stdout) = worker.into_parts();
        let (out, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(stdin, rx));
        let pending: Pending = Arc::default();
        let (ended_tx, ended) = watch::channel(false);
        let reader = tokio::spawn(read_loop(
            pid,
            child,
            stdout,
            pending.clone(),
            ended_tx,
            cfg.result_dir.clone(),
        ));
        Ok(MuxProcess {
            pid,
            out,
            pending,
            ended,
            reader: reader.abort_handle(),
        })
    }

    /// Send a request frame for `task_id`; its answer comes through the receiver.
    pub fn send(
        &self,
        task_id: &str,
        frame: Vec<u8>,
    ) -> Result<oneshot::Receiver<Answer>, ExecError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if *self.ended.borrow() {
                return Err(gone(self.pid));
            }
            pending.insert(task_id.to_string(), tx);
        }
        if self.out.send(Outgoing::Frame(frame)).is_err() {
            self.forget(task_id);
            return Err(gone(self.pid));
        }
        Ok(rx)
    }

    /// Stop waiting for `task_id` and ask the process to cancel it (when it is still in
    /// flight).
    pub fn cancel(&self, task_id: &str) {
        if self.forget(task_id) {
            let frame = serde_json::json!({ "cancel": task_id })
                .to_string()
                .into_bytes();
            let _ = self.out.send(Outgoing::Frame(frame));
        }
    }

    fn forget(&self, task_id: &str) -> bool {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(task_id)
            .is_some()
    }

    pub fn is_alive(&self) -> bool {
        !*self.ended.borrow()
    }

    /// Returns when the process has ended (or its reader was stopped).
    pub async fn ended(&self) {
        let mut ended = self.ended.clone();
        let _ = ended.wait_for(|e| *e).await;
    }

    /// Close its stdin (it cancels what is in flight and exits), wait up to `grace`, then
    /// kill it.
    pub async fn shutdown(&self, grace: Duration) {
        let _ = self.out.send(Outgoing::Close);
        if tokio::time::timeout(grace, self.ended()).await.is_err() {
            self.reader.abort();
            self.ended().await; // the reader's end drops the child
        }
    }
}

impl Drop for MuxProcess {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The error of a task whose bridge process has gone.
pub(super) fn gone(pid: u32) -> ExecError {
    ExecError::Unavailable(format!("the Dask bridge process {pid} has ended"))
}

async fn write_loop(mut stdin: ChildStdin, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    while let Some(Outgoing::Frame(frame)) = rx.recv().await {
        if protocol::write_frame(&mut stdin, &frame).await.is_err() {
            return; // the reader sees the process go
        }
    }
}

async fn read_loop(
    pid: u32,
    mut child: Child,
    mut stdout: BufReader<ChildStdout>,
    pending: Pending,
    ended: watch::Sender<bool>,
    result_dir: PathBuf,
) {
    let broke = loop {
        let header: ResponseHeader = match protocol::read_json(&mut stdout).await {
            Ok(h) => h,
            Err(e) => break e,
        };
        let inline = match header.payload {
            Some(Payload::Inline(true)) => match protocol::read_frame(&mut stdout).await {
                Ok(bytes) => Some(bytes),
                Err(e) => break e,
            },
            _ => None,
        };
        let waiter = pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&header.task_id);
        match waiter {
            Some(tx) => {
                let _ = tx.send(Ok((header, inline)));
            }
            None => {
                // a task that gave up: nobody reads its payload file
                if let Some(Payload::File(path)) = &header.payload {
                    let _ = take_payload_file(path, &result_dir, &header.task_id).await;
                }
            }
        }
    };
    let how = match broke {
        FrameError::Eof | FrameError::Io(_) => ended_how(&mut child).await,
        other => {
            let _ = child.kill().await;
            format!("broke the worker protocol ({other}) and was killed")
        }
    };
    let why = format!("the Dask bridge process {pid} {how}; the tasks it carried were lost");
    let lost: Vec<_> = {
        let mut pending = pending.lock().unwrap_or_else(PoisonError::into_inner);
        ended.send_replace(true);
        pending.drain().collect()
    };
    if !lost.is_empty() {
        tracing::warn!(pid, tasks = lost.len(), "{why}");
    }
    for (_, tx) in lost {
        let _ = tx.send(Err(ExecError::Unavailable(why.clone())));
    }
}
