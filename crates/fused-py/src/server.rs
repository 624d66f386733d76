//! `fused serve` and `fused admin create-user`: the Rust server, run from Python.

use std::path::PathBuf;

use fused_server::config::{help, parse_args, Command};
use fused_server::registry::Registry;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

/// `fused serve [OPTIONS]`: parse the options with the server's own parser (the same flags
/// as `fused-server`), then serve until Ctrl-C or SIGTERM (the GIL is released meanwhile).
/// `python` and `data_dir` are the defaults when the options do not name them. `--help`
/// prints the help; a bad option raises `ValueError` naming it.
#[pyfunction]
#[pyo3(signature = (args, *, python, data_dir))]
fn serve(py: Python<'_>, args: Vec<String>, python: String, data_dir: PathBuf) -> PyResult<()> {
    let mut argv = vec![
        "serve".to_string(),
        "--python".to_string(),
        python,
        "--data-dir".to_string(),
        data_dir.display().to_string(),
    ];
    argv.extend(args);
    let config = match parse_args(argv) {
        Ok(Command::Serve(config)) => config,
        Ok(Command::Help(_)) => {
            print!("{}", help("fused serve"));
            return Ok(());
        }
        Ok(Command::Version) => {
            println!("fused serve {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        Ok(Command::CreateUser { .. }) => {
            return Err(PyValueError::new_err("use `fused admin create-user EMAIL`"));
        }
        Err(e) => {
            return Err(PyValueError::new_err(format!(
                "{} (see fused serve --help)",
                e.0
            )));
        }
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
