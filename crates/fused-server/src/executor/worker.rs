//! One worker process: start it, wait for its hello, run tasks on it one at a time, stop it.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use fused_core::result::{CanonicalResult, Dtype};
use tokio::io::BufReader;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::config::PoolConfig;
use super::protocol::{self, FrameError, Hello, Payload, Request, ResponseHeader};
use super::{ExecError, Task, TaskOutput};

/// A running `python -m fused._worker`, ready for a task.
pub(crate) struct WorkerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub pid: u32,
    /// The hello said the process carries many tasks at once (`fused._dask_bridge`).
    pub mux: bool,
}

impl WorkerProcess {
    /// Start a worker and wait (up to `start_timeout`) for its hello frame.
    pub async fn spawn(cfg: &PoolConfig) -> Result<WorkerProcess, String> {
        let mut cmd = Command::new(&cfg.python);
        cmd.arg("-m")
            .arg(&cfg.worker_module)
            .args(&cfg.worker_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in &cfg.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {} -m {}: {e}", cfg.python, cfg.worker_module))?;
        let pid = child.id().unwrap_or(0);
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut worker = WorkerProcess {
            child,
            stdin: Some(stdin),
            stdout,
            pid,
            mux: false,
        };
        let hello = tokio::time::timeout(
            cfg.start_timeout,
            protocol::read_json::<_, Hello>(&mut worker.stdout),
        )
        .await;
        match hello {
            Ok(Ok(h)) if h.ready => {
                worker.mux = h.mux;
                Ok(worker)
            }
            Ok(Ok(_)) => Err("worker said it is not ready".into()),
            Ok(Err(e)) => {
                let exit = worker.exit_description().await;
                Err(format!("worker failed to start ({e}); it {exit}"))
            }
            Err(_) => {
                let _ = worker.child.start_kill();
                Err(format!(
                    "worker did not become ready within {} s",
                    cfg.start_timeout.as_secs()
                ))
            }
        }
    }

    /// Run one task. Any `Err` leaves the worker unusable: the caller replaces it.
    pub async fn run(&mut self, task: &Task, cfg: &PoolConfig) -> Result<TaskOutput, ExecError> {
        let request = request_for(task, cfg);
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| ExecError::Protocol("worker stdin closed".into()))?;
        if let Err(e) = protocol::write_json(stdin, &request).await {
            return Err(self.failure(e).await);
        }
        let header: ResponseHeader = match protocol::read_json(&mut self.stdout).await {
            Ok(h) => h,
            Err(e) => return Err(self.failure(e).await),
        };
        if header.task_id != task.task_id {
            return Err(ExecError::Protocol(format!(
                "answer for task {:?} while running {:?}",
                header.task_id, task.task_id
            )));
        }
        let inline = match &header.payload {
            Some(Payload::Inline(true)) => match protocol::read_frame(&mut self.stdout).await {
                Ok(bytes) => Some(bytes),
                Err(e) => return Err(self.failure(e).await),
            },
            _ => None,
        };
        task_output(header, inline, &cfg.result_dir, &task.task_id).await
    }

    /// Take the process apart for a multiplexed pipe ([`super::mux`]): the child, its stdin
    /// and its buffered stdout.
    pub fn into_parts(mut self) -> (Child, ChildStdin, BufReader<ChildStdout>) {
        let stdin = self.stdin.take().expect("a started worker has its stdin");
        (self.child, stdin, self.stdout)
    }

    /// Turn a pipe failure into the error for the task: a crash (with the exit status) when
    /// the worker is gone, else a protocol error.
    async fn failure(&mut self, err: FrameError) -> ExecError {
        match err {
            FrameError::Eof | FrameError::Io(_) => {
                let pid = self.pid;
                let exit = self.exit_description().await;
                ExecError::WorkerCrash(format!("worker {pid} {exit}"))
            }
            other => ExecError::Protocol(other.to_string()),
        }
    }

    async fn exit_description(&mut self) -> String {
        ended_how(&mut self.child).await
    }

    /// True while the process has not exited.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Close its stdin (the worker exits on EOF), wait up to `grace`, then kill it.
    pub async fn shutdown(mut self, grace: Duration) {
        self.stdin.take();
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The request frame for `task`.
pub(super) fn request_for<'a>(task: &'a Task, cfg: &PoolConfig) -> Request<'a> {
    Request {
        task_id: task.task_id.clone(),
        udf: std::borrow::Cow::Borrowed(task.udf.package()),
        udf_hash: task.udf.hash().to_string(),
        parameters: task.parameters.clone(),
        tile: task.tile,
        result_dir: cfg.result_dir.display().to_string(),
        inline_limit: cfg.inline_limit,
        run_key: task.run_key.clone(),
    }
}

