//! Areas: the tiles covering a bounding box, their count, and the bounding tile.

use super::point::{raw_index, tile_unchecked_lat, truncate_lnglat, world_x, world_y};
use super::{check_finite, latitude_error, Tile, LL_EPSILON, MAX_LAT, MAX_MATERIALISED_TILES};
use crate::{Error, Result, TileArg};

/// A non-empty rectangle of tiles at one zoom, bounds inclusive. `tiles()` yields its tiles
/// column by column: x ascending, and y ascending within each x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRange {
    pub z: u8,
    pub x_min: u32,
    pub x_max: u32,
    pub y_min: u32,
    pub y_max: u32,
}

impl TileRange {
    /// Number of tiles in the range.
    pub fn len(&self) -> u64 {
        u64::from(self.x_max - self.x_min + 1) * u64::from(self.y_max - self.y_min + 1)
    }

    /// Always false: empty ranges are never built.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Number of tiles in each column.
    pub fn height(&self) -> u64 {
        u64::from(self.y_max - self.y_min + 1)
    }

    /// The tile at position `i` (column-major) of the range; `i < len()`.
    pub fn nth(&self, i: u64) -> Tile {
        let h = self.height();
        Tile {
            x: self.x_min + (i / h) as u32,
            y: self.y_min + (i % h) as u32,
            z: self.z,
        }
    }
}

/// The rectangles of tiles mercantile's `tiles()` yields for a box, in its order: for a box
/// crossing the antimeridian (`west > east`) the part west of it, then the part east of it;
/// within each part, `zooms` in the order given. Zooms must be checked already.
pub fn tile_ranges(
    west: f64,
    south: f64,
    east: f64,
    north: f64,
    zooms: &[u8],
    truncate: bool,
) -> Result<Vec<TileRange>> {
    let (west, south, east, north) = checked_box(west, south, east, north, truncate)?;
    let parts: &[(f64, f64)] = if west > east {
        &[(-180.0, east), (west, 180.0)]
    } else {
        &[(west, east)]
    };
    let s = south.max(-MAX_LAT);
    let n = north.min(MAX_LAT);
    let mut out = Vec::with_capacity(parts.len() * zooms.len());
    for &(w, e) in parts {
        let (w, e) = (w.max(-180.0), e.min(180.0));
        for &z in zooms {
            let ul = tile_unchecked_lat(w, n, z).ok_or_else(|| latitude_error("north", north))?;
            let lr = tile_unchecked_lat(e - LL_EPSILON, s + LL_EPSILON, z)
                .ok_or_else(|| latitude_error("south", south))?;
            if ul.x <= lr.x && ul.y <= lr.y {
                out.push(TileRange {
                    z,
                    x_min: ul.x,
                    x_max: lr.x,
                    y_min: ul.y,
                    y_max: lr.y,
                });
            }
        }
    }
    Ok(out)
}

/// How many tiles `tiles()` yields for a box, without building them.
pub fn count_tiles(
    west: f64,
    south: f64,
    east: f64,
    north: f64,
    zooms: &[u8],
    truncate: bool,
) -> Result<u64> {
    let ranges = tile_ranges(west, south, east, north, zooms, truncate)?;
    Ok(ranges.iter().map(TileRange::len).sum())
}

/// The x and y indices of the tiles `tiles()` yields for a box at one zoom, in its order.
/// Refuses (naming `zoom`) more than [`MAX_MATERIALISED_TILES`] tiles.
pub fn tiles_xy(
    west: f64,
    south: f64,
    east: f64,
    north: f64,
    zoom: u8,
    truncate: bool,
) -> Result<(Vec<i64>, Vec<i64>)> {
    let ranges = tile_ranges(west, south, east, north, &[zoom], truncate)?;
    let total: u64 = ranges.iter().map(TileRange::len).sum();
    if total > MAX_MATERIALISED_TILES {
        return Err(Error::tile(
            TileArg::Zoom,
            "zoom",
            format!("a zoom giving at most {MAX_MATERIALISED_TILES} tiles for this box"),
            format!("{zoom} ({total} tiles)"),
        ));
    }
    let mut xs = Vec::with_capacity(total as usize);
    let mut ys = Vec::with_capacity(total as usize);
    for r in &ranges {
        for x in r.x_min..=r.x_max {
            for y in r.y_min..=r.y_max {
                xs.push(i64::from(x));
                ys.push(i64::from(y));
            }
        }
    }
    Ok((xs, ys))
}

/// A box's edges, each checked to be finite (named in the error), truncated if asked.
fn checked_box(
    west: f64,
    south: f64,
    east: f64,
    north: f64,
    truncate: bool,
) -> Result<(f64, f64, f64, f64)> {
    let (mut west, mut south, mut east, mut north) = (
        check_finite(TileArg::Other, "west", west)?,
        check_finite(TileArg::Latitude, "south", south)?,
        check_finite(TileArg::Other, "east", east)?,
        check_finite(TileArg::Latitude, "north", north)?,
    );
    if truncate {
        (west, south) = truncate_lnglat(west, south);
        (east, north) = truncate_lnglat(east, north);
    }
    Ok((west, south, east, north))
}

/// The smallest tile containing a box (mercantile `bounding_tile`), zoom at most 28. Boxes
/// touching or crossing a pole, and boxes spanning lng 0 or lat 0, give the zoom-0 tile.
pub fn bounding_tile(west: f64, south: f64, east: f64, north: f64, truncate: bool) -> Result<Tile> {
    let (west, south, east, north) = checked_box(west, south, east, north, truncate)?;
    let east = east - LL_EPSILON;
    let south = south + LL_EPSILON;
    const WORLD: Tile = Tile { x: 0, y: 0, z: 0 };
    let (Some(y_min), Some(y_max)) = (world_y(north), world_y(south)) else {
        return Ok(WORLD);
    };
    // mercantile works at zoom 32 with unclamped indices and reduces them modulo 2**32.
    let z2 = (1u64 << 32) as f64;
    let cell = [
        raw_index(world_x(west), z2),
        raw_index(y_min, z2),
        raw_index(world_x(east), z2),
        raw_index(y_max, z2),
    ];
    let z = bbox_zoom(&cell);
    if z == 0 {
        return Ok(WORLD);
    }
    let wrap = |v: u64| ((v % (1u64 << 32)) >> (32 - z)) as u32;
    Ok(Tile {
        x: wrap(cell[0]),
        y: wrap(cell[1]),
        z,
    })
}

/// mercantile `_getBboxZoom`: the first zoom (< 28) whose bit differs between the corners.
fn bbox_zoom(cell: &[u64; 4]) -> u8 {
    const MAX: u8 = 28;
    for z in 0..MAX {
        let mask = 1u64 << (32 - (z + 1));
        if (cell[0] & mask) != (cell[2] & mask) || (cell[1] & mask) != (cell[3] & mask) {
            return z;
        }
    }
    MAX
}
