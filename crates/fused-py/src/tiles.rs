//! Bindings for `fused.tiles` over `fused_core::tiles`. Most public functions of
//! `fused.tiles` are these pyfunctions themselves (no Python wrapper in between), because
//! per-call overhead is what `tile()`/`bounds()` loops pay.

mod convert;
mod named;

use crate::error::{
    py_err, InvalidLatitudeError, InvalidZoomError, MercantileError, ParentTileError, PyFusedError,
    QuadKeyError, TileArgParsingError, TileError,
};
use convert::{
    float_arg, int_arg, invalid, loose_tile_args, tile_arg_items, tile_args, tile_from_obj, truthy,
    zoom_arg, zooms_arg,
};
use fused_core::tiles::{self as core, Tile, TileRange};
use fused_core::{Error, TileArg};
use named::{classes, py_floats, py_tile, py_tile_list, NamedTuple};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyDeprecationWarning, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use std::borrow::Cow;

// ---------------------------------------------------------------- public functions

/// The tile containing a longitude and latitude, as a Tile.
///
/// Raises `InvalidLatitudeError` (a `ValueError`) for a NaN/infinite latitude or one at or beyond
/// a pole, `InvalidZoomError` for a zoom that is not an integer 0..=30.
#[pyfunction]
#[pyo3(signature = (lng, lat, zoom, truncate=None), text_signature = "(lng, lat, zoom, truncate=False)")]
fn tile<'py>(
    lng: &Bound<'py, PyAny>,
    lat: &Bound<'py, PyAny>,
    zoom: &Bound<'py, PyAny>,
    truncate: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (lng_v, lat_v) = lnglat_args(lng, lat)?;
    let t = core::tile(lng_v, lat_v, zoom_arg(zoom, "zoom")?, truthy(truncate)?).map_err(py_err)?;
    py_tile(lng.py(), t)
}

/// The geographic bounds of a tile, as LngLatBbox(west, south, east, north).
///
/// The tile is a Tile, an (x, y, z) sequence, or x, y, z. Integer indices outside the grid
/// are extrapolated as in mercantile, with a FutureWarning.
#[pyfunction]
#[pyo3(signature = (*tile))]
fn bounds<'py>(tile: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
    let py = tile.py();
    let b = core::bounds_loose(loose_tile_args(tile)?);
    py_floats(
        py,
        &classes(py)?.lnglat_bbox,
        [b.west, b.south, b.east, b.north],
    )
}

/// The upper-left corner of a tile, as LngLat(lng, lat).
#[pyfunction]
#[pyo3(signature = (*tile))]
fn ul<'py>(tile: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
    let py = tile.py();
    let c = core::ul_loose(loose_tile_args(tile)?);
    py_floats(py, &classes(py)?.lnglat, [c.lng, c.lat])
}

/// The web mercator bounds of a tile in metres, as Bbox(left, bottom, right, top).
#[pyfunction]
#[pyo3(signature = (*tile))]
fn xy_bounds<'py>(tile: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
    let py = tile.py();
    let b = core::xy_bounds_loose(loose_tile_args(tile)?);
    py_floats(py, &classes(py)?.bbox, [b.left, b.bottom, b.right, b.top])
}

/// Longitude and latitude to web mercator metres, as a tuple (x, y).
///
/// y is inf at and north of lat 90, -inf at and south of lat -90 (as in mercantile).
#[pyfunction]
#[pyo3(signature = (lng, lat, truncate=None), text_signature = "(lng, lat, truncate=False)")]
fn xy(
    lng: &Bound<'_, PyAny>,
    lat: &Bound<'_, PyAny>,
    truncate: Option<&Bound<'_, PyAny>>,
) -> PyResult<(f64, f64)> {
    let (lng, lat) = lnglat_args(lng, lat)?;
    core::xy(lng, lat, truthy(truncate)?).map_err(py_err)
}

