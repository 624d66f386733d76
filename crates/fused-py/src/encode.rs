//! The server's output encoders, callable from Python (benchmarks, tools).

use fused_core::encode::{encode, Format, TileBounds};
use fused_core::result::CanonicalResult;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::PyFusedResult;
use crate::runcache::canonical_from_parts;

/// Encode an Arrow IPC stream (a table; WKB geometry with GeoParquet `geo` metadata or
/// geoarrow.wkb fields) as `format` ("parquet", "geojson", "json", "csv", "arrow", "mvt");
/// `tile` (x, y, z) is needed for "mvt". The GIL is released while encoding.
#[pyfunction]
#[pyo3(signature = (ipc, format, tile=None))]
fn encode_table<'py>(
    py: Python<'py>,
    ipc: Vec<u8>,
    format: &str,
    tile: Option<(u32, u32, u8)>,
) -> PyResult<Bound<'py, PyBytes>> {
    let fmt = Format::from_name(format).ok_or_else(|| {
        PyValueError::new_err(format!(
            "invalid format: expected parquet, geojson, json, csv, arrow or mvt, got {format:?}"
        ))
    })?;
    let tile = tile.map(checked_tile).transpose()?;
    let result = CanonicalResult::Table { ipc };
    let encoded: PyFusedResult<_> = py.detach(|| Ok(encode(&result, fmt, tile)?));
    Ok(PyBytes::new(py, &encoded?.body))
}

/// Encode a canonical result, given by its parts as `RunStore.put` takes them (the form
/// `fused._canonical.for_cache` returns), as `format` (any name the server's `format=`
/// takes: parquet, geojson, json, csv, arrow, mvt, png, tiff, npy): the bytes the server
/// would answer. `tile` (x, y, z) places MVT and tile rasters. `ValueError` when the format
/// does not fit the result. The GIL is released while encoding.
#[pyfunction]
#[pyo3(signature = (kind, format, *, payload=None, value=None, dtype=None, shape=None,
                    bounds=None, content_type=None, tile=None))]
#[allow(clippy::too_many_arguments)]
fn encode_result<'py>(
    py: Python<'py>,
    kind: &str,
    format: &str,
    payload: Option<&[u8]>,
    value: Option<&Bound<'_, PyAny>>,
    dtype: Option<&str>,
    shape: Option<Vec<usize>>,
    bounds: Option<[f64; 4]>,
    content_type: Option<&str>,
    tile: Option<(u32, u32, u8)>,
) -> PyResult<Bound<'py, PyBytes>> {
    let fmt = Format::from_name(format).ok_or_else(|| {
        PyValueError::new_err(format!(
            "invalid format: expected one of parquet, geojson, json, csv, arrow, mvt, png, \
             tiff, npy, got {format:?}"
        ))
    })?;
    let result = canonical_from_parts(kind, payload, value, dtype, shape, bounds, content_type)?;
    let tile = tile.map(checked_tile).transpose()?;
    let encoded: PyFusedResult<_> = py.detach(|| Ok(encode(&result, fmt, tile)?));
    Ok(PyBytes::new(py, &encoded?.body))
}

/// A tile from Python's (x, y, z), checked against the grid (`ValueError` naming the index).
fn checked_tile((x, y, z): (u32, u32, u8)) -> PyResult<TileBounds> {
    TileBounds::new(i64::from(x), i64::from(y), i64::from(z))
        .map_err(|e| PyValueError::new_err(format!("invalid tile: {e}")))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(encode_table, m)?)?;
    m.add_function(wrap_pyfunction!(encode_result, m)?)?;
    Ok(())
}
