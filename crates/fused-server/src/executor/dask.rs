//! The Dask executor: tasks run on a Dask `distributed` cluster instead of this machine's
//! workers.
//!
//! One bridge process, `python -m fused._dask_bridge --scheduler ADDR`, holds the
//! `distributed.Client` and carries every task on one multiplexed pipe ([`super::mux`]):
//! requests that arrive together go to the cluster in one `client.map`, answers come back
//! tagged by task id, and a task whose caller went away or whose time ran out is cancelled
//! with a cancel frame. On the cluster the same code as a local worker runs it
//! (`fused._dask.run_request`: a `WorkerPlugin` pre-imports the geo stack and keeps compiled
//! code by code hash) and answers in the canonical form. [`BridgePool`] keeps the bridge
//! running (a new one when it dies), bounds the tasks in flight to the cluster
//! (`--dask-in-flight`) and the queue in front of them, and enforces time limits. What the
//! cluster adds the bridge reports as error kinds: `worker_crash` (a Dask worker died running
//! the task: 502, the cluster's nanny replaces it) and `unavailable` (the scheduler cannot be
//! reached: 503, and the bridge connects again for the next task).
//!
//! Without a scheduler address the server starts an embedded `LocalCluster` (one worker
//! process per `--workers`, each with the worker memory limit) through
//! `python -m fused._dask_cluster`, which prints the address and closes the cluster when its
//! stdin closes (at shutdown, or if the server dies). The cluster starts in the background:
//! the server answers at once (`/health` says "starting" until the bridge is up), tasks wait
//! for it, and a cluster that cannot start answers every task 503 with the reason.

use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::bridge::BridgePool;
use super::{ExecError, Executor, PoolConfig, PoolStats, RunFuture, Task};

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
    /// Tasks on the cluster at once (more wait in the server's queue).
    pub in_flight: usize,
}

/// How far the executor has come.
#[derive(Clone)]
enum Started {
    /// The embedded cluster is starting.
    Starting,
    /// The bridge runs (or starts) against this scheduler.
    Ready(Arc<BridgePool>, String),
    /// The embedded cluster could not start: why.
    Failed(String),
}

/// A Dask cluster behind the supervised pool of bridges.
pub struct DaskExecutor {
    started: watch::Receiver<Started>,
    configured: usize,
    /// The embedded cluster's process (closed at shutdown).
    cluster: Arc<Mutex<Option<Child>>>,
}

impl DaskExecutor {
    /// The bridges against `dask.scheduler`, or, when it is `None`, against an embedded
    /// `LocalCluster` started in the background. `cfg` gives the number of bridges, the time
    /// limits and the queue; its worker program is replaced. Needs a tokio runtime.
    pub fn start(mut cfg: PoolConfig, dask: DaskConfig) -> DaskExecutor {
        let configured = dask.in_flight.max(1);
        let cluster: Arc<Mutex<Option<Child>>> = Arc::default();
        // the memory limit is the Dask workers' (the bridge only waits)
        cfg.worker_module = "fused._dask_bridge".into();
        cfg.memory_limit = None;
        let embedded_workers = cfg.workers;
        let bridges = move |cfg: &mut PoolConfig, scheduler: &str| {
            cfg.worker_args = vec!["--scheduler".into(), scheduler.to_string()];
            match BridgePool::start(cfg.clone(), configured) {
                Ok(pool) => Started::Ready(Arc::new(pool), scheduler.to_string()),
                Err(e) => Started::Failed(format!("cannot start the bridge: {e}")),
            }
        };
        let (tx, started) = watch::channel(Started::Starting);
        if let Some(addr) = &dask.scheduler {
            tx.send_replace(bridges(&mut cfg, addr));
        } else {
            let slot = cluster.clone();
            let memory = dask.worker_memory;
            tokio::spawn(async move {
                let state = match start_cluster(&cfg, embedded_workers, memory, &slot).await {
                    Ok(addr) => {
                        tracing::info!(scheduler = %addr, "embedded Dask cluster started");
                        bridges(&mut cfg, &addr)
                    }
                    Err(e) => {
                        tracing::error!("{e}");
                        Started::Failed(e)
                    }
                };
                tx.send_replace(state);
            });
        }
        DaskExecutor {
            started,
            configured,
            cluster,
        }
    }

    /// The scheduler the bridge talks to, once known.
    pub fn scheduler(&self) -> Option<String> {
        match &*self.started.borrow() {
            Started::Ready(_, addr) => Some(addr.clone()),
            _ => None,
        }
    }

    fn pool(&self) -> Option<Arc<BridgePool>> {
        match &*self.started.borrow() {
            Started::Ready(pool, _) => Some(pool.clone()),
            _ => None,
        }
    }
}

/// `python -m fused._dask_cluster`: its first stdout line is `{"address": ...}`.
async fn start_cluster(
    cfg: &PoolConfig,
    workers: usize,
    memory: Option<u64>,
    slot: &Mutex<Option<Child>>,
) -> Result<String, String> {
    let mut cmd = Command::new(&cfg.python);
    cmd.arg("-m")
        .arg("fused._dask_cluster")
        .arg("--workers")
        .arg(workers.to_string());
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
    let stdout = child.stdout.take();
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(child);
    let stdout = stdout.ok_or_else(|| "the embedded Dask cluster has no stdout".to_string())?;
    let mut lines = BufReader::new(stdout).lines();
    let line = match tokio::time::timeout(CLUSTER_START, lines.next_line()).await {
        Ok(Ok(Some(line))) => line,
        Ok(Ok(None) | Err(_)) => {
            return Err(format!(
                "the embedded Dask cluster exited before it started; is `distributed` \
                 installed for {}? (pip install fused-rs[dask])",
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
    Ok(address)
}

impl Executor for DaskExecutor {
    fn run(&self, task: Task) -> RunFuture<'_> {
        Box::pin(async move {
            let mut started = self.started.clone();
            let state = started
                .wait_for(|s| !matches!(s, Started::Starting))
                .await
                .map_or_else(
                    |_| Started::Failed("the executor stopped".into()),
                    |s| s.clone(),
                );
            match state {
                Started::Ready(pool, _) => pool.run(task).await,
                Started::Failed(why) => Err(ExecError::Unavailable(why)),
                Started::Starting => Err(ExecError::Unavailable("still starting".into())),
            }
        })
    }

    fn stats(&self) -> PoolStats {
        self.pool().map_or(
            PoolStats {
                configured: self.configured,
                ..PoolStats::default()
            },
            |pool| pool.stats(),
        )
    }

    fn shutdown(&self, grace: Duration) -> super::ShutdownFuture<'_> {
        Box::pin(async move {
            if let Some(pool) = self.pool() {
                pool.shutdown(grace).await;
            }
            let child = self
                .cluster
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
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