/// Web mercator metres to longitude and latitude, as LngLat(lng, lat).
#[pyfunction]
#[pyo3(signature = (x, y, truncate=None), text_signature = "(x, y, truncate=False)")]
fn lnglat<'py>(
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    truncate: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = x.py();
    let number = |obj: &Bound<'py, PyAny>, name: &str| {
        obj.extract::<f64>().map_err(|_| {
            let repr = obj.repr().map(|r| r.to_string()).unwrap_or_default();
            PyErr::from(PyFusedError(Error::invalid(name, "a number", repr)))
        })
    };
    let (x, y) = (number(x, "x")?, number(y, "y")?);
    let c = core::lnglat(x, y, truthy(truncate)?).map_err(|e| PyErr::from(PyFusedError(e)))?;
    py_floats(py, &classes(py)?.lnglat, [c.lng, c.lat])
}

/// A point's `lng` and `lat` arguments as numbers (a bad latitude is InvalidLatitudeError).
fn lnglat_args(lng: &Bound<'_, PyAny>, lat: &Bound<'_, PyAny>) -> PyResult<(f64, f64)> {
    Ok((
        float_arg(lng, TileArg::Other, "lng")?,
        float_arg(lat, TileArg::Latitude, "lat")?,
    ))
}

/// Clamp a longitude to -180..180 and a latitude to -90..90, as a tuple (lng, lat).
#[pyfunction]
fn truncate_lnglat(lng: &Bound<'_, PyAny>, lat: &Bound<'_, PyAny>) -> PyResult<(f64, f64)> {
    let (lng, lat) = lnglat_args(lng, lat)?;
    Ok(core::truncate_lnglat(lng, lat))
}

/// The parent of a tile at `zoom` (default: one level up); None for a zoom-0 tile.
///
/// Checks in mercantile's order: the tile argument's shape (TileArgParsingError), its zoom,
/// then `zoom` against it (InvalidZoomError), then x and y (ParentTileError).
#[pyfunction]
#[pyo3(signature = (*tile, zoom=None))]
fn parent<'py>(
    tile: &Bound<'py, PyTuple>,
    zoom: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = tile.py();
    let [x, y, z] = tile_arg_items(tile)?;
    let z = zoom_arg(&z, "z")?;
    if z == 0 {
        return Ok(None);
    }
    let target = match zoom {
        Some(obj) if !obj.is_none() => {
            let ok = int_arg(obj, TileArg::Zoom, "zoom", "")
                .ok()
                .filter(|v| (0..i64::from(z)).contains(v));
            match ok {
                Some(v) => Some(v as u8),
                None => {
                    return Err(InvalidZoomError::new_err(format!(
                        "invalid zoom: zoom must be an integer and less than that of the input \
                         tile ({z}), and at least 0; got {}",
                        repr(obj)
                    )))
                }
            }
        }
        _ => None,
    };
    let index = |obj: &Bound<'py, PyAny>, name: &str| {
        int_arg(obj, TileArg::Index, name, "").map_err(|_| {
            ParentTileError::new_err(format!(
                "invalid {name}: expected an integer (the parent of a non-integer tile is \
                 undefined), got {}",
                repr(obj)
            ))
        })
    };
    let t = Tile::new(index(&x, "x")?, index(&y, "y")?, i64::from(z))
        .map_err(|e| ParentTileError::new_err(e.to_string()))?;
    match core::parent(t, target).map_err(py_err)? {
        Some(p) => Ok(Some(py_tile(py, p)?)),
        None => Ok(None),
    }
}

/// The descendants of a tile at `zoom` (default: one level down), as a list of Tiles in
/// mercantile's order (level by level; top-left, top-right, bottom-right, bottom-left).
#[pyfunction]
#[pyo3(signature = (*tile, zoom=None))]
fn children<'py>(
    tile: &Bound<'py, PyTuple>,
    zoom: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let py = tile.py();
    let t = tile_args(tile)?;
    let target = match zoom {
        Some(obj) if !obj.is_none() => {
            match int_arg(obj, TileArg::Zoom, "zoom", "")
                .ok()
                .filter(|v| *v >= i64::from(t.z))
            {
                Some(v) => Some(zoom_arg(obj, "zoom").map_err(|_| {
                    InvalidZoomError::new_err(format!(
                        "invalid zoom: expected an integer {}..=30, got {v}",
                        t.z
                    ))
                })?),
                None => {
                    return Err(InvalidZoomError::new_err(format!(
                        "invalid zoom: zoom must be an integer and greater than that of the \
                         input tile ({}) or equal to it; got {}",
                        t.z,
                        repr(obj)
                    )))
                }
            }
        }
        _ => None,
    };
    let kids = core::children(t, target).map_err(py_err)?;
    py_tile_list(py, kids)
}

