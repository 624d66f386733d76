//! Output encoders end to end: canonical results built here (Arrow tables with hand-written
//! WKB and `geo` metadata, raw raster bytes) are encoded and decoded back.
//! The WKB reader and the table formats are tested here; format negotiation in
//! `encode/format.rs`, MVT in `encode/mvt.rs`, rasters (PNG, TIFF, NPY) in
//! `encode/raster.rs`, empty results in `encode/empty.rs`, cross-checks with geopandas/pyarrow (skipped without them) in
//! `encode/python.rs`.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, DictionaryArray, Float64Array, Int64Array,
    RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Schema};
use fused_core::encode::{
    choose_format, encode, parse_wkb, Coord, Format, FormatRequest, Geometry, TileBounds,
};
use fused_core::result::{CanonicalResult, Dtype};
use fused_core::Error;
use serde_json::{json, Value};

#[path = "encode/empty.rs"]
mod empty;
#[path = "encode/format.rs"]
mod format;
#[path = "encode/mvt.rs"]
mod mvt;
#[path = "encode/python.rs"]
mod python;
#[path = "encode/raster.rs"]
mod raster;

// ---------------------------------------------------------------- WKB and table builders

pub fn wkb_point(x: f64, y: f64) -> Vec<u8> {
    let mut b = vec![1];
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&x.to_le_bytes());
    b.extend_from_slice(&y.to_le_bytes());
    b
}

fn coords(b: &mut Vec<u8>, pts: &[(f64, f64)]) {
    b.extend_from_slice(&(pts.len() as u32).to_le_bytes());
    for (x, y) in pts {
        b.extend_from_slice(&x.to_le_bytes());
        b.extend_from_slice(&y.to_le_bytes());
    }
}

pub fn wkb_line(pts: &[(f64, f64)]) -> Vec<u8> {
    let mut b = vec![1];
    b.extend_from_slice(&2u32.to_le_bytes());
    coords(&mut b, pts);
    b
}

pub fn wkb_polygon(rings: &[&[(f64, f64)]]) -> Vec<u8> {
    let mut b = vec![1];
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&(rings.len() as u32).to_le_bytes());
    for r in rings {
        coords(&mut b, r);
    }
    b
}

/// A multi-geometry (4 multipoint, 5 multilinestring, 6 multipolygon, 7 collection).
pub fn wkb_multi(kind: u32, parts: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![1];
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&(parts.len() as u32).to_le_bytes());
    for p in parts {
        b.extend_from_slice(p);
    }
    b
}

pub fn geo_metadata(column: &str) -> String {
    json!({
        "version": "1.1.0",
        "primary_column": column,
        "columns": {column: {"encoding": "WKB", "geometry_types": [], "crs": null}},
    })
    .to_string()
}

/// An IPC stream of one batch; `geo` metadata added when `geo` names a column.
pub fn ipc(columns: Vec<(&str, ArrayRef)>, geo: Option<&str>) -> Vec<u8> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let mut schema = Schema::new(fields);
    if let Some(g) = geo {
        schema = schema.with_metadata(std::collections::HashMap::from([(
            "geo".to_string(),
            geo_metadata(g),
        )]));
    }
    let schema = Arc::new(schema);
    let batch =
        RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect()).unwrap();
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    drop(w);
    out
}

pub fn table(columns: Vec<(&str, ArrayRef)>, geo: Option<&str>) -> CanonicalResult {
    CanonicalResult::Table {
        ipc: ipc(columns, geo),
    }
}

const SQUARE: &[(f64, f64)] = &[(0., 0.), (10., 0.), (10., 10.), (0., 10.), (0., 0.)];
const HOLE: &[(f64, f64)] = &[(2., 2.), (2., 4.), (4., 4.), (4., 2.), (2., 2.)];

