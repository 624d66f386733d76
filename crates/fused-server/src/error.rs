//! The one HTTP error of the server: [`HttpError`] (status, [`ErrorCode`], message, more body
//! members) with `From` for every source error (`ExecError`, `ParamError`, `RegistryError`,
//! `ConfigError`, `FrameError`) and one `IntoResponse`.
//!
//! Every error body carries `error_type` (the code) and `error_description` (the message).
//! Two renderings, fixed by what clients read:
//!
//! * **run** (an error of a request with a request id: run, tile, TileJSON, tileset and
//!   Workbench endpoints): `{"error": message, "error_type": code, "error_description":
//!   message, "request_id", ...}` and the `x-fused-metadata` header, as the SDK reads them;
//! * **RFC 6749** (no request id: the OAuth and account endpoints of [`crate::auth`]):
//!   `{"error": code, "error_description": message}`, section 5.2's shape, which OAuth
//!   clients need (the account endpoints keep it too: their clients read `error` as the
//!   code). The documented exception; a 401 carries `WWW-Authenticate: Bearer` in both.
//!
//! [`ErrorCode::ALL`] is the list the SDK maps to its exceptions (`fused._native.ERROR_CODES`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::config::ConfigError;
use crate::executor::protocol::FrameError;
use crate::executor::ExecError;
use crate::registry::RegistryError;
use crate::routes::params::ParamError;
use crate::routes::response::{Metadata, RunResponse};

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $text:literal,)*) => {
        /// Every `error_type` the server answers with; the names are the wire form.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
        }

        impl ErrorCode {
            /// All codes, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The wire form (`error_type`, and `error` in the RFC 6749 rendering).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $text,)*
                }
            }
        }
    };
}