fn repr(obj: &Bound<'_, PyAny>) -> String {
    obj.repr()
        .map_or_else(|_| "an unprintable object".to_owned(), |r| r.to_string())
}

/// The up to eight tiles around a tile at its zoom, as a list of Tiles.
#[pyfunction]
#[pyo3(signature = (*tile))]
fn neighbors<'py>(tile: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyList>> {
    py_tile_list(tile.py(), core::neighbors(tile_args(tile)?))
}

/// The quadkey of a tile ('' for zoom 0).
#[pyfunction]
#[pyo3(signature = (*tile))]
fn quadkey(tile: &Bound<'_, PyTuple>) -> PyResult<String> {
    Ok(core::quadkey(tile_args(tile)?))
}

/// The tile of a quadkey ('' is Tile(0, 0, 0)). Raises QuadKeyError for a bad digit, after
/// the DeprecationWarning mercantile 1.2 gives there (QuadKeyError stops being a ValueError
/// in mercantile 2.0).
#[pyfunction]
fn quadkey_to_tile<'py>(qk: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = qk.py();
    let parsed = match qk.cast::<PyString>() {
        Ok(text) => core::quadkey_to_tile(&text.to_cow()?).map_err(py_err),
        Err(_) => Err(invalid(
            TileArg::QuadKey,
            "quadkey",
            "a string of digits 0-3",
            qk,
        )),
    };
    match parsed {
        Ok(t) => py_tile(py, t),
        Err(err) => {
            PyErr::warn(
                py,
                &py.get_type::<PyDeprecationWarning>(),
                c"QuadKeyError is a ValueError as in mercantile 1.x, which mercantile 2.0 \
                  drops: catch QuadKeyError (or MercantileError) rather than ValueError",
                1,
            )?;
            Err(err)
        }
    }
}

/// mercantile's private `_xy`: a point's position as fractions (x, y) of the world's width
/// and height from its upper-left corner; y is outside 0..1 beyond the mercator limit.
/// Raises InvalidLatitudeError at or beyond a pole.
#[pyfunction]
#[pyo3(signature = (lng, lat, truncate=None), text_signature = "(lng, lat, truncate=False)")]
fn _xy(
    lng: &Bound<'_, PyAny>,
    lat: &Bound<'_, PyAny>,
    truncate: Option<&Bound<'_, PyAny>>,
) -> PyResult<(f64, f64)> {
    let (lng, lat) = lnglat_args(lng, lat)?;
    core::world_xy(lng, lat, truthy(truncate)?).map_err(py_err)
}

/// The smallest tile containing a bounding box (west, south, east, north) or a point
/// (lng, lat). Boxes touching a pole or spanning lng 0 / lat 0 give Tile(0, 0, 0).
#[pyfunction]
#[pyo3(signature = (*bbox, truncate=None), text_signature = "(*bbox, truncate=False)")]
fn bounding_tile<'py>(
    bbox: &Bound<'py, PyTuple>,
    truncate: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = bbox.py();
    const EXPECTED: &str = "west, south, east, north or a point lng, lat";
    let values: Vec<Bound<'py, PyAny>> = if bbox.len() == 1 {
        let one = bbox.get_item(0)?;
        if one.is_instance_of::<PyString>() {
            return Err(invalid(TileArg::Other, "bbox", EXPECTED, &one));
        }
        let items = one
            .try_iter()
            .map_err(|_| invalid(TileArg::Other, "bbox", EXPECTED, &one))?;
        items.collect::<PyResult<_>>()?
    } else {
        bbox.iter().collect()
    };
    let (w, s, e, n) = match values.as_slice() {
        [lng, lat] => {
            let lng = core::check_finite(
                TileArg::Other,
                "lng",
                float_arg(lng, TileArg::Other, "lng")?,
            )
            .map_err(py_err)?;
            let lat = core::check_finite(
                TileArg::Latitude,
                "lat",
                float_arg(lat, TileArg::Latitude, "lat")?,
            )
            .map_err(py_err)?;
            (lng, lat, lng, lat)
        }
        [w, s, e, n] => (
            float_arg(w, TileArg::Other, "west")?,
            float_arg(s, TileArg::Latitude, "south")?,
            float_arg(e, TileArg::Other, "east")?,
            float_arg(n, TileArg::Latitude, "north")?,
        ),
        other => {
            return Err(py_err(Error::tile(
                TileArg::Other,
                "bbox",
                EXPECTED,
                format!("{} values", other.len()),
            )))
        }
    };
    let t = core::bounding_tile(w, s, e, n, truthy(truncate)?).map_err(py_err)?;
    py_tile(py, t)
}

