//! Mapbox Vector Tile 2.1 for one tile: one layer `udf`, extent 4096.
//!
//! Geometries (EPSG:4326 lon/lat) are projected into the tile's pixel space (Web Mercator),
//! clipped to the tile plus a 64-unit buffer (polygons ring by ring with Sutherland–Hodgman,
//! lines segment by segment), rounded to integers, and written with the spec's zigzag/delta
//! command encoding. Exterior rings are clockwise on screen (positive surveyor's area with
//! y down), holes counter-clockwise. Features whose geometry vanishes are dropped; a
//! geometry collection becomes up to three features (points, lines, polygons).
//! Properties: every column but the geometry columns and pandas index columns; strings as
//! `string_value`, floats as `double_value`, non-negative integers as `uint_value`, negative
//! ones as `sint_value`, booleans as `bool_value`, nulls and NaN left out, other values
//! (timestamps, lists) as strings. A non-negative integer `id` column also sets the feature id.
//!
//! A tile with no feature left (an empty table, geometries all null or empty, everything
//! clipped away) is the empty body: a valid tile with no layers, which the server answers
//! as 204 No Content (as martin does; MapLibre and QGIS draw nothing).

use super::clip::{ClipBox, Px, TileProjection};
use super::geom::{Coord, Geometry, Ring};
use super::table::Table;
use super::values::cell;
use crate::tiles::Tile;
use crate::Result;
use serde_json::Value;
use std::collections::HashMap;

pub const LAYER_NAME: &str = "udf";
pub const EXTENT: u32 = 4096;
pub const BUFFER: f64 = 64.0;

const GEOM_POINT: u64 = 1;
const GEOM_LINESTRING: u64 = 2;
const GEOM_POLYGON: u64 = 3;

/// A minimal protobuf writer (varints and length-delimited fields).
#[derive(Default)]
struct Pbf(Vec<u8>);

impl Pbf {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }
    fn uint(&mut self, field: u32, v: u64) {
        self.key(field, 0);
        self.varint(v);
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn double(&mut self, field: u32, v: f64) {
        self.key(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn packed(&mut self, field: u32, vs: &[u32]) {
        let mut inner = Pbf::default();
        for &v in vs {
            inner.varint(u64::from(v));
        }
        self.bytes(field, &inner.0);
    }
}

fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

fn command(id: u32, count: usize) -> u32 {
    (id & 7) | ((count as u32) << 3)
}

/// Geometry in integer tile coordinates, by MVT geometry type.
#[derive(Default)]
struct TileGeometry {
    points: Vec<(i32, i32)>,
    lines: Vec<Vec<(i32, i32)>>,
    /// Rings in order: each exterior followed by its holes, windings already fixed.
    rings: Vec<Vec<(i32, i32)>>,
}

fn round(p: Px) -> (i32, i32) {
    // Clipping bounds coordinates to the buffered tile, so this cannot overflow.
    (p.0.round() as i32, p.1.round() as i32)
}

fn dedup(pts: impl IntoIterator<Item = Px>) -> Vec<(i32, i32)> {
    let mut out: Vec<(i32, i32)> = Vec::new();
    for p in pts {
        let q = round(p);
        if out.last() != Some(&q) {
            out.push(q);
        }
    }
    out
}

/// Twice the signed area (surveyor's formula) in tile coordinates.
fn area2(ring: &[(i32, i32)]) -> i64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            i64::from(a.0) * i64::from(b.1) - i64::from(b.0) * i64::from(a.1)
        })
        .sum()
}

struct Builder {
    proj: TileProjection,
    clip: ClipBox,
}

impl Builder {
    fn px(&self, cs: &[Coord]) -> Vec<Px> {
        cs.iter()
            .filter(|c| c.x.is_finite() && c.y.is_finite())
            .map(|c| self.proj.project(c))
            .collect()
    }

