//! A small geometry model, the WKB reader that fills it (ISO and EWKB flavours, either byte
//! order, Z/M dimensions), and its GeoJSON and WKT writers.

use serde_json::{json, Value};
use std::fmt::Write;

/// A position. `z` is NaN when the geometry is 2D; M values are dropped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coord {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

pub type Ring = Vec<Coord>;

/// The simple-features geometry types. An empty point is `Point(None)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Geometry {
    Point(Option<Coord>),
    LineString(Vec<Coord>),
    Polygon(Vec<Ring>),
    MultiPoint(Vec<Coord>),
    MultiLineString(Vec<Vec<Coord>>),
    MultiPolygon(Vec<Vec<Ring>>),
    GeometryCollection(Vec<Geometry>),
}

/// Deepest nesting accepted for geometry collections (guards the recursion).
const MAX_DEPTH: usize = 32;

struct WkbReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> WkbReader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.buf.len() - self.pos < n {
            return Err(format!(
                "truncated WKB: needed {n} more bytes at offset {}, {} left",
                self.pos,
                self.buf.len() - self.pos
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u32(&mut self, le: bool) -> Result<u32, String> {
        let b: [u8; 4] = self.take(4)?.try_into().expect("4 bytes");
        Ok(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn f64(&mut self, le: bool) -> Result<f64, String> {
        let b: [u8; 8] = self.take(8)?.try_into().expect("8 bytes");
        Ok(if le {
            f64::from_le_bytes(b)
        } else {
            f64::from_be_bytes(b)
        })
    }

    /// A count of items of at least `min_size` bytes each, checked against what is left so
    /// a corrupt count cannot make us allocate gigabytes.
    fn count(&mut self, le: bool, min_size: usize) -> Result<usize, String> {
        let n = self.u32(le)? as usize;
        let left = self.buf.len() - self.pos;
        if n.saturating_mul(min_size) > left {
            return Err(format!(
                "WKB count {n} at offset {} exceeds the {left} bytes left",
                self.pos - 4
            ));
        }
        Ok(n)
    }

    fn coord(&mut self, le: bool, dims: usize, has_z: bool) -> Result<Coord, String> {
        let x = self.f64(le)?;
        let y = self.f64(le)?;
        let mut z = f64::NAN;
        for i in 2..dims {
            let v = self.f64(le)?;
            if i == 2 && has_z {
                z = v;
            }
        }
        Ok(Coord { x, y, z })
    }

    fn coords(&mut self, le: bool, dims: usize, has_z: bool) -> Result<Vec<Coord>, String> {
        let n = self.count(le, dims * 8)?;
        (0..n).map(|_| self.coord(le, dims, has_z)).collect()
    }

    fn rings(&mut self, le: bool, dims: usize, has_z: bool) -> Result<Vec<Ring>, String> {
        let n = self.count(le, 4)?;
        (0..n).map(|_| self.coords(le, dims, has_z)).collect()
    }

    /// One geometry with its own byte-order byte and type. `expect` restricts the base type
    /// (members of multi-geometries).
    fn geometry(&mut self, depth: usize, expect: Option<u32>) -> Result<Geometry, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "geometry collections nested deeper than {MAX_DEPTH}"
            ));
        }
        let start = self.pos;
        let le = match self.take(1)?[0] {
            0 => false,
            1 => true,
            b => return Err(format!("bad WKB byte-order byte {b} at offset {start}")),
        };
        let raw = self.u32(le)?;
        // EWKB flags (PostGIS / shapely "extended" flavour).
        let (mut has_z, mut has_m) = (raw & 0x8000_0000 != 0, raw & 0x4000_0000 != 0);
        if raw & 0x2000_0000 != 0 {
            self.u32(le)?; // SRID: carried by the column's metadata instead
        }
        let iso = raw & 0x0FFF_FFFF;
        let (base, dim) = (iso % 1000, iso / 1000);
        match dim {
            0 => {}
            1 => has_z = true,
            2 => has_m = true,
            3 => (has_z, has_m) = (true, true),
            _ => return Err(format!("unknown WKB geometry type {raw} at offset {start}")),
        }
        if let Some(e) = expect {
            if base != e {
                return Err(format!(
                    "WKB multi-geometry member of type {base} where type {e} was expected"
                ));
            }
        }
        let dims = 2 + usize::from(has_z) + usize::from(has_m);
        Ok(match base {
            1 => {
                let c = self.coord(le, dims, has_z)?;
                Geometry::Point((!(c.x.is_nan() && c.y.is_nan())).then_some(c))
            }
            2 => Geometry::LineString(self.coords(le, dims, has_z)?),
            3 => Geometry::Polygon(self.rings(le, dims, has_z)?),
            4..=7 => {
                let n = self.count(le, 5)?;
                let mut parts = Vec::with_capacity(n);
                for _ in 0..n {
                    let member = if base == 7 { None } else { Some(base - 3) };
                    parts.push(self.geometry(depth + 1, member)?);
                }
                match base {
                    4 => Geometry::MultiPoint(
                        parts
                            .into_iter()
                            .filter_map(|g| match g {
                                Geometry::Point(p) => p,
                                _ => None,
                            })
                            .collect(),
                    ),
                    5 => Geometry::MultiLineString(
                        parts
                            .into_iter()
                            .filter_map(|g| match g {
                                Geometry::LineString(l) => Some(l),
                                _ => None,
                            })
                            .collect(),
                    ),
                    6 => Geometry::MultiPolygon(
                        parts
                            .into_iter()
                            .filter_map(|g| match g {
                                Geometry::Polygon(p) => Some(p),
                                _ => None,
                            })
                            .collect(),
                    ),
                    _ => Geometry::GeometryCollection(parts),
                }
            }
            _ => return Err(format!("unknown WKB geometry type {raw} at offset {start}")),
        })
    }
}

