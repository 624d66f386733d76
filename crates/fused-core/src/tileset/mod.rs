//! Tilesets: static archives of tiles and the documents map clients read.
//!
//! * [`hilbert`]: PMTiles tile ids (a Hilbert curve per zoom, zooms stacked).
//! * [`pmtiles`]: a PMTiles v3 writer (header, root and leaf directories, clustered tile
//!   data, identical tiles stored once) and a synchronous reader.
//! * [`mbtiles`] (feature `mbtiles`): an MBTiles 1.3 writer and reader over SQLite.
//! * [`writer`]: [`TilesetWriter`], what an export feeds tile by tile: it drops empty tiles,
//!   gzips MVT, dedups by content hash, records the vector layers' fields, and writes the
//!   archive under a temporary name that is renamed into place only when finished.
//! * [`mvt_info`]: the layers, fields and feature counts of an MVT tile.
//! * [`tilejson`]: TileJSON 3.0.0 and MapLibre style documents.
//!
//! PMTiles is written by hand rather than with the `pmtiles` crate: the crate's only reader
//! is async (tokio), its header and directory fields are private (no synchronous reader can
//! be built on it), and `async-compression` is a mandatory dependency even with only its
//! `write` feature. The format is small (a 127-byte header and varint directories).

pub mod hilbert;
#[cfg(feature = "mbtiles")]
pub mod mbtiles;
pub mod mvt_info;
pub mod pmtiles;
pub mod tilejson;
pub mod writer;

pub use hilbert::{tile_from_id, tile_id};
pub use writer::{TilesetKind, TilesetWriter, WriterStats};

use crate::tiles::{check_finite, check_zoom, tile_ranges, LngLatBbox, Tile, TileRange};
use crate::{Error, Result, TileArg};

/// Tiles an export refuses to plan without confirmation (`--yes`).
pub const CONFIRM_TILES: u64 = 1_000_000;
/// Most tiles an export plans at all (the list is materialised and sorted).
pub const MAX_EXPORT_TILES: u64 = 1 << 27;

/// The content of a tileset's tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileFormat {
    /// Mapbox Vector Tiles (stored gzipped).
    Mvt,
    /// PNG images (stored as is).
    Png,
}

impl TileFormat {
    pub fn from_name(name: &str) -> Result<TileFormat> {
        match name.to_ascii_lowercase().as_str() {
            "mvt" | "pbf" => Ok(TileFormat::Mvt),
            "png" => Ok(TileFormat::Png),
            _ => Err(Error::invalid("format", "mvt or png", name)),
        }
    }

    /// `mvt` or `png`.
    pub fn name(self) -> &'static str {
        match self {
            TileFormat::Mvt => "mvt",
            TileFormat::Png => "png",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            TileFormat::Mvt => "application/vnd.mapbox-vector-tile",
            TileFormat::Png => "image/png",
        }
    }

    /// The MBTiles `format` metadata value.
    pub fn mbtiles_name(self) -> &'static str {
        match self {
            TileFormat::Mvt => "pbf",
            TileFormat::Png => "png",
        }
    }
}

/// Validate an export's box and zoom range. `west > east` is refused (export one side of the
/// antimeridian at a time); latitudes are clamped to web mercator's limits by the tile math.
pub fn check_export_range(bbox: LngLatBbox, minzoom: i64, maxzoom: i64) -> Result<(u8, u8)> {
    for (name, v) in [
        ("bbox west", bbox.west),
        ("bbox south", bbox.south),
        ("bbox east", bbox.east),
        ("bbox north", bbox.north),
    ] {
        check_finite(TileArg::Other, name, v)?;
    }
    if !(-180.0..=180.0).contains(&bbox.west) || !(-180.0..=180.0).contains(&bbox.east) {
        return Err(Error::invalid(
            "bbox",
            "longitudes within -180..180",
            format!("{},{}", bbox.west, bbox.east),
        ));
    }
    if !(-90.0..=90.0).contains(&bbox.south) || !(-90.0..=90.0).contains(&bbox.north) {
        return Err(Error::invalid(
            "bbox",
            "latitudes within -90..90",
            format!("{},{}", bbox.south, bbox.north),
        ));
    }
    if bbox.west >= bbox.east || bbox.south >= bbox.north {
        return Err(Error::invalid(
            "bbox",
            "W,S,E,N with W < E and S < N",
            format!("{},{},{},{}", bbox.west, bbox.south, bbox.east, bbox.north),
        ));
    }
    let min = check_zoom(minzoom).map_err(|_| Error::invalid("minzoom", "0..=30", minzoom))?;
    let max = check_zoom(maxzoom).map_err(|_| Error::invalid("maxzoom", "0..=30", maxzoom))?;
    if min > max {
        return Err(Error::invalid(
            "maxzoom",
            format!("at least minzoom ({min})"),
            max,
        ));
    }
    Ok((min, max))
}

