//! Operations on one tile: its bounds, relatives and quadkey.

use super::{
    check_zoom, max_index, Bbox, LngLat, LngLatBbox, Tile, CE, MAX_MATERIALISED_TILES, MAX_ZOOM,
    R2D,
};
use crate::{Error, Result, TileArg};
use std::collections::{HashMap, HashSet};
use std::f64::consts::PI;

/// `(0, 2**zoom - 1)`, the smallest and largest tile index at a zoom (mercantile `minmax`).
pub fn minmax(zoom: i64) -> Result<(u32, u32)> {
    Ok((0, max_index(check_zoom(zoom)?)))
}

/// Largest |x| or |y| accepted for tile indices outside the grid: `2 * y` and `x / 2**z`
/// stay exact in f64 below it.
pub const MAX_LOOSE_INDEX: i64 = 1 << 52;

/// Tile indices as given, which may lie outside the grid (`x` or `y` negative or at least
/// `2**z`). mercantile computes the bounds of such tiles (with a `FutureWarning`); catalog
/// code asks for them (e.g. `x=1, y=2, z=1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LooseTile {
    pub x: i64,
    pub y: i64,
    pub z: u8,
}

impl LooseTile {
    /// Indices from untrusted input: `z` must be a valid zoom, `|x|` and `|y|` at most
    /// [`MAX_LOOSE_INDEX`]. Errors name `x`, `y` or `z`.
    pub fn new(x: i64, y: i64, z: i64) -> Result<LooseTile> {
        let z =
            check_zoom(z).map_err(|_| Error::tile(TileArg::Zoom, "z", "an integer 0..=30", z))?;
        for (name, v) in [("x", x), ("y", y)] {
            if !(-MAX_LOOSE_INDEX..=MAX_LOOSE_INDEX).contains(&v) {
                return Err(Error::tile(
                    TileArg::Index,
                    name,
                    format!(
                        "an integer of magnitude at most 2**52 (0..={} for zoom {z})",
                        max_index(z)
                    ),
                    v,
                ));
            }
        }
        Ok(LooseTile { x, y, z })
    }

    /// The tile, when its indices are inside the grid.
    pub fn in_grid(self) -> Option<Tile> {
        let max = i64::from(max_index(self.z));
        ((0..=max).contains(&self.x) && (0..=max).contains(&self.y)).then_some(Tile {
            x: self.x as u32,
            y: self.y as u32,
            z: self.z,
        })
    }
}

impl From<Tile> for LooseTile {
    fn from(t: Tile) -> Self {
        LooseTile {
            x: i64::from(t.x),
            y: i64::from(t.y),
            z: t.z,
        }
    }
}

#[inline]
fn corner(x: i64, y: i64, z2: f64) -> (f64, f64) {
    // mercantile: `x / Z2 * 360 - 180`, `atan(sinh(pi * (1 - 2 * y / Z2)))`; 2 * y is exact.
    let lng = x as f64 / z2 * 360.0 - 180.0;
    let lat = (PI * (1.0 - (2 * y) as f64 / z2)).sinh().atan() * R2D;
    (lng, lat)
}

/// Upper-left corner of a tile (mercantile `ul`).
pub fn ul(t: Tile) -> LngLat {
    ul_loose(t.into())
}

/// [`ul`] of indices that may lie outside the grid, computed as mercantile does.
pub fn ul_loose(t: LooseTile) -> LngLat {
    let (lng, lat) = corner(t.x, t.y, (1u64 << t.z) as f64);
    LngLat { lng, lat }
}

/// Geographic bounds of a tile (mercantile `bounds`).
pub fn bounds(t: Tile) -> LngLatBbox {
    bounds_loose(t.into())
}

/// [`bounds`] of indices that may lie outside the grid, computed as mercantile does.
pub fn bounds_loose(t: LooseTile) -> LngLatBbox {
    let z2 = (1u64 << t.z) as f64;
    let (west, north) = corner(t.x, t.y, z2);
    let (east, south) = corner(t.x + 1, t.y + 1, z2);
    LngLatBbox {
        west,
        south,
        east,
        north,
    }
}

/// Web mercator bounds of a tile in metres (mercantile `xy_bounds`).
pub fn xy_bounds(t: Tile) -> Bbox {
    xy_bounds_loose(t.into())
}

/// [`xy_bounds`] of indices that may lie outside the grid, computed as mercantile does.
pub fn xy_bounds_loose(t: LooseTile) -> Bbox {
    let tile_size = CE / (1u64 << t.z) as f64;
    let left = t.x as f64 * tile_size - CE / 2.0;
    let right = left + tile_size;
    let top = CE / 2.0 - t.y as f64 * tile_size;
    let bottom = top - tile_size;
    Bbox {
        left,
        bottom,
        right,
        top,
    }
}

/// The ancestor of a tile at `zoom` (default: one level up); `None` for a zoom-0 tile, as in
/// mercantile. Errors name `zoom` when it is not below the tile's zoom.
pub fn parent(t: Tile, zoom: Option<u8>) -> Result<Option<Tile>> {
    if t.z == 0 {
        return Ok(None);
    }
    let target = match zoom {
        Some(zoom) if zoom >= t.z => {
            return Err(Error::tile(
                TileArg::Zoom,
                "zoom",
                format!("an integer less than the tile's zoom {}", t.z),
                zoom,
            ))
        }
        Some(zoom) => zoom,
        None => t.z - 1,
    };
    let shift = t.z - target;
    Ok(Some(Tile {
        x: t.x >> shift,
        y: t.y >> shift,
        z: target,
    }))
}

