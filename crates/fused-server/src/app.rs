//! Start-up and shutdown: open the registry, bind, start the worker pool in the background,
//! serve until Ctrl-C / SIGTERM, stop the workers. Shared by the `fused-server` binary and
//! `fused serve` (through `fused._native`).

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::auth;
use crate::config::ExecutorChoice;
use crate::config::{LogFormat, ServerConfig};
use crate::executor::{DaskConfig, DaskExecutor, Executor, LocalPool, PoolConfig};
use crate::registry::Registry;
use crate::routes::{router, AppState};

/// How long idle workers get to exit at shutdown (the requests were drained before).
const POOL_STOP_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the registry: {0}")]
    Registry(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// Log to stderr in `format` (`RUST_LOG` filters; default `info`). JSON lines have the
/// event's fields at the top level. Safe to call twice (the first call wins).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Serve until Ctrl-C or SIGTERM.
pub async fn serve(config: ServerConfig) -> Result<(), ServeError> {
    serve_until(config, shutdown_signal(), |_| {}).await
}

/// Serve until `shutdown` resolves; `on_ready` gets the bound address (port 0 picks one).
pub async fn serve_until(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let data_dir = prepare_data_dir(&config)?;
    let registry = Registry::open(&data_dir).map_err(|e| ServeError::Registry(e.to_string()))?;
    let addr = format!("{}:{}", config.host, config.port);
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.clone(),
            source,
        })?;
    let local = listener.local_addr().map_err(ServeError::Serve)?;
    let mut pool_cfg = PoolConfig::new(&config.python, config.workers, data_dir.join("tmp"));
    pool_cfg.env.push(("FUSED_WORKER".into(), "1".into()));
    pool_cfg.timeout = config.timeout;
    pool_cfg.memory_limit = (config.worker_memory_mb > 0).then_some(config.worker_memory_mb << 20);
    pool_cfg.max_tasks = config.worker_max_tasks;
    pool_cfg.queue_size = config.queue_size;
    pool_cfg.spares = config.spare_workers;
    let pool: Arc<dyn Executor> = match &config.executor {
        ExecutorChoice::Local => {
            Arc::new(
                LocalPool::start(pool_cfg).map_err(|source| ServeError::DataDir {
                    path: data_dir.join("tmp").display().to_string(),
                    source,
                })?,
            )
        }
        ExecutorChoice::Dask {
            scheduler,
            in_flight,
        } => {
            let dask = DaskConfig {
                scheduler: scheduler.clone(),
                in_flight: *in_flight,
                worker_memory: (config.worker_memory_mb > 0)
                    .then_some(config.worker_memory_mb << 20),
            };
            if let Some(addr) = &dask.scheduler {
                tracing::info!(scheduler = %addr, "tasks go to the Dask cluster");
            } else {
                tracing::info!("starting an embedded Dask cluster");
            }
            Arc::new(DaskExecutor::start(pool_cfg, dask))
        }
    };
    let state = AppState::new(pool.clone(), Arc::new(registry))
        .with_cache(
            (config.cache_memory_mb as usize).saturating_mul(1024 * 1024),
            Some(data_dir.join("cache")),
        )
        .with_limits(config.timeout, config.max_timeout)
        .with_basemap_style(config.basemap_style.clone())
        .with_tilesets(data_dir.join("tilesets"))
        // jobs get every worker (on Dask: every task in flight) but one, so interactive
        // requests always find one free
        .with_jobs(
            data_dir.join("jobs"),
            pool.stats().configured.saturating_sub(1).max(1),
        )
        .map_err(|source| ServeError::DataDir {
            path: data_dir.join("jobs").display().to_string(),
            source,
        })?;
    let _ = std::fs::create_dir_all(data_dir.join("tilesets"));
    let app = router(state, auth::AuthConfig::default());
    tracing::info!(
        "fused-server {} listening on http://{local} ({} {} workers, python {}, data {})",
        env!("CARGO_PKG_VERSION"),
        config.workers,
        pool.kind(),
        config.python,
        data_dir.display()
    );
    on_ready(local);
    // One line on stdout once a worker can take tasks (`/health` says "ok" from then on).
    let watched = pool.clone();
    // on Dask, `/health`'s workers are the task slots on the cluster (`--dask-in-flight`)
    let noun = if pool.kind() == "dask" {
        "Dask task slots"
    } else {
        "workers"
    };
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        loop {
            let stats = watched.stats();
            if stats.alive > 0 {
                println!(
                    "fused-server ready on http://{local} ({} of {} {noun} up after {:.1} s)",
                    stats.alive,
                    stats.configured,
                    started.elapsed().as_secs_f64()
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    // On the signal: stop accepting, let the requests in flight finish (and the tasks queued
    // for them run) for up to the grace period, then drop what is left and stop the workers.
    let (signalled_tx, mut signalled) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = signalled_tx.send(true);
        })
        .into_future();
    let grace = config.shutdown_grace;
    let drain_limit = async move {
        let _ = signalled.wait_for(|s| *s).await;
        tracing::info!(
            "shutting down: draining requests in flight (up to {} s)",
            grace.as_secs_f64()
        );
        tokio::time::sleep(grace).await;
    };
    let served = tokio::select! {
        r = server => r,
        () = drain_limit => {
            let stats = pool.stats();
            tracing::warn!(
                busy = stats.busy,
                queued = stats.queued,
                "shutdown grace period over: dropping the requests still in flight"
            );
            Ok(())
        }
    };
    tracing::info!("stopping workers");
    pool.shutdown(POOL_STOP_GRACE).await;
    served.map_err(ServeError::Serve)
}

/// Create the data directory and `tmp/` in it, remove payload files left by a previous run,
/// and return the absolute data directory.
fn prepare_data_dir(config: &ServerConfig) -> Result<std::path::PathBuf, ServeError> {
    let err = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| ServeError::DataDir { path, source }
    };
    let tmp = config.tmp_dir();
    std::fs::create_dir_all(&tmp).map_err(err(&tmp))?;
    let data_dir = std::fs::canonicalize(&config.data_dir).map_err(err(&config.data_dir))?;
    if let Ok(entries) = std::fs::read_dir(data_dir.join("tmp")) {
        for entry in entries.flatten() {
            if entry
                .path()
                .extension()
                .is_some_and(|e| e == "bin" || e == "part")
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(data_dir)
}

/// Resolves on Ctrl-C or (Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("interrupted"),
        () = term => tracing::info!("terminated"),
    }
}