/// Six rows: point, line, polygon with a hole, multipolygon, multipoint, null geometry.
pub fn sample_table() -> CanonicalResult {
    let geoms: Vec<Option<Vec<u8>>> = vec![
        Some(wkb_point(1.0, 2.0)),
        Some(wkb_line(&[(0., 0.), (1., 1.), (2., 0.)])),
        Some(wkb_polygon(&[SQUARE, HOLE])),
        Some(wkb_multi(
            6,
            &[
                wkb_polygon(&[&[(0., 0.), (1., 0.), (1., 1.), (0., 0.)]]),
                wkb_polygon(&[&[(5., 5.), (6., 5.), (6., 6.), (5., 5.)]]),
            ],
        )),
        Some(wkb_multi(4, &[wkb_point(1., 1.), wkb_point(2.5, -2.)])),
        None,
    ];
    let geom: BinaryArray = geoms.iter().map(|g| g.as_deref()).collect();
    table(
        vec![
            ("id", Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6]))),
            (
                "name",
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    None,
                    Some("he said \"hi\", ok"),
                    Some("multi"),
                    Some("line\nbreak"),
                    Some("none"),
                ])),
            ),
            (
                "value",
                Arc::new(Float64Array::from(vec![
                    1.5,
                    f64::NAN,
                    -2.0,
                    0.25,
                    3.0,
                    1e21,
                ])),
            ),
            (
                "flag",
                Arc::new(BooleanArray::from(vec![
                    Some(true),
                    Some(false),
                    None,
                    Some(true),
                    Some(false),
                    Some(true),
                ])),
            ),
            (
                "ts",
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(0),
                    Some(1_700_000_000_123),
                    None,
                    Some(86_400_000),
                    Some(-1),
                    Some(951_782_400_000),
                ])),
            ),
            ("geometry", Arc::new(geom)),
        ],
        Some("geometry"),
    )
}

fn expected_geometries() -> Vec<Value> {
    vec![
        json!({"type": "Point", "coordinates": [1.0, 2.0]}),
        json!({"type": "LineString", "coordinates": [[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]]}),
        json!({"type": "Polygon", "coordinates": [
            [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]],
            [[2.0, 2.0], [2.0, 4.0], [4.0, 4.0], [4.0, 2.0], [2.0, 2.0]]]}),
        json!({"type": "MultiPolygon", "coordinates": [
            [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]],
            [[[5.0, 5.0], [6.0, 5.0], [6.0, 6.0], [5.0, 5.0]]]]}),
        json!({"type": "MultiPoint", "coordinates": [[1.0, 1.0], [2.5, -2.0]]}),
        Value::Null,
    ]
}

fn expected_properties() -> Vec<Value> {
    vec![
        json!({"id": 1, "name": "a", "value": 1.5, "flag": true, "ts": "1970-01-01T00:00:00"}),
        json!({"id": 2, "name": null, "value": null, "flag": false,
               "ts": "2023-11-14T22:13:20.123"}),
        json!({"id": 3, "name": "he said \"hi\", ok", "value": -2.0, "flag": null, "ts": null}),
        json!({"id": 4, "name": "multi", "value": 0.25, "flag": true, "ts": "1970-01-02T00:00:00"}),
        json!({"id": 5, "name": "line\nbreak", "value": 3.0, "flag": false,
               "ts": "1969-12-31T23:59:59.999"}),
        json!({"id": 6, "name": "none", "value": 1e21, "flag": true, "ts": "2000-02-29T00:00:00"}),
    ]
}

pub fn body(result: &CanonicalResult, format: Format) -> Vec<u8> {
    let e = encode(result, format, None).unwrap();
    assert_eq!(e.content_type, format.content_type());
    e.body
}

// ---------------------------------------------------------------- WKB reader

