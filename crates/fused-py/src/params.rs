//! `fused._native` bindings for the parameter rules (`fused_core::params`): parse and
//! check spec strings, and convert raw strings into Python values. The tagged kinds
//! (uuid, date/time, geometry, data frames, bbox, tile) go through a `finish(kind,
//! payload)` callable supplied by `fused._coerce`, which builds the final objects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fused_core::params::{self, TupleItems, TypeSpec, Value};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PySet, PyString, PyTuple};

use crate::error::PyFusedResult;

/// Raw strings longer than this are converted with the GIL released.
const DETACH_ABOVE: usize = 4096;
/// Parsed specs kept; the cache is emptied when it grows past this.
const SPEC_CACHE_MAX: usize = 1024;

static SPECS: Mutex<Option<HashMap<String, Arc<TypeSpec>>>> = Mutex::new(None);

/// Parse `spec`, reusing an earlier parse of the same text.
fn spec_of(spec: &str) -> PyFusedResult<Arc<TypeSpec>> {
    if let Some(t) = SPECS
        .lock()
        .ok()
        .and_then(|c| c.as_ref().and_then(|m| m.get(spec).cloned()))
    {
        return Ok(t);
    }
    let parsed = Arc::new(TypeSpec::parse(spec)?);
    if let Ok(mut cache) = SPECS.lock() {
        let map = cache.get_or_insert_with(HashMap::new);
        if map.len() >= SPEC_CACHE_MAX {
            map.clear();
        }
        map.insert(spec.to_string(), parsed.clone());
    }
    Ok(parsed)
}

/// Check a spec string; return its canonical form (raises `ValueError` if invalid).
#[pyfunction]
fn check_spec(spec: &str) -> PyFusedResult<String> {
    Ok(spec_of(spec)?.to_string())
}

/// The parsed spec as nested tuples `(kind, args, text, extra)`: `kind` the spec
/// name (`"list"`, `"optional"`, ...), `args` a tuple of child nodes, `text` the
/// canonical spec, `extra` the geometry kind for `geometry[...]`, `"..."` for
/// `tuple[T,...]`, else `None`.
#[pyfunction]
fn parse_spec<'py>(py: Python<'py>, spec: &str) -> PyResult<Bound<'py, PyTuple>> {
    let parsed = spec_of(spec)?;
    spec_node(py, &parsed)
}

fn spec_node<'py>(py: Python<'py>, t: &TypeSpec) -> PyResult<Bound<'py, PyTuple>> {
    let mut extra: Option<&str> = None;
    let children: Vec<&TypeSpec> = match t {
        TypeSpec::List(e) | TypeSpec::Set(e) | TypeSpec::Iterable(e) => {
            e.as_deref().into_iter().collect()
        }
        TypeSpec::Tuple(TupleItems::Fixed(items)) | TypeSpec::Union(items) => {
            items.iter().collect()
        }
        TypeSpec::Tuple(TupleItems::Variadic(e)) => {
            extra = Some("...");
            vec![e.as_ref()]
        }
        TypeSpec::Dict(kv) => kv.as_deref().map(|(k, v)| vec![k, v]).unwrap_or_default(),
        TypeSpec::Optional(e) => vec![e.as_ref()],
        TypeSpec::Geometry(kind) => {
            extra = kind.map(fused_core::params::GeometryKind::name);
            vec![]
        }
        _ => vec![],
    };
    let text = t.to_string();
    let kind = text.split('[').next().unwrap_or_default().to_string();
    let args = children
        .into_iter()
        .map(|c| spec_node(py, c))
        .collect::<PyResult<Vec<_>>>()?;
    PyTuple::new(
        py,
        [
            PyString::new(py, &kind).into_any(),
            PyTuple::new(py, args)?.into_any(),
            PyString::new(py, &text).into_any(),
            match extra {
                Some(e) => PyString::new(py, e).into_any(),
                None => py.None().into_bound(py),
            },
        ],
    )
}