fn zooms(min: u8, max: u8) -> Vec<u8> {
    (min..=max).collect()
}

/// How many tiles cover `bbox` at zooms `minzoom..=maxzoom` (nothing is materialised).
pub fn count_export_tiles(bbox: LngLatBbox, minzoom: i64, maxzoom: i64) -> Result<u64> {
    let (min, max) = check_export_range(bbox, minzoom, maxzoom)?;
    let ranges = tile_ranges(
        bbox.west,
        bbox.south,
        bbox.east,
        bbox.north,
        &zooms(min, max),
        true,
    )?;
    Ok(ranges.iter().map(TileRange::len).sum())
}

/// The tiles covering `bbox` at zooms `minzoom..=maxzoom`, in PMTiles tile id order (zoom by
/// zoom, Hilbert order within a zoom), so an archive written in this order is clustered.
pub fn export_tiles(bbox: LngLatBbox, minzoom: i64, maxzoom: i64) -> Result<Vec<Tile>> {
    let (min, max) = check_export_range(bbox, minzoom, maxzoom)?;
    let ranges = tile_ranges(
        bbox.west,
        bbox.south,
        bbox.east,
        bbox.north,
        &zooms(min, max),
        true,
    )?;
    let total: u64 = ranges.iter().map(TileRange::len).sum();
    if total > MAX_EXPORT_TILES {
        return Err(Error::invalid(
            "bbox",
            format!("at most {MAX_EXPORT_TILES} tiles over the zoom range"),
            format!("{total} tiles"),
        ));
    }
    let mut ids: Vec<(u64, Tile)> = Vec::with_capacity(total as usize);
    for r in &ranges {
        for i in 0..r.len() {
            let t = r.nth(i);
            ids.push((tile_id(t), t));
        }
    }
    ids.sort_unstable_by_key(|(id, _)| *id);
    ids.dedup_by_key(|(id, _)| *id);
    Ok(ids.into_iter().map(|(_, t)| t).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bbox(w: f64, s: f64, e: f64, n: f64) -> LngLatBbox {
        LngLatBbox {
            west: w,
            south: s,
            east: e,
            north: n,
        }
    }

    #[test]
    fn plan_is_sorted_by_tile_id_and_counted_up_front() {
        let b = bbox(-122.52, 37.70, -122.35, 37.83);
        let tiles = export_tiles(b, 10, 14).unwrap();
        assert_eq!(tiles.len() as u64, count_export_tiles(b, 10, 14).unwrap());
        let ids: Vec<u64> = tiles.iter().map(|t| tile_id(*t)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(tiles[0].z, 10);
        assert_eq!(tiles.last().unwrap().z, 14);
    }

    #[test]
    fn bad_ranges_are_named() {
        let b = bbox(0.0, 0.0, 1.0, 1.0);
        let e = check_export_range(b, 5, 3).unwrap_err().to_string();
        assert!(e.contains("maxzoom"), "{e}");
        let e = check_export_range(b, -1, 3).unwrap_err().to_string();
        assert!(e.contains("minzoom"), "{e}");
        let e = check_export_range(bbox(2.0, 0.0, 1.0, 1.0), 0, 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("W < E"), "{e}");
        let e = check_export_range(bbox(f64::NAN, 0.0, 1.0, 1.0), 0, 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bbox west"), "{e}");
        assert!(TileFormat::from_name("jpg").is_err());
    }
}
