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

/// Whether this interpreter's tuple layout allows building instances directly: on CPython
/// 3.9-3.13 a tuple is a `PyVarObject` header followed by its item pointers.
pub(super) fn direct_alloc_supported(py: Python<'_>) -> bool {
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
            // Same instance layout as tuple (no __dict__, no __weakref__, no extra slots):
            // what building instances directly relies on.
            let tuple = py.get_type::<PyTuple>();
            let same_layout = [
                "__basicsize__",
                "__itemsize__",
                "__dictoffset__",
                "__weakrefoffset__",
            ]
            .iter()
            .map(|attr| cls.getattr(*attr)?.eq(tuple.getattr(*attr)?))
            .collect::<PyResult<Vec<bool>>>()?
            .into_iter()
            .all(|same| same);
            if !cls.is_subclass_of::<PyTuple>()?
                || flags & ffi::Py_TPFLAGS_HEAPTYPE == 0
                || !same_layout
            {
                return Err(PyValueError::new_err(format!(
                    "fused.tiles.{name} is not a tuple subclass with __slots__ = ()"
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
    /// Whether instances are built directly (CPython 3.9-3.13).
    direct: bool,
    /// Whether the interpreter has immortal objects (3.12+), for [`incref_inline`].
    immortal: bool,
}

/// Adds one reference to `obj` in place. The limited API's `Py_INCREF` is a function call,
/// and `tiles()` takes three references per tile; this is what the 3.9-3.13 headers' inline
/// `Py_INCREF` does: bump `ob_refcnt` (the object's first word), except on 3.12+ for an
/// immortal object (low 32 bits negative as an i32), whose count must not change.
///
/// # Safety
/// `obj` is a live object, the GIL is held, and [`direct_alloc_supported`] holds.
#[inline]
unsafe fn incref_inline(obj: *mut ffi::PyObject, immortal_aware: bool) {
    let rc = obj.cast::<isize>();
    if immortal_aware && (*rc as i32) < 0 {
        return;
    }
    *rc += 1;
}

/// The item pointers of a tuple (or tuple subclass) on CPython 3.9-3.13: they follow the
/// `PyVarObject` header.
///
/// # Safety
/// `obj` is a tuple with at least as many items as are accessed, and
/// [`direct_alloc_supported`] holds.
#[inline]
pub(super) unsafe fn tuple_items(obj: *mut ffi::PyObject) -> *mut *mut ffi::PyObject {
    obj.cast::<u8>()
        .add(std::mem::size_of::<ffi::PyVarObject>())
        .cast()
}

impl<'py> NamedTuple<'py> {
    pub(super) fn new(cls: &Py<PyType>, py: Python<'py>) -> Self {
        let direct = DIRECT_ALLOC.load(Ordering::Relaxed) && direct_alloc_supported(py);
        let v = py.version_info();
        NamedTuple {
            cls: cls.bind(py).clone(),
            direct,
            immortal: (v.major, v.minor) >= (3, 12),
        }
    }

    /// An instance holding `items`.
    ///
    /// On CPython 3.9-3.13 this does what `tuple.__new__(cls, items)` does internally
    /// (allocate an object of the class with N items, store them) without argument tuples,
    /// without the zeroing and GC tracking of the type's generic `tp_alloc`, and without a
    /// function call per item: `PyObject_GC_NewVar` returns the object untracked, with its
    /// type (referenced), refcount and size set, and the N item slots are written at once.
    /// From 3.14 tuples carry a hash cache that `tuple_subtype_new` initialises and the
    /// limited API cannot reach, so there `tuple.__new__` is called.
    ///
    /// The result is not tracked by the cyclic GC, as CPython untracks plain tuples of atomic
    /// values: our items are ints and floats and the classes have `__slots__ = ()`, so no
    /// cycle can pass through it. Without this, building 100k tiles triggers full
    /// collections that cost more than building them.
    #[inline]
    pub(super) fn make<const N: usize>(
        &self,
        items: [Bound<'py, PyAny>; N],
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = self.cls.py();
        if self.direct {
            // SAFETY: `cls` is a heap type subclassing tuple with tuple's instance layout
            // (checked in `classes`), so a GC object of N items of it is a valid instance
            // once its N item slots are set, which happens before anything can see it (the
            // slots hold owned references, moved out of `items`).
            unsafe {
                let raw: *mut ffi::PyObject =
                    ffi::PyObject_GC_NewVar(self.cls.as_type_ptr(), N as ffi::Py_ssize_t);
                if raw.is_null() {
                    return Err(PyErr::fetch(py));
                }
                let slots = tuple_items(raw);
                for (i, item) in items.into_iter().enumerate() {
                    *slots.add(i) = item.into_ptr();
                }
                return Ok(Bound::from_owned_ptr(py, raw));
            }
        }
        let tuple_new = TUPLE_NEW.get_or_try_init(py, || {
            py.get_type::<PyTuple>()
                .getattr("__new__")
                .map(Bound::unbind)
        })?;
        let obj = tuple_new
            .bind(py)
            .call1((&self.cls, PyTuple::new(py, items)?))?;
        // SAFETY: `obj` is a live GC object; untracking an object is always allowed.
        unsafe { ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
        Ok(obj)
    }

    /// [`Self::make`] of borrowed items (each gets a new reference), for loops that share
    /// the same items between many instances.
    #[inline]
    pub(super) fn make_from<const N: usize>(
        &self,
        items: [&Bound<'py, PyAny>; N],
    ) -> PyResult<Bound<'py, PyAny>> {
        if !self.direct {
            return self.make(items.map(Clone::clone));
        }
        let py = self.cls.py();
        // SAFETY: as in `make`; each slot takes a new reference to a live item.
        unsafe {
            let raw: *mut ffi::PyObject =
                ffi::PyObject_GC_NewVar(self.cls.as_type_ptr(), N as ffi::Py_ssize_t);
            if raw.is_null() {
                return Err(PyErr::fetch(py));
            }
            let slots = tuple_items(raw);
            for (i, item) in items.iter().enumerate() {
                let ptr = item.as_ptr();
                incref_inline(ptr, self.immortal);
                *slots.add(i) = ptr;
            }
            Ok(Bound::from_owned_ptr(py, raw))
        }
    }

    /// Whether [`Self::make`] builds instances directly (and tuples may be filled in place).
    pub(super) fn direct(&self) -> bool {
        self.direct
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
