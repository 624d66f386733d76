//! Arguments of the `fused.tiles` functions: Python objects to numbers and tiles. Each
//! refusal is an [`Error::Tile`] whose [`TileArg`] picks the exception (`crate::error`).

use crate::error::py_err;
use fused_core::tiles::{self as core, LooseTile, Tile};
use fused_core::{Error, TileArg};
use pyo3::exceptions::PyFutureWarning;
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PySequence, PyString, PyTuple};
use std::ffi::CString;

// ---------------------------------------------------------------- argument conversion

/// The error for argument `name` (an `arg`) that is not `expected`, showing `obj`'s repr.
pub(super) fn invalid(arg: TileArg, name: &str, expected: &str, obj: &Bound<'_, PyAny>) -> PyErr {
    let repr = obj
        .repr()
        .map_or_else(|_| "an unprintable object".to_owned(), |r| r.to_string());
    py_err(Error::tile(arg, name, expected, repr))
}

pub(super) fn float_arg(obj: &Bound<'_, PyAny>, arg: TileArg, name: &str) -> PyResult<f64> {
    obj.extract::<f64>()
        .map_err(|_| invalid(arg, name, "a number", obj))
}

/// An integer, or a float with an integral value (mercantile accepts `Tile(1.0, 2.0, 3)`).
pub(super) fn int_arg(
    obj: &Bound<'_, PyAny>,
    arg: TileArg,
    name: &str,
    expected: &str,
) -> PyResult<i64> {
    if let Ok(v) = obj.extract::<i64>() {
        return Ok(v);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            return Ok(v as i64);
        }
    }
    Err(invalid(arg, name, expected, obj))
}

pub(super) const ZOOM_EXPECTED: &str = "an integer 0..=30";

pub(super) fn zoom_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<u8> {
    let z = int_arg(obj, TileArg::Zoom, name, ZOOM_EXPECTED)?;
    core::check_zoom(z).map_err(|_| py_err(Error::tile(TileArg::Zoom, name, ZOOM_EXPECTED, z)))
}

/// `zooms`: one zoom or an iterable of zooms.
pub(super) fn zooms_arg(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    const EXPECTED: &str = "an integer 0..=30 or a sequence of them";
    if obj.extract::<i64>().is_ok() || obj.is_instance_of::<PyFloat>() {
        return Ok(vec![zoom_arg(obj, "zooms")?]);
    }
    if obj.is_instance_of::<PyString>() {
        return Err(invalid(TileArg::Zoom, "zooms", EXPECTED, obj));
    }
    let items = obj
        .try_iter()
        .map_err(|_| invalid(TileArg::Zoom, "zooms", EXPECTED, obj))?;
    items.map(|item| zoom_arg(&item?, "zooms")).collect()
}

pub(super) fn truthy(obj: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
    obj.map_or(Ok(false), pyo3::types::PyAnyMethods::is_truthy)
}

pub(super) fn tile_from_items(
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    z: &Bound<'_, PyAny>,
) -> PyResult<Tile> {
    let x = int_arg(x, TileArg::Index, "x", "an integer")?;
    let y = int_arg(y, TileArg::Index, "y", "an integer")?;
    let z = int_arg(z, TileArg::Zoom, "z", ZOOM_EXPECTED)?;
    Tile::new(x, y, z).map_err(py_err)
}

pub(super) const TILE_EXPECTED: &str =
    "a Tile, an (x, y, z) sequence, or three integers x, y, z (zoom is keyword-only)";

/// The three items of one object that is a tile: a `Tile`, a tuple or another sequence of
/// three values.
fn tile_obj_items<'py>(obj: &Bound<'py, PyAny>) -> PyResult<[Bound<'py, PyAny>; 3]> {
    if let Ok(t) = obj.cast::<PyTuple>() {
        if t.len() == 3 {
            return Ok([t.get_item(0)?, t.get_item(1)?, t.get_item(2)?]);
        }
    } else if let Ok(seq) = obj.cast::<PySequence>() {
        if !obj.is_instance_of::<PyString>() && seq.len().ok() == Some(3) {
            return Ok([seq.get_item(0)?, seq.get_item(1)?, seq.get_item(2)?]);
        }
    }
    Err(invalid(TileArg::Tile, "tile", TILE_EXPECTED, obj))
}

/// One object that is a tile: a `Tile`, a tuple or another sequence of three integers.
pub(super) fn tile_from_obj(obj: &Bound<'_, PyAny>) -> PyResult<Tile> {
    let [x, y, z] = tile_obj_items(obj)?;
    tile_from_items(&x, &y, &z)
}

/// mercantile's `*tile` argument as its three values, not converted: one tile-like object,
/// or x, y, z. Anything else is a TileArgParsingError.
pub(super) fn tile_arg_items<'py>(args: &Bound<'py, PyTuple>) -> PyResult<[Bound<'py, PyAny>; 3]> {
    match args.len() {
        3 => Ok([args.get_item(0)?, args.get_item(1)?, args.get_item(2)?]),
        1 => tile_obj_items(&args.get_item(0)?),
        n => Err(py_err(Error::tile(
            TileArg::Tile,
            "tile",
            TILE_EXPECTED,
            format!("{n} arguments"),
        ))),
    }
}

/// mercantile's `*tile` argument: one tile-like object, or x, y, z.
pub(super) fn tile_args(args: &Bound<'_, PyTuple>) -> PyResult<Tile> {
    let [x, y, z] = tile_arg_items(args)?;
    tile_from_items(&x, &y, &z)
}

/// mercantile's `*tile` argument where indices outside the grid are computed (`bounds`,
/// `ul`, `xy_bounds`): integers and a valid zoom are still required. An index outside the
/// grid gets a FutureWarning, as mercantile gives one.
pub(super) fn loose_tile_args(args: &Bound<'_, PyTuple>) -> PyResult<LooseTile> {
    let [x, y, z] = tile_arg_items(args)?;
    let xi = int_arg(&x, TileArg::Index, "x", "an integer")?;
    let yi = int_arg(&y, TileArg::Index, "y", "an integer")?;
    let zi = int_arg(&z, TileArg::Zoom, "z", ZOOM_EXPECTED)?;
    let t = LooseTile::new(xi, yi, zi).map_err(py_err)?;
    if t.in_grid().is_none() {
        warn_outside_grid(args.py(), t)?;
    }
    Ok(t)
}

/// The FutureWarning for a tile outside the grid (stack level: the caller of the function).
pub(super) fn warn_outside_grid(py: Python<'_>, t: LooseTile) -> PyResult<()> {
    let max = (1u64 << t.z) - 1;
    let message = format!(
        "tile ({}, {}, {}) is outside the grid: x and y must be in 0..={max} at zoom {}; \
         its bounds are extrapolated as mercantile does, and a later version may refuse it",
        t.x, t.y, t.z, t.z
    );
    let message = CString::new(message).expect("no NUL in a formatted message");
    PyErr::warn(py, &py.get_type::<PyFutureWarning>(), &message, 1)
}
