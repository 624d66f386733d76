//! PMTiles v3 tile ids: tiles of lower zooms come first (`(4^z - 1) / 3` tiles precede zoom
//! `z`), and within a zoom tiles follow a Hilbert curve, so nearby tiles get nearby ids.

use crate::tiles::{Tile, MAX_ZOOM};
use crate::{Error, Result};

/// Number of tiles at all zooms below `z`: `(4^z - 1) / 3`.
fn tiles_before(z: u8) -> u64 {
    ((1u64 << (2 * u32::from(z))) - 1) / 3
}

/// The PMTiles tile id of `t`.
pub fn tile_id(t: Tile) -> u64 {
    let n: u64 = 1 << t.z;
    let (mut x, mut y) = (u64::from(t.x), u64::from(t.y));
    let mut d: u64 = 0;
    let mut s = n >> 1;
    while s > 0 {
        let rx = u64::from(x & s > 0);
        let ry = u64::from(y & s > 0);
        d += s * s * ((3 * rx) ^ ry);
        // Rotate the quadrant (the lower bits are all that matter from here on).
        if ry == 0 {
            if rx == 1 {
                x = n - 1 - x;
                y = n - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s >>= 1;
    }
    tiles_before(t.z) + d
}

/// The tile of a PMTiles tile id; ids beyond zoom 30 are refused.
pub fn tile_from_id(id: u64) -> Result<Tile> {
    let mut z: u8 = 0;
    loop {
        if z > MAX_ZOOM {
            return Err(Error::invalid(
                "tile id",
                "an id of a tile at zoom 0..=30",
                id,
            ));
        }
        let count = 1u64 << (2 * u32::from(z));
        let before = tiles_before(z);
        if id < before + count {
            let (x, y) = hilbert_xy(z, id - before);
            return Ok(Tile { x, y, z });
        }
        z += 1;
    }
}

fn hilbert_xy(z: u8, d: u64) -> (u32, u32) {
    let n: u64 = 1 << z;
    let (mut x, mut y) = (0u64, 0u64);
    let mut t = d;
    let mut s: u64 = 1;
    while s < n {
        let rx = 1 & (t / 2);
        let ry = 1 & (t ^ rx);
        if ry == 0 {
            if rx == 1 {
                x = s - 1 - x;
                y = s - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        x += s * rx;
        y += s * ry;
        t /= 4;
        s <<= 1;
    }
    (x as u32, y as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(z: u8, x: u32, y: u32) -> Tile {
        Tile { x, y, z }
    }

    #[test]
    fn spec_examples() {
        // The examples of the PMTiles v3 specification.
        assert_eq!(tile_id(t(0, 0, 0)), 0);
        assert_eq!(tile_id(t(1, 0, 0)), 1);
        assert_eq!(tile_id(t(1, 0, 1)), 2);
        assert_eq!(tile_id(t(1, 1, 1)), 3);
        assert_eq!(tile_id(t(1, 1, 0)), 4);
        assert_eq!(tile_id(t(2, 0, 0)), 5);
        assert_eq!(tile_id(t(3, 0, 0)), 21);
        assert_eq!(tile_id(t(12, 3423, 1763)), 19078479);
    }

    #[test]
    fn round_trip_every_tile_to_zoom_6_and_edges() {
        let mut expected = 0;
        for z in 0..=6u8 {
            let n = 1u32 << z;
            let mut ids: Vec<u64> = Vec::new();
            for x in 0..n {
                for y in 0..n {
                    let id = tile_id(t(z, x, y));
                    assert_eq!(tile_from_id(id).unwrap(), t(z, x, y));
                    ids.push(id);
                }
            }
            ids.sort_unstable();
            for id in ids {
                assert_eq!(id, expected);
                expected += 1;
            }
        }
        for tile in [
            t(30, 0, 0),
            t(30, (1 << 30) - 1, (1 << 30) - 1),
            t(30, 12345, 67890),
        ] {
            assert_eq!(tile_from_id(tile_id(tile)).unwrap(), tile);
        }
        assert!(tile_from_id(u64::MAX).is_err());
    }
}
