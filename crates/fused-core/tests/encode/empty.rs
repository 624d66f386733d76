//! Empty results are valid answers: an empty frame, a frame whose geometries are all null
//! (pyarrow types such a column as Arrow `null`), a frame whose features all fall outside
//! the tile. Tables keep their columns; GeoJSON is an empty FeatureCollection; MVT is the
//! empty tile (no layers, which the server answers as 204).

use super::*;
use arrow_array::{new_null_array, NullArray};

/// An IPC stream with `name` (utf8) and `geometry` columns of `rows` rows each (a
/// schema-only stream when `rows` is `None`); `geometry` typed `geom_type`, all null.
fn null_geometry_ipc(rows: Option<usize>, geom_type: DataType) -> CanonicalResult {
    let schema = Arc::new(
        Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("geometry", geom_type.clone(), true),
        ])
        .with_metadata(std::collections::HashMap::from([(
            "geo".to_string(),
            geo_metadata("geometry"),
        )])),
    );
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema).unwrap();
    if let Some(n) = rows {
        let names: ArrayRef = Arc::new(StringArray::from(vec![Some("a"); n]));
        let geoms: ArrayRef = if geom_type == DataType::Null {
            Arc::new(NullArray::new(n))
        } else {
            new_null_array(&geom_type, n)
        };
        w.write(&RecordBatch::try_new(schema.clone(), vec![names, geoms]).unwrap())
            .unwrap();
    }
    w.finish().unwrap();
    drop(w);
    CanonicalResult::Table { ipc: out }
}

const TILE: Option<TileBounds> = Some(TileBounds {
    x: 655,
    y: 1583,
    z: 12,
});

fn encoded(t: &CanonicalResult, f: Format) -> Vec<u8> {
    let tile = (f == Format::Mvt).then_some(TILE).flatten();
    match encode(t, f, tile) {
        Ok(e) => e.body,
        Err(e) => panic!("{f:?}: {e}"),
    }
}

#[test]
fn empty_frames_encode_in_every_table_format() {
    // Zero rows in one batch, zero batches, zero rows of a binary geometry column.
    for t in [
        null_geometry_ipc(Some(0), DataType::Null),
        null_geometry_ipc(None, DataType::Null),
        null_geometry_ipc(Some(0), DataType::Binary),
    ] {
        let gj: Value = serde_json::from_slice(&encoded(&t, Format::GeoJson)).unwrap();
        assert_eq!(gj, json!({"type": "FeatureCollection", "features": []}));
        assert_eq!(encoded(&t, Format::Json), b"[]");
        assert_eq!(encoded(&t, Format::Csv), b"name,geometry\r\n");
        assert!(encoded(&t, Format::Mvt).is_empty());

        // Parquet and Arrow: no rows, the frame's columns, geometry as binary WKB, geo kept.
        let (schema, batches, kv) = read_parquet(encoded(&t, Format::Parquet));
        assert_eq!(
            batches
                .iter()
                .map(arrow_array::RecordBatch::num_rows)
                .sum::<usize>(),
            0
        );
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["name", "geometry"]);
        assert_eq!(schema.field(1).data_type(), &DataType::Binary);
        assert!(kv.iter().any(|(k, _)| k == "geo"));
        let file = encoded(&t, Format::Arrow);
        let reader =
            arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(file), None).unwrap();
        assert_eq!(reader.schema().field(1).data_type(), &DataType::Binary);
        assert_eq!(
            reader.schema().metadata().get("geo"),
            Some(&geo_metadata("geometry"))
        );
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 0);
    }
}

#[test]
fn all_null_geometry_keeps_its_rows() {
    for geom_type in [DataType::Null, DataType::Binary] {
        let t = null_geometry_ipc(Some(2), geom_type);
        let gj: Value = serde_json::from_slice(&encoded(&t, Format::GeoJson)).unwrap();
        let feature = json!({"type": "Feature", "properties": {"name": "a"}, "geometry": null});
        assert_eq!(
            gj,
            json!({"type": "FeatureCollection", "features": [feature.clone(), feature]})
        );
        assert_eq!(
            encoded(&t, Format::Json),
            br#"[{"name":"a","geometry":null},{"name":"a","geometry":null}]"#
        );
        assert_eq!(encoded(&t, Format::Csv), b"name,geometry\r\na,\r\na,\r\n");
        // No geometry to draw: the empty tile.
        assert!(encoded(&t, Format::Mvt).is_empty());
        let (schema, batches, _) = read_parquet(encoded(&t, Format::Parquet));
        assert_eq!(schema.field(1).data_type(), &DataType::Binary);
        assert_eq!(batches[0].num_rows(), 2);
        assert_eq!(batches[0].column(1).null_count(), 2);
    }
}

#[test]
fn features_clipped_away_leave_the_empty_tile() {
    // Tile 12/655/1583 is near (-122.4, 37.8); these shapes are near (0, 0) and (100, 50).
    let geom = BinaryArray::from_iter_values([
        wkb_point(1.0, 2.0),
        wkb_line(&[(100.0, 50.0), (101.0, 51.0)]),
        wkb_polygon(&[&[(0., 0.), (1., 0.), (1., 1.), (0., 0.)]]),
        wkb_point(f64::NAN, f64::NAN),
    ]);
    let t = table(
        vec![
            ("id", Arc::new(Int64Array::from(vec![1, 2, 3, 4]))),
            ("geometry", Arc::new(geom)),
        ],
        Some("geometry"),
    );
    assert!(encoded(&t, Format::Mvt).is_empty());
    // The same rows in the tile's area give a tile with one layer.
    let near = BinaryArray::from_iter_values([wkb_point(-122.41, 37.77)]);
    let t = table(vec![("geometry", Arc::new(near))], Some("geometry"));
    assert!(!encoded(&t, Format::Mvt).is_empty());
}

#[test]
fn a_null_typed_column_that_is_not_geometry_is_written_too() {
    // An empty object column beside the geometry (pandas: `df["note"] = None`).
    let t = table(
        vec![
            ("note", new_null_array(&DataType::Null, 1)),
            (
                "geometry",
                Arc::new(BinaryArray::from_iter_values([wkb_point(-122.41, 37.77)])),
            ),
        ],
        Some("geometry"),
    );
    let gj: Value = serde_json::from_slice(&encoded(&t, Format::GeoJson)).unwrap();
    assert_eq!(gj["features"][0]["properties"], json!({"note": null}));
    assert_eq!(
        encoded(&t, Format::Csv),
        b"note,geometry\r\n,POINT (-122.41 37.77)\r\n"
    );
    assert!(!encoded(&t, Format::Mvt).is_empty());
}
