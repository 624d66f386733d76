//! [`TilesetWriter`]: the archive an export feeds tile by tile.
//!
//! Empty tiles (no bytes, or an MVT without features) are left out. Identical tiles are
//! stored once (SHA-256 of the tile's bytes). MVT tiles are gzipped (PMTiles `tile_compression`
//! gzip; MBTiles' `pbf` convention). The fields of every vector layer are collected for the
//! metadata's `vector_layers`. The archive is built under a temporary name next to the
//! target (`.<file>.partial-<pid>`) and renamed into place by [`TilesetWriter::finish`]; a
//! writer dropped before that removes its temporary files.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::mvt_info::{layers, merge_fields};
use super::pmtiles::{
    gzip, ArchiveInfo, PmtilesBuilder, COMPRESSION_GZIP, COMPRESSION_NONE, TILE_TYPE_MVT,
    TILE_TYPE_PNG,
};
use super::TileFormat;
use crate::tiles::Tile;
use crate::{Error, Result};

/// The archive format, from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilesetKind {
    Pmtiles,
    Mbtiles,
}

impl TilesetKind {
    pub fn from_path(path: &Path) -> Result<TilesetKind> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("pmtiles") => Ok(TilesetKind::Pmtiles),
            Some("mbtiles") => Ok(TilesetKind::Mbtiles),
            _ => Err(Error::invalid(
                "path",
                "a file name ending in .pmtiles or .mbtiles",
                path.display(),
            )),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            TilesetKind::Pmtiles => "pmtiles",
            TilesetKind::Mbtiles => "mbtiles",
        }
    }
}

/// What the archive's metadata says besides its tiles.
#[derive(Debug, Clone, Default)]
pub struct TilesetMetadata {
    pub name: String,
    pub description: Option<String>,
    pub minzoom: u8,
    pub maxzoom: u8,
    /// `[west, south, east, north]`.
    pub bounds: [f64; 4],
    /// `[lon, lat, zoom]`; default: the middle of `bounds` at `minzoom`.
    pub center: Option<[f64; 3]>,
}

/// Counts of a finished (or running) export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Tiles in the archive.
    pub tiles: u64,
    /// Distinct tile contents stored.
    pub unique: u64,
    /// Empty tiles left out.
    pub empty: u64,
    /// Bytes of tile data stored (after gzip, each content once).
    pub bytes: u64,
}

enum Backend {
    Pmtiles {
        builder: PmtilesBuilder,
        out: File,
    },
    #[cfg(feature = "mbtiles")]
    Mbtiles(super::mbtiles::MbtilesBuilder),
}

pub struct TilesetWriter {
    kind: TilesetKind,
    format: TileFormat,
    path: PathBuf,
    tmp: PathBuf,
    scratch: PathBuf,
    backend: Option<Backend>,
    /// Content hash -> content index (PMTiles) or key (MBTiles).
    seen: HashMap<[u8; 32], u32>,
    layers: BTreeMap<String, BTreeMap<String, String>>,
    stats: WriterStats,
}

fn temp_name(path: &Path, suffix: &str) -> PathBuf {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{file}.partial-{}{suffix}", std::process::id()))
}

