//! UDF packages for Python: `read_package`, `write_package`, `package_from_code`.
//!
//! A package crosses the boundary as a plain dict with the keys `name`, `entrypoint`, `code`,
//! `source_file`, `headers` (list of dicts with `module_name`, `source_code`, `source_file`),
//! `parameters`, `metadata`, `readme` and `type`. JSON values (parameters, metadata) convert
//! to and from `serde_json::Value`; anything that is not JSON is refused naming its key.

use std::path::PathBuf;

use fused_core::package::{self, Header, UdfPackage};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

use crate::error::PyFusedError;

const PACKAGE_KEYS: &[&str] = &[
    "name",
    "entrypoint",
    "code",
    "source_file",
    "headers",
    "parameters",
    "metadata",
    "readme",
    "type",
];
const HEADER_KEYS: &[&str] = &["module_name", "source_code", "source_file"];
const MAX_DEPTH: usize = 100;

fn core<T>(result: fused_core::Result<T>) -> PyResult<T> {
    result.map_err(|e| PyFusedError(e).into())
}

/// Read a UDF package from a directory (catalog layout with meta.json, or a folder holding one
/// .py file), a .zip of one (files at the root or under one top folder), or a single .py file.
///
/// Returns a dict with the keys name, entrypoint (str | None), code, `source_file`, headers
/// (list of {`module_name`, `source_code`, `source_file`}), parameters (dict), metadata (dict),
/// readme (str | None) and type. Code is kept byte for byte.
///
/// Raises `FileNotFoundError` if path does not exist, `ValueError` if the package is malformed or
/// refused (canvas notes, paths leaving the package, links in zips, oversized zips, ...).
#[pyfunction]
#[pyo3(signature = (path))]
fn read_package(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let pkg = core(py.detach(|| package::read_package(&path)))?;
    package_to_dict(py, &pkg)
}

/// Write a package dict (as returned by `read_package`) in the catalog layout: README.md,
/// <name>.py, meta.json and one <`module_name>.py` per header; as a folder at path, or with
/// `as_zip=True` as a zip whose entries sit under the folder <name>/.
///
/// The write is atomic: files go to a temporary sibling that is renamed into place.
/// Raises `FileExistsError` (nothing written) if path exists and overwrite is False,
/// `ValueError` for an invalid name, entrypoint or header module name or a non-JSON value,
/// `TypeError` for a value of the wrong type.
#[pyfunction]
#[pyo3(signature = (pkg, path, *, overwrite = false, as_zip = false))]
fn write_package(
    py: Python<'_>,
    pkg: &Bound<'_, PyDict>,
    path: PathBuf,
    overwrite: bool,
    as_zip: bool,
) -> PyResult<()> {
    let pkg = package_from_dict(pkg)?;
    core(py.detach(|| {
        if as_zip {
            package::write_zip(&pkg, &path, overwrite)
        } else {
            package::write_directory(&pkg, &path, overwrite)
        }
    }))
}

/// A package dict holding only code (no headers, parameters or metadata), named name.
/// Raises `ValueError` if name is not usable as a file name.
#[pyfunction]
#[pyo3(signature = (name, code))]
fn package_from_code<'py>(py: Python<'py>, name: &str, code: &str) -> PyResult<Bound<'py, PyDict>> {
    let pkg = core(package::package_from_code(name, code))?;
    package_to_dict(py, &pkg)
}

// ------------------------------------------------------------------ dict -> UdfPackage

fn check_keys(dict: &Bound<'_, PyDict>, allowed: &[&str], what: &str) -> PyResult<()> {
    let mut unknown = Vec::new();
    for key in dict.keys() {
        match key.cast::<PyString>() {
            Ok(k) if allowed.contains(&&*k.to_cow()?) => {}
            _ => unknown.push(key.repr()?.to_string()),
        }
    }
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!(
            "{what}: unknown key(s) {}; expected some of {}",
            unknown.join(", "),
            allowed.join(", ")
        )))
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".into(), |n| n.to_string())
}

/// `dict[key]` as a str; `None` when absent (or None, if `nullable`).
fn get_str(
    dict: &Bound<'_, PyDict>,
    key: &str,
    at: &str,
    nullable: bool,
) -> PyResult<Option<String>> {
    match dict.get_item(key)? {
        None => Ok(None),
        Some(v) if v.is_none() && nullable => Ok(None),
        Some(v) => match v.cast::<PyString>() {
            Ok(s) => Ok(Some(s.to_cow()?.into_owned())),
            Err(_) => Err(PyTypeError::new_err(format!(
                "{at}['{key}']: expected str{}, got {}",
                if nullable { " or None" } else { "" },
                type_name(&v)
            ))),
        },
    }
}

fn require_str(dict: &Bound<'_, PyDict>, key: &str, at: &str) -> PyResult<String> {
    get_str(dict, key, at, false)?
        .ok_or_else(|| PyValueError::new_err(format!("{at}: missing required key '{key}'")))
}

