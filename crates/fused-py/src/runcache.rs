//! The run result cache for the local engine (`fused_core::runcache`): `RunKeyer` (run keys,
//! the same as the server's) and `RunStore` (disk tier of record plus a memory tier). Hashing
//! and file I/O are Rust; disk I/O runs with the GIL released.

use std::path::PathBuf;
use std::sync::Arc;

use fused_core::result::{CanonicalResult, Dtype};
use fused_core::runcache::disk::DiskRead;
use fused_core::runcache::key::{code_namespace_of, ParamValue, RunKeyer};
use fused_core::runcache::tiered::TieredStore;
use fused_core::runcache::Entry;
use fused_core::time::now_ms;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyTuple};
use serde_json::Value;

use crate::package::{from_json, to_json};

/// The UDF part of run keys (code, entrypoint, headers, default parameters), hashed once.
#[pyclass(module = "fused._native", name = "RunKeyer", frozen)]
struct PyRunKeyer {
    inner: RunKeyer,
    namespace: String,
}

#[pymethods]
impl PyRunKeyer {
    /// `headers`: `(module_name, source_code)` pairs in order; `defaults`: the default
    /// parameters (JSON values only: anything else is a TypeError/ValueError).
    #[new]
    #[pyo3(signature = (code, entrypoint, headers, defaults=None))]
    fn new(
        code: &str,
        entrypoint: &str,
        headers: Vec<(String, String)>,
        defaults: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let defaults = match defaults {
            Some(d) if !d.is_empty() => match to_json(d.as_any(), "default_parameters", 0)? {
                Value::Object(map) => Some(map),
                _ => None,
            },
            _ => None,
        };
        let inner = RunKeyer::new(
            code,
            entrypoint,
            headers.iter().map(|(n, s)| (n.as_str(), s.as_str())),
            defaults.as_ref(),
        );
        Ok(PyRunKeyer {
            inner,
            namespace: code_namespace_of(code),
        })
    }

    /// The namespace (directory) of this code's entries: the server's code namespace.
    #[getter]
    fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The run key (64 hex digits). `params`: `(name, kind, text)`; kind None is a string
    /// parameter (keyed as the server keys it), else the type of a non-string value whose
    /// canonical text is `text`. `tile`: `(z, x, y)`.
    #[pyo3(signature = (params, tile=None))]
    fn key(
        &self,
        params: Vec<(String, Option<String>, String)>,
        tile: Option<(u32, u32, u32)>,
    ) -> String {
        self.inner.key(
            params.iter().map(|(name, kind, text)| {
                let value = match kind {
                    None => ParamValue::Text(text),
                    Some(kind) => ParamValue::Typed { kind, text },
                };
                (name.as_str(), value)
            }),
            tile,
        )
    }
}

/// Run results under one directory: `<dir>/<namespace>/<key>`, one checksummed file per
/// entry, plus a memory tier of `memory_bytes` (0: none) validated against the file.
#[pyclass(module = "fused._native", name = "RunStore", frozen)]
struct PyRunStore {
    inner: Arc<TieredStore>,
}

/// A canonical result from its parts, as `RunStore.put` and `encode_result` take them:
/// "table" (`payload`: Arrow IPC stream), "raster" (`payload`: raw C-order bytes, `dtype`
/// as numpy's `dtype.str`, `shape`, optional `bounds`), "json" (`value`), "bytes"
/// (`payload`, `content_type`).
pub(crate) fn canonical_from_parts(
    kind: &str,
    payload: Option<&[u8]>,
    value: Option<&Bound<'_, PyAny>>,
    dtype: Option<&str>,
    shape: Option<Vec<usize>>,
    bounds: Option<[f64; 4]>,
    content_type: Option<&str>,
) -> PyResult<CanonicalResult> {
    let need = |what: &str| bad(format!("a {kind} result needs `{what}`"));
    let result = match kind {
        "table" => CanonicalResult::Table {
            ipc: payload.ok_or_else(|| need("payload"))?.to_vec(),
        },
        "raster" => {
            let data = payload.ok_or_else(|| need("payload"))?.to_vec();
            let dtype_text = dtype.ok_or_else(|| need("dtype"))?;
            let dtype = Dtype::from_numpy(dtype_text)
                .ok_or_else(|| bad(format!("unsupported raster dtype {dtype_text:?}")))?;
            let shape = shape.ok_or_else(|| need("shape"))?;
            let expected = shape
                .iter()
                .try_fold(dtype.size(), |a, d| a.checked_mul(*d));
            if expected != Some(data.len()) {
                return Err(bad(format!(
                    "raster of shape {shape:?} and dtype {dtype_text} needs {expected:?} \
                     bytes, got {}",
                    data.len()
                )));
            }
            CanonicalResult::Raster {
                data,
                dtype,
                shape,
                bounds,
            }
        }
        "json" => CanonicalResult::Json(match value {
            Some(v) => to_json(v, "result", 0)?,
            None => Value::Null,
        }),
        "bytes" => CanonicalResult::Bytes {
            data: payload.ok_or_else(|| need("payload"))?.to_vec(),
            content_type: content_type
                .unwrap_or("application/octet-stream")
                .to_string(),
        },
        other => {
            return Err(PyTypeError::new_err(format!(
                "unknown result kind {other:?}: expected table, raster, json or bytes"
            )))
        }
    };
    Ok(result)
}

fn bad(message: String) -> PyErr {
    PyValueError::new_err(message)
}

