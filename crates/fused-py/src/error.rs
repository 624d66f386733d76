//! The one place where fused-core errors become Python exceptions.

use fused_core::{Error, TileArg};
use pyo3::create_exception;
use pyo3::exceptions::{
    PyConnectionError, PyFileExistsError, PyFileNotFoundError, PyOSError, PyPermissionError,
    PyValueError,
};
use pyo3::prelude::*;

create_exception!(
    fused._native,
    UdfParameterError,
    PyValueError,
    "A UDF parameter value did not convert to its annotated type."
);

create_exception!(
    fused._native,
    MercantileError,
    PyValueError,
    "Base class of the tile-math errors; a ValueError."
);
create_exception!(
    fused._native,
    InvalidLatitudeError,
    MercantileError,
    "A latitude is NaN, infinite, or at/beyond a pole where mercator y is undefined."
);
create_exception!(
    fused._native,
    InvalidZoomError,
    MercantileError,
    "A zoom level is not an integer 0..=30, or not valid relative to a tile."
);
create_exception!(
    fused._native,
    ParentTileError,
    MercantileError,
    "The parent of the given tile cannot be determined."
);
create_exception!(
    fused._native,
    QuadKeyError,
    MercantileError,
    "A quadkey has a digit other than 0-3 or more than 30 digits."
);
create_exception!(
    fused._native,
    TileArgParsingError,
    MercantileError,
    "A tile argument is not a Tile, an (x, y, z) sequence, or three integers."
);
create_exception!(
    fused._native,
    TileError,
    MercantileError,
    "A tile's x or y is not an integer in 0..2**z."
);

/// Newtype so `?` turns a core error into the right Python exception.
pub struct PyFusedError(pub Error);

impl From<Error> for PyFusedError {
    fn from(err: Error) -> Self {
        PyFusedError(err)
    }
}

impl From<PyFusedError> for PyErr {
    fn from(err: PyFusedError) -> PyErr {
        let message = err.0.to_string();
        match err.0 {
            Error::Parameter {
                parameter,
                expected,
                value,
            } => Python::attach(|py| {
                let exc = UdfParameterError::new_err(message);
                let obj = exc.value(py);
                // Structured fields for callers (and, later, the server's 422 body).
                let _ = obj.setattr("parameter", parameter);
                let _ = obj.setattr("expected", expected);
                let _ = obj.setattr("value", value);
                exc
            }),
            Error::Tile { arg, .. } => match arg {
                TileArg::Zoom => InvalidZoomError::new_err(message),
                TileArg::Latitude => InvalidLatitudeError::new_err(message),
                TileArg::QuadKey => QuadKeyError::new_err(message),
                TileArg::Index => TileError::new_err(message),
                TileArg::Tile => TileArgParsingError::new_err(message),
                TileArg::Other => PyValueError::new_err(message),
            },
            Error::InvalidArgument { .. }
            | Error::Package { .. }
            | Error::Encode { .. }
            | Error::UnsupportedFormat { .. }
            | Error::Tileset { .. } => PyValueError::new_err(message),
            Error::AlreadyExists { .. } => PyFileExistsError::new_err(message),
            Error::NotFound { .. } | Error::RemoteNotFound { .. } => {
                PyFileNotFoundError::new_err(message)
            }
            Error::RateLimited { reset_at, .. } => Python::attach(|py| {
                let exc = PyPermissionError::new_err(message);
                // When the limit resets (unix seconds), for callers that want to wait.
                let _ = exc.value(py).setattr("reset_at", reset_at);
                exc
            }),
            Error::AuthRequired { .. } => PyPermissionError::new_err(message),
            Error::Network { .. } => PyConnectionError::new_err(message),
            Error::Io { .. } | Error::Remote { .. } => PyOSError::new_err(message),
        }
    }
}

pub type PyFusedResult<T> = Result<T, PyFusedError>;

/// A core error as the Python exception it maps to (for `map_err`).
pub fn py_err(err: Error) -> PyErr {
    PyFusedError(err).into()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("UdfParameterError", m.py().get_type::<UdfParameterError>())?;
    Ok(())
}
