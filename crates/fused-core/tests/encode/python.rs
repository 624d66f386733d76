//! Optional cross-checks with geopandas and pyarrow (skipped when no such Python).

use super::*;

/// A Python with geopandas and pyarrow for the optional cross-checks (`FUSED_TEST_PYTHON`,
/// else `.venv/bin/python` at the workspace root); `None` (test skipped) when there is none.
fn python_with_geopandas() -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var("FUSED_TEST_PYTHON")
        .map_or_else(|_| root.join(".venv/bin/python"), std::path::PathBuf::from);
    let ok = std::process::Command::new(&python)
        .args(["-c", "import geopandas, pyarrow"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "skipped: no python with geopandas and pyarrow at {}",
            python.display()
        );
    }
    ok.then_some(python)
}

fn run_python(python: &std::path::Path, script: &str, dir: &std::path::Path) {
    let out = std::process::Command::new(python)
        .args(["-c", script, dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fused-encode-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What we write, read by geopandas and pyarrow.
#[test]
fn python_reads_our_geoparquet_and_arrow() {
    let Some(python) = python_with_geopandas() else {
        return;
    };
    let dir = temp_dir("out");
    let t = sample_table();
    std::fs::write(dir.join("t.parquet"), body(&t, Format::Parquet)).unwrap();
    std::fs::write(dir.join("t.arrow"), body(&t, Format::Arrow)).unwrap();
    let script = r#"
import sys, geopandas, pyarrow.feather as feather
d = sys.argv[1]
g = geopandas.read_parquet(d + "/t.parquet")
assert list(g.columns) == ["id", "name", "value", "flag", "ts", "geometry"], list(g.columns)
assert g.geometry.name == "geometry"
assert g.geometry.iloc[0].wkt == "POINT (1 2)", g.geometry.iloc[0].wkt
assert g.geometry.iloc[2].wkt == "POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0), (2 2, 2 4, 4 4, 4 2, 2 2))"
assert g.geometry.iloc[5] is None
t = feather.read_table(d + "/t.arrow")
assert t.num_rows == 6 and b"geo" in t.schema.metadata
"#;
    run_python(&python, script, &dir);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What geopandas gives the worker (`to_arrow(geometry_encoding="WKB")`: GeoArrow extension
/// type, no `geo` key, large strings, categoricals, tz-aware timestamps) encoded here and
/// read back: the parquet gets a synthesized `geo` key, so the crs survives.
#[test]
fn geopandas_tables_encode_and_read_back() {
    let Some(python) = python_with_geopandas() else {
        return;
    };
    let dir = temp_dir("in");
    let make = r#"
import sys, geopandas, shapely, pandas as pd, pyarrow as pa
g = geopandas.GeoDataFrame(
    {"name": ["a", "b", None], "cat": pd.Categorical(["x", "y", "x"]),
     "t": pd.to_datetime(["2024-01-01 00:00:00", "2024-01-02 03:04:05", None]).tz_localize("UTC")},
    geometry=[shapely.Point(1, 2), shapely.Polygon([(0, 0), (1, 0), (1, 1)]), None], crs=4326)
t = pa.table(g.to_arrow(geometry_encoding="WKB"))
with pa.ipc.new_stream(sys.argv[1] + "/in.arrows", t.schema) as w:
    w.write_table(t)
"#;
    run_python(&python, make, &dir);
    let t = CanonicalResult::Table {
        ipc: std::fs::read(dir.join("in.arrows")).unwrap(),
    };
    let gj: Value = serde_json::from_slice(&body(&t, Format::GeoJson)).unwrap();
    assert_eq!(
        gj["features"][1],
        json!({"type": "Feature",
               "properties": {"name": "b", "cat": "y", "t": "2024-01-02T03:04:05Z"},
               "geometry": {"type": "Polygon",
                            "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]}})
    );
    assert_eq!(gj["features"][2]["geometry"], Value::Null);
    let layer = encode(&t, Format::Mvt, Some(TileBounds { x: 0, y: 0, z: 0 })).unwrap();
    assert!(!layer.body.is_empty());
    std::fs::write(dir.join("out.parquet"), body(&t, Format::Parquet)).unwrap();
    let check = r#"
import sys, geopandas
g = geopandas.read_parquet(sys.argv[1] + "/out.parquet")
assert g.crs.to_epsg() == 4326, g.crs
assert list(g.columns) == ["name", "cat", "t", "geometry"], list(g.columns)
assert g.geometry.iloc[1].wkt == "POLYGON ((0 0, 1 0, 1 1, 0 0))"
assert str(g["cat"].dtype) == "category"
"#;
    run_python(&python, check, &dir);
    std::fs::remove_dir_all(&dir).unwrap();
}
