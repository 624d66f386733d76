//! MVT decoded by a small protobuf reader: layer, extent, features, geometry commands
//! back to tile coordinates, clipping, winding and typed properties.

use super::*;
use arrow_array::{Int32Array, UInt64Array};

/// A decoded protobuf field value.
#[derive(Debug, Clone)]
enum Wire {
    Varint(u64),
    Fixed64(u64),
    Bytes(Vec<u8>),
    Fixed32(u32),
}

fn varint(b: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let byte = b[*pos];
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn fields(b: &[u8]) -> Vec<(u32, Wire)> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < b.len() {
        let key = varint(b, &mut pos);
        let (field, wire) = ((key >> 3) as u32, key & 7);
        let v = match wire {
            0 => Wire::Varint(varint(b, &mut pos)),
            1 => {
                let v = u64::from_le_bytes(b[pos..pos + 8].try_into().unwrap());
                pos += 8;
                Wire::Fixed64(v)
            }
            2 => {
                let n = varint(b, &mut pos) as usize;
                let v = b[pos..pos + n].to_vec();
                pos += n;
                Wire::Bytes(v)
            }
            5 => {
                let v = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap());
                pos += 4;
                Wire::Fixed32(v)
            }
            w => panic!("unexpected wire type {w}"),
        };
        out.push((field, v));
    }
    out
}

fn packed(b: &[u8]) -> Vec<u32> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < b.len() {
        out.push(varint(b, &mut pos) as u32);
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Prop {
    Str(String),
    Double(f64),
    UInt(u64),
    SInt(i64),
    Bool(bool),
}

#[derive(Debug)]
struct Feature {
    id: Option<u64>,
    kind: u64,
    /// Parts (`MoveTo` starts a new one), in tile coordinates.
    parts: Vec<Vec<(i32, i32)>>,
    props: Vec<(String, Prop)>,
}

#[derive(Debug)]
struct Layer {
    name: String,
    extent: u64,
    version: u64,
    features: Vec<Feature>,
}

fn decode_geometry(cmds: &[u32]) -> Vec<Vec<(i32, i32)>> {
    let (mut x, mut y) = (0i32, 0i32);
    let mut parts: Vec<Vec<(i32, i32)>> = Vec::new();
    let mut i = 0;
    let unzig = |v: u32| ((v >> 1) as i32) ^ -((v & 1) as i32);
    while i < cmds.len() {
        let (id, count) = (cmds[i] & 7, cmds[i] >> 3);
        i += 1;
        match id {
            1 | 2 => {
                for k in 0..count {
                    x += unzig(cmds[i]);
                    y += unzig(cmds[i + 1]);
                    i += 2;
                    if id == 1 && (k == 0 || parts.is_empty()) {
                        parts.push(Vec::new());
                    }
                    if id == 1 && k > 0 {
                        parts.push(Vec::new()); // multipoint: each MoveTo point its own part
                    }
                    parts.last_mut().unwrap().push((x, y));
                }
            }
            7 => assert_eq!(count, 1),
            other => panic!("unknown command {other}"),
        }
    }
    parts
}

fn decode(tile: &[u8]) -> Layer {
    let layers: Vec<Vec<u8>> = fields(tile)
        .into_iter()
        .map(|(f, v)| match (f, v) {
            (3, Wire::Bytes(b)) => b,
            other => panic!("unexpected tile field {other:?}"),
        })
        .collect();
    assert_eq!(layers.len(), 1);
    let (mut name, mut extent, mut version) = (String::new(), 0, 0);
    let (mut keys, mut values, mut raw_features) = (Vec::new(), Vec::new(), Vec::new());
    for (f, v) in fields(&layers[0]) {
        match (f, v) {
            (1, Wire::Bytes(b)) => name = String::from_utf8(b).unwrap(),
            (2, Wire::Bytes(b)) => raw_features.push(b),
            (3, Wire::Bytes(b)) => keys.push(String::from_utf8(b).unwrap()),
            (4, Wire::Bytes(b)) => {
                let (f, v) = fields(&b).pop().unwrap();
                values.push(match (f, v) {
                    (1, Wire::Bytes(s)) => Prop::Str(String::from_utf8(s).unwrap()),
                    (2, Wire::Fixed32(b)) => Prop::Double(f64::from(f32::from_bits(b))),
                    (3, Wire::Fixed64(b)) => Prop::Double(f64::from_bits(b)),
                    (4, Wire::Varint(v)) => Prop::SInt(v as i64),
                    (5, Wire::Varint(v)) => Prop::UInt(v),
                    (6, Wire::Varint(v)) => Prop::SInt(((v >> 1) as i64) ^ -((v & 1) as i64)),
                    (7, Wire::Varint(v)) => Prop::Bool(v != 0),
                    other => panic!("bad value {other:?}"),
                });
            }
            (5, Wire::Varint(e)) => extent = e,
            (15, Wire::Varint(v)) => version = v,
            other => panic!("unexpected layer field {other:?}"),
        }
    }
    let features = raw_features
        .iter()
        .map(|b| {
            let mut feat = Feature {
                id: None,
                kind: 0,
                parts: Vec::new(),
                props: Vec::new(),
            };
            for (f, v) in fields(b) {
                match (f, v) {
                    (1, Wire::Varint(id)) => feat.id = Some(id),
                    (2, Wire::Bytes(t)) => {
                        let tags = packed(&t);
                        assert_eq!(tags.len() % 2, 0);
                        for kv in tags.chunks(2) {
                            feat.props.push((
                                keys[kv[0] as usize].clone(),
                                values[kv[1] as usize].clone(),
                            ));
                        }
                    }
                    (3, Wire::Varint(k)) => feat.kind = k,
                    (4, Wire::Bytes(g)) => feat.parts = decode_geometry(&packed(&g)),
                    other => panic!("unexpected feature field {other:?}"),
                }
            }
            feat
        })
        .collect();
    Layer {
        name,
        extent,
        version,
        features,
    }
}

/// Twice the surveyor's-formula area in tile coordinates (positive = exterior).
fn area2(ring: &[(i32, i32)]) -> i64 {
    (0..ring.len())
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % ring.len()]);
            i64::from(a.0) * i64::from(b.1) - i64::from(b.0) * i64::from(a.1)
        })
        .sum()
}