/// The Python form of a cached result: `("table", ipc: bytes)`, `("raster", data: bytearray,
/// dtype, shape, bounds | None)`, `("json", value)` or `("bytes", data, content_type)`.
fn result_tuple<'py>(py: Python<'py>, result: &CanonicalResult) -> PyResult<Bound<'py, PyTuple>> {
    match result {
        CanonicalResult::Table { ipc } => ("table", PyBytes::new(py, ipc)).into_pyobject(py),
        CanonicalResult::Raster {
            data,
            dtype,
            shape,
            bounds,
        } => (
            "raster",
            PyByteArray::new(py, data),
            dtype.numpy_str(),
            shape.clone(),
            bounds.map(|b| b.to_vec()),
        )
            .into_pyobject(py),
        CanonicalResult::Json(v) => ("json", from_json(py, v)?).into_pyobject(py),
        CanonicalResult::Bytes { data, content_type } => {
            ("bytes", PyBytes::new(py, data), content_type.as_str()).into_pyobject(py)
        }
    }
}

#[pymethods]
impl PyRunStore {
    #[new]
    #[pyo3(signature = (dir, memory_bytes=64 * 1024 * 1024))]
    fn new(dir: PathBuf, memory_bytes: usize) -> Self {
        PyRunStore {
            inner: Arc::new(TieredStore::new(dir, memory_bytes)),
        }
    }

    #[getter]
    fn dir(&self) -> PathBuf {
        self.inner.dir().to_path_buf()
    }

    /// `(status, detail)`: `("hit", result)` (see the result forms above), `("missing",
    /// None)`, `("stale", None)` (older than `max_age_s`, kept), `("expired", None)` (past its
    /// own lifetime, removed) or `("corrupt", reason)` (removed, never served).
    fn get<'py>(
        &self,
        py: Python<'py>,
        namespace: &str,
        key: &str,
        max_age_s: u64,
    ) -> PyResult<(&'static str, Bound<'py, PyAny>)> {
        let store = &self.inner;
        let read = py.detach(|| store.get(namespace, key, max_age_s));
        Ok(match read {
            DiskRead::Hit(e) => ("hit", result_tuple(py, &e.result)?.into_any()),
            DiskRead::Missing => ("missing", py.None().into_bound(py)),
            DiskRead::Stale => ("stale", py.None().into_bound(py)),
            DiskRead::Expired => ("expired", py.None().into_bound(py)),
            DiskRead::Corrupt(e) => ("corrupt", e.to_string().into_pyobject(py)?.into_any()),
        })
    }

    /// Store a result (atomically: a temporary file, then rename) for `max_age_s` seconds.
    /// `kind` and its fields: "table" (`payload`: Arrow IPC stream), "raster" (`payload`: raw
    /// C-order bytes, `dtype` as numpy's `dtype.str`, `shape`, optional `bounds`), "json"
    /// (`value`: None, bool, int, float, str, list or dict with str keys), "bytes"
    /// (`payload`, `content_type`). `tile`: `(z, x, y)`. `OSError` when it cannot be written.
    /// `behind=True` returns before the disk write (served at once, written by a background
    /// thread in put order; `OSError` then reports an earlier write that failed).
    #[pyo3(signature = (namespace, key, max_age_s, kind, *, payload=None, value=None, dtype=None,
                        shape=None, bounds=None, content_type=None, tile=None, behind=false))]
    #[allow(clippy::too_many_arguments)]
    fn put(
        &self,
        py: Python<'_>,
        namespace: &str,
        key: &str,
        max_age_s: u64,
        kind: &str,
        payload: Option<&[u8]>,
        value: Option<&Bound<'_, PyAny>>,
        dtype: Option<&str>,
        shape: Option<Vec<usize>>,
        bounds: Option<[f64; 4]>,
        content_type: Option<&str>,
        tile: Option<(u32, u32, u32)>,
        behind: bool,
    ) -> PyResult<()> {
        let result =
            canonical_from_parts(kind, payload, value, dtype, shape, bounds, content_type)?;
        let entry = Entry {
            result: Arc::new(result),
            created_at: now_ms(),
            max_age: max_age_s,
            tile,
        };
        let store = &self.inner;
        if behind {
            store.put_behind(namespace, key, entry)?;
        } else {
            py.detach(|| store.put(namespace, key, entry))?;
        }
        Ok(())
    }

    /// Wait until every result put with `behind=True` is on disk (`OSError` names the first
    /// one that could not be written since the last report).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let store = &self.inner;
        py.detach(|| store.flush())?;
        Ok(())
    }

    /// `(entries, bytes)` put with `behind=True` and not yet written.
    fn pending_usage(&self) -> (usize, usize) {
        self.inner.pending_usage()
    }

    /// The file of an entry (whether or not it exists); None for names that are not hex.
    fn path(&self, namespace: &str, key: &str) -> Option<PathBuf> {
        self.inner.path(namespace, key)
    }

    /// Remove an entry from both tiers; whether its file existed.
    fn remove(&self, py: Python<'_>, namespace: &str, key: &str) -> bool {
        let store = &self.inner;
        py.detach(|| store.remove(namespace, key))
    }

    /// Forget the memory tier (the files stay).
    fn clear_memory(&self) {
        self.inner.clear_memory();
    }

    /// `(entries, bytes)` held by the memory tier.
    fn memory_usage(&self) -> (usize, usize) {
        self.inner.memory_usage()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRunKeyer>()?;
    m.add_class::<PyRunStore>()?;
    Ok(())
}