#[test]
fn wkb_flavours() {
    // Big-endian point.
    let mut be = vec![0u8];
    be.extend_from_slice(&1u32.to_be_bytes());
    be.extend_from_slice(&3.5f64.to_be_bytes());
    be.extend_from_slice(&(-1.0f64).to_be_bytes());
    let g = parse_wkb(&be).unwrap();
    assert!(matches!(g, Geometry::Point(Some(Coord { x, y, .. })) if x == 3.5 && y == -1.0));
    assert_eq!(g.to_wkt(), "POINT (3.5 -1)");
    // EWKB point Z with SRID 4326.
    let mut ewkb = vec![1u8];
    ewkb.extend_from_slice(&(1u32 | 0x8000_0000 | 0x2000_0000).to_le_bytes());
    ewkb.extend_from_slice(&4326u32.to_le_bytes());
    for v in [1.0f64, 2.0, 3.0] {
        ewkb.extend_from_slice(&v.to_le_bytes());
    }
    let g = parse_wkb(&ewkb).unwrap();
    assert_eq!(g.to_wkt(), "POINT Z (1 2 3)");
    assert_eq!(
        g.to_geojson(),
        json!({"type": "Point", "coordinates": [1.0, 2.0, 3.0]})
    );
    // ISO linestring ZM (3002): M dropped.
    let mut zm = vec![1u8];
    zm.extend_from_slice(&3002u32.to_le_bytes());
    zm.extend_from_slice(&2u32.to_le_bytes());
    for v in [0.0f64, 0.0, 5.0, 9.0, 1.0, 1.0, 6.0, 9.0] {
        zm.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(
        parse_wkb(&zm).unwrap().to_wkt(),
        "LINESTRING Z (0 0 5, 1 1 6)"
    );
    // Empty point (NaN coordinates), collection, multilinestring.
    assert_eq!(
        parse_wkb(&wkb_point(f64::NAN, f64::NAN)).unwrap().to_wkt(),
        "POINT EMPTY"
    );
    let gc = wkb_multi(
        7,
        &[
            wkb_point(1., 2.),
            wkb_multi(
                5,
                &[
                    wkb_line(&[(0., 0.), (1., 0.)]),
                    wkb_line(&[(2., 2.), (3., 3.)]),
                ],
            ),
        ],
    );
    assert_eq!(
        parse_wkb(&gc).unwrap().to_wkt(),
        "GEOMETRYCOLLECTION (POINT (1 2), MULTILINESTRING ((0 0, 1 0), (2 2, 3 3)))"
    );
    assert_eq!(
        parse_wkb(&gc).unwrap().to_geojson(),
        json!({"type": "GeometryCollection", "geometries": [
            {"type": "Point", "coordinates": [1.0, 2.0]},
            {"type": "MultiLineString", "coordinates": [[[0.0, 0.0], [1.0, 0.0]], [[2.0, 2.0], [3.0, 3.0]]]}
        ]})
    );
    // Malformed: truncated, trailing bytes, bad byte order, huge count, unknown type,
    // wrong member type.
    let p = wkb_point(1., 2.);
    let errors = [
        parse_wkb(&p[..p.len() - 1]).unwrap_err(),
        parse_wkb(&[p.clone(), vec![0]].concat()).unwrap_err(),
        parse_wkb(&[[7u8].as_slice(), &p[1..]].concat()).unwrap_err(),
        parse_wkb(&[1, 2, 0, 0, 0, 255, 255, 255, 255]).unwrap_err(),
        parse_wkb(&[1, 99, 0, 0, 0]).unwrap_err(),
        parse_wkb(&wkb_multi(4, &[wkb_line(&[(0., 0.), (1., 1.)])])).unwrap_err(),
    ];
    assert!(errors[0].contains("truncated"), "{}", errors[0]);
    assert!(errors[1].contains("1 trailing bytes"), "{}", errors[1]);
    assert!(errors[2].contains("byte-order byte 7"), "{}", errors[2]);
    assert!(errors[3].contains("count 4294967295"), "{}", errors[3]);
    assert!(
        errors[4].contains("unknown WKB geometry type 99"),
        "{}",
        errors[4]
    );
    assert!(errors[5].contains("member of type 2"), "{}", errors[5]);
}

// ---------------------------------------------------------------- table formats

#[test]
fn geojson_feature_collection() {
    let out: Value = serde_json::from_slice(&body(&sample_table(), Format::GeoJson)).unwrap();
    let features: Vec<Value> = expected_geometries()
        .into_iter()
        .zip(expected_properties())
        .map(|(g, p)| json!({"type": "Feature", "properties": p, "geometry": g}))
        .collect();
    assert_eq!(
        out,
        json!({"type": "FeatureCollection", "features": features})
    );
}

#[test]
fn json_records_with_geojson_geometry() {
    let out: Value = serde_json::from_slice(&body(&sample_table(), Format::Json)).unwrap();
    let records: Vec<Value> = expected_properties()
        .into_iter()
        .zip(expected_geometries())
        .map(|(mut p, g)| {
            p["geometry"] = g;
            p
        })
        .collect();
    assert_eq!(out, Value::Array(records));
    // Column order is the table's.
    let text = String::from_utf8(body(&sample_table(), Format::Json)).unwrap();
    assert!(text.starts_with(r#"[{"id":1,"name":"a","value":1.5,"flag":true,"ts":"1970"#));
}

#[test]
fn csv_exact_text() {
    let text = String::from_utf8(body(&sample_table(), Format::Csv)).unwrap();
    let expected = [
        "id,name,value,flag,ts,geometry",
        "1,a,1.5,true,1970-01-01T00:00:00,POINT (1 2)",
        "2,,,false,2023-11-14T22:13:20.123,\"LINESTRING (0 0, 1 1, 2 0)\"",
        "3,\"he said \"\"hi\"\", ok\",-2.0,,,\"POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0), \
         (2 2, 2 4, 4 4, 4 2, 2 2))\"",
        "4,multi,0.25,true,1970-01-02T00:00:00,\"MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), \
         ((5 5, 6 5, 6 6, 5 5)))\"",
        "5,\"line\nbreak\",3.0,false,1969-12-31T23:59:59.999,\"MULTIPOINT ((1 1), (2.5 -2))\"",
        "6,none,1e+21,true,2000-02-29T00:00:00,",
    ];
    assert_eq!(text, expected.join("\r\n") + "\r\n");
}

#[test]
fn tables_without_geometry_and_odd_types() {
    // No geo metadata: features with null geometry; categorical (dictionary) column,
    // a pandas index column left out, a tz-aware timestamp in UTC.
    let dict: DictionaryArray<arrow_array::types::Int8Type> =
        vec!["x", "y", "x"].into_iter().collect();
    let ts = TimestampMillisecondArray::from(vec![0, 1000, 2000]).with_timezone("Europe/Paris");
    let t = table(
        vec![
            ("cat", Arc::new(dict)),
            (
                "f32",
                Arc::new(arrow_array::Float32Array::from(vec![0.1, f32::NAN, -2.5])),
            ),
            ("when", Arc::new(ts)),
            (
                "__index_level_0__",
                Arc::new(Int64Array::from(vec![7, 8, 9])),
            ),
        ],
        None,
    );
    let out: Value = serde_json::from_slice(&body(&t, Format::GeoJson)).unwrap();
    assert_eq!(out["features"].as_array().unwrap().len(), 3);
    assert_eq!(
        out["features"][1],
        json!({"type": "Feature", "properties": {"cat": "y", "f32": null, "when": "1970-01-01T00:00:01Z"},
               "geometry": null})
    );
    let text = String::from_utf8(body(&t, Format::Csv)).unwrap();
    assert_eq!(
        text,
        "cat,f32,when\r\nx,0.1,1970-01-01T00:00:00Z\r\ny,,1970-01-01T00:00:01Z\r\nx,-2.5,1970-01-01T00:00:02Z\r\n"
    );
    // The index column stays in the Arrow-native formats.
    let file = body(&t, Format::Arrow);
    let reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(file), None).unwrap();
    assert_eq!(reader.schema().fields().len(), 4);
}

type KeyValues = Vec<(String, Option<String>)>;

fn read_parquet(bytes: Vec<u8>) -> (arrow_schema::SchemaRef, Vec<RecordBatch>, KeyValues) {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    // One file per call: tests run in parallel threads.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("fused-encode-{}-{n}.parquet", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|k| (k.key.clone(), k.value.clone()))
                .collect()
        })
        .unwrap_or_default();
    let schema = builder.schema().clone();
    let batches = builder
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    (schema, batches, kv)
}