/// Latitude whose Web Mercator y is a quarter of the world from the top.
const LAT_QUARTER: f64 = 66.513_260_443_111_86;

fn mvt(t: &CanonicalResult, x: u32, y: u32, z: u8) -> Layer {
    let e = encode(t, Format::Mvt, Some(TileBounds { x, y, z })).unwrap();
    assert_eq!(e.content_type, "application/vnd.mapbox-vector-tile");
    decode(&e.body)
}

#[test]
fn mvt_points_lines_and_properties() {
    let geoms = BinaryArray::from_iter_values([
        wkb_point(0.0, 0.0),
        wkb_point(-90.0, LAT_QUARTER),
        wkb_line(&[(-90.0, 0.0), (90.0, 0.0)]),
        wkb_multi(4, &[wkb_point(-90.0, 0.0), wkb_point(90.0, -LAT_QUARTER)]),
    ]);
    let t = table(
        vec![
            ("id", Arc::new(UInt64Array::from(vec![10, 11, 12, 13]))),
            (
                "name",
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some("b"),
                    None,
                    Some("a"),
                ])),
            ),
            (
                "score",
                Arc::new(Float64Array::from(vec![0.5, f64::NAN, 2.0, 0.5])),
            ),
            ("delta", Arc::new(Int32Array::from(vec![-3, 4, 0, -3]))),
            (
                "ok",
                Arc::new(BooleanArray::from(vec![true, false, true, true])),
            ),
            ("geometry", Arc::new(geoms)),
        ],
        Some("geometry"),
    );
    let layer = mvt(&t, 0, 0, 0);
    assert_eq!(
        (layer.name.as_str(), layer.extent, layer.version),
        ("udf", 4096, 2)
    );
    assert_eq!(layer.features.len(), 4);
    let f = &layer.features;
    assert_eq!((f[0].kind, f[0].id), (1, Some(10)));
    assert_eq!(f[0].parts, [vec![(2048, 2048)]]);
    assert_eq!(f[1].parts, [vec![(1024, 1024)]]);
    assert_eq!(f[2].kind, 2);
    assert_eq!(f[2].parts, [vec![(1024, 2048), (3072, 2048)]]);
    assert_eq!(f[3].kind, 1);
    assert_eq!(f[3].parts, [vec![(1024, 2048)], vec![(3072, 3072)]]);
    assert_eq!(
        f[0].props,
        [
            ("id".to_string(), Prop::UInt(10)),
            ("name".to_string(), Prop::Str("a".into())),
            ("score".to_string(), Prop::Double(0.5)),
            ("delta".to_string(), Prop::SInt(-3)),
            ("ok".to_string(), Prop::Bool(true)),
        ]
    );
    // NaN and null are left out; 0 is a uint.
    assert_eq!(
        f[1].props,
        [
            ("id".to_string(), Prop::UInt(11)),
            ("name".to_string(), Prop::Str("b".into())),
            ("delta".to_string(), Prop::UInt(4)),
            ("ok".to_string(), Prop::Bool(false)),
        ]
    );
    assert_eq!(
        f[2].props.iter().find(|p| p.0 == "delta").unwrap().1,
        Prop::UInt(0)
    );
    // At zoom 1, tile (1, 1) (south-east): the point at (90, -66.5) is at its centre.
    let layer = mvt(&t, 1, 1, 1);
    let ids: Vec<Option<u64>> = layer.features.iter().map(|f| f.id).collect();
    // Point (0,0) is on the tile's corner (inside the buffer), (-90, 66.5) is not;
    // the line runs along the top edge; the multipoint keeps only its south-east point.
    assert_eq!(ids, [Some(10), Some(12), Some(13)]);
    assert_eq!(layer.features[0].parts, [vec![(0, 0)]]);
    assert_eq!(layer.features[1].parts, [vec![(-64, 0), (2048, 0)]]);
    assert_eq!(layer.features[2].parts, [vec![(2048, 2048)]]);
}