/// Descendants of a tile at `zoom` (default: one level down), in mercantile's order: level by
/// level, each tile replaced by its top-left, top-right, bottom-right, bottom-left children.
pub fn children(t: Tile, zoom: Option<u8>) -> Result<Vec<Tile>> {
    let target = zoom.unwrap_or(t.z.saturating_add(1));
    if target < t.z || target > MAX_ZOOM {
        return Err(Error::tile(
            TileArg::Zoom,
            "zoom",
            format!(
                "an integer {}..={MAX_ZOOM} (the tile's zoom or deeper)",
                t.z
            ),
            target,
        ));
    }
    let levels = u32::from(target - t.z);
    let count = 1u64 << (2 * levels);
    if count > MAX_MATERIALISED_TILES {
        return Err(Error::tile(
            TileArg::Zoom,
            "zoom",
            format!(
                "at most {} levels below the tile (at most {MAX_MATERIALISED_TILES} children)",
                MAX_MATERIALISED_TILES.trailing_zeros() / 2
            ),
            target,
        ));
    }
    let mut level = vec![t];
    for _ in 0..levels {
        let mut next = Vec::with_capacity(level.len() * 4);
        for p in &level {
            let (x, y, z) = (p.x * 2, p.y * 2, p.z + 1);
            next.extend_from_slice(&[
                Tile { x, y, z },
                Tile { x: x + 1, y, z },
                Tile {
                    x: x + 1,
                    y: y + 1,
                    z,
                },
                Tile { x, y: y + 1, z },
            ]);
        }
        level = next;
    }
    Ok(level)
}

/// The up to eight tiles around a tile at its zoom, in mercantile's order (by x, then y).
pub fn neighbors(t: Tile) -> Vec<Tile> {
    let max = i64::from(max_index(t.z));
    let mut out = Vec::with_capacity(8);
    for i in [-1i64, 0, 1] {
        for j in [-1i64, 0, 1] {
            let (x, y) = (i64::from(t.x) + i, i64::from(t.y) + j);
            if (i, j) != (0, 0) && (0..=max).contains(&x) && (0..=max).contains(&y) {
                out.push(Tile {
                    x: x as u32,
                    y: y as u32,
                    z: t.z,
                });
            }
        }
    }
    out
}

/// The quadkey of a tile (`""` for zoom 0).
pub fn quadkey(t: Tile) -> String {
    (1..=t.z)
        .rev()
        .map(|z| {
            let mask = 1u32 << (z - 1);
            let digit = u8::from(t.x & mask != 0) + 2 * u8::from(t.y & mask != 0);
            char::from(b'0' + digit)
        })
        .collect()
}

/// The tile of a quadkey (`""` is the zoom-0 tile). Errors name `quadkey`.
pub fn quadkey_to_tile(qk: &str) -> Result<Tile> {
    let bad =
        |expected: &str| Error::tile(TileArg::QuadKey, "quadkey", expected, format!("{qk:?}"));
    if qk.len() > MAX_ZOOM as usize {
        return Err(bad("at most 30 digits"));
    }
    let (mut x, mut y) = (0u32, 0u32);
    for b in qk.bytes() {
        let digit = match b {
            b'0'..=b'3' => u32::from(b - b'0'),
            _ => return Err(bad("only the digits 0, 1, 2 and 3")),
        };
        x = (x << 1) | (digit & 1);
        y = (y << 1) | (digit >> 1);
    }
    Ok(Tile {
        x,
        y,
        z: qk.len() as u8,
    })
}

/// The smallest set of tiles covering the same area (mercantile `simplify`): tiles inside
/// another tile of the set are dropped, and complete groups of four siblings are merged into
/// their parent, repeatedly. Returned sorted by (z, x, y).
pub fn simplify(tiles: &[Tile]) -> Vec<Tile> {
    let mut sorted: Vec<Tile> = tiles.to_vec();
    sorted.sort_by_key(|t| t.z);
    let mut set: HashSet<Tile> = HashSet::with_capacity(sorted.len());
    for t in sorted {
        let covered = (0..t.z).any(|z| {
            let shift = t.z - z;
            set.contains(&Tile {
                x: t.x >> shift,
                y: t.y >> shift,
                z,
            })
        });
        if !covered {
            set.insert(t);
        }
    }
    loop {
        let mut groups: HashMap<Tile, u8> = HashMap::new();
        for t in set.iter().filter(|t| t.z > 0) {
            let p = Tile {
                x: t.x >> 1,
                y: t.y >> 1,
                z: t.z - 1,
            };
            *groups.entry(p).or_default() += 1;
        }
        let full: Vec<Tile> = groups
            .into_iter()
            .filter_map(|(p, n)| (n == 4).then_some(p))
            .collect();
        if full.is_empty() {
            break;
        }
        for p in full {
            for c in children(p, None).expect("a parent's children are valid") {
                set.remove(&c);
            }
            set.insert(p);
        }
    }
    let mut out: Vec<Tile> = set.into_iter().collect();
    out.sort_by_key(|t| (t.z, t.x, t.y));
    out
}
