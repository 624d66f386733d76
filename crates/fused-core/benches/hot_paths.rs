//! Criterion benches of fused-core's hot paths: MVT and GeoJSON encoding of a realistic tile
//! (thousands of points or polygons with three attribute columns), parameter conversion
//! (string -> typed value, as the server does for every query parameter) and run-key hashing
//! (what every cached run computes first). `make bench` runs them; figures in `bench/README.md`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{Field, Schema};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fused_core::encode::{encode, Format};
use fused_core::params::{convert, TypeSpec};
use fused_core::result::CanonicalResult;
use fused_core::runcache::key::{ParamValue, RunKeyer};
use fused_core::tiles::{bounds, Tile};
use serde_json::{json, Map, Value};

/// The tile every encoding bench cuts: z12 over downtown Los Angeles.
const TILE: Tile = Tile {
    x: 701,
    y: 1635,
    z: 12,
};

/// A deterministic generator (xorshift64*), so every run encodes the same table.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        #[allow(clippy::cast_precision_loss)] // 53 bits: exact in an f64
        let unit = bits as f64 / (1u64 << 53) as f64;
        unit
    }
}

fn wkb_header(kind: u32) -> Vec<u8> {
    let mut b = vec![1];
    b.extend_from_slice(&kind.to_le_bytes());
    b
}

fn wkb_point(x: f64, y: f64) -> Vec<u8> {
    let mut b = wkb_header(1);
    b.extend_from_slice(&x.to_le_bytes());
    b.extend_from_slice(&y.to_le_bytes());
    b
}

/// A closed ring of `n` vertices around `(x, y)` with radius `r` (degrees).
fn wkb_polygon(x: f64, y: f64, r: f64, n: u32) -> Vec<u8> {
    let mut b = wkb_header(3);
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&(n + 1).to_le_bytes());
    for i in 0..=n {
        let a = f64::from(i % n) / f64::from(n) * std::f64::consts::TAU;
        b.extend_from_slice(&(x + r * a.cos()).to_le_bytes());
        b.extend_from_slice(&(y + r * a.sin()).to_le_bytes());
    }
    b
}

/// `rows` features spread over [`TILE`] (10% of them reaching past its edges, so clipping
/// runs), as an Arrow IPC stream with GeoParquet `geo` metadata: `id`, `name`, `value`,
/// `geometry` (points, or 8-vertex polygons when `polygons`).
fn tile_table(rows: usize, polygons: bool) -> CanonicalResult {
    let b = bounds(TILE);
    let (w, h) = (b.east - b.west, b.north - b.south);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let geoms: Vec<Vec<u8>> = (0..rows)
        .map(|_| {
            let x = b.west - 0.05 * w + 1.1 * w * rng.next_f64();
            let y = b.south - 0.05 * h + 1.1 * h * rng.next_f64();
            if polygons {
                wkb_polygon(x, y, w / 400.0, 8)
            } else {
                wkb_point(x, y)
            }
        })
        .collect();
    let ids: Vec<i64> = (0..).take(rows).collect();
    let names: Vec<String> = (0..rows).map(|i| format!("feature {i}")).collect();
    let values: Vec<f64> = (0..rows).map(|_| rng.next_f64() * 100.0).collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from(ids))),
        ("name", Arc::new(StringArray::from(names))),
        ("value", Arc::new(Float64Array::from(values))),
        (
            "geometry",
            Arc::new(BinaryArray::from_iter_values(geoms.iter())),
        ),
    ];
    let geo = json!({
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": []}},
    });
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let metadata = HashMap::from([("geo".to_string(), geo.to_string())]);
    let schema = Arc::new(Schema::new(fields).with_metadata(metadata));
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect())
        .expect("columns match the schema");
    let mut ipc = Vec::new();
    let mut writer =
        arrow_ipc::writer::StreamWriter::try_new(&mut ipc, &schema).expect("IPC to memory");
    writer.write(&batch).expect("IPC to memory");
    writer.finish().expect("IPC to memory");
    drop(writer);
    CanonicalResult::Table { ipc }
}

fn encoding(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    for (kind, rows, polygons) in [("points", 5000, false), ("polygons", 2000, true)] {
        let table = tile_table(rows, polygons);
        // a sanity check that the bench encodes something: features in the tile
        let mvt = encode(&table, Format::Mvt, Some(TILE)).expect("MVT of the bench table");
        assert!(
            mvt.body.len() > rows * 4,
            "MVT of {rows} {kind} is too small"
        );
        g.throughput(Throughput::Elements(rows as u64));
        g.bench_with_input(BenchmarkId::new("mvt", kind), &table, |b, t| {
            b.iter(|| encode(black_box(t), Format::Mvt, Some(TILE)).expect("MVT"));
        });
        g.bench_with_input(BenchmarkId::new("geojson", kind), &table, |b, t| {
            b.iter(|| encode(black_box(t), Format::GeoJson, None).expect("GeoJSON"));
        });
    }
    g.finish();
}

fn params(c: &mut Criterion) {
    let mut g = c.benchmark_group("params");
    let cases = [
        ("int", "int", "42"),
        ("float", "float", "-122.4194"),
        ("bool", "bool", "true"),
        ("list_int", "list[int]", "[1, 2, 3, 4, 5, 6, 7, 8]"),
        ("bbox", "bbox", "-118.5,33.9,-118.1,34.2"),
        ("datetime", "datetime", "2024-05-06T07:08:09+02:00"),
        (
            "geometry",
            "geometry",
            r#"{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}"#,
        ),
    ];
    for (name, spec, raw) in cases {
        let spec = TypeSpec::parse(spec).expect("a valid spec");
        convert("p", &spec, raw).expect("a valid value");
        g.bench_function(name, |b| {
            b.iter(|| convert("p", black_box(&spec), black_box(raw)).expect("converts"));
        });
    }
    g.bench_function("parse_spec_dict", |b| {
        b.iter(|| TypeSpec::parse(black_box("dict[str,list[optional[float]]]")).expect("spec"));
    });
    g.finish();
}

fn run_key(c: &mut Criterion) {
    let mut g = c.benchmark_group("run_key");
    let code = "@fused.udf\ndef udf(bounds: fused.types.Bounds, n: int = 10):\n".to_string()
        + &"    x = n * 2  # a line of a UDF of a few kB\n".repeat(80);
    let header = "def helper(x):\n    return x + 1\n".repeat(20);
    let mut defaults = Map::new();
    defaults.insert("n".into(), Value::from(10));
    defaults.insert("name".into(), Value::from("roads"));
    let keyer_of = || RunKeyer::new(&code, "udf", [("utils", header.as_str())], Some(&defaults));
    g.bench_function("udf_part", |b| b.iter(|| black_box(keyer_of())));
    let keyer = keyer_of();
    let params = [
        ("n", ParamValue::Text("25")),
        ("name", ParamValue::Text("buildings")),
        ("threshold", ParamValue::Text("0.75")),
    ];
    assert_eq!(keyer.key(params, Some((12, 701, 1635))).len(), 64);
    g.bench_function("per_run", |b| {
        b.iter(|| keyer.key(black_box(params), black_box(Some((12, 701, 1635)))));
    });
    g.finish();
}

criterion_group!(benches, encoding, params, run_key);
criterion_main!(benches);
