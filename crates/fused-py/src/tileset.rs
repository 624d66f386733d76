//! Tilesets for `fused.tiles.export` (python/fused/_export.py): the tile plan (count and
//! order) and the archive writer. The logic is `fused_core::tileset`'s.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use fused_core::tiles::{LngLatBbox, Tile};
use fused_core::tileset::writer::{TilesetMetadata, WriterStats};
use fused_core::tileset::{self as core, TileFormat, TilesetWriter};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::PyFusedResult;

fn bbox(b: (f64, f64, f64, f64)) -> LngLatBbox {
    LngLatBbox {
        west: b.0,
        south: b.1,
        east: b.2,
        north: b.3,
    }
}

/// How many tiles cover `bbox` (west, south, east, north) at zooms `minzoom..=maxzoom`.
#[pyfunction]
fn tileset_count(b: (f64, f64, f64, f64), minzoom: i64, maxzoom: i64) -> PyFusedResult<u64> {
    Ok(core::count_export_tiles(bbox(b), minzoom, maxzoom)?)
}

/// The tiles covering `bbox` at `minzoom..=maxzoom` as (x, y, z), in PMTiles tile id order.
#[pyfunction]
fn tileset_plan(
    py: Python<'_>,
    b: (f64, f64, f64, f64),
    minzoom: i64,
    maxzoom: i64,
) -> PyFusedResult<Vec<(u32, u32, u8)>> {
    let tiles = py.detach(|| core::export_tiles(bbox(b), minzoom, maxzoom))?;
    Ok(tiles.into_iter().map(|t| (t.x, t.y, t.z)).collect())
}

/// The PMTiles tile id of tile (z, x, y).
#[pyfunction]
fn tileset_tile_id(z: i64, x: i64, y: i64) -> PyFusedResult<u64> {
    Ok(core::tile_id(Tile::new(x, y, z)?))
}

/// (layer name, feature count, field -> type).
type LayerTuple = (String, u64, BTreeMap<String, String>);

/// The layers of an MVT tile (raw or gzipped): [(name, feature count, {field: type})].
#[pyfunction]
fn mvt_layers(data: &[u8]) -> PyFusedResult<Vec<LayerTuple>> {
    let raw;
    let mvt = if data.starts_with(&[0x1f, 0x8b]) {
        raw = core::pmtiles::decompress(data, core::pmtiles::COMPRESSION_GZIP, "tile")?;
        &raw[..]
    } else {
        data
    };
    Ok(core::mvt_info::layers(mvt)?
        .into_iter()
        .map(|l| (l.name, l.features, l.fields))
        .collect())
}

/// A PMTiles or MBTiles archive being written (see `fused_core::tileset::writer`).
#[pyclass(module = "fused._native", name = "TilesetWriter", frozen)]
struct PyTilesetWriter {
    inner: Mutex<Option<TilesetWriter>>,
}

fn stats_dict(py: Python<'_>, s: WriterStats) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("tiles", s.tiles)?;
    d.set_item("unique", s.unique)?;
    d.set_item("empty", s.empty)?;
    d.set_item("bytes", s.bytes)?;
    Ok(d)
}

impl PyTilesetWriter {
    fn lock(&self) -> MutexGuard<'_, Option<TilesetWriter>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn closed() -> fused_core::Error {
    fused_core::Error::invalid(
        "writer",
        "an open TilesetWriter",
        "a finished or aborted one",
    )
}

#[pymethods]
impl PyTilesetWriter {
    /// `path` ends in .pmtiles or .mbtiles; `format` is "mvt" or "png". The archive is
    /// written under a temporary name and renamed by `finish()`.
    #[new]
    #[pyo3(signature = (path, format, overwrite=false))]
    fn new(path: PathBuf, format: &str, overwrite: bool) -> PyFusedResult<Self> {
        let format = TileFormat::from_name(format)?;
        let w = TilesetWriter::create(&path, format, overwrite)?;
        Ok(PyTilesetWriter {
            inner: Mutex::new(Some(w)),
        })
    }

    /// Add tile (x, y, z); False when it is empty and left out.
    fn add(&self, py: Python<'_>, x: i64, y: i64, z: i64, data: &[u8]) -> PyFusedResult<bool> {
        let tile = Tile::new(x, y, z)?;
        // The lock is taken without the GIL, so two threads sharing a writer cannot deadlock.
        Ok(py.detach(|| {
            let mut guard = self.lock();
            guard.as_mut().ok_or_else(closed)?.add(tile, data)
        })?)
    }

    /// {"tiles", "unique", "empty", "bytes"} so far.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self
            .lock()
            .as_ref()
            .map(TilesetWriter::stats)
            .unwrap_or_default();
        stats_dict(py, s)
    }

    /// Layer -> field -> type of the vector tiles added so far.
    fn vector_layers(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.lock()
            .as_ref()
            .map(|w| w.vector_layers().clone())
            .unwrap_or_default()
    }

    /// Write the metadata, finish the archive, rename it into place; returns the stats.
    #[pyo3(signature = (name, minzoom, maxzoom, bounds, description=None, center=None))]
    #[allow(clippy::too_many_arguments)]
    fn finish<'py>(
        &self,
        py: Python<'py>,
        name: String,
        minzoom: u8,
        maxzoom: u8,
        bounds: (f64, f64, f64, f64),
        description: Option<String>,
        center: Option<(f64, f64, f64)>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let w = py
            .detach(|| self.lock().take())
            .ok_or_else(closed)
            .map_err(crate::error::PyFusedError)?;
        let meta = TilesetMetadata {
            name,
            description,
            minzoom,
            maxzoom,
            bounds: [bounds.0, bounds.1, bounds.2, bounds.3],
            center: center.map(|c| [c.0, c.1, c.2]),
        };
        let stats = py
            .detach(|| w.finish(&meta))
            .map_err(crate::error::PyFusedError)?;
        stats_dict(py, stats)
    }

    /// Give up: remove the temporary files (also done when the writer is garbage collected).
    fn abort(&self) {
        if let Some(w) = self.lock().take() {
            w.abort();
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(tileset_count, m)?)?;
    m.add_function(wrap_pyfunction!(tileset_plan, m)?)?;
    m.add_function(wrap_pyfunction!(tileset_tile_id, m)?)?;
    m.add_function(wrap_pyfunction!(mvt_layers, m)?)?;
    m.add_class::<PyTilesetWriter>()?;
    Ok(())
}
