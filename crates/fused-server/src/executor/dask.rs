//! The Dask executor: tasks run on a Dask `distributed` cluster instead of this machine's
//! workers.
//!
//! It is the supervised pool of [`LocalPool`] with another worker program: each slot runs
//! `python -m fused._dask_bridge --scheduler ADDR`, which speaks the worker protocol on its
//! pipe (hello, request, answer) and hands each task to the cluster (`distributed.Client`),
//! where the same `fused._worker` code runs it (a `WorkerPlugin` pre-imports the geo stack and
//! keeps compiled code by code hash) and answers in the canonical form. So every guarantee
//! of the pool holds unchanged: the per-task time limit, cancellation when the client goes
//! away, a queue bound, spare bridges, and shutdown. What the cluster adds the bridge reports
//! as error kinds the supervisor maps: `worker_crash` (a Dask worker died running the task:
//! 502, the cluster's nanny replaces it) and `unavailable` (the scheduler cannot be reached:
//! 503, and the bridge reconnects on the next task). The slots are the tasks in flight to the
//! cluster (`--workers`).
//!
//! Without a scheduler address the server starts an embedded `LocalCluster` (one worker
//! process per `--workers`, each with the worker memory limit) through
//! `python -m fused._dask_cluster`, which prints the address and closes the cluster when its
//! stdin closes (at shutdown, or if the server dies).

use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{Executor, LocalPool, PoolConfig, PoolStats, RunFuture, Task};

/// How long the embedded cluster may take to start and print its address.
const CLUSTER_START: Duration = Duration::from_secs(120);
/// How long the embedded cluster gets to close at shutdown.
const CLUSTER_STOP: Duration = Duration::from_secs(20);

/// Where the Dask executor sends its tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaskConfig {
    /// `tcp://HOST:PORT` of a running scheduler; `None`: start an embedded `LocalCluster`.
    pub scheduler: Option<String>,
    /// Memory limit of each embedded worker process in bytes (`None`: Dask's default).
    pub worker_memory: Option<u64>,
}

/// A Dask cluster behind the supervised pool of bridges.
pub struct DaskExecutor {
    pool: LocalPool,
    /// The scheduler the bridges talk to.
    pub scheduler: String,
    cluster: Mutex<Option<Child>>,
}

impl DaskExecutor {
    /// Start the embedded cluster when `dask.scheduler` is `None`, then the bridges (`cfg`
    /// gives their number, time limits and queue; its worker program is replaced).
    pub async fn start(mut cfg: PoolConfig, dask: DaskConfig) -> Result<DaskExecutor, String> {
        let (scheduler, cluster) = if let Some(addr) = dask.scheduler {
            (addr, None)
        } else {
            let (addr, child) = start_cluster(&cfg, dask.worker_memory).await?;
            (addr, Some(child))
        };
        cfg.worker_module = "fused._dask_bridge".into();
        cfg.worker_args = vec!["--scheduler".into(), scheduler.clone()];
        // the memory limit is the Dask workers' (a bridge only waits); a bridge is not
        // recycled (it holds no UDF state)
        cfg.memory_limit = None;
        cfg.max_tasks = 0;
        let pool = LocalPool::start(cfg).map_err(|e| format!("cannot start the bridges: {e}"))?;
        Ok(DaskExecutor {
            pool,
            scheduler,
            cluster: Mutex::new(cluster),
        })
    }
}

/// `python -m fused._dask_cluster`: its first stdout line is `{"address": ...}`.
async fn start_cluster(cfg: &PoolConfig, memory: Option<u64>) -> Result<(String, Child), String> {
    let mut cmd = Command::new(&cfg.python);
    cmd.arg("-m")
        .arg("fused._dask_cluster")
        .arg("--workers")
        .arg(cfg.workers.to_string());
    if let Some(bytes) = memory {
        cmd.arg("--memory-limit").arg(bytes.to_string());
    }
    for (k, v) in &cfg.env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| {
        format!(
            "cannot start {} -m fused._dask_cluster: {e} (pip install fused-rs[dask])",
            cfg.python
        )
    })?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| "the embedded Dask cluster has no stdout".to_string())?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(CLUSTER_START, lines.next_line()).await;
    let line = match line {
        Ok(Ok(Some(line))) => line,
        Ok(Ok(None) | Err(_)) => {
            let status = child
                .wait()
                .await
                .map(|s| s.to_string())
                .unwrap_or_default();
            return Err(format!(
                "the embedded Dask cluster exited before it started ({status}); \
                 is `distributed` installed for {}? (pip install fused-rs[dask])",
                cfg.python
            ));
        }
        Err(_) => {
            return Err(format!(
                "the embedded Dask cluster did not start within {} s",
                CLUSTER_START.as_secs()
            ))
        }
    };
    let address = serde_json::from_str::<serde_json::Value>(&line)
        .ok()
        .and_then(|v| v.get("address")?.as_str().map(str::to_string))
        .ok_or_else(|| format!("the embedded Dask cluster said {line:?}, not its address"))?;
    // keep draining stdout so the cluster never blocks on a full pipe
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((address, child))
}

impl Executor for DaskExecutor {
    fn run(&self, task: Task) -> RunFuture<'_> {
        self.pool.run(task)
    }

    fn stats(&self) -> PoolStats {
        self.pool.stats()
    }

    fn shutdown(&self, grace: Duration) -> super::ShutdownFuture<'_> {
        Box::pin(async move {
            self.pool.shutdown(grace).await;
            let child = self
                .cluster
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(mut child) = child {
                // closing its stdin asks the embedded cluster to close
                drop(child.stdin.take());
                if tokio::time::timeout(CLUSTER_STOP, child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
            }
        })
    }

    fn kind(&self) -> &'static str {
        "dask"
    }
}