/// Parse one WKB value; the whole buffer must be consumed.
pub fn parse_wkb(buf: &[u8]) -> Result<Geometry, String> {
    let mut r = WkbReader { buf, pos: 0 };
    let g = r.geometry(0, None)?;
    if r.pos != buf.len() {
        return Err(format!(
            "{} trailing bytes after the WKB geometry",
            buf.len() - r.pos
        ));
    }
    Ok(g)
}

impl Geometry {
    /// Whether any coordinate carries a z value.
    fn has_z(&self) -> bool {
        let any = |cs: &[Coord]| cs.iter().any(|c| !c.z.is_nan());
        match self {
            Geometry::Point(p) => p.is_some_and(|c| !c.z.is_nan()),
            Geometry::LineString(cs) | Geometry::MultiPoint(cs) => any(cs),
            Geometry::Polygon(rs) | Geometry::MultiLineString(rs) => rs.iter().any(|r| any(r)),
            Geometry::MultiPolygon(ps) => ps.iter().flatten().any(|r| any(r)),
            Geometry::GeometryCollection(gs) => gs.iter().any(Geometry::has_z),
        }
    }

    /// The GeoJSON (RFC 7946) geometry object. Non-finite coordinates become `null`.
    pub fn to_geojson(&self) -> Value {
        let z = self.has_z();
        let pos = |c: &Coord| {
            if z {
                json!([c.x, c.y, if c.z.is_nan() { 0.0 } else { c.z }])
            } else {
                json!([c.x, c.y])
            }
        };
        let line = |cs: &[Coord]| Value::Array(cs.iter().map(pos).collect());
        let poly = |rs: &[Ring]| Value::Array(rs.iter().map(|r| line(r)).collect());
        let (kind, coords) = match self {
            Geometry::Point(p) => ("Point", p.as_ref().map_or(json!([]), pos)),
            Geometry::LineString(cs) => ("LineString", line(cs)),
            Geometry::Polygon(rs) => ("Polygon", poly(rs)),
            Geometry::MultiPoint(cs) => ("MultiPoint", line(cs)),
            Geometry::MultiLineString(ls) => ("MultiLineString", poly(ls)),
            Geometry::MultiPolygon(ps) => (
                "MultiPolygon",
                Value::Array(ps.iter().map(|p| poly(p)).collect()),
            ),
            Geometry::GeometryCollection(gs) => {
                return json!({
                    "type": "GeometryCollection",
                    "geometries": gs.iter().map(Geometry::to_geojson).collect::<Vec<_>>(),
                })
            }
        };
        json!({"type": kind, "coordinates": coords})
    }

    /// Well-known text, e.g. `POLYGON ((0 0, 1 0, 1 1, 0 0))`, `POINT Z (1 2 3)`, `POINT EMPTY`.
    pub fn to_wkt(&self) -> String {
        let mut out = String::new();
        self.write_wkt(&mut out, self.has_z());
        out
    }

    fn write_wkt(&self, out: &mut String, z: bool) {
        let name = match self {
            Geometry::Point(_) => "POINT",
            Geometry::LineString(_) => "LINESTRING",
            Geometry::Polygon(_) => "POLYGON",
            Geometry::MultiPoint(_) => "MULTIPOINT",
            Geometry::MultiLineString(_) => "MULTILINESTRING",
            Geometry::MultiPolygon(_) => "MULTIPOLYGON",
            Geometry::GeometryCollection(_) => "GEOMETRYCOLLECTION",
        };
        out.push_str(name);
        if z {
            out.push_str(" Z");
        }
        let empty = match self {
            Geometry::Point(p) => p.is_none(),
            Geometry::LineString(v) | Geometry::MultiPoint(v) => v.is_empty(),
            Geometry::Polygon(v) | Geometry::MultiLineString(v) => v.is_empty(),
            Geometry::MultiPolygon(v) => v.is_empty(),
            Geometry::GeometryCollection(v) => v.is_empty(),
        };
        if empty {
            out.push_str(" EMPTY");
            return;
        }
        out.push(' ');
        let coord = |out: &mut String, c: &Coord| {
            let _ = write!(out, "{} {}", num(c.x), num(c.y));
            if z {
                let _ = write!(out, " {}", num(if c.z.is_nan() { 0.0 } else { c.z }));
            }
        };
        let seq = |out: &mut String, cs: &[Coord], paren_each: bool| {
            out.push('(');
            for (i, c) in cs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if paren_each {
                    out.push('(');
                }
                coord(out, c);
                if paren_each {
                    out.push(')');
                }
            }
            out.push(')');
        };
        let rings = |out: &mut String, rs: &[Ring]| {
            out.push('(');
            for (i, r) in rs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                seq(out, r, false);
            }
            out.push(')');
        };
        match self {
            Geometry::Point(Some(c)) => seq(out, std::slice::from_ref(c), false),
            Geometry::Point(None) => {}
            Geometry::LineString(cs) => seq(out, cs, false),
            Geometry::MultiPoint(cs) => seq(out, cs, true),
            Geometry::Polygon(rs) | Geometry::MultiLineString(rs) => rings(out, rs),
            Geometry::MultiPolygon(ps) => {
                out.push('(');
                for (i, p) in ps.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    rings(out, p);
                }
                out.push(')');
            }
            Geometry::GeometryCollection(gs) => {
                out.push('(');
                for (i, g) in gs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    g.write_wkt(out, g.has_z());
                }
                out.push(')');
            }
        }
    }
}

/// A WKT number: shortest round-trip form, integers without a fraction (`1`, `0.5`, `-3e-7`).
fn num(v: f64) -> String {
    if v.is_finite() && v == v.trunc() && v.abs() < 1e16 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}