/// Convert `raw` for parameter `name` by `spec`. Plain values come back as Python
/// objects (ints of any size, floats, str, list, tuple, set, dict, None); each tagged
/// kind is handed to `finish(kind, payload)` and replaced by its result, or, without
/// `finish`, returned as the tuple `(kind, payload)`:
///
/// | kind | payload |
/// |---|---|
/// | `"uuid"` | canonical str |
/// | `"datetime"` | `(year, month, day, hour, minute, second, microsecond, utc_offset_seconds or None)` |
/// | `"date"` | `(year, month, day)` |
/// | `"geometry"` | GeoJSON geometry dict |
/// | `"geodataframe"` | `(features: list of GeoJSON Feature dicts, crs: str or None)` |
/// | `"dataframe"` | list of record dicts, or dict of column lists |
/// | `"bbox"` | `(west, south, east, north)` |
/// | `"tilexyz"` | `(x, y, z)` |
///
/// Raises `UdfParameterError` when `raw` does not convert, `ValueError` for a bad spec.
#[pyfunction]
#[pyo3(signature = (name, spec, raw, finish=None))]
fn convert_param<'py>(
    py: Python<'py>,
    name: &str,
    spec: &str,
    raw: &str,
    finish: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let spec = spec_of(spec)?;
    let value = if raw.len() > DETACH_ABOVE {
        py.detach(|| params::convert(name, &spec, raw))
    } else {
        params::convert(name, &spec, raw)
    };
    let value = value.map_err(crate::error::PyFusedError::from)?;
    to_py(py, &value, finish.as_ref())
}

fn tagged<'py>(
    py: Python<'py>,
    finish: Option<&Bound<'py, PyAny>>,
    kind: &str,
    payload: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    match finish {
        Some(f) => f.call1((kind, payload)),
        None => Ok(PyTuple::new(py, [PyString::new(py, kind).into_any(), payload])?.into_any()),
    }
}

fn to_py<'py>(
    py: Python<'py>,
    v: &Value,
    finish: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let items = |vs: &[Value]| {
        vs.iter()
            .map(|x| to_py(py, x, finish))
            .collect::<PyResult<Vec<_>>>()
    };
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::BigInt(s) => py.get_type::<PyInt>().call1((s.as_str(),))?,
        Value::Float(f) => PyFloat::new(py, *f).into_any(),
        Value::Str(s) => PyString::new(py, s).into_any(),
        Value::List(vs) => PyList::new(py, items(vs)?)?.into_any(),
        Value::Tuple(vs) => PyTuple::new(py, items(vs)?)?.into_any(),
        Value::Set(vs) => PySet::new(py, items(vs)?)?.into_any(),
        Value::Dict(pairs) => {
            let d = PyDict::new(py);
            for (k, x) in pairs {
                d.set_item(to_py(py, k, finish)?, to_py(py, x, finish)?)?;
            }
            d.into_any()
        }
        Value::Uuid(s) => tagged(py, finish, "uuid", PyString::new(py, s).into_any())?,
        Value::Date(d) => tagged(
            py,
            finish,
            "date",
            (d.year, d.month, d.day).into_pyobject(py)?.into_any(),
        )?,
        Value::DateTime(t) => {
            let payload = (
                t.date.year,
                t.date.month,
                t.date.day,
                t.hour,
                t.minute,
                t.second,
                t.microsecond,
                t.offset_seconds,
            )
                .into_pyobject(py)?
                .into_any();
            tagged(py, finish, "datetime", payload)?
        }
        Value::Geometry(g) => tagged(py, finish, "geometry", to_py(py, g, finish)?)?,
        Value::FeatureCollection { features, crs } => {
            let payload = (PyList::new(py, items(features)?)?, crs.as_deref())
                .into_pyobject(py)?
                .into_any();
            tagged(py, finish, "geodataframe", payload)?
        }
        Value::DataFrame(data) => tagged(py, finish, "dataframe", to_py(py, data, finish)?)?,
        Value::Bbox(b) => tagged(
            py,
            finish,
            "bbox",
            (b[0], b[1], b[2], b[3]).into_pyobject(py)?.into_any(),
        )?,
        Value::Tile { x, y, z } => tagged(
            py,
            finish,
            "tilexyz",
            (*x, *y, *z).into_pyobject(py)?.into_any(),
        )?,
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(check_spec, m)?)?;
    m.add_function(wrap_pyfunction!(parse_spec, m)?)?;
    m.add_function(wrap_pyfunction!(convert_param, m)?)?;
    Ok(())
}
