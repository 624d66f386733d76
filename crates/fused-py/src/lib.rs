//! `fused._native`: thin `PyO3` bindings over fused-core. Converts types and maps
//! errors; no logic of its own. Rust work runs with the GIL released where it
//! does not touch Python objects.

use pyo3::prelude::*;

mod encode;
mod error;
mod fncache;
mod github;
mod package;
mod params;
mod pool;
mod runcache;
mod server;
mod tiles;
mod tileset;

use error::PyFusedResult;

/// Parse a `cache_max_age` value ("10s", "30m", "48h", "90d" or whole seconds) into seconds.
#[pyfunction]
fn parse_max_age(value: &str) -> PyFusedResult<u64> {
    Ok(fused_core::duration::parse_max_age(value)?)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(parse_max_age, m)?)?;
    // The server's error codes (`error_type`) and the worker's error kinds: one list each,
    // in Rust, which the SDK and the worker take their names from.
    let codes: Vec<&str> = fused_server::error::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    m.add("ERROR_CODES", pyo3::types::PyTuple::new(m.py(), codes)?)?;
    let kinds: Vec<&str> = fused_server::executor::protocol::WorkerErrorKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    m.add(
        "WORKER_ERROR_KINDS",
        pyo3::types::PyTuple::new(m.py(), kinds)?,
    )?;
    error::register(m)?;
    fncache::register(m)?;
    runcache::register(m)?;
    tiles::register(m)?;
    tileset::register(m)?;
    params::register(m)?;
    package::register(m)?;
    server::register(m)?;
    pool::register(m)?;
    encode::register(m)?;
    github::register(m)?;
    Ok(())
}
