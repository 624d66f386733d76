//! Output encoders: canonical UDF results ([`CanonicalResult`]) to the bytes an HTTP client
//! asked for.
//!
//! * [`choose_format`] picks the [`Format`] from the request (`format=` preference list,
//!   legacy `dtype_out_vector=` / `dtype_out_raster=`, the URL extension, the default);
//! * [`encode`] writes it.
//!
//! | result | formats (default first) |
//! |---|---|
//! | table | parquet (GeoParquet), geojson, json (records), csv, arrow (IPC file), mvt (tiles only) |
//! | raster | png (uint8/bool, 1/3/4 bands), tiff (GeoTIFF, any dtype), npy |
//! | json | json |
//! | bytes | raw (passed through with their content type) |
//!
//! Tables are Arrow IPC streams whose geometry columns are WKB, marked by GeoParquet `geo`
//! schema metadata (or a `geoarrow.wkb` extension type); geometry is taken as EPSG:4326
//! lon/lat for MVT. Inputs are validated here (IPC that does not parse, malformed WKB with
//! its row and column, raster sizes that do not match their shape): errors, never panics.

mod clip;
mod format;
mod geojson;
mod geom;
mod mvt;
mod raster;
mod table;
mod tiff;
mod values;

pub use format::{choose_format, formats_for, Format, FormatRequest};
pub use geom::{parse_wkb, Coord, Geometry};
pub use mvt::{BUFFER as MVT_BUFFER, EXTENT as MVT_EXTENT, LAYER_NAME as MVT_LAYER_NAME};
pub use raster::{layout as raster_layout, Layout as RasterLayout};

use crate::result::CanonicalResult;
use crate::{Error, Result};
use raster::RasterRef;

/// The tile an MVT is cut for. The same type as [`crate::tiles::Tile`] (`x`, `y`, `z`).
pub type TileBounds = crate::tiles::Tile;

/// An encoded response body and its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub body: Vec<u8>,
    pub content_type: String,
}

/// Encode `result` as `format`. `tile` is required for [`Format::Mvt`]; for
/// [`Format::Tiff`] it georeferences a raster that has no bounds of its own (the tile's
/// lon/lat bounds, EPSG:4326, as [`crate::tiles::bounds`] gives them); other formats
/// ignore it.
///
/// An [`Format::Mvt`] tile with no feature is an empty body (see `mvt`).
///
/// A format that does not fit the result kind is [`Error::UnsupportedFormat`]; bad input or
/// a value the format cannot hold is [`Error::Encode`].
pub fn encode(
    result: &CanonicalResult,
    format: Format,
    tile: Option<TileBounds>,
) -> Result<Encoded> {
    let body = match (result, format) {
        (CanonicalResult::Table { ipc }, _) => match format {
            Format::Parquet => table::to_parquet(ipc)?,
            Format::GeoJson => geojson::to_geojson(ipc)?,
            Format::Json => geojson::to_json_records(ipc)?,
            Format::Csv => geojson::to_csv(ipc)?,
            Format::Arrow => table::to_arrow_file(ipc)?,
            Format::Mvt => match tile {
                Some(t) => mvt::to_mvt(ipc, t)?,
                None => return Err(unsupported(result, format, false)),
            },
            _ => return Err(unsupported(result, format, tile.is_some())),
        },
        (
            CanonicalResult::Raster {
                data,
                dtype,
                shape,
                bounds,
            },
            _,
        ) => {
            // The raster's own bounds (`(array, bounds)`), else the tile's.
            let bounds = bounds.or_else(|| {
                tile.map(|t| {
                    let b = crate::tiles::bounds(t);
                    [b.west, b.south, b.east, b.north]
                })
            });
            let r = RasterRef {
                data,
                dtype: *dtype,
                shape,
                bounds,
            };
            match format {
                Format::Png => raster::to_png(&r)?,
                Format::Tiff => tiff::to_tiff(&r)?,
                Format::Npy => raster::to_npy(&r)?,
                _ => return Err(unsupported(result, format, tile.is_some())),
            }
        }
        (CanonicalResult::Json(v), Format::Json) => {
            serde_json::to_vec(v).map_err(|e| Error::encode("json", e.to_string()))?
        }
        (CanonicalResult::Bytes { data, content_type }, Format::Raw) => {
            return Ok(Encoded {
                body: data.clone(),
                content_type: content_type.clone(),
            })
        }
        _ => return Err(unsupported(result, format, tile.is_some())),
    };
    Ok(Encoded {
        body,
        content_type: format.content_type().to_string(),
    })
}

fn unsupported(result: &CanonicalResult, format: Format, is_tile: bool) -> Error {
    let is_table = matches!(result, CanonicalResult::Table { .. });
    let hint = if format == Format::Mvt && !is_tile && is_table {
        " (mvt needs a tile request: .../tiles/{z}/{x}/{y})".to_string()
    } else {
        String::new()
    };
    Error::UnsupportedFormat {
        requested: format.name().to_string(),
        kind: result.kind().to_string(),
        choices: formats_for(result, is_tile)
            .iter()
            .map(|f| f.name().to_string())
            .collect(),
        hint,
    }
}