impl TilesetWriter {
    /// A writer for `path` (`.pmtiles` or `.mbtiles`). An existing `path` is an error unless
    /// `overwrite`; it is replaced only when the new archive is finished.
    pub fn create(path: &Path, format: TileFormat, overwrite: bool) -> Result<TilesetWriter> {
        let kind = TilesetKind::from_path(path)?;
        if path.exists() && !overwrite {
            return Err(Error::AlreadyExists {
                path: path.display().to_string(),
            });
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(Error::NotFound {
                    path: dir.display().to_string(),
                });
            }
        }
        let tmp = temp_name(path, "");
        let scratch = temp_name(path, ".data");
        let backend = match kind {
            TilesetKind::Pmtiles => {
                let out = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
                let builder = match PmtilesBuilder::create(&scratch) {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(e);
                    }
                };
                Backend::Pmtiles { builder, out }
            }
            #[cfg(feature = "mbtiles")]
            TilesetKind::Mbtiles => Backend::Mbtiles(super::mbtiles::MbtilesBuilder::create(&tmp)?),
            #[cfg(not(feature = "mbtiles"))]
            TilesetKind::Mbtiles => {
                return Err(Error::invalid(
                    "path",
                    "a .pmtiles file (this build has no MBTiles support)",
                    path.display(),
                ))
            }
        };
        Ok(TilesetWriter {
            kind,
            format,
            path: path.to_path_buf(),
            tmp,
            scratch,
            backend: Some(backend),
            seen: HashMap::new(),
            layers: BTreeMap::new(),
            stats: WriterStats::default(),
        })
    }

    pub fn kind(&self) -> TilesetKind {
        self.kind
    }

    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    /// The vector layers seen so far: layer -> field -> type.
    pub fn vector_layers(&self) -> &BTreeMap<String, BTreeMap<String, String>> {
        &self.layers
    }

    /// Add one tile (MVT uncompressed or gzipped; PNG bytes). Returns false when the tile is
    /// empty and left out. Malformed MVT is an error naming the tile.
    pub fn add(&mut self, tile: Tile, data: &[u8]) -> Result<bool> {
        if data.is_empty() {
            self.stats.empty += 1;
            return Ok(false);
        }
        let named = |e: Error| {
            Error::invalid(
                format!("tile {}/{}/{}", tile.z, tile.x, tile.y),
                match self.format {
                    TileFormat::Mvt => "a Mapbox Vector Tile",
                    TileFormat::Png => "a PNG image",
                },
                e,
            )
        };
        let gzipped = data.starts_with(&[0x1f, 0x8b]);
        if self.format == TileFormat::Mvt {
            let raw;
            let mvt = if gzipped {
                raw = super::pmtiles::decompress(data, COMPRESSION_GZIP, "tile").map_err(named)?;
                &raw[..]
            } else {
                data
            };
            let found = layers(mvt).map_err(named)?;
            if found.iter().all(|l| l.features == 0) {
                self.stats.empty += 1;
                return Ok(false);
            }
            for l in found.iter().filter(|l| l.features > 0) {
                merge_fields(self.layers.entry(l.name.clone()).or_default(), &l.fields);
            }
        } else if !data.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Err(named(Error::invalid(
                "tile",
                "PNG signature",
                "other bytes",
            )));
        }
        let hash = crate::hash::sha256(data);
        let known = self.seen.get(&hash).copied();
        let content = if let Some(c) = known {
            c
        } else {
            let stored = if self.format == TileFormat::Mvt && !gzipped {
                gzip(data)
            } else {
                data.to_vec()
            };
            let c = match self.backend.as_mut() {
                Some(Backend::Pmtiles { builder, .. }) => builder.add_content(&stored)?,
                #[cfg(feature = "mbtiles")]
                Some(Backend::Mbtiles(b)) => b.add_content(&hash, &stored)?,
                None => return Err(finished()),
            };
            self.seen.insert(hash, c);
            self.stats.unique += 1;
            self.stats.bytes += stored.len() as u64;
            c
        };
        match self.backend.as_mut() {
            Some(Backend::Pmtiles { builder, .. }) => builder.add_tile(tile, content),
            #[cfg(feature = "mbtiles")]
            Some(Backend::Mbtiles(b)) => b.add_tile(tile, content)?,
            None => return Err(finished()),
        }
        self.stats.tiles += 1;
        Ok(true)
    }

    /// The metadata JSON (TileJSON fields) written into the archive.
    pub fn metadata_json(&self, meta: &TilesetMetadata) -> Value {
        let center = Self::center(meta);
        let mut doc = json!({
            "tilejson": "3.0.0",
            "name": meta.name,
            "format": self.format.mbtiles_name(),
            "type": "overlay",
            "scheme": "xyz",
            "minzoom": meta.minzoom,
            "maxzoom": meta.maxzoom,
            "bounds": meta.bounds,
            "center": center,
            "generator": concat!("fused-rs ", env!("CARGO_PKG_VERSION")),
        });
        if let Some(d) = &meta.description {
            doc["description"] = d.clone().into();
        }
        if self.format == TileFormat::Mvt {
            let mut layers: Vec<Value> = self
                .layers
                .iter()
                .map(|(id, fields)| {
                    json!({"id": id, "fields": fields,
                           "minzoom": meta.minzoom, "maxzoom": meta.maxzoom})
                })
                .collect();
            if layers.is_empty() {
                layers.push(json!({"id": super::tilejson::LAYER, "fields": {},
                                   "minzoom": meta.minzoom, "maxzoom": meta.maxzoom}));
            }
            doc["vector_layers"] = Value::Array(layers);
        }
        doc
    }

    fn center(meta: &TilesetMetadata) -> [f64; 3] {
        meta.center.unwrap_or([
            f64::midpoint(meta.bounds[0], meta.bounds[2]),
            f64::midpoint(meta.bounds[1], meta.bounds[3]),
            f64::from(meta.minzoom),
        ])
    }

    /// Write the metadata, finish the archive and rename it into place.
    pub fn finish(mut self, meta: &TilesetMetadata) -> Result<WriterStats> {
        let result = self.finish_inner(meta);
        if result.is_err() {
            self.cleanup();
        }
        result
    }

    fn finish_inner(&mut self, meta: &TilesetMetadata) -> Result<WriterStats> {
        let doc = self.metadata_json(meta);
        let center = Self::center(meta);
        match self.backend.take() {
            Some(Backend::Pmtiles { builder, mut out }) => {
                let info = ArchiveInfo {
                    tile_type: match self.format {
                        TileFormat::Mvt => TILE_TYPE_MVT,
                        TileFormat::Png => TILE_TYPE_PNG,
                    },
                    tile_compression: match self.format {
                        TileFormat::Mvt => COMPRESSION_GZIP,
                        TileFormat::Png => COMPRESSION_NONE,
                    },
                    min_zoom: meta.minzoom,
                    max_zoom: meta.maxzoom,
                    bounds: meta.bounds,
                    center: [center[0], center[1]],
                    center_zoom: center[2].round().clamp(0.0, 30.0) as u8,
                    metadata: doc.to_string(),
                };
                builder.finish(&mut out, &self.tmp, &info)?;
            }
            #[cfg(feature = "mbtiles")]
            Some(Backend::Mbtiles(b)) => {
                let mut rows: Vec<(String, String)> = vec![
                    ("name".into(), meta.name.clone()),
                    ("format".into(), self.format.mbtiles_name().into()),
                    ("type".into(), "overlay".into()),
                    ("version".into(), "1".into()),
                    ("minzoom".into(), meta.minzoom.to_string()),
                    ("maxzoom".into(), meta.maxzoom.to_string()),
                    (
                        "bounds".into(),
                        meta.bounds.map(|v| v.to_string()).join(","),
                    ),
                    ("center".into(), center.map(|v| v.to_string()).join(",")),
                ];
                if let Some(d) = &meta.description {
                    rows.push(("description".into(), d.clone()));
                }
                if let Some(layers) = doc.get("vector_layers") {
                    rows.push(("json".into(), json!({"vector_layers": layers}).to_string()));
                }
                b.finish(&rows)?;
            }
            None => return Err(finished()),
        }
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        Ok(self.stats)
    }

    /// Give up: remove the temporary files.
    pub fn abort(mut self) {
        self.cleanup();
    }

    fn cleanup(&mut self) {
        match self.backend.take() {
            Some(Backend::Pmtiles { builder, out }) => {
                drop(out);
                builder.abort();
            }
            #[cfg(feature = "mbtiles")]
            Some(Backend::Mbtiles(b)) => drop(b),
            None => {}
        }
        let _ = std::fs::remove_file(&self.tmp);
        let _ = std::fs::remove_file(&self.scratch);
        for suffix in ["-journal", "-wal", "-shm"] {
            let mut p = self.tmp.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
}

impl Drop for TilesetWriter {
    fn drop(&mut self) {
        if self.backend.is_some() {
            self.cleanup();
        }
    }
}

fn finished() -> Error {
    Error::invalid("writer", "a writer that is still open", "a finished writer")
}