fn get_object(dict: &Bound<'_, PyDict>, key: &str) -> PyResult<Map<String, Value>> {
    let at = format!("pkg['{key}']");
    match dict.get_item(key)? {
        None => Ok(Map::new()),
        Some(v) if v.is_none() => Ok(Map::new()),
        Some(v) if v.is_instance_of::<PyDict>() => match to_json(&v, &at, 0)? {
            Value::Object(map) => Ok(map),
            _ => unreachable!("a dict converts to an object"),
        },
        Some(v) => Err(PyTypeError::new_err(format!(
            "{at}: expected dict, got {}",
            type_name(&v)
        ))),
    }
}

fn package_from_dict(dict: &Bound<'_, PyDict>) -> PyResult<UdfPackage> {
    check_keys(dict, PACKAGE_KEYS, "pkg")?;
    let name = require_str(dict, "name", "pkg")?;
    let headers = match dict.get_item("headers")? {
        None => Vec::new(),
        Some(v) if v.is_none() => Vec::new(),
        Some(v) if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() => {
            let mut headers = Vec::new();
            for (i, item) in v.try_iter()?.enumerate() {
                let item = item?;
                let at = format!("pkg['headers'][{i}]");
                let h = item.cast::<PyDict>().map_err(|_| {
                    PyTypeError::new_err(format!("{at}: expected dict, got {}", type_name(&item)))
                })?;
                check_keys(h, HEADER_KEYS, &at)?;
                let module_name = require_str(h, "module_name", &at)?;
                headers.push(Header {
                    source_code: require_str(h, "source_code", &at)?,
                    source_file: get_str(h, "source_file", &at, true)?
                        .unwrap_or_else(|| format!("{module_name}.py")),
                    module_name,
                });
            }
            headers
        }
        Some(v) => {
            return Err(PyTypeError::new_err(format!(
                "pkg['headers']: expected a list of dicts, got {}",
                type_name(&v)
            )))
        }
    };
    Ok(UdfPackage {
        entrypoint: get_str(dict, "entrypoint", "pkg", true)?,
        code: require_str(dict, "code", "pkg")?,
        source_file: get_str(dict, "source_file", "pkg", true)?
            .unwrap_or_else(|| format!("{name}.py")),
        headers,
        parameters: get_object(dict, "parameters")?,
        metadata: get_object(dict, "metadata")?,
        readme: get_str(dict, "readme", "pkg", true)?,
        udf_type: get_str(dict, "type", "pkg", true)?
            .unwrap_or_else(|| package::DEFAULT_UDF_TYPE.to_string()),
        name,
    })
}

/// A JSON value from a Python object (None, bool, int, float, str, list, tuple, dict with str
/// keys); `at` names the value in errors.
pub(crate) fn to_json(obj: &Bound<'_, PyAny>, at: &str, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "{at}: nested more than {MAX_DEPTH} levels deep"
        )));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(PyValueError::new_err(format!(
            "{at}: integer {obj} does not fit in 64 bits; not representable in JSON"
        )));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v).map(Value::Number).ok_or_else(|| {
            PyValueError::new_err(format!("{at}: {v} is not a JSON number (NaN or infinity)"))
        });
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in d.iter() {
            let key = k.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "{at}: dict keys must be str, got {} key {}",
                    type_name(&k),
                    k.repr().map(|r| r.to_string()).unwrap_or_default()
                ))
            })?;
            let key = key.to_cow()?.into_owned();
            let value = to_json(&v, &format!("{at}[{key:?}]"), depth + 1)?;
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let items = obj
            .try_iter()?
            .enumerate()
            .map(|(i, item)| to_json(&item?, &format!("{at}[{i}]"), depth + 1))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(Value::Array(items));
    }
    Err(PyTypeError::new_err(format!(
        "{at}: expected a JSON value (None, bool, int, float, str, list, tuple or dict), got {}",
        type_name(obj)
    )))
}

// ------------------------------------------------------------------ UdfPackage -> dict

pub(crate) fn from_json<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(from_json(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => map_to_dict(py, map)?.into_any(),
    })
}

fn map_to_dict<'py>(py: Python<'py>, map: &Map<String, Value>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in map {
        dict.set_item(k, from_json(py, v)?)?;
    }
    Ok(dict)
}

fn package_to_dict<'py>(py: Python<'py>, pkg: &UdfPackage) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("name", &pkg.name)?;
    dict.set_item("entrypoint", pkg.entrypoint.as_deref())?;
    dict.set_item("code", &pkg.code)?;
    dict.set_item("source_file", &pkg.source_file)?;
    let headers = PyList::empty(py);
    for h in &pkg.headers {
        let hd = PyDict::new(py);
        hd.set_item("module_name", &h.module_name)?;
        hd.set_item("source_code", &h.source_code)?;
        hd.set_item("source_file", &h.source_file)?;
        headers.append(hd)?;
    }
    dict.set_item("headers", headers)?;
    dict.set_item("parameters", map_to_dict(py, &pkg.parameters)?)?;
    dict.set_item("metadata", map_to_dict(py, &pkg.metadata)?)?;
    dict.set_item("readme", pkg.readme.as_deref())?;
    dict.set_item("type", &pkg.udf_type)?;
    Ok(dict)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_package, m)?)?;
    m.add_function(wrap_pyfunction!(write_package, m)?)?;
    m.add_function(wrap_pyfunction!(package_from_code, m)?)?;
    Ok(())
}