/// (0, 2**zoom - 1): the smallest and largest tile index at a zoom.
#[pyfunction]
fn minmax(zoom: &Bound<'_, PyAny>) -> PyResult<(u32, u32)> {
    core::minmax(i64::from(zoom_arg(zoom, "zoom")?)).map_err(py_err)
}

/// The smallest set of tiles covering the same area: tiles inside another one are dropped
/// and complete groups of four siblings merged into their parent. Returns a list of Tiles
/// (mercantile's order is arbitrary; ours is by zoom, then x, then y).
#[pyfunction]
fn simplify<'py>(tiles: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let py = tiles.py();
    let parsed = tiles
        .try_iter()
        .map_err(|_| invalid(TileArg::Other, "tiles", "an iterable of tiles", tiles))?
        .map(|item| tile_from_obj(&item?))
        .collect::<PyResult<Vec<Tile>>>()?;
    let merged = py.detach(|| core::simplify(&parsed));
    py_tile_list(py, merged)
}

fn bbox_args(
    west: &Bound<'_, PyAny>,
    south: &Bound<'_, PyAny>,
    east: &Bound<'_, PyAny>,
    north: &Bound<'_, PyAny>,
) -> PyResult<(f64, f64, f64, f64)> {
    Ok((
        float_arg(west, TileArg::Other, "west")?,
        float_arg(south, TileArg::Latitude, "south")?,
        float_arg(east, TileArg::Other, "east")?,
        float_arg(north, TileArg::Latitude, "north")?,
    ))
}

/// How many tiles `tiles(west, south, east, north, zooms, truncate)` yields, without
/// building them.
#[pyfunction]
#[pyo3(signature = (west, south, east, north, zooms, truncate=None), text_signature = "(west, south, east, north, zooms, truncate=False)")]
fn count_tiles(
    west: &Bound<'_, PyAny>,
    south: &Bound<'_, PyAny>,
    east: &Bound<'_, PyAny>,
    north: &Bound<'_, PyAny>,
    zooms: &Bound<'_, PyAny>,
    truncate: Option<&Bound<'_, PyAny>>,
) -> PyResult<u64> {
    let (w, s, e, n) = bbox_args(west, south, east, north)?;
    let zooms = zooms_arg(zooms)?;
    core::count_tiles(w, s, e, n, &zooms, truthy(truncate)?).map_err(py_err)
}

/// The x and y indices of the tiles `tiles()` yields for a box at one zoom, in the same
/// order, as two int64 numpy arrays (xs, ys).
#[pyfunction]
#[pyo3(signature = (west, south, east, north, zoom, truncate=None), text_signature = "(west, south, east, north, zoom, truncate=False)")]
#[allow(clippy::type_complexity)]
fn tiles_array<'py>(
    west: &Bound<'py, PyAny>,
    south: &Bound<'py, PyAny>,
    east: &Bound<'py, PyAny>,
    north: &Bound<'py, PyAny>,
    zoom: &Bound<'py, PyAny>,
    truncate: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>)> {
    let py = west.py();
    let (w, s, e, n) = bbox_args(west, south, east, north)?;
    let (zoom, truncate) = (zoom_arg(zoom, "zoom")?, truthy(truncate)?);
    let (xs, ys) = py
        .detach(|| core::tiles_xy(w, s, e, n, zoom, truncate))
        .map_err(py_err)?;
    Ok((PyArray1::from_vec(py, xs), PyArray1::from_vec(py, ys)))
}

