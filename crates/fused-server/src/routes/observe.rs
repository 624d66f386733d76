//! The middleware around every route: gives the request its id, counts it in the metrics and
//! logs one `info` line when the response is ready.
//!
//! The id (`<server start, hex>-<counter>`) is a request extension ([`RequestId`], which
//! handlers take as an extractor), so the id in the log line is the one in
//! `x-fused-metadata.request_id`, in error bodies and in the worker task. Every response also
//! carries it as `x-request-id`. Client-sent ids are not used: the id doubles as a task id
//! and file name.
//!
//! The log line has `method`, `path` (no query string; share tokens replaced by `{token}`),
//! `status`, `duration_ms`, `request_id`, and when known `cached` (from `x-fused-cached`) and
//! `error_type` (from `x-fused-metadata` of a response with status >= 400). Headers such as
//! `Authorization` are never logged.

use std::time::Instant;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::response::METADATA_HEADER;
use super::run::CACHED_HEADER;
use super::AppState;

/// Response header carrying the request id on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id the middleware gave this request. An extractor: `RequestId(rid): RequestId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    /// Only when a handler is served without [`observe`] (a wiring mistake).
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<RequestId>().cloned().ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "request id missing: the observe middleware is not installed",
        ))
    }
}

/// `axum::middleware::from_fn_with_state(state, observe)`.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = state.next_request_id();
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let mut resp = next.run(req).await;
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    state.metrics.record_request(status, elapsed);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), v);
    }
    let cached = resp
        .headers()
        .get(CACHED_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v == "true");
    let error_type = if status >= 400 {
        resp.headers()
            .get(METADATA_HEADER)
            .and_then(|v| error_type_of(v.as_bytes()))
    } else {
        None
    };
    let duration_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
    tracing::info!(
        request_id = request_id.as_str(),
        method = method.as_str(),
        path = path.as_str(),
        status,
        duration_ms,
        cached,
        error_type = error_type.as_deref(),
        "request"
    );
    resp
}

/// The `error_type` of an `x-fused-metadata` value, if it has one.
fn error_type_of(metadata: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(metadata).ok()?;
    v.get("error_type")?.as_str().map(str::to_owned)
}

/// The path with the secrets it may hold replaced: `/shared/{token}/...` and
/// `/api/v1/access-tokens/{token}`, `/api/v1/workbench/shared/{token}`.
pub fn loggable_path(path: &str) -> String {
    for prefix in [
        "/shared/",
        "/api/v1/access-tokens/",
        "/api/v1/workbench/shared/",
    ] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let after = rest.find('/').map_or("", |i| &rest[i..]);
            return format!("{prefix}{{token}}{after}");
        }
    }
    path.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_leave_the_path() {
        assert_eq!(
            loggable_path("/shared/fsh_abc123/run/tiles/1/2/3.mvt"),
            "/shared/{token}/run/tiles/1/2/3.mvt"
        );
        assert_eq!(loggable_path("/shared/fsh_abc"), "/shared/{token}");
        assert_eq!(
            loggable_path("/api/v1/workbench/shared/fsh_abc"),
            "/api/v1/workbench/shared/{token}"
        );
        assert_eq!(
            loggable_path("/api/v1/access-tokens/fsh_secret"),
            "/api/v1/access-tokens/{token}"
        );
        assert_eq!(
            loggable_path("/api/v1/run/udf/saved/a@b.io/x"),
            "/api/v1/run/udf/saved/a@b.io/x"
        );
        assert_eq!(loggable_path("/health"), "/health");
    }

    #[test]
    fn error_type_from_metadata() {
        assert_eq!(
            error_type_of(br#"{"error_type":"not_found","request_id":"1-1"}"#).as_deref(),
            Some("not_found")
        );
        assert_eq!(error_type_of(br#"{"error_type":null}"#), None);
        assert_eq!(error_type_of(b"not json"), None);
    }
}