error_codes! {
    /// A malformed request (path, query, header or body).
    BadRequest = "bad_request",
    /// The UDF's parameter schema has a spec that does not parse.
    BadSchema = "bad_schema",
    /// A parameter value does not convert (body: `parameter`, `expected`, `value`).
    Parameter = "parameter",
    /// The result cannot be encoded in the requested format.
    UnsupportedFormat = "unsupported_format",
    /// No, or no valid, bearer credential.
    Unauthorized = "unauthorized",
    NotFound = "not_found",
    Conflict = "conflict",
    /// A request the registry refuses (a bad name, package or schema).
    Invalid = "invalid",
    /// A saved UDF's metadata cannot describe a TileJSON.
    BadMetadata = "bad_metadata",
    /// The request may not do this (another user's tileset name).
    Forbidden = "forbidden",
    /// A byte range outside the file.
    RangeNotSatisfiable = "range_not_satisfiable",
    /// An upload over the size limit.
    TooLarge = "too_large",
    /// An uploaded file that is not a tileset of a supported kind.
    InvalidTileset = "invalid_tileset",
    /// A served tileset cannot be read.
    TilesetError = "tileset_error",
    /// The UDF raised.
    UdfException = "udf_exception",
    /// The UDF could not be called (a missing parameter, no tile parameter, ...).
    UdfCall = "udf_call",
    /// The UDF's return value has no canonical form.
    UdfResult = "udf_result",
    /// Another UDF failure (the UDF called `sys.exit`, ...).
    UdfError = "udf_error",
    WorkerCrash = "worker_crash",
    OutOfMemory = "out_of_memory",
    Timeout = "timeout",
    QueueFull = "queue_full",
    Cancelled = "cancelled",
    WorkerProtocol = "worker_protocol",
    ExecutorUnavailable = "executor_unavailable",
    /// Writing the encoded result failed.
    EncodeError = "encode_error",
    /// The registry (SQLite) failed; the details are in the server log.
    RegistryError = "registry_error",
    /// Anything else that is the server's fault; the details are in the server log.
    Internal = "internal",
    // RFC 6749 section 5.2 and RFC 8628 section 3.5 (OAuth endpoints)
    InvalidRequest = "invalid_request",
    InvalidClient = "invalid_client",
    InvalidGrant = "invalid_grant",
    InvalidScope = "invalid_scope",
    UnsupportedGrantType = "unsupported_grant_type",
    AuthorizationPending = "authorization_pending",
    SlowDown = "slow_down",
    AccessDenied = "access_denied",
    ExpiredToken = "expired_token",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer. See the module documentation for its two renderings.
#[derive(Debug, Clone)]
pub struct HttpError {
    pub status: StatusCode,
    pub code: ErrorCode,
    /// What was wrong, naming the thing (empty: a bare RFC 6749 code).
    pub message: String,
    /// More body members (a parameter error's `parameter`, `expected`, `value`).
    pub extra: Box<Map<String, Value>>,
    /// `Retry-After` seconds (a full queue).
    pub retry_after: Option<u64>,
    /// The request's id: set, the run rendering; unset, the RFC 6749 one.
    pub request_id: Option<Box<str>>,
}

impl HttpError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        HttpError {
            status,
            code,
            message: message.into(),
            extra: Box::default(),
            retry_after: None,
            request_id: None,
        }
    }

    /// An RFC 6749 error with only its code.
    pub fn oauth(status: StatusCode, code: ErrorCode) -> Self {
        Self::new(status, code, "")
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    /// A 500 whose details went to the log.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            message,
        )
    }

    /// The run rendering, for the request `request_id`.
    #[must_use]
    pub fn for_request(mut self, request_id: &str) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// The run response of this error (with `x-fused-metadata`), for `request_id`.
    pub fn run_response(self, request_id: &str) -> RunResponse {
        let meta = Metadata::new(request_id).failed(self.code.as_str(), &self.message);
        self.run_response_with(meta)
    }

    /// The run response of this error with the request's metadata (stdout, ignored
    /// parameters) already filled in.
    pub fn run_response_with(self, meta: Metadata) -> RunResponse {
        let meta = meta.failed(self.code.as_str(), &self.message);
        let mut extra = *self.extra;
        extra.insert("error_type".into(), self.code.as_str().into());
        let mut response = RunResponse::error(self.status, meta, &self.message, extra);
        if let Some(secs) = self.retry_after {
            response
                .headers
                .push((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers
                .push((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response
    }

    /// The RFC 6749 body: `{"error": code, "error_description"?: message}`.
    fn rfc6749_body(&self) -> Value {
        if self.message.is_empty() {
            json!({ "error": self.code.as_str() })
        } else {
            json!({ "error": self.code.as_str(), "error_description": self.message })
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        if let Some(rid) = self.request_id.clone() {
            return self.run_response(&rid).into_response();
        }
        let mut resp = (self.status, axum::Json(self.rfc6749_body())).into_response();
        let headers = resp.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<ExecError> for HttpError {
    /// 502 (the worker crashed, ran out of memory or broke the protocol), 504 (time limit),
    /// 503 (queue full, with `Retry-After`; shutting down), 499 (the client went away).
    fn from(e: ExecError) -> Self {
        let (status, code) = match e {
            ExecError::WorkerCrash(_) => (StatusCode::BAD_GATEWAY, ErrorCode::WorkerCrash),
            ExecError::Protocol(_) => (StatusCode::BAD_GATEWAY, ErrorCode::WorkerProtocol),
            ExecError::OutOfMemory(_) => (StatusCode::BAD_GATEWAY, ErrorCode::OutOfMemory),
            ExecError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, ErrorCode::Timeout),
            ExecError::QueueFull { .. } => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::QueueFull),
            ExecError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ExecutorUnavailable,
            ),
            // Nobody reads it: the client is gone (nginx's "client closed request").
            ExecError::Cancelled => (
                StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
                ErrorCode::Cancelled,
            ),
        };
        let mut err = HttpError::new(status, code, e.to_string());
        if let ExecError::QueueFull { retry_after, .. } = e {
            err.retry_after = Some(retry_after);
        }
        err
    }
}

impl From<ParamError> for HttpError {
    /// A value that does not convert: 422 with `parameter`, `expected`, `value`; a schema
    /// that does not parse: 400.
    fn from(e: ParamError) -> Self {
        match e {
            ParamError::Schema(msg) => {
                HttpError::new(StatusCode::BAD_REQUEST, ErrorCode::BadSchema, msg)
            }
            ParamError::Value {
                message,
                parameter,
                expected,
                value,
            } => parameter_error(message, &parameter, &expected, &value),
        }
    }
}

/// A 422 naming the parameter, what was expected and the value given.
pub fn parameter_error(
    message: impl Into<String>,
    parameter: &str,
    expected: &str,
    value: &str,
) -> HttpError {
    let mut err = HttpError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Parameter,
        message,
    );
    err.extra.insert("parameter".into(), parameter.into());
    err.extra.insert("expected".into(), expected.into());
    err.extra.insert("value".into(), value.into());
    err
}

impl From<RegistryError> for HttpError {
    /// The registry's refusals keep their meaning; a database failure is logged and answered
    /// as a 500 `registry_error` without details.
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound(_) => HttpError::not_found(e.to_string()),
            RegistryError::Conflict(_) => {
                HttpError::new(StatusCode::CONFLICT, ErrorCode::Conflict, e.to_string())
            }
            RegistryError::Invalid(_) => HttpError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::Invalid,
                e.to_string(),
            ),
            RegistryError::Unauthorized(_) => HttpError::unauthorized(e.to_string()),
            RegistryError::Db(_) => {
                tracing::error!(error = %e, "registry error");
                registry_failed()
            }
        }
    }
}

/// The 500 of a failed registry call (the details are logged by the caller).
pub fn registry_failed() -> HttpError {
    HttpError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::RegistryError,
        "the registry failed; see the server log",
    )
}

