//! Web Mercator (XYZ) tile math, compatible with mercantile 1.2.1.
//!
//! The formulas, the order of floating-point operations and the epsilon tricks are the ones
//! mercantile uses, so tile indices agree exactly and floats agree to the last bit on the
//! same libm. Where mercantile is looser, this module validates instead:
//!
//! * zoom must be an integer in `0..=30`; tile `x`/`y` must be in `0..2**zoom`;
//! * coordinates must be finite (mercantile fails on NaN with an unrelated message and
//!   silently clamps infinities);
//! * `tile()` refuses latitudes at or beyond the poles, like mercantile does at exactly
//!   ±90; mercantile folds latitudes beyond ±90 back through `sin` and returns a wrong tile;
//! * a point within 1e-14 (in world units) of the east or south edge of the world gets the
//!   last tile `2**zoom - 1`, where mercantile's epsilon pushes it to the invalid `2**zoom`.
//!
//! Every refusal is an [`Error::Tile`](crate::Error) naming the argument and saying what it
//! is ([`TileArg`](crate::TileArg)).

mod cover;
mod point;
mod tile_ops;

pub use cover::{bounding_tile, count_tiles, tile_ranges, tiles_xy, TileRange};
pub use point::{lnglat, tile, tile_many, truncate_lnglat, world_xy, xy};
pub use tile_ops::{
    bounds, bounds_loose, children, minmax, neighbors, parent, quadkey, quadkey_to_tile, simplify,
    ul, ul_loose, xy_bounds, xy_bounds_loose, LooseTile, MAX_LOOSE_INDEX,
};

use crate::{Error, Result, TileArg};
use std::f64::consts::PI;

/// Highest zoom level accepted.
pub const MAX_ZOOM: u8 = 30;
/// Equatorial radius of the WGS84 ellipsoid, in metres (mercantile `RE`).
pub const RE: f64 = 6378137.0;
/// Circumference used by web mercator, in metres (mercantile `CE`).
pub const CE: f64 = 2.0 * PI * RE;
/// Latitude limit `tiles()` clamps boxes to (mercantile's literal, not the exact limit).
pub const MAX_LAT: f64 = 85.051129;
/// mercantile `EPSILON`: points this close to a tile's right/bottom edge count in the next tile.
pub(crate) const EPSILON: f64 = 1e-14;
/// mercantile `LL_EPSILON`: nudges east/south edges inwards so a tile's own bounds cover it.
pub(crate) const LL_EPSILON: f64 = 1e-11;
/// Degrees per radian, computed as Python computes `180 / math.pi`.
pub(crate) const R2D: f64 = 180.0 / PI;
/// Radians per degree, as Python's `math.radians` computes it.
pub(crate) const D2R: f64 = PI / 180.0;

/// Most tiles an array- or list-building function will materialise at once.
pub const MAX_MATERIALISED_TILES: u64 = 1 << 28;

/// An XYZ web mercator tile, always valid (`x`, `y` < `2**z`, `z` <= 30).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    pub x: u32,
    pub y: u32,
    pub z: u8,
}

impl Tile {
    /// A tile from untrusted indices; errors name `x`, `y` or `z`.
    pub fn new(x: i64, y: i64, z: i64) -> Result<Tile> {
        let z =
            check_zoom(z).map_err(|_| Error::tile(TileArg::Zoom, "z", "an integer 0..=30", z))?;
        let max = max_index(z);
        let check = |name: &str, v: i64| {
            if (0..=i64::from(max)).contains(&v) {
                Ok(v as u32)
            } else {
                Err(Error::tile(
                    TileArg::Index,
                    name,
                    format!("an integer 0..={max} for zoom {z}"),
                    v,
                ))
            }
        };
        Ok(Tile {
            x: check("x", x)?,
            y: check("y", y)?,
            z,
        })
    }
}

/// A longitude/latitude pair in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LngLat {
    pub lng: f64,
    pub lat: f64,
}

/// A geographic bounding box in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LngLatBbox {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

/// A web mercator bounding box in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    pub left: f64,
    pub bottom: f64,
    pub right: f64,
    pub top: f64,
}

/// Validate a zoom level (`0..=30`).
pub fn check_zoom(z: i64) -> Result<u8> {
    if (0..=i64::from(MAX_ZOOM)).contains(&z) {
        Ok(z as u8)
    } else {
        Err(Error::tile(TileArg::Zoom, "zoom", "an integer 0..=30", z))
    }
}

/// Validate that a coordinate is finite (not NaN, not ±inf); `arg` is what it is.
pub fn check_finite(arg: TileArg, name: &str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::tile(arg, name, "a finite number", v))
    }
}

/// Largest tile index at zoom `z`: `2**z - 1`.
#[inline]
pub(crate) fn max_index(z: u8) -> u32 {
    ((1u64 << z) - 1) as u32
}

/// The error `tile()` raises for a latitude where mercator y is undefined.
pub(crate) fn latitude_error(name: &str, lat: f64) -> Error {
    Error::tile(
        TileArg::Latitude,
        name,
        "a latitude strictly between -90 and 90 (mercator y is undefined at the poles)",
        lat,
    )
}