/// `tile()` over float64 arrays of longitudes and latitudes: int64 arrays (xs, ys).
/// (`fused.tiles.tile_many` converts its inputs and calls this.)
#[pyfunction]
#[pyo3(signature = (lngs, lats, zoom, truncate=None))]
#[allow(clippy::type_complexity)]
fn tile_many<'py>(
    lngs: PyReadonlyArray1<'py, f64>,
    lats: PyReadonlyArray1<'py, f64>,
    zoom: &Bound<'py, PyAny>,
    truncate: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>)> {
    let py = zoom.py();
    let (zoom, truncate) = (zoom_arg(zoom, "zoom")?, truthy(truncate)?);
    let (lngs, lats) = (contiguous(&lngs), contiguous(&lats));
    let (xs, ys) = py
        .detach(|| core::tile_many(&lngs, &lats, zoom, truncate))
        .map_err(py_err)?;
    Ok((PyArray1::from_vec(py, xs), PyArray1::from_vec(py, ys)))
}

fn contiguous<'a>(a: &'a PyReadonlyArray1<'_, f64>) -> Cow<'a, [f64]> {
    match a.as_slice() {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(a.as_array().to_vec()),
    }
}

/// A [`TileRange`] as Python sees it: `(z, x_min, x_max, y_min, y_max)`.
type RangeTuple = (u8, u32, u32, u32, u32);