impl From<ConfigError> for HttpError {
    /// A setting given with a request (e.g. `x-fused-timeout`) that does not parse.
    fn from(e: ConfigError) -> Self {
        HttpError::bad_request(e.0)
    }
}

impl From<FrameError> for HttpError {
    /// A worker's pipe broke: the worker protocol failed (502).
    fn from(e: FrameError) -> Self {
        HttpError::new(
            StatusCode::BAD_GATEWAY,
            ErrorCode::WorkerProtocol,
            format!("worker protocol error: {e}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderName;

    const METADATA_HEADER: HeaderName =
        HeaderName::from_static(crate::routes::response::METADATA_HEADER);

    async fn body_json(resp: Response) -> Value {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn codes_are_unique_snake_case_and_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!(c
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
        assert!(seen.contains("internal") && !seen.contains("internal_error"));
        assert_eq!(ErrorCode::Timeout.to_string(), "timeout");
    }

    #[tokio::test]
    async fn exec_errors_map_to_status_code_and_retry_after() {
        let cases = [
            (ExecError::WorkerCrash("x".into()), 502, "worker_crash"),
            (ExecError::Protocol("x".into()), 502, "worker_protocol"),
            (ExecError::OutOfMemory("x".into()), 502, "out_of_memory"),
            (ExecError::Timeout("late".into()), 504, "timeout"),
            (
                ExecError::Unavailable("x".into()),
                503,
                "executor_unavailable",
            ),
            (ExecError::Cancelled, 499, "cancelled"),
        ];
        for (e, status, code) in cases {
            let msg = e.to_string();
            let resp = HttpError::from(e).for_request("r-1").into_response();
            assert_eq!(resp.status().as_u16(), status, "{code}");
            let meta: Value =
                serde_json::from_str(resp.headers()[METADATA_HEADER].to_str().unwrap()).unwrap();
            assert_eq!(meta["error_type"], code);
            assert_eq!(meta["request_id"], "r-1");
            let body = body_json(resp).await;
            assert_eq!(body["error"], msg.as_str());
            assert_eq!(body["error_type"], code);
            assert_eq!(body["error_description"], msg.as_str());
            assert_eq!(body["request_id"], "r-1");
        }
        let full = ExecError::QueueFull {
            queued: 3,
            limit: 2,
            retry_after: 7,
        };
        let resp = HttpError::from(full).for_request("r-2").into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "7");
        assert!(body_json(resp).await["error"]
            .as_str()
            .unwrap()
            .contains("queue size 2"));
    }

    #[tokio::test]
    async fn parameter_and_schema_errors() {
        let e = ParamError::Value {
            message: "invalid n: expected int, got 'x'".into(),
            parameter: "n".into(),
            expected: "int".into(),
            value: "'x'".into(),
        };
        let resp = HttpError::from(e).for_request("r").into_response();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = body_json(resp).await;
        assert_eq!(
            (&body["parameter"], &body["expected"], &body["value"]),
            (&json!("n"), &json!("int"), &json!("'x'"))
        );
        assert_eq!(body["error_type"], "parameter");
        let resp = HttpError::from(ParamError::Schema("bad spec".into()))
            .for_request("r")
            .into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(body_json(resp).await["error_type"], "bad_schema");
    }

    #[tokio::test]
    async fn registry_errors_in_the_rfc6749_rendering() {
        let cases = [
            (RegistryError::NotFound("no UDF x".into()), 404, "not_found"),
            (RegistryError::Conflict("taken".into()), 409, "conflict"),
            (RegistryError::Invalid("bad name".into()), 422, "invalid"),
            (
                RegistryError::Unauthorized("no".into()),
                401,
                "unauthorized",
            ),
        ];
        for (e, status, code) in cases {
            let msg = e.to_string();
            let resp = HttpError::from(e).into_response();
            assert_eq!(resp.status().as_u16(), status);
            assert!(resp.headers().get(METADATA_HEADER).is_none());
            let unauthorized = status == 401;
            assert_eq!(
                resp.headers().contains_key(header::WWW_AUTHENTICATE),
                unauthorized
            );
            assert_eq!(
                body_json(resp).await,
                json!({"error": code, "error_description": msg})
            );
        }
        // a bare OAuth code has no description
        let resp = HttpError::oauth(StatusCode::BAD_REQUEST, ErrorCode::SlowDown).into_response();
        assert_eq!(body_json(resp).await, json!({"error": "slow_down"}));
    }

    #[tokio::test]
    async fn config_and_frame_errors() {
        let resp = HttpError::from(ConfigError("invalid x-fused-timeout".into()))
            .for_request("r")
            .into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(body_json(resp).await["error_type"], "bad_request");
        let resp = HttpError::from(FrameError::Eof)
            .for_request("r")
            .into_response();
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(body_json(resp).await["error_type"], "worker_protocol");
    }
}