#[test]
fn mvt_polygons_clipped_and_wound() {
    // A square lon -90..90, lat -66.5..66.5, given clockwise in lon/lat (the "wrong" way
    // for RFC 7946), with a hole lon -60..-30, lat 10..40 (also given clockwise).
    let outer = [
        (-90.0, -LAT_QUARTER),
        (-90.0, LAT_QUARTER),
        (90.0, LAT_QUARTER),
        (90.0, -LAT_QUARTER),
        (-90.0, -LAT_QUARTER),
    ];
    let hole = [
        (-60.0, 10.0),
        (-60.0, 40.0),
        (-30.0, 40.0),
        (-30.0, 10.0),
        (-60.0, 10.0),
    ];
    let far = [(100.0, 10.0), (110.0, 10.0), (110.0, 20.0), (100.0, 10.0)];
    let geoms = BinaryArray::from_iter_values([
        wkb_polygon(&[&outer, &hole]),
        wkb_polygon(&[&far]),
        wkb_multi(6, &[wkb_polygon(&[&far]), wkb_polygon(&[&hole])]),
    ]);
    let t = table(
        vec![
            ("n", Arc::new(Int64Array::from(vec![1, 2, 3]))),
            ("geometry", Arc::new(geoms)),
        ],
        Some("geometry"),
    );
    // z=0: no clipping; exterior positive, hole negative.
    let layer = mvt(&t, 0, 0, 0);
    assert_eq!(layer.features.len(), 3);
    let rings = &layer.features[0].parts;
    assert_eq!(layer.features[0].kind, 3);
    assert_eq!(rings.len(), 2);
    assert!(area2(&rings[0]) > 0 && area2(&rings[1]) < 0);
    let mut outer_px = rings[0].clone();
    outer_px.sort_unstable();
    assert_eq!(
        outer_px,
        [(1024, 1024), (1024, 3072), (3072, 1024), (3072, 3072)]
    );
    assert_eq!(area2(&rings[0]), 2 * 2048 * 2048);

    // z=1, tile (0, 0) (north-west): the square is clipped at x, y = 4096 + 64 and the
    // hole (lon -60..-30 -> x 2731..3413, fully inside) kept.
    let layer = mvt(&t, 0, 0, 1);
    let ns: Vec<&Prop> = layer.features.iter().map(|f| &f.props[0].1).collect();
    assert_eq!(ns, [&Prop::UInt(1), &Prop::UInt(3)]); // the far polygon vanished
    let rings = &layer.features[0].parts;
    assert_eq!(rings.len(), 2);
    let mut clipped = rings[0].clone();
    clipped.sort_unstable();
    assert_eq!(
        clipped,
        [(2048, 2048), (2048, 4160), (4160, 2048), (4160, 4160)]
    );
    assert!(area2(&rings[0]) > 0, "exterior must be clockwise on screen");
    assert!(
        area2(&rings[1]) < 0,
        "hole must be counter-clockwise on screen"
    );
    let (xs, ys): (Vec<i32>, Vec<i32>) = rings[1].iter().copied().unzip();
    assert_eq!(
        (*xs.iter().min().unwrap(), *xs.iter().max().unwrap()),
        (2731, 3413)
    );
    assert!(ys.iter().all(|y| (0..4096).contains(y)));
    // The multipolygon keeps only its part that touches the tile, as one exterior ring.
    let mp = &layer.features[1];
    assert_eq!((mp.kind, mp.parts.len()), (3, 1));
    assert!(area2(&mp.parts[0]) > 0);

    // Tile (1, 0) at z=1 (north-east): the hole is outside, the square's east half remains.
    let layer = mvt(&t, 1, 0, 1);
    let rings = &layer.features[0].parts;
    assert_eq!(rings.len(), 1);
    let mut clipped = rings[0].clone();
    clipped.sort_unstable();
    assert_eq!(
        clipped,
        [(-64, 2048), (-64, 4160), (2048, 2048), (2048, 4160)]
    );
}

