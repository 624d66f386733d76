//! Tables: the Arrow IPC stream read and checked, its geometry columns found from the
//! GeoParquet `geo` metadata (or a GeoArrow `geoarrow.wkb` extension type), and the two
//! Arrow-native outputs, GeoParquet and the Arrow IPC file format.

use super::geom::{parse_wkb, Geometry};
use crate::{Error, Result};
use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::io::Cursor;

/// A decoded table result.
pub struct Table {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// Indexes of the WKB geometry columns.
    pub geometry_columns: Vec<usize>,
    /// Index of the primary geometry column, if any.
    pub primary: Option<usize>,
}

impl Table {
    /// Read an Arrow IPC stream; `format` names the output for error messages.
    pub fn from_ipc(ipc: &[u8], format: &str) -> Result<Table> {
        let bad = |m: String| Error::encode(format, format!("invalid Arrow IPC stream: {m}"));
        let reader = arrow_ipc::reader::StreamReader::try_new(Cursor::new(ipc), None)
            .map_err(|e| bad(e.to_string()))?;
        let schema = reader.schema();
        let batches = reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        let (geometry_columns, primary) = find_geometry(&schema, format)?;
        let (schema, batches) = null_geometry_as_binary(schema, batches, &geometry_columns)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Table {
            schema,
            batches,
            geometry_columns,
            primary,
        })
    }

    /// GeoParquet 1.1 `geo` metadata for tables whose geometry is marked only by GeoArrow
    /// `geoarrow.wkb` extension types (what `GeoDataFrame.to_arrow(geometry_encoding="WKB")`
    /// gives): each column's `crs` is taken from its extension metadata (absent: OGC:CRS84,
    /// GeoParquet's default), `geometry_types` left empty (unknown).
    pub fn geo_metadata(&self) -> String {
        let mut columns = serde_json::Map::new();
        for &c in &self.geometry_columns {
            let field = self.schema.field(c);
            let mut spec = serde_json::json!({"encoding": "WKB", "geometry_types": []});
            let crs = field
                .metadata()
                .get("ARROW:extension:metadata")
                .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
                .and_then(|m| m.get("crs").cloned());
            if let Some(crs) = crs {
                spec["crs"] = crs;
            }
            columns.insert(field.name().clone(), spec);
        }
        let primary = self.primary.map(|p| self.schema.field(p).name().clone());
        serde_json::json!({"version": "1.1.0", "primary_column": primary, "columns": columns})
            .to_string()
    }

    pub fn num_rows(&self) -> usize {
        self.batches
            .iter()
            .map(arrow_array::RecordBatch::num_rows)
            .sum()
    }

    /// Whether a column is one of pandas' index columns (`__index_level_0__`), which the
    /// record-shaped outputs (GeoJSON, JSON, CSV, MVT) leave out.
    pub fn is_pandas_index(&self, col: usize) -> bool {
        let name = self.schema.field(col).name();
        name.starts_with("__index_level_") && name.ends_with("__")
    }

    /// The geometry of one cell of a geometry column (`None` for null).
    /// `row` is the row's index in the whole table, for error messages.
    pub fn geometry(
        &self,
        array: &dyn Array,
        i: usize,
        col: usize,
        row: usize,
        format: &str,
    ) -> Result<Option<Geometry>> {
        // A Null-typed column (an empty frame, or no geometry at all) holds only nulls.
        if array.data_type() == &DataType::Null || array.is_null(i) {
            return Ok(None);
        }
        let bytes: &[u8] = match array.data_type() {
            DataType::Binary => array.as_binary::<i32>().value(i),
            DataType::LargeBinary => array.as_binary::<i64>().value(i),
            DataType::BinaryView => array.as_binary_view().value(i),
            _ => unreachable!("checked in find_geometry"),
        };
        parse_wkb(bytes).map(Some).map_err(|m| {
            Error::encode(
                format,
                format!(
                    "row {row}, column '{}': malformed WKB: {m}",
                    self.schema.field(col).name()
                ),
            )
        })
    }
}

