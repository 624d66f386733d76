//! Output formats and their negotiation (`format=`, legacy `dtype_out_*=`, extension).

use crate::result::CanonicalResult;
use crate::{Error, Result};

/// An output format the encoders can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// GeoParquet (the `geo` metadata is kept in the file's key-value metadata).
    Parquet,
    /// A GeoJSON FeatureCollection.
    GeoJson,
    /// JSON: an array of records for tables, the value itself for simple results.
    Json,
    /// CSV with a header row; geometry as WKT.
    Csv,
    /// Arrow IPC file format (Feather v2).
    Arrow,
    /// Mapbox Vector Tile (tiles only).
    Mvt,
    /// PNG image (uint8 or bool rasters).
    Png,
    /// GeoTIFF placed by the raster's bounds, else the tile's (a plain TIFF with neither).
    Tiff,
    /// NumPy `.npy` v1.0.
    Npy,
    /// Bytes passed through with the content type the UDF gave them.
    Raw,
}

/// Formats a table can be written as, in the order error messages list them.
const TABLE_FORMATS: [Format; 6] = [
    Format::Parquet,
    Format::GeoJson,
    Format::Json,
    Format::Csv,
    Format::Arrow,
    Format::Mvt,
];
const RASTER_FORMATS: [Format; 3] = [Format::Png, Format::Tiff, Format::Npy];

impl Format {
    /// The format for a name (case-insensitive, surrounding blanks ignored):
    /// `parquet`, `geojson`, `json`, `csv`, `arrow`/`feather`, `mvt`/`pbf`, `png`,
    /// `tiff`/`tif`, `npy`. `Raw` has no name: it is chosen for bytes results only.
    pub fn from_name(s: &str) -> Option<Format> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "parquet" => Format::Parquet,
            "geojson" => Format::GeoJson,
            "json" => Format::Json,
            "csv" => Format::Csv,
            "arrow" | "feather" => Format::Arrow,
            "mvt" | "pbf" => Format::Mvt,
            "png" => Format::Png,
            "tiff" | "tif" => Format::Tiff,
            "npy" => Format::Npy,
            _ => return None,
        })
    }

    /// The canonical name (what [`Format::from_name`] accepts first).
    pub fn name(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::GeoJson => "geojson",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Arrow => "arrow",
            Format::Mvt => "mvt",
            Format::Png => "png",
            Format::Tiff => "tiff",
            Format::Npy => "npy",
            Format::Raw => "raw",
        }
    }

    /// The HTTP content type. For `Raw` the result's own content type is used instead
    /// (this returns `application/octet-stream`).
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Parquet => "application/vnd.apache.parquet",
            Format::GeoJson => "application/geo+json",
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.file",
            Format::Mvt => "application/vnd.mapbox-vector-tile",
            Format::Png => "image/png",
            Format::Tiff => "image/tiff",
            Format::Npy | Format::Raw => "application/octet-stream",
        }
    }

    /// The file extension, without the dot: the name, except `Raw`: `bin`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Raw => "bin",
            other => other.name(),
        }
    }
}

/// The formats a result can be encoded as, in preference order (the first is the default).
/// `mvt` fits a table only on a tile request.
pub fn formats_for(result: &CanonicalResult, is_tile: bool) -> Vec<Format> {
    match result {
        CanonicalResult::Table { .. } => TABLE_FORMATS
            .iter()
            .copied()
            .filter(|f| is_tile || *f != Format::Mvt)
            .collect(),
        CanonicalResult::Raster { .. } => RASTER_FORMATS.to_vec(),
        CanonicalResult::Json(_) => vec![Format::Json],
        CanonicalResult::Bytes { .. } => vec![Format::Raw],
    }
}

/// What the client asked for. Every field is optional; empty strings count as absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct FormatRequest<'a> {
    /// `format=`: a comma-separated preference list, e.g. `"mvt,geojson"`.
    pub format: Option<&'a str>,
    /// Legacy `dtype_out_vector=` (applies to table results only).
    pub dtype_out_vector: Option<&'a str>,
    /// Legacy `dtype_out_raster=` (applies to raster results only).
    pub dtype_out_raster: Option<&'a str>,
    /// The extension of the URL path, without the dot (e.g. `"mvt"` from `.../1/2/3.mvt`).
    pub extension: Option<&'a str>,
    /// Whether this is a tile request (`mvt` is possible only then).
    pub is_tile: bool,
}

fn present(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Choose the output format for `result`.
///
/// Bytes results are always passed through (`Format::Raw`), whatever was asked. Otherwise
/// the first source present decides, and the sources do not fall through to each other:
///
/// 1. `format=`: the first name in the list that fits the result kind (unknown names and
///    names that do not fit are skipped); none fits -> error;
/// 2. `dtype_out_vector=` for a table, `dtype_out_raster=` for a raster (the other one is
///    ignored; both are ignored for simple JSON results); does not fit -> error;
/// 3. the URL extension; does not fit -> error;
/// 4. the default: parquet for tables, png for rasters, json for simple values.
///
/// An impossible request is [`Error::UnsupportedFormat`] naming what was requested, the
/// result kind and the formats that fit.
pub fn choose_format(result: &CanonicalResult, req: &FormatRequest) -> Result<Format> {
    if let CanonicalResult::Bytes { .. } = result {
        return Ok(Format::Raw);
    }
    let fits = formats_for(result, req.is_tile);
    let unsupported = |requested: String| {
        let mvt_asked = requested
            .split(['=', ',', '.', ' '])
            .any(|n| Format::from_name(n) == Some(Format::Mvt));
        let hint = if matches!(result, CanonicalResult::Table { .. }) && mvt_asked && !req.is_tile {
            " (mvt needs a tile request: .../tiles/{z}/{x}/{y})".to_string()
        } else {
            String::new()
        };
        Error::UnsupportedFormat {
            requested,
            kind: result.kind().to_string(),
            choices: fits.iter().map(|f| f.name().to_string()).collect(),
            hint,
        }
    };
    let pick = |name: &str| Format::from_name(name).filter(|f| fits.contains(f));

    if let Some(list) = present(req.format) {
        return list
            .split(',')
            .find_map(pick)
            .ok_or_else(|| unsupported(format!("format={list}")));
    }
    let legacy = match result {
        CanonicalResult::Table { .. } => present(req.dtype_out_vector).map(|v| ("vector", v)),
        CanonicalResult::Raster { .. } => present(req.dtype_out_raster).map(|v| ("raster", v)),
        _ => None,
    };
    if let Some((which, name)) = legacy {
        return pick(name).ok_or_else(|| unsupported(format!("dtype_out_{which}={name}")));
    }
    if let Some(ext) = present(req.extension) {
        let ext = ext.trim_start_matches('.');
        return pick(ext).ok_or_else(|| unsupported(format!("extension .{ext}")));
    }
    Ok(fits[0])
}
