//! `@fused.cache` disk store bindings (`fused_core::fncache`): `cache_get`, `cache_put`,
//! `cache_remove` and `cache_lock` (a context manager). Disk I/O and lock waits run with
//! the GIL released.

use std::path::PathBuf;
use std::time::Duration;

use fused_core::fncache::{CacheLock, CacheStore};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::PyFusedResult;

fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!(
            "invalid {name}: expected seconds >= 0, got {value}"
        ))
    })
}

/// The payload stored under `key` in `dir`, or None when missing, corrupt or older than
/// `max_age_s` seconds (None: any age). Bad entries are removed.
#[pyfunction]
#[pyo3(signature = (dir, key, max_age_s=None))]
fn cache_get<'py>(
    py: Python<'py>,
    dir: PathBuf,
    key: &str,
    max_age_s: Option<f64>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let max_age = max_age_s.map(|s| seconds("max_age_s", s)).transpose()?;
    let store = CacheStore::new(dir);
    let got: PyFusedResult<Option<Vec<u8>>> = py.detach(|| Ok(store.get(key, max_age)?));
    Ok(got?.map(|v| PyBytes::new(py, &v)))
}

/// Store `data` under `key` in `dir` atomically (temp file + rename).
#[pyfunction]
fn cache_put(py: Python<'_>, dir: PathBuf, key: &str, data: &[u8]) -> PyFusedResult<()> {
    let store = CacheStore::new(dir);
    py.detach(|| Ok(store.put(key, data)?))
}

/// Delete the entry for `key`; returns whether there was one.
#[pyfunction]
fn cache_remove(py: Python<'_>, dir: PathBuf, key: &str) -> PyFusedResult<bool> {
    let store = CacheStore::new(dir);
    py.detach(|| Ok(store.remove(key)?))
}

/// An exclusive lock on one key, shared across processes. Use as a context manager;
/// `acquired` says whether the lock was obtained within the timeout.
#[pyclass(module = "fused._native", name = "CacheLock")]
struct PyCacheLock {
    store: CacheStore,
    key: String,
    timeout: Duration,
    held: Option<CacheLock>,
}

#[pymethods]
impl PyCacheLock {
    /// Wait for the lock (up to the timeout); returns True when held, False on timeout.
    fn acquire(&mut self, py: Python<'_>) -> PyFusedResult<bool> {
        if self.held.is_none() {
            let (store, key, timeout) = (&self.store, self.key.as_str(), self.timeout);
            self.held = py.detach(|| store.lock(key, timeout))?;
        }
        Ok(self.held.is_some())
    }

    /// Release the lock if held.
    fn release(&mut self) {
        self.held = None;
    }

    #[getter]
    fn acquired(&self) -> bool {
        self.held.is_some()
    }

    fn __enter__(&mut self, py: Python<'_>) -> PyFusedResult<bool> {
        self.acquire(py)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&mut self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.release();
        false
    }
}

/// A lock object for `key` in `dir` that waits up to `timeout_s` seconds when entered.
#[pyfunction]
fn cache_lock(dir: PathBuf, key: &str, timeout_s: f64) -> PyResult<PyCacheLock> {
    fused_core::fncache::validate_key(key).map_err(crate::error::PyFusedError)?;
    Ok(PyCacheLock {
        store: CacheStore::new(dir),
        key: key.to_string(),
        timeout: seconds("timeout_s", timeout_s)?,
        held: None,
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCacheLock>()?;
    m.add_function(wrap_pyfunction!(cache_get, m)?)?;
    m.add_function(wrap_pyfunction!(cache_put, m)?)?;
    m.add_function(wrap_pyfunction!(cache_remove, m)?)?;
    m.add_function(wrap_pyfunction!(cache_lock, m)?)?;
    Ok(())
}