#[test]
fn mvt_lines_leaving_and_reentering() {
    // At z=1, tile (0,0): a line that dips out of the bottom (lat < 0 is y > 4096) and comes
    // back becomes two parts.
    let line = wkb_line(&[(-135.0, 40.0), (-90.0, -LAT_QUARTER), (-45.0, 40.0)]);
    let t = table(
        vec![("geometry", Arc::new(BinaryArray::from_iter_values([line])))],
        Some("geometry"),
    );
    let layer = mvt(&t, 0, 0, 1);
    assert_eq!(layer.features.len(), 1);
    let parts = &layer.features[0].parts;
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].last().unwrap().1, 4160);
    assert_eq!(parts[1].first().unwrap().1, 4160);
    assert!(layer.features[0].props.is_empty());
}

#[test]
fn mvt_needs_a_tile_and_skips_null_geometry() {
    let t = sample_table();
    assert!(matches!(
        encode(&t, Format::Mvt, None),
        Err(Error::UnsupportedFormat { .. })
    ));
    // sample_table's shapes are near (0, 0): at z=0 all but the null geometry remain.
    let layer = mvt(&t, 0, 0, 0);
    assert_eq!(layer.features.len(), 5);
    // The timestamp is a string property; the id column sets feature ids.
    let f = &layer.features[1];
    assert_eq!(f.id, Some(2));
    assert!(f.props.contains(&(
        "ts".to_string(),
        Prop::Str("2023-11-14T22:13:20.123".into())
    )));
    // A table without geometry gives the empty tile (no layers).
    let plain = table(vec![("a", Arc::new(Int64Array::from(vec![1])))], None);
    let e = encode(&plain, Format::Mvt, Some(TileBounds { x: 0, y: 0, z: 0 })).unwrap();
    assert!(e.body.is_empty());
}