    fn add_point(&self, out: &mut TileGeometry, c: &Coord) {
        let p = self.px(std::slice::from_ref(c));
        if let Some(&p) = p.first().filter(|p| self.clip.contains(**p)) {
            out.points.push(round(p));
        }
    }

    fn add_line(&self, out: &mut TileGeometry, cs: &[Coord]) {
        for part in self.clip.clip_line(&self.px(cs)) {
            let part = dedup(part);
            if part.len() >= 2 {
                out.lines.push(part);
            }
        }
    }

    /// A ring clipped, rounded and checked: `None` when nothing with area is left.
    fn ring(&self, ring: &Ring, exterior: bool) -> Option<Vec<(i32, i32)>> {
        let mut r = dedup(self.clip.clip_ring(&self.px(ring)));
        while r.len() > 1 && r.first() == r.last() {
            r.pop();
        }
        if r.len() < 3 {
            return None;
        }
        let a = area2(&r);
        if a == 0 {
            return None;
        }
        if (a > 0) != exterior {
            r.reverse();
        }
        Some(r)
    }

    fn add_polygon(&self, out: &mut TileGeometry, rings: &[Ring]) {
        let Some(ext) = rings.first().and_then(|r| self.ring(r, true)) else {
            return;
        };
        out.rings.push(ext);
        for hole in &rings[1..] {
            if let Some(h) = self.ring(hole, false) {
                out.rings.push(h);
            }
        }
    }

    fn add(&self, out: &mut TileGeometry, g: &Geometry) {
        match g {
            Geometry::Point(Some(c)) => self.add_point(out, c),
            Geometry::Point(None) => {}
            Geometry::MultiPoint(cs) => cs.iter().for_each(|c| self.add_point(out, c)),
            Geometry::LineString(cs) => self.add_line(out, cs),
            Geometry::MultiLineString(ls) => ls.iter().for_each(|l| self.add_line(out, l)),
            Geometry::Polygon(rs) => self.add_polygon(out, rs),
            Geometry::MultiPolygon(ps) => ps.iter().for_each(|p| self.add_polygon(out, p)),
            Geometry::GeometryCollection(gs) => gs.iter().for_each(|g| self.add(out, g)),
        }
    }
}