/// How a process whose pipe closed ended ("exited with code 1", "was killed by signal 9
/// (SIGKILL)"), killing it when it does not end within two seconds.
pub(super) async fn ended_how(child: &mut Child) -> String {
    match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
        Ok(Ok(status)) => describe_exit(status),
        Ok(Err(e)) => format!("ended in an unknown way ({e})"),
        Err(_) => {
            let _ = child.start_kill();
            "stopped answering and was killed".into()
        }
    }
}

/// "exited with code N" or "was killed by signal N (NAME)".
pub(crate) fn describe_exit(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            let name = match sig {
                2 => " (SIGINT)",
                4 => " (SIGILL)",
                6 => " (SIGABRT)",
                7 => " (SIGBUS)",
                8 => " (SIGFPE)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            return format!("was killed by signal {sig}{name}");
        }
    }
    match status.code() {
        Some(code) => format!("exited with code {code}"),
        None => "exited".into(),
    }
}

/// What an answer's header and inline payload frame (if any) make: the task's output, its
/// payload file (if any) read and deleted.
pub(super) async fn task_output(
    header: ResponseHeader,
    inline: Option<Vec<u8>>,
    result_dir: &Path,
    task_id: &str,
) -> Result<TaskOutput, ExecError> {
    let payload = match &header.payload {
        Some(Payload::Inline(true)) => inline,
        Some(Payload::File(path)) => Some(take_payload_file(path, result_dir, task_id).await?),
        Some(Payload::Inline(false)) | None => None,
    };
    let result = match (header.ok, header.error.clone()) {
        (true, _) => Ok(canonical(&header, payload)?),
        (false, Some(err)) => Err(err),
        (false, None) => {
            return Err(ExecError::Protocol(
                "failed task without an error description".into(),
            ))
        }
    };
    Ok(TaskOutput {
        result,
        stdout: header.stdout,
        stderr: header.stderr,
    })
}

/// Read and delete a payload file, refusing any path outside the result directory.
pub(super) async fn take_payload_file(
    path: &str,
    result_dir: &Path,
    task_id: &str,
) -> Result<Vec<u8>, ExecError> {
    let path = PathBuf::from(path);
    let inside = path.parent() == Some(result_dir)
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.strip_suffix(".bin") == Some(task_id));
    if !inside {
        return Err(ExecError::Protocol(format!(
            "payload file {} is not this task's file in {}",
            path.display(),
            result_dir.display()
        )));
    }
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| ExecError::Protocol(format!("cannot read payload {}: {e}", path.display())));
    let _ = tokio::fs::remove_file(&path).await;
    bytes
}

/// Build the canonical result from a successful answer.
fn canonical(h: &ResponseHeader, payload: Option<Vec<u8>>) -> Result<CanonicalResult, ExecError> {
    let bad = |m: String| ExecError::Protocol(m);
    let data = payload.ok_or_else(|| bad("successful answer without a payload".into()))?;
    match h.kind.as_deref() {
        Some("table") => Ok(CanonicalResult::Table { ipc: data }),
        Some("raster") => {
            let dtype_str = h.dtype.as_deref().unwrap_or("");
            let dtype = Dtype::from_numpy(dtype_str)
                .ok_or_else(|| bad(format!("unsupported raster dtype {dtype_str:?}")))?;
            let shape = h.shape.clone().unwrap_or_default();
            let want = shape.iter().product::<usize>() * dtype.size();
            if want != data.len() {
                return Err(bad(format!(
                    "raster of shape {shape:?} and dtype {dtype_str} needs {want} bytes, got {}",
                    data.len()
                )));
            }
            Ok(CanonicalResult::Raster {
                data,
                dtype,
                shape,
                bounds: h.bounds,
            })
        }
        Some("json") => serde_json::from_slice(&data)
            .map(CanonicalResult::Json)
            .map_err(|e| bad(format!("JSON result does not parse: {e}"))),
        Some("bytes") => Ok(CanonicalResult::Bytes {
            data,
            content_type: h
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into()),
        }),
        other => Err(bad(format!("unknown result kind {other:?}"))),
    }
}

/// Send `sig` to a worker. The worker is our unreaped child while we hold its `Child`, so the
/// pid cannot have been reused.
#[cfg(unix)]
pub(crate) fn send_signal(pid: u32, sig: i32) {
    if pid > 0 {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(pid as libc::pid_t, sig);
        }
    }
}

#[cfg(unix)]
pub(crate) const SIGKILL: i32 = libc::SIGKILL;
/// The worker turns it into an interruption of the running UDF (see `fused._worker`).
#[cfg(unix)]
pub(crate) const SIGCANCEL: i32 = libc::SIGUSR1;

#[cfg(not(unix))]
pub(crate) fn send_signal(_pid: u32, _sig: i32) {}
#[cfg(not(unix))]
pub(crate) const SIGKILL: i32 = 9;
#[cfg(not(unix))]
pub(crate) const SIGCANCEL: i32 = 10;

/// Resident memory of a process in bytes (Linux `/proc/<pid>/statm`); `None` elsewhere.
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no memory-safety preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if n > 0 {
            return n as u64;
        }
    }
    4096
}
