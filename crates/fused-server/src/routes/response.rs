//! Responses of the run endpoints: the `x-fused-metadata` header and the JSON error bodies.

use std::fmt::Write as _;

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const METADATA_HEADER: &str = "x-fused-metadata";

/// Longest stdout / stderr text kept in the header (the tail is kept); the JSON body of an
/// error carries the full text.
const HEADER_TEXT_LIMIT: usize = 4096;

/// The `x-fused-metadata` JSON.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metadata {
    pub stdout: String,
    pub stderr: String,
    pub has_exception: bool,
    pub exception_class: Option<String>,
    pub errormsg: Option<String>,
    pub lineno: Option<i64>,
    pub error_type: Option<String>,
    pub request_id: String,
    pub ignored_parameters: Vec<String>,
    /// `[west, south, east, north]` of a raster the UDF returned as `(array, bounds)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounds: Option<[f64; 4]>,
}

impl Metadata {
    pub fn new(request_id: &str) -> Self {
        Metadata {
            request_id: request_id.to_string(),
            ..Default::default()
        }
    }

    /// Mark as failed with `error_type` and a message (no UDF exception).
    pub fn failed(mut self, error_type: &str, message: &str) -> Self {
        self.error_type = Some(error_type.to_string());
        self.errormsg = Some(message.to_string());
        self
    }

    fn header_value(&self) -> HeaderValue {
        let mut m = self.clone();
        m.stdout = tail(&m.stdout, HEADER_TEXT_LIMIT);
        m.stderr = tail(&m.stderr, HEADER_TEXT_LIMIT);
        let json = serde_json::to_string(&m).unwrap_or_else(|_| "{}".into());
        HeaderValue::from_str(&ascii_json(&json)).unwrap_or(HeaderValue::from_static("{}"))
    }
}

/// The last `limit` bytes of `s` (on a char boundary), marked when cut.
fn tail(s: &str, limit: usize) -> String {
    if s.len() <= limit {
        return s.to_string();
    }
    let mut start = s.len() - limit;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("[truncated]...{}", &s[start..])
}

/// JSON text with every non-ASCII character escaped (`\u` and four hex digits), so it is a valid header value
/// that any client decodes the same way. Non-ASCII only occurs inside JSON strings.
pub fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                let _ = write!(out, "\\u{unit:04x}"); // writing to a String cannot fail
            }
        }
    }
    out
}

/// A run-endpoint response: status, body, content type and metadata.
pub struct RunResponse {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub content_type: String,
    pub metadata: Metadata,
    /// More headers (`x-fused-cached`, `ETag`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl RunResponse {
    /// A JSON error body `{"error": message, "error_type", "error_description": message,
    /// ...extra, "request_id"}` (`error_type` from the metadata unless `extra` has one).
    pub fn error(
        status: StatusCode,
        metadata: Metadata,
        message: &str,
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        let mut body = serde_json::Map::new();
        body.insert("error".into(), message.into());
        if let Some(code) = &metadata.error_type {
            body.insert("error_type".into(), code.clone().into());
        }
        body.insert("error_description".into(), message.into());
        body.extend(extra);
        body.insert("request_id".into(), metadata.request_id.clone().into());
        RunResponse {
            status,
            body: serde_json::to_vec(&body).unwrap_or_default(),
            content_type: "application/json".into(),
            metadata,
            headers: Vec::new(),
        }
    }
}

impl IntoResponse for RunResponse {
    fn into_response(self) -> Response {
        let mut resp = (self.status, self.body).into_response();
        let headers = resp.headers_mut();
        if self.content_type.is_empty() {
            // No body (204, 304): no content type either.
            headers.remove(header::CONTENT_TYPE);
        } else if let Ok(ct) = HeaderValue::from_str(&self.content_type) {
            headers.insert(header::CONTENT_TYPE, ct);
        }
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        headers.insert(
            HeaderName::from_static(METADATA_HEADER),
            self.metadata.header_value(),
        );
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_escaping() {
        assert_eq!(
            ascii_json(r#"{"a":"é😀"}"#),
            r#"{"a":"\u00e9\ud83d\ude00"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&ascii_json(r#"{"a":"é😀"}"#)).unwrap();
        assert_eq!(v["a"], "é😀");
    }

    #[test]
    fn tail_cuts_on_char_boundary() {
        let s = "é".repeat(3000);
        let t = tail(&s, 4095);
        assert!(t.starts_with("[truncated]..."));
        assert!(t.len() <= 4095 + 14);
    }
}
