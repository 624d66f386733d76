//! `fused serve` and `fused admin create-user`: the Rust server, run from Python.

use std::path::PathBuf;

use fused_server::config::{LogFormat, ServerConfig};
use fused_server::routes::registry::Registry;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

/// Serve until Ctrl-C or SIGTERM (the GIL is released meanwhile). `log_format`: `json` or
/// `text`; `None`: `$FUSED_LOG_FORMAT`, else `json`.
#[pyfunction]
#[pyo3(signature = (*, host, port, data_dir, workers, python, log_format=None))]
fn serve(
    py: Python<'_>,
    host: String,
    port: u16,
    data_dir: PathBuf,
    workers: usize,
    python: String,
    log_format: Option<String>,
) -> PyResult<()> {
    if workers == 0 {
        return Err(PyValueError::new_err(
            "invalid workers: expected at least 1, got 0",
        ));
    }
    let log_format = match log_format {
        Some(v) => LogFormat::parse(&v).map_err(|e| format!("invalid log_format: {e}")),
        None => LogFormat::from_env().map_err(|e| e.0),
    }
    .map_err(PyValueError::new_err)?;
    let config = ServerConfig {
        host,
        port,
        data_dir,
        workers,
        python,
        cache_memory_mb: ServerConfig::from_env().cache_memory_mb,
        log_format,
    };
    py.detach(|| {
        fused_server::app::init_logging(config.log_format);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| PyOSError::new_err(format!("cannot start the async runtime: {e}")))?;
        runtime
            .block_on(fused_server::app::serve(config))
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))
    })
}

/// Create an account in the registry under `data_dir`; returns its API key (shown once).
#[pyfunction]
fn admin_create_user(py: Python<'_>, email: String, data_dir: PathBuf) -> PyResult<String> {
    py.detach(|| {
        std::fs::create_dir_all(&data_dir).map_err(|e| {
            PyOSError::new_err(format!("data directory {}: {e}", data_dir.display()))
        })?;
        let registry =
            Registry::open(&data_dir).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let (_user, key) = registry
            .create_user(&email)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(key)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(serve, m)?)?;
    m.add_function(wrap_pyfunction!(admin_create_user, m)?)?;
    Ok(())
}