/// The command stream of one geometry type, with the cursor starting at (0, 0).
fn commands(kind: u64, tg: &TileGeometry) -> Vec<u32> {
    let mut out = Vec::new();
    let mut cursor = (0i32, 0i32);
    let mut push = |out: &mut Vec<u32>, p: (i32, i32)| {
        out.push(zigzag(p.0.wrapping_sub(cursor.0)));
        out.push(zigzag(p.1.wrapping_sub(cursor.1)));
        cursor = p;
    };
    match kind {
        GEOM_POINT => {
            out.push(command(1, tg.points.len()));
            for &p in &tg.points {
                push(&mut out, p);
            }
        }
        GEOM_LINESTRING => {
            for line in &tg.lines {
                out.push(command(1, 1));
                push(&mut out, line[0]);
                out.push(command(2, line.len() - 1));
                for &p in &line[1..] {
                    push(&mut out, p);
                }
            }
        }
        _ => {
            for ring in &tg.rings {
                out.push(command(1, 1));
                push(&mut out, ring[0]);
                out.push(command(2, ring.len() - 1));
                for &p in &ring[1..] {
                    push(&mut out, p);
                }
                out.push(command(7, 1));
            }
        }
    }
    out
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum ValueKey {
    Str(String),
    Double(u64),
    UInt(u64),
    SInt(i64),
    Bool(bool),
}

/// Encode a table as one MVT tile (empty when no feature is left).
pub fn to_mvt(ipc: &[u8], tile: Tile) -> Result<Vec<u8>> {
    let table = Table::from_ipc(ipc, "mvt")?;
    let builder = Builder {
        proj: TileProjection::new(tile, EXTENT),
        clip: ClipBox {
            min: -BUFFER,
            max: f64::from(EXTENT) + BUFFER,
        },
    };
    let prop_cols: Vec<usize> = (0..table.schema.fields().len())
        .filter(|c| !table.geometry_columns.contains(c) && !table.is_pandas_index(*c))
        .collect();
    let id_col = prop_cols.iter().copied().find(|&c| {
        table.schema.field(c).name() == "id" && table.schema.field(c).data_type().is_integer()
    });

    let mut keys: Vec<String> = Vec::new();
    let mut key_index: HashMap<String, u32> = HashMap::new();
    let mut values: Vec<ValueKey> = Vec::new();
    let mut value_index: HashMap<ValueKey, u32> = HashMap::new();
    let mut layer = Pbf::default();
    layer.bytes(1, LAYER_NAME.as_bytes());

    let mut row = 0;
    let mut features = 0usize;
    for batch in &table.batches {
        for i in 0..batch.num_rows() {
            let this_row = row;
            row += 1;
            let Some(col) = table.primary else { continue };
            let Some(g) = table.geometry(batch.column(col).as_ref(), i, col, this_row, "mvt")?
            else {
                continue;
            };
            let mut tg = TileGeometry::default();
            builder.add(&mut tg, &g);
            let kinds: Vec<u64> = [
                (GEOM_POINT, !tg.points.is_empty()),
                (GEOM_LINESTRING, !tg.lines.is_empty()),
                (GEOM_POLYGON, !tg.rings.is_empty()),
            ]
            .into_iter()
            .filter_map(|(k, present)| present.then_some(k))
            .collect();
            if kinds.is_empty() {
                continue;
            }
            let mut tags: Vec<u32> = Vec::new();
            let mut id = None;
            for &c in &prop_cols {
                let name = table.schema.field(c).name();
                let v = cell(batch.column(c).as_ref(), i, name, "mvt")?;
                if Some(c) == id_col {
                    id = v.as_u64();
                }
                let vk = match v {
                    Value::Null => continue,
                    Value::Bool(b) => ValueKey::Bool(b),
                    Value::String(s) => ValueKey::Str(s),
                    Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                        (Some(u), _, _) => ValueKey::UInt(u),
                        (None, Some(s), _) => ValueKey::SInt(s),
                        (_, _, Some(f)) => ValueKey::Double(f.to_bits()),
                        _ => continue,
                    },
                    other => ValueKey::Str(other.to_string()),
                };
                let k = *key_index.entry(name.clone()).or_insert_with(|| {
                    keys.push(name.clone());
                    keys.len() as u32 - 1
                });
                let v = if let Some(&v) = value_index.get(&vk) {
                    v
                } else {
                    let v = values.len() as u32;
                    value_index.insert(vk.clone(), v);
                    values.push(vk);
                    v
                };
                tags.push(k);
                tags.push(v);
            }
            for kind in kinds {
                let mut f = Pbf::default();
                if let Some(id) = id {
                    f.uint(1, id);
                }
                if !tags.is_empty() {
                    f.packed(2, &tags);
                }
                f.uint(3, kind);
                f.packed(4, &commands(kind, &tg));
                layer.bytes(2, &f.0);
                features += 1;
            }
        }
    }
    if features == 0 {
        return Ok(Vec::new());
    }
    for k in &keys {
        layer.bytes(3, k.as_bytes());
    }
    for v in &values {
        let mut m = Pbf::default();
        match v {
            ValueKey::Str(s) => m.bytes(1, s.as_bytes()),
            ValueKey::Double(b) => m.double(3, f64::from_bits(*b)),
            ValueKey::UInt(u) => m.uint(5, *u),
            ValueKey::SInt(s) => m.uint(6, ((s << 1) ^ (s >> 63)) as u64),
            ValueKey::Bool(b) => m.uint(7, u64::from(*b)),
        }
        layer.bytes(4, &m.0);
    }
    layer.uint(5, u64::from(EXTENT));
    layer.uint(15, 2);
    let mut tile_msg = Pbf::default();
    tile_msg.bytes(3, &layer.0);
    Ok(tile_msg.0)
}
