//! Results as the namedtuple classes of `fused.tiles` (`Tile`, `LngLat`, `LngLatBbox`,
//! `Bbox`), built without going through their Python `__new__`.

use fused_core::tiles::Tile;
use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyFloat, PyList, PyTuple, PyType};
use std::sync::atomic::{AtomicBool, Ordering};

// ---------------------------------------------------------------- namedtuple results

pub(super) struct Classes {
    pub tile: Py<PyType>,
    pub lnglat: Py<PyType>,
    pub lnglat_bbox: Py<PyType>,
    pub bbox: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();
static TUPLE_NEW: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
/// Whether instances are built directly (see [`NamedTuple::make`]); tests switch it off to
/// exercise the `tuple.__new__` path.
static DIRECT_ALLOC: AtomicBool = AtomicBool::new(true);

/// Whether this interpreter's tuple layout allows building instances directly.
fn direct_alloc_supported(py: Python<'_>) -> bool {
    static SUPPORTED: PyOnceLock<bool> = PyOnceLock::new();
    *SUPPORTED.get_or_init(py, || {
        let v = py.version_info();
        ((3, 9)..(3, 14)).contains(&(v.major, v.minor))
    })
}

/// Switch direct building of namedtuples on or off (where supported); returns whether it is
/// now on. Private: for tests of the fallback path.
#[pyfunction]
pub(super) fn _tiles_direct_alloc(py: Python<'_>, enabled: bool) -> bool {
    let on = enabled && direct_alloc_supported(py);
    DIRECT_ALLOC.store(on, Ordering::Relaxed);
    on
}

/// The namedtuple classes defined in `fused.tiles` (imported on first use).
pub(super) fn classes(py: Python<'_>) -> PyResult<&'static Classes> {
    CLASSES.get_or_try_init(py, || {
        let module = py.import("fused.tiles")?;
        let class = |name: &str| -> PyResult<Py<PyType>> {
            let cls = module.getattr(name)?.cast_into::<PyType>()?;
            // SAFETY: PyType_GetFlags reads the flags of a live type object.
            let flags = unsafe { ffi::PyType_GetFlags(cls.as_type_ptr()) };
            if !cls.is_subclass_of::<PyTuple>()? || flags & ffi::Py_TPFLAGS_HEAPTYPE == 0 {
                return Err(PyValueError::new_err(format!(
                    "fused.tiles.{name} is not a tuple subclass"
                )));
            }
            Ok(cls.unbind())
        };
        Ok(Classes {
            tile: class("Tile")?,
            lnglat: class("LngLat")?,
            lnglat_bbox: class("LngLatBbox")?,
            bbox: class("Bbox")?,
        })
    })
}

/// Builds instances of one of the namedtuple classes (a heap type subclassing tuple).
pub(super) struct NamedTuple<'py> {
    cls: Bound<'py, PyType>,
    /// The class's `tp_alloc`, when instances may be built directly (CPython 3.9-3.13).
    alloc: Option<ffi::allocfunc>,
}

impl<'py> NamedTuple<'py> {
    pub(super) fn new(cls: &Py<PyType>, py: Python<'py>) -> Self {
        let cls = cls.bind(py).clone();
        let direct = DIRECT_ALLOC.load(Ordering::Relaxed) && direct_alloc_supported(py);
        // SAFETY: `cls` is a heap type (a Python class, checked to subclass tuple in
        // `classes`); PyType_GetSlot may read any slot of a heap type.
        let slot = if direct {
            unsafe { ffi::PyType_GetSlot(cls.as_type_ptr(), ffi::Py_tp_alloc) }
        } else {
            std::ptr::null_mut()
        };
        // SAFETY: the Py_tp_alloc slot holds an `allocfunc`.
        let alloc = (!slot.is_null())
            .then(|| unsafe { std::mem::transmute::<*mut std::ffi::c_void, ffi::allocfunc>(slot) });
        NamedTuple { cls, alloc }
    }

    /// An instance holding `items`.
    ///
    /// On CPython 3.9-3.13 this does what `tuple.__new__(cls, items)` does internally
    /// (`tuple_subtype_new`: the type's `tp_alloc`, then store the items) without building
    /// argument tuples. From 3.14 tuples carry a hash cache that `tuple_subtype_new`
    /// initialises and the limited API cannot reach, so there `tuple.__new__` is called.
    ///
    /// The result is untracked by the cyclic GC, as CPython untracks plain tuples of atomic
    /// values: our items are ints and floats and the classes have `__slots__ = ()`, so no
    /// cycle can pass through it. Without this, building 100k tiles triggers full
    /// collections that cost more than building them.
    // the `unsafe` arm with its SAFETY note reads better as a match than as `if let`
    #[allow(clippy::single_match_else)]
    pub(super) fn make<const N: usize>(
        &self,
        items: [Bound<'py, PyAny>; N],
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = self.cls.py();
        let obj = match self.alloc {
            // SAFETY: `alloc` is the class's tp_alloc; it returns a new, zeroed, GC-tracked
            // tuple of N NULL items with refcount 1 (NULL items are skipped by the tuple's
            // traverse and dealloc), as PyTuple_SetItem requires; SetItem steals each item.
            Some(alloc) => unsafe {
                let raw = alloc(self.cls.as_type_ptr(), N as ffi::Py_ssize_t);
                if raw.is_null() {
                    return Err(PyErr::fetch(py));
                }
                let obj = Bound::from_owned_ptr(py, raw);
                for (i, item) in items.into_iter().enumerate() {
                    if ffi::PyTuple_SetItem(raw, i as ffi::Py_ssize_t, item.into_ptr()) != 0 {
                        return Err(PyErr::fetch(py));
                    }
                }
                obj
            },
            None => {
                let tuple_new = TUPLE_NEW.get_or_try_init(py, || {
                    py.get_type::<PyTuple>()
                        .getattr("__new__")
                        .map(Bound::unbind)
                })?;
                tuple_new
                    .bind(py)
                    .call1((&self.cls, PyTuple::new(py, items)?))?
            }
        };
        // SAFETY: `obj` is a live GC object; untracking an object is always allowed.
        unsafe { ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
        Ok(obj)
    }
}

pub(super) fn py_tile(py: Python<'_>, t: Tile) -> PyResult<Bound<'_, PyAny>> {
    NamedTuple::new(&classes(py)?.tile, py).make([
        t.x.into_pyobject(py)?.into_any(),
        t.y.into_pyobject(py)?.into_any(),
        t.z.into_pyobject(py)?.into_any(),
    ])
}

pub(super) fn py_floats<'py, const N: usize>(
    py: Python<'py>,
    cls: &Py<PyType>,
    values: [f64; N],
) -> PyResult<Bound<'py, PyAny>> {
    NamedTuple::new(cls, py).make(values.map(|v| PyFloat::new(py, v).into_any()))
}

pub(super) fn py_tile_list(
    py: Python<'_>,
    tiles: impl IntoIterator<Item = Tile>,
) -> PyResult<Bound<'_, PyList>> {
    let maker = NamedTuple::new(&classes(py)?.tile, py);
    let items = tiles
        .into_iter()
        .map(|t| {
            maker.make([
                t.x.into_pyobject(py)?.into_any(),
                t.y.into_pyobject(py)?.into_any(),
                t.z.into_pyobject(py)?.into_any(),
            ])
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}
