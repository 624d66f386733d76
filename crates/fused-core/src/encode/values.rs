//! Arrow cells as JSON values, shared by the GeoJSON, JSON, CSV and MVT encoders.
//!
//! * integers -> numbers; floats -> numbers, NaN and infinities -> `null`;
//! * strings -> strings; booleans -> booleans; nulls -> `null`;
//! * timestamps -> ISO 8601 strings (`2024-05-01T12:00:00`, fraction only when non-zero;
//!   time-zone-aware ones in UTC with a `Z`); dates -> `YYYY-MM-DD`; times -> `HH:MM:SS[.f]`;
//! * durations -> seconds (number); decimals -> numbers;
//! * dictionary (pandas categorical) -> the looked-up value; lists -> arrays; structs and
//!   maps -> objects; non-geometry binary -> base64 string.

use crate::{Error, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, DurationMicrosecondType, DurationMillisecondType,
    DurationNanosecondType, DurationSecondType, Float16Type, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::Array;
use arrow_schema::{DataType, TimeUnit};
use serde_json::{Map, Value};

fn float(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// The JSON value of cell `i` of `array`. `column` names the column for errors.
pub fn cell(array: &dyn Array, i: usize, column: &str, format: &str) -> Result<Value> {
    if array.is_null(i) {
        return Ok(Value::Null);
    }
    let unsupported = || {
        Error::encode(
            format,
            format!(
                "column '{column}' has type {}, which cannot be written as {format}",
                array.data_type()
            ),
        )
    };
    Ok(match array.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Int8 => array.as_primitive::<Int8Type>().value(i).into(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(i).into(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i).into(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(i).into(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(i).into(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(i).into(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(i).into(),
        DataType::Float16 => float(array.as_primitive::<Float16Type>().value(i).to_f64()),
        DataType::Float32 => {
            // Through the shortest decimal form, so 0.1f32 is 0.1, not 0.10000000149011612.
            let v = array.as_primitive::<Float32Type>().value(i);
            float(v.to_string().parse().unwrap_or(f64::from(v)))
        }
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(i)),
        DataType::Decimal128(_, scale) => {
            let v = array.as_primitive::<Decimal128Type>().value(i);
            float(v as f64 / 10f64.powi(i32::from(*scale)))
        }
        DataType::Utf8 => array.as_string::<i32>().value(i).into(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(i).into(),
        DataType::Utf8View => array.as_string_view().value(i).into(),
        DataType::Binary => base64(array.as_binary::<i32>().value(i)).into(),
        DataType::LargeBinary => base64(array.as_binary::<i64>().value(i)).into(),
        DataType::BinaryView => base64(array.as_binary_view().value(i)).into(),
        DataType::FixedSizeBinary(_) => base64(array.as_fixed_size_binary().value(i)).into(),
        DataType::Timestamp(unit, tz) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(i),
                TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(i),
            };
            let mut s = iso_datetime(v, *unit);
            if tz.is_some() {
                s.push('Z');
            }
            s.into()
        }
        DataType::Date32 => {
            let d = i64::from(array.as_primitive::<Date32Type>().value(i));
            iso_datetime(d * 86_400, TimeUnit::Second)[..10]
                .to_string()
                .into()
        }
        DataType::Date64 => {
            let ms = array.as_primitive::<Date64Type>().value(i);
            iso_datetime(ms.div_euclid(86_400_000) * 86_400, TimeUnit::Second)[..10]
                .to_string()
                .into()
        }
        DataType::Time32(unit) => {
            let v = match unit {
                TimeUnit::Second => i64::from(array.as_primitive::<Time32SecondType>().value(i)),
                _ => i64::from(array.as_primitive::<Time32MillisecondType>().value(i)),
            };
            iso_datetime(v, *unit)[11..].to_string().into()
        }
        DataType::Time64(unit) => {
            let v = match unit {
                TimeUnit::Microsecond => array.as_primitive::<Time64MicrosecondType>().value(i),
                _ => array.as_primitive::<Time64NanosecondType>().value(i),
            };
            iso_datetime(v, *unit)[11..].to_string().into()
        }
        DataType::Duration(unit) => {
            let (v, per) = match unit {
                TimeUnit::Second => (array.as_primitive::<DurationSecondType>().value(i), 1e0),
                TimeUnit::Millisecond => (
                    array.as_primitive::<DurationMillisecondType>().value(i),
                    1e3,
                ),
                TimeUnit::Microsecond => (
                    array.as_primitive::<DurationMicrosecondType>().value(i),
                    1e6,
                ),
                TimeUnit::Nanosecond => {
                    (array.as_primitive::<DurationNanosecondType>().value(i), 1e9)
                }
            };
            float(v as f64 / per)
        }
        DataType::Dictionary(_, _) => {
            let dict = array.as_any_dictionary();
            let key = int_at(dict.keys(), i).ok_or_else(unsupported)?;
            let values = dict.values();
            let key = usize::try_from(key)
                .ok()
                .filter(|k| *k < values.len())
                .ok_or_else(|| {
                    Error::encode(
                        format,
                        format!("column '{column}': dictionary key {key} out of range"),
                    )
                })?;
            cell(values.as_ref(), key, column, format)?
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) => {
            let items = match array.data_type() {
                DataType::List(_) => array.as_list::<i32>().value(i),
                DataType::LargeList(_) => array.as_list::<i64>().value(i),
                _ => array.as_fixed_size_list().value(i),
            };
            Value::Array(
                (0..items.len())
                    .map(|j| cell(items.as_ref(), j, column, format))
                    .collect::<Result<_>>()?,
            )
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let mut m = Map::new();
            for (f, col) in fields.iter().zip(s.columns()) {
                m.insert(f.name().clone(), cell(col.as_ref(), i, column, format)?);
            }
            Value::Object(m)
        }
        DataType::Map(_, _) => {
            let entries = array.as_map().value(i);
            let (keys, vals) = (entries.column(0), entries.column(1));
            let mut m = Map::new();
            for j in 0..entries.len() {
                let k = match cell(keys.as_ref(), j, column, format)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                m.insert(k, cell(vals.as_ref(), j, column, format)?);
            }
            Value::Object(m)
        }
        _ => return Err(unsupported()),
    })
}

/// The integer at `i` of an integer array (dictionary keys).
fn int_at(array: &dyn Array, i: usize) -> Option<i64> {
    Some(match array.data_type() {
        DataType::Int8 => i64::from(array.as_primitive::<Int8Type>().value(i)),
        DataType::Int16 => i64::from(array.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => i64::from(array.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i),
        DataType::UInt8 => i64::from(array.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => i64::from(array.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => i64::from(array.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => i64::try_from(array.as_primitive::<UInt64Type>().value(i)).ok()?,
        _ => return None,
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]` for a count of `unit` since the Unix epoch (proleptic
/// Gregorian, UTC). The fraction is written only when non-zero, trailing zeros trimmed.
pub fn iso_datetime(v: i64, unit: TimeUnit) -> String {
    let per_sec: i64 = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    let (secs, frac) = (v.div_euclid(per_sec), v.rem_euclid(per_sec));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = crate::time::civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if frac != 0 {
        let width = per_sec.ilog10() as usize;
        let f = format!("{frac:0width$}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
