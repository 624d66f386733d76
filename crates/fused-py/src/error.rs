//! The one place where fused-core errors become Python exceptions.

use fused_core::Error;
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("UdfParameterError", m.py().get_type::<UdfParameterError>())?;
    Ok(())
}
