//! Tables as a GeoJSON FeatureCollection, as a JSON array of records, and as CSV.

use super::table::Table;
use super::values::cell;
use crate::{Error, Result};
use serde_json::{Map, Value};

/// The value of one cell: geometry columns as GeoJSON objects, others by [`cell`].
fn json_cell(
    table: &Table,
    batch: usize,
    col: usize,
    i: usize,
    row: usize,
    format: &str,
) -> Result<Value> {
    let array = table.batches[batch].column(col);
    if table.geometry_columns.contains(&col) {
        Ok(table
            .geometry(array.as_ref(), i, col, row, format)?
            .map_or(Value::Null, |g| g.to_geojson()))
    } else {
        cell(array.as_ref(), i, table.schema.field(col).name(), format)
    }
}

fn write_json(out: &mut Vec<u8>, v: &Value, format: &str) -> Result<()> {
    serde_json::to_writer(out, v).map_err(|e| Error::encode(format, e.to_string()))
}

/// A FeatureCollection: the primary geometry column is each feature's geometry (`null` for
/// null geometries and for tables without geometry), every other column a property.
pub fn to_geojson(ipc: &[u8]) -> Result<Vec<u8>> {
    let table = Table::from_ipc(ipc, "geojson")?;
    let props: Vec<usize> = (0..table.schema.fields().len())
        .filter(|&c| Some(c) != table.primary && !table.is_pandas_index(c))
        .collect();
    let mut out = Vec::with_capacity(64 + table.num_rows() * 128);
    out.extend_from_slice(br#"{"type":"FeatureCollection","features":["#);
    let mut row = 0;
    for (b, batch) in table.batches.iter().enumerate() {
        for i in 0..batch.num_rows() {
            let mut properties = Map::new();
            for &c in &props {
                let name = table.schema.field(c).name().clone();
                properties.insert(name, json_cell(&table, b, c, i, row, "geojson")?);
            }
            let geometry = match table.primary {
                Some(c) => json_cell(&table, b, c, i, row, "geojson")?,
                None => Value::Null,
            };
            let mut feature = Map::new();
            feature.insert("type".into(), "Feature".into());
            feature.insert("properties".into(), Value::Object(properties));
            feature.insert("geometry".into(), geometry);
            if row > 0 {
                out.push(b',');
            }
            write_json(&mut out, &Value::Object(feature), "geojson")?;
            row += 1;
        }
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// An array of records, one object per row with every column (pandas index columns left
/// out); geometry columns as GeoJSON geometry objects.
pub fn to_json_records(ipc: &[u8]) -> Result<Vec<u8>> {
    let table = Table::from_ipc(ipc, "json")?;
    let cols: Vec<usize> = (0..table.schema.fields().len())
        .filter(|&c| !table.is_pandas_index(c))
        .collect();
    let mut out = Vec::with_capacity(2 + table.num_rows() * 64);
    out.push(b'[');
    let mut row = 0;
    for (b, batch) in table.batches.iter().enumerate() {
        for i in 0..batch.num_rows() {
            let mut record = Map::new();
            for &c in &cols {
                let name = table.schema.field(c).name().clone();
                record.insert(name, json_cell(&table, b, c, i, row, "json")?);
            }
            if row > 0 {
                out.push(b',');
            }
            write_json(&mut out, &Value::Object(record), "json")?;
            row += 1;
        }
    }
    out.push(b']');
    Ok(out)
}

/// RFC 4180 CSV: a header row, CRLF line ends, fields quoted when they contain a comma, a
/// quote, CR or LF (quotes doubled). Nulls and NaN are empty fields, booleans `true`/`false`,
/// floats in shortest round-trip form (`1.0`, `0.1`), geometry as WKT, lists and structs as
/// JSON text, timestamps ISO 8601.
pub fn to_csv(ipc: &[u8]) -> Result<Vec<u8>> {
    let table = Table::from_ipc(ipc, "csv")?;
    let cols: Vec<usize> = (0..table.schema.fields().len())
        .filter(|&c| !table.is_pandas_index(c))
        .collect();
    let mut out = String::new();
    for (k, &c) in cols.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        push_field(&mut out, table.schema.field(c).name());
    }
    out.push_str("\r\n");
    let mut row = 0;
    for batch in &table.batches {
        for i in 0..batch.num_rows() {
            for (k, &c) in cols.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                let array = batch.column(c);
                if table.geometry_columns.contains(&c) {
                    if let Some(g) = table.geometry(array.as_ref(), i, c, row, "csv")? {
                        push_field(&mut out, &g.to_wkt());
                    }
                    continue;
                }
                match cell(array.as_ref(), i, table.schema.field(c).name(), "csv")? {
                    Value::Null => {}
                    Value::String(s) => push_field(&mut out, &s),
                    other => push_field(&mut out, &other.to_string()),
                }
            }
            out.push_str("\r\n");
            row += 1;
        }
    }
    Ok(out.into_bytes())
}

fn push_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}
