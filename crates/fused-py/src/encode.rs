//! The server's output encoders, callable from Python (benchmarks, tools).

use fused_core::encode::{encode, Format, TileBounds};
use fused_core::result::CanonicalResult;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::PyFusedResult;

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
    let tile = tile.map(|(x, y, z)| TileBounds { x, y, z });
    let result = CanonicalResult::Table { ipc };
    let encoded: PyFusedResult<_> = py.detach(|| Ok(encode(&result, fmt, tile)?));
    Ok(PyBytes::new(py, &encoded?.body))
}

/// Encode a raster (C-order bytes, numpy `dtype.str`, shape) as `format` ("png", "tiff" or
/// "npy"). The GIL is released while encoding.
#[pyfunction]
fn encode_raster<'py>(
    py: Python<'py>,
    data: Vec<u8>,
    dtype: &str,
    shape: Vec<usize>,
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let fmt = Format::from_name(format)
        .filter(|f| matches!(f, Format::Png | Format::Tiff | Format::Npy))
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "invalid format: expected png, tiff or npy, got {format:?}"
            ))
        })?;
    let dtype = fused_core::result::Dtype::from_numpy(dtype).ok_or_else(|| {
        PyValueError::new_err(format!(
            "invalid dtype: expected a numpy dtype string, got {dtype:?}"
        ))
    })?;
    let result = CanonicalResult::Raster {
        data,
        dtype,
        shape,
        bounds: None,
    };
    let encoded: PyFusedResult<_> = py.detach(|| Ok(encode(&result, fmt, None)?));
    Ok(PyBytes::new(py, &encoded?.body))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(encode_table, m)?)?;
    m.add_function(wrap_pyfunction!(encode_raster, m)?)?;
    Ok(())
}