#[test]
fn geoparquet_keeps_geo_metadata_and_values() {
    let (schema, batches, kv) = read_parquet(body(&sample_table(), Format::Parquet));
    let rows: usize = batches.iter().map(arrow_array::RecordBatch::num_rows).sum();
    assert_eq!(rows, 6);
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["id", "name", "value", "flag", "ts", "geometry"]);
    let geo = kv
        .iter()
        .find(|(k, _)| k == "geo")
        .expect("geo key in parquet metadata");
    assert_eq!(geo.1.as_deref(), Some(geo_metadata("geometry").as_str()));
    assert!(kv.iter().any(|(k, _)| k == "ARROW:schema"));
    // Schema metadata survives through the Arrow schema too, and the WKB is intact.
    assert_eq!(
        schema.metadata().get("geo"),
        Some(&geo_metadata("geometry"))
    );
    let g = batches[0]
        .column(5)
        .as_any()
        .downcast_ref::<BinaryArray>()
        .unwrap();
    assert_eq!(g.value(2), wkb_polygon(&[SQUARE, HOLE]).as_slice());
    assert!(g.is_null(5));
    let ids = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(ids.values().to_vec(), [1, 2, 3, 4, 5, 6]);
}

#[test]
fn arrow_file_round_trip() {
    let file = body(&sample_table(), Format::Arrow);
    assert_eq!(&file[..6], b"ARROW1");
    let reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(file), None).unwrap();
    let schema = reader.schema();
    assert_eq!(
        schema.metadata().get("geo"),
        Some(&geo_metadata("geometry"))
    );
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].num_rows(), 6);
    assert_eq!(
        batches[0].column(4).data_type(),
        &DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, None)
    );
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    // Not an IPC stream.
    let garbage = CanonicalResult::Table {
        ipc: b"definitely not arrow".to_vec(),
    };
    for f in [
        Format::Parquet,
        Format::GeoJson,
        Format::Csv,
        Format::Arrow,
        Format::Json,
    ] {
        let err = encode(&garbage, f, None).unwrap_err().to_string();
        assert!(err.contains("invalid Arrow IPC stream"), "{f:?}: {err}");
    }
    let tile = Some(TileBounds { x: 0, y: 0, z: 0 });
    assert!(matches!(
        encode(&garbage, Format::Mvt, tile),
        Err(Error::Encode { .. })
    ));
    // Truncated IPC.
    let good = ipc(vec![("a", Arc::new(Int64Array::from(vec![1, 2])))], None);
    let cut = CanonicalResult::Table {
        ipc: good[..good.len() / 2].to_vec(),
    };
    assert!(encode(&cut, Format::Csv, None).is_err());
    // Malformed WKB names the row and the column.
    let geom = BinaryArray::from_iter_values([wkb_point(0., 0.), vec![1, 1, 0, 0, 0, 0]]);
    let t = table(vec![("shape", Arc::new(geom))], Some("shape"));
    for f in [Format::GeoJson, Format::Json, Format::Csv] {
        let err = encode(&t, f, None).unwrap_err().to_string();
        assert!(
            err.contains("row 1, column 'shape': malformed WKB: truncated"),
            "{err}"
        );
    }
    let err = encode(&t, Format::Mvt, tile).unwrap_err().to_string();
    assert!(err.contains("row 1, column 'shape'"), "{err}");
    // geo metadata naming a missing column, or a non-binary geometry column.
    let t = table(
        vec![("a", Arc::new(Int64Array::from(vec![1])))],
        Some("geometry"),
    );
    let err = encode(&t, Format::GeoJson, None).unwrap_err().to_string();
    assert!(
        err.contains("names geometry column 'geometry', which the table lacks"),
        "{err}"
    );
    let t = table(vec![("a", Arc::new(Int64Array::from(vec![1])))], Some("a"));
    let err = encode(&t, Format::GeoJson, None).unwrap_err().to_string();
    assert!(
        err.contains("geometry column 'a' is Int64, expected binary WKB"),
        "{err}"
    );
}

#[test]
fn json_values_compact() {
    let v = json!({"a": [1, 2.5, null], "b": "x"});
    let e = encode(&CanonicalResult::Json(v), Format::Json, None).unwrap();
    assert_eq!(e.body, br#"{"a":[1,2.5,null],"b":"x"}"#);
    assert_eq!(e.content_type, "application/json");
}
