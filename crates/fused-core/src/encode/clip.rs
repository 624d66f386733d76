//! Projection of lon/lat into a tile's pixel space and clipping to the (buffered) tile.

use super::geom::Coord;
use crate::tiles::Tile;

/// A point in tile pixel space (0..extent; y grows downwards).
pub type Px = (f64, f64);

/// Web Mercator latitude limit.
const MAX_LAT: f64 = 85.051_128_779_806_59;

/// Projects EPSG:4326 lon/lat into the pixel space of one tile.
#[derive(Debug, Clone, Copy)]
pub struct TileProjection {
    x: f64,
    y: f64,
    n: f64,
    extent: f64,
}

impl TileProjection {
    pub fn new(tile: Tile, extent: u32) -> Self {
        TileProjection {
            x: f64::from(tile.x),
            y: f64::from(tile.y),
            n: (1u64 << tile.z) as f64,
            extent: f64::from(extent),
        }
    }

    pub fn project(&self, c: &Coord) -> Px {
        let lat = c.y.clamp(-MAX_LAT, MAX_LAT).to_radians();
        let wx = (c.x + 180.0) / 360.0 * self.n;
        let wy = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * self.n;
        ((wx - self.x) * self.extent, (wy - self.y) * self.extent)
    }
}

/// An axis-aligned clip box in pixel space.
#[derive(Debug, Clone, Copy)]
pub struct ClipBox {
    pub min: f64,
    pub max: f64,
}

impl ClipBox {
    pub fn contains(&self, p: Px) -> bool {
        p.0 >= self.min && p.0 <= self.max && p.1 >= self.min && p.1 <= self.max
    }

    /// Sutherland–Hodgman clipping of one ring (open or closed) against the box, one edge at
    /// a time. The result is open (no repeated closing point) and may be empty; where a ring
    /// leaves and re-enters the box, the box edge joins the pieces, as the algorithm does.
    pub fn clip_ring(&self, ring: &[Px]) -> Vec<Px> {
        let mut pts: Vec<Px> = ring.to_vec();
        if pts.len() > 1 && pts.first() == pts.last() {
            pts.pop();
        }
        // (axis, bound, keep-if-greater)
        for (axis, bound, greater) in [
            (0, self.min, true),
            (0, self.max, false),
            (1, self.min, true),
            (1, self.max, false),
        ] {
            if pts.is_empty() {
                break;
            }
            let inside = |p: &Px| {
                let v = if axis == 0 { p.0 } else { p.1 };
                if greater {
                    v >= bound
                } else {
                    v <= bound
                }
            };
            let cross = |a: &Px, b: &Px| {
                let (va, vb) = if axis == 0 { (a.0, b.0) } else { (a.1, b.1) };
                let t = (bound - va) / (vb - va);
                if axis == 0 {
                    (bound, a.1 + t * (b.1 - a.1))
                } else {
                    (a.0 + t * (b.0 - a.0), bound)
                }
            };
            let mut out = Vec::with_capacity(pts.len() + 4);
            let mut prev = *pts.last().expect("non-empty");
            for cur in &pts {
                match (inside(&prev), inside(cur)) {
                    (true, true) => out.push(*cur),
                    (true, false) => out.push(cross(&prev, cur)),
                    (false, true) => {
                        out.push(cross(&prev, cur));
                        out.push(*cur);
                    }
                    (false, false) => {}
                }
                prev = *cur;
            }
            pts = out;
        }
        pts
    }

    /// Clip a line string segment by segment (Liang–Barsky); a line that leaves and
    /// re-enters the box becomes several parts.
    pub fn clip_line(&self, line: &[Px]) -> Vec<Vec<Px>> {
        let mut parts: Vec<Vec<Px>> = Vec::new();
        let mut current: Vec<Px> = Vec::new();
        if line.len() == 1 {
            if self.contains(line[0]) {
                parts.push(vec![line[0]]);
            }
            return parts;
        }
        for w in line.windows(2) {
            if let Some((a, b)) = self.clip_segment(w[0], w[1]) {
                if current.last() != Some(&a) {
                    if current.len() > 1 {
                        parts.push(std::mem::take(&mut current));
                    }
                    current.clear();
                    current.push(a);
                }
                current.push(b);
                // The segment was cut at its end: the line leaves the box here.
                if b != w[1] {
                    parts.push(std::mem::take(&mut current));
                }
            } else {
                if current.len() > 1 {
                    parts.push(std::mem::take(&mut current));
                }
                current.clear();
            }
        }
        if current.len() > 1 {
            parts.push(current);
        }
        parts
    }

    fn clip_segment(&self, a: Px, b: Px) -> Option<(Px, Px)> {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        for (p, q) in [
            (-dx, a.0 - self.min),
            (dx, self.max - a.0),
            (-dy, a.1 - self.min),
            (dy, self.max - a.1),
        ] {
            if p == 0.0 {
                if q < 0.0 {
                    return None;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
        if t0 > t1 {
            return None;
        }
        let at = |t: f64| {
            if t == 0.0 {
                a
            } else if t == 1.0 {
                b
            } else {
                (a.0 + t * dx, a.1 + t * dy)
            }
        };
        Some((at(t0), at(t1)))
    }
}