/// Geometry columns of Arrow type Null (what pyarrow infers for an empty or all-null
/// column of Python objects: an empty GeoDataFrame, or one whose geometries are all None)
/// retyped as Binary columns of nulls, so every encoder and every reader of our Parquet and
/// Arrow files sees a WKB column. The schema metadata (`geo`, `pandas`) is kept.
fn null_geometry_as_binary(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    geometry_columns: &[usize],
) -> std::result::Result<(SchemaRef, Vec<RecordBatch>), arrow_schema::ArrowError> {
    let nulls: Vec<usize> = geometry_columns
        .iter()
        .copied()
        .filter(|&c| schema.field(c).data_type() == &DataType::Null)
        .collect();
    if nulls.is_empty() {
        return Ok((schema, batches));
    }
    let fields: Vec<arrow_schema::FieldRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if nulls.contains(&i) {
                std::sync::Arc::new(
                    f.as_ref()
                        .clone()
                        .with_data_type(DataType::Binary)
                        .with_nullable(true),
                )
            } else {
                f.clone()
            }
        })
        .collect();
    let schema = std::sync::Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let batches = batches
        .into_iter()
        .map(|b| {
            let columns = b
                .columns()
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if nulls.contains(&i) {
                        arrow_array::new_null_array(&DataType::Binary, b.num_rows())
                    } else {
                        c.clone()
                    }
                })
                .collect();
            RecordBatch::try_new(schema.clone(), columns)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

/// Geometry columns and the primary one, from `geo` metadata or GeoArrow field metadata.
/// A geometry column of Arrow type Null (no geometry at all) is accepted.
fn find_geometry(schema: &SchemaRef, format: &str) -> Result<(Vec<usize>, Option<usize>)> {
    let bad = |m: String| Error::encode(format, m);
    let mut cols = Vec::new();
    let mut primary = None;
    if let Some(geo) = schema.metadata().get("geo") {
        let geo: serde_json::Value = serde_json::from_str(geo)
            .map_err(|e| bad(format!("the table's 'geo' metadata is not JSON: {e}")))?;
        let columns = geo
            .get("columns")
            .and_then(|c| c.as_object())
            .ok_or_else(|| bad("the table's 'geo' metadata has no 'columns' object".into()))?;
        for (name, spec) in columns {
            let idx = schema.index_of(name).map_err(|_| {
                bad(format!(
                    "the 'geo' metadata names geometry column '{name}', which the table lacks"
                ))
            })?;
            let encoding = spec.get("encoding").and_then(|e| e.as_str()).unwrap_or("");
            if !encoding.eq_ignore_ascii_case("wkb") {
                return Err(bad(format!(
                    "geometry column '{name}' has encoding '{encoding}'; only WKB is supported"
                )));
            }
            cols.push(idx);
        }
        if let Some(p) = geo.get("primary_column").and_then(|p| p.as_str()) {
            primary = schema.index_of(p).ok().filter(|i| cols.contains(i));
        }
    }
    for (i, f) in schema.fields().iter().enumerate() {
        let ext = f.metadata().get("ARROW:extension:name").map(String::as_str);
        if ext == Some("geoarrow.wkb") && !cols.contains(&i) {
            cols.push(i);
        }
    }
    cols.sort_unstable();
    for &i in &cols {
        let f = schema.field(i);
        if !matches!(
            f.data_type(),
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::Null
        ) {
            return Err(bad(format!(
                "geometry column '{}' is {}, expected binary WKB",
                f.name(),
                f.data_type()
            )));
        }
    }
    if primary.is_none() {
        primary = cols
            .iter()
            .copied()
            .find(|&i| schema.field(i).name() == "geometry")
            .or(cols.first().copied());
    }
    Ok((cols, primary))
}

/// GeoParquet: snappy-compressed parquet whose key-value metadata carries every schema
/// metadata entry (`geo`, `pandas`, ...) next to the serialized Arrow schema.
pub fn to_parquet(ipc: &[u8]) -> Result<Vec<u8>> {
    let table = Table::from_ipc(ipc, "parquet")?;
    let fail = |e: parquet::errors::ParquetError| Error::encode("parquet", e.to_string());
    let mut kv: Vec<KeyValue> = table
        .schema
        .metadata()
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    if !table.schema.metadata().contains_key("geo") && !table.geometry_columns.is_empty() {
        kv.push(KeyValue::new("geo".to_string(), table.geo_metadata()));
    }
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata((!kv.is_empty()).then_some(kv))
        .build();
    let mut out = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut out, table.schema.clone(), Some(props)).map_err(fail)?;
    for b in &table.batches {
        writer.write(b).map_err(fail)?;
    }
    writer.close().map_err(fail)?;
    Ok(out)
}

/// The Arrow IPC file format (Feather v2), schema metadata kept.
pub fn to_arrow_file(ipc: &[u8]) -> Result<Vec<u8>> {
    let table = Table::from_ipc(ipc, "arrow")?;
    let fail = |e: arrow_schema::ArrowError| Error::encode("arrow", e.to_string());
    let mut out = Vec::new();
    let mut writer =
        arrow_ipc::writer::FileWriter::try_new(&mut out, &table.schema).map_err(fail)?;
    for b in &table.batches {
        writer.write(b).map_err(fail)?;
    }
    writer.finish().map_err(fail)?;
    drop(writer);
    Ok(out)
}
