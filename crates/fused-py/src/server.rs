//! `fused serve` and `fused admin create-user`: the Rust server, run from Python.

use std::path::PathBuf;

use fused_server::config::ServerConfig;
use fused_server::routes::registry::Registry;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

/// Serve until Ctrl-C or SIGTERM (the GIL is released meanwhile).
#[pyfunction]
#[pyo3(signature = (*, host, port, data_dir, workers, python))]
fn serve(
    py: Python<'_>,
    host: String,
    port: u16,
    data_dir: PathBuf,
    workers: usize,
    python: String,
) -> PyResult<()> {
    if workers == 0 {
        return Err(PyValueError::new_err(
            "invalid workers: expected at least 1, got 0",
        ));
    }
    let config = ServerConfig {
        host,
        port,
        data_dir,
        workers,
        python,
        cache_memory_mb: ServerConfig::from_env().cache_memory_mb,
    };
    py.detach(|| {
        fused_server::app::init_logging();
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
