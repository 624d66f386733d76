//! Canonical UDF results: what a worker hands back to the server, what the result cache
//! stores, and what every output encoder reads. Pickle never crosses a process boundary.
//!
//! * tables (DataFrame / GeoDataFrame): an Arrow IPC **stream**; geometry columns are WKB
//!   (binary) with GeoParquet `geo` metadata (JSON, as in GeoParquet 1.1) in the schema
//!   metadata, crs included;
//! * rasters (numpy arrays): the raw C-order bytes, the dtype (numpy `str` form such as
//!   `"|u1"`, `"<f4"`), the shape, and optional bounds `[west, south, east, north]`
//!   (EPSG:4326) when the UDF returned `(array, bounds)`;
//! * simple values (dict, list, str, numbers, bool, None): JSON;
//! * anything else the UDF chose to return as bytes or HTML: the bytes and a content type.

use serde::{Deserialize, Serialize};

/// The element type of a raster, from numpy's `dtype.str` (byte order included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
    Bool,
}

impl Dtype {
    /// Parse numpy's `dtype.str` (`"|u1"`, `"<f4"`, `"|b1"`, ...). Only little-endian or
    /// byte-order-free types are accepted (every platform we run on is little-endian).
    pub fn from_numpy(s: &str) -> Option<Dtype> {
        let (order, code) = s.split_at(s.len().min(1));
        if !matches!(order, "<" | "|" | "=") {
            return None;
        }
        Some(match code {
            "u1" => Dtype::U8,
            "i1" => Dtype::I8,
            "u2" => Dtype::U16,
            "i2" => Dtype::I16,
            "u4" => Dtype::U32,
            "i4" => Dtype::I32,
            "u8" => Dtype::U64,
            "i8" => Dtype::I64,
            "f4" => Dtype::F32,
            "f8" => Dtype::F64,
            "b1" => Dtype::Bool,
            _ => return None,
        })
    }

    /// numpy's `dtype.str` for this type.
    pub fn numpy_str(self) -> &'static str {
        match self {
            Dtype::U8 => "|u1",
            Dtype::I8 => "|i1",
            Dtype::U16 => "<u2",
            Dtype::I16 => "<i2",
            Dtype::U32 => "<u4",
            Dtype::I32 => "<i4",
            Dtype::U64 => "<u8",
            Dtype::I64 => "<i8",
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
            Dtype::Bool => "|b1",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::U8 | Dtype::I8 | Dtype::Bool => 1,
            Dtype::U16 | Dtype::I16 => 2,
            Dtype::U32 | Dtype::I32 | Dtype::F32 => 4,
            Dtype::U64 | Dtype::I64 | Dtype::F64 => 8,
        }
    }
}

/// A UDF's result in canonical form.
#[derive(Debug, Clone, PartialEq)]
pub enum CanonicalResult {
    /// An Arrow IPC stream (schema + record batches). `geo` metadata marks geometry columns.
    Table { ipc: Vec<u8> },
    /// Raw C-order array bytes; `data.len() == shape.product() * dtype.size()`.
    Raster {
        data: Vec<u8>,
        dtype: Dtype,
        shape: Vec<usize>,
        bounds: Option<[f64; 4]>,
    },
    /// A simple value.
    Json(serde_json::Value),
    /// Bytes with their content type (e.g. `text/html`).
    Bytes { data: Vec<u8>, content_type: String },
}

impl CanonicalResult {
    /// `"table"`, `"raster"`, `"json"` or `"bytes"`.
    pub fn kind(&self) -> &'static str {
        match self {
            CanonicalResult::Table { .. } => "table",
            CanonicalResult::Raster { .. } => "raster",
            CanonicalResult::Json(_) => "json",
            CanonicalResult::Bytes { .. } => "bytes",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_round_trip() {
        for d in [
            Dtype::U8,
            Dtype::I8,
            Dtype::U16,
            Dtype::I16,
            Dtype::U32,
            Dtype::I32,
            Dtype::U64,
            Dtype::I64,
            Dtype::F32,
            Dtype::F64,
            Dtype::Bool,
        ] {
            assert_eq!(Dtype::from_numpy(d.numpy_str()), Some(d));
        }
        assert_eq!(Dtype::from_numpy(">f4"), None);
        assert_eq!(Dtype::from_numpy("<c8"), None);
        assert_eq!(Dtype::from_numpy(""), None);
    }
}