/// For `tiles()`: the non-empty tile rectangles of a box, as (z, `x_min`, `x_max`, `y_min`, `y_max`).
#[pyfunction]
#[pyo3(signature = (west, south, east, north, zooms, truncate=None))]
fn _tile_ranges(
    west: &Bound<'_, PyAny>,
    south: &Bound<'_, PyAny>,
    east: &Bound<'_, PyAny>,
    north: &Bound<'_, PyAny>,
    zooms: &Bound<'_, PyAny>,
    truncate: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<RangeTuple>> {
    let (w, s, e, n) = bbox_args(west, south, east, north)?;
    let zooms = zooms_arg(zooms)?;
    let ranges = core::tile_ranges(w, s, e, n, &zooms, truthy(truncate)?).map_err(py_err)?;
    Ok(ranges
        .iter()
        .map(|r| (r.z, r.x_min, r.x_max, r.y_min, r.y_max))
        .collect())
}

/// For `tiles()`: `count` Tiles of a rectangle, from position `start` in column-major order,
/// as a tuple (`fused.tiles.tiles` chains these blocks).
#[pyfunction]
fn _tile_block(
    py: Python<'_>,
    range: RangeTuple,
    start: u64,
    count: u64,
) -> PyResult<Bound<'_, PyTuple>> {
    let (z, x_min, x_max, y_min, y_max) = range;
    let r = TileRange {
        z,
        x_min,
        x_max,
        y_min,
        y_max,
    };
    if x_min > x_max || y_min > y_max || start.saturating_add(count) > r.len() {
        return Err(PyValueError::new_err("invalid tile block"));
    }
    let maker = NamedTuple::new(&classes(py)?.tile, py);
    let z_obj = z.into_pyobject(py)?.into_any();
    let height = r.height();
    let (mut col, mut row) = (start / height, start % height);
    let mut x_obj = (x_min + col as u32).into_pyobject(py)?.into_any();
    // Every column has the same y values: when the block spans whole columns, create each
    // y int once and share it (ints are immutable).
    let shared_ys = if height <= count {
        (y_min..=y_max)
            .map(|y| Ok(y.into_pyobject(py)?.into_any()))
            .collect::<PyResult<Vec<_>>>()?
    } else {
        Vec::new()
    };
    // SAFETY: PyTuple_New returns a new tuple of `count` NULL items (or NULL with an error
    // set); a tuple with NULL items is safe to free if we fail half-way.
    let block = unsafe {
        let raw = ffi::PyTuple_New(count as ffi::Py_ssize_t);
        if raw.is_null() {
            return Err(PyErr::fetch(py));
        }
        Bound::from_owned_ptr(py, raw).cast_into_unchecked::<PyTuple>()
    };
    for i in 0..count {
        let fresh_y;
        let y_obj = if let Some(y) = shared_ys.get(row as usize) {
            y
        } else {
            fresh_y = (y_min + row as u32).into_pyobject(py)?.into_any();
            &fresh_y
        };
        let tile = maker.make_from([&x_obj, y_obj, &z_obj])?;
        if maker.direct() {
            // SAFETY: direct building means the tuple layout is known (CPython 3.9-3.13);
            // slot i < count is still NULL and takes the owned reference.
            unsafe { *named::tuple_items(block.as_ptr()).add(i as usize) = tile.into_ptr() };
        } else {
            // SAFETY: PyTuple_SetItem steals the reference; i < count.
            let rc = unsafe {
                ffi::PyTuple_SetItem(block.as_ptr(), i as ffi::Py_ssize_t, tile.into_ptr())
            };
            if rc != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        row += 1;
        if row == height {
            row = 0;
            col += 1;
            x_obj = (x_min + col as u32).into_pyobject(py)?.into_any();
        }
    }
    // Like its tiles, the block holds no cycle: out of the cyclic GC, which would otherwise
    // walk its 16k items at every collection while the caller consumes it.
    // SAFETY: `block` is a live GC object; untracking is always allowed.
    unsafe { ffi::PyObject_GC_UnTrack(block.as_ptr().cast()) };
    Ok(block)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("MercantileError", py.get_type::<MercantileError>())?;
    m.add(
        "InvalidLatitudeError",
        py.get_type::<InvalidLatitudeError>(),
    )?;
    m.add("InvalidZoomError", py.get_type::<InvalidZoomError>())?;
    m.add("ParentTileError", py.get_type::<ParentTileError>())?;
    m.add("QuadKeyError", py.get_type::<QuadKeyError>())?;
    m.add("TileArgParsingError", py.get_type::<TileArgParsingError>())?;
    m.add("TileError", py.get_type::<TileError>())?;
    m.add_function(wrap_pyfunction!(tile, m)?)?;
    m.add_function(wrap_pyfunction!(bounds, m)?)?;
    m.add_function(wrap_pyfunction!(ul, m)?)?;
    m.add_function(wrap_pyfunction!(xy_bounds, m)?)?;
    m.add_function(wrap_pyfunction!(xy, m)?)?;
    m.add_function(wrap_pyfunction!(lnglat, m)?)?;
    m.add_function(wrap_pyfunction!(truncate_lnglat, m)?)?;
    m.add_function(wrap_pyfunction!(parent, m)?)?;
    m.add_function(wrap_pyfunction!(children, m)?)?;
    m.add_function(wrap_pyfunction!(neighbors, m)?)?;
    m.add_function(wrap_pyfunction!(quadkey, m)?)?;
    m.add_function(wrap_pyfunction!(quadkey_to_tile, m)?)?;
    m.add_function(wrap_pyfunction!(bounding_tile, m)?)?;
    m.add_function(wrap_pyfunction!(minmax, m)?)?;
    m.add_function(wrap_pyfunction!(simplify, m)?)?;
    m.add_function(wrap_pyfunction!(count_tiles, m)?)?;
    m.add_function(wrap_pyfunction!(tiles_array, m)?)?;
    m.add_function(wrap_pyfunction!(tile_many, m)?)?;
    m.add_function(wrap_pyfunction!(_xy, m)?)?;
    m.add_function(wrap_pyfunction!(_tile_ranges, m)?)?;
    m.add_function(wrap_pyfunction!(_tile_block, m)?)?;
    m.add_function(wrap_pyfunction!(named::_tiles_direct_alloc, m)?)?;
    Ok(())
}
