//! `POST /oauth/device/code` (RFC 8628 section 3.1-3.2) and `POST /oauth/token` (device code
//! grant, RFC 8628 section 3.4-3.5, and refresh token grant, RFC 6749 section 6).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::form::body_params;
use super::{AuthState, CLIENT_ID, DEVICE_CODE_GRANT};
use crate::error::{ErrorCode, HttpError};
use crate::registry::{DevicePoll, IssuedTokens};

/// Longest `scope` accepted.
const MAX_SCOPE_LEN: usize = 1000;

/// Parse the body into parameters, or a 400 `invalid_request`.
fn params(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<HashMap<String, String>, HttpError> {
    let body =
        body.map_err(|r| HttpError::new(r.status(), ErrorCode::InvalidRequest, r.body_text()))?;
    body_params(headers, &body)
        .map_err(|e| HttpError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, e))
}

fn check_client(params: &HashMap<String, String>, required: bool) -> Result<(), HttpError> {
    match params.get("client_id").map(String::as_str) {
        Some(CLIENT_ID) => Ok(()),
        None if !required => Ok(()),
        None => Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "missing parameter 'client_id'",
        )),
        Some(_) => Err(HttpError::oauth(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidClient,
        )),
    }
}

/// Token responses must not be cached (RFC 6749 section 5.1).
fn no_store(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// The server's public base URL: the configured one, else from the Host header.
fn base_url(state: &AuthState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// `POST /oauth/device/code`: `client_id=fused`, optional `scope`.
pub(super) async fn device_code(
    State(state): State<AuthState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let params = params(&headers, body)?;
        check_client(&params, true)?;
        let scope = params.get("scope").cloned().filter(|s| !s.is_empty());
        if scope.as_ref().is_some_and(|s| s.len() > MAX_SCOPE_LEN) {
            return Err(HttpError::oauth(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidScope,
            ));
        }
        let (ttl, interval) = (state.config.device_code_ttl_s, state.config.poll_interval_s);
        let auth = state
            .call(move |r| r.create_device_code(CLIENT_ID, scope.as_deref(), ttl, interval))
            .await?;
        let base = base_url(&state, &headers);
        Ok(Json(json!({
            "device_code": auth.device_code,
            "user_code": auth.user_code,
            "verification_uri": format!("{base}/device"),
            "verification_uri_complete": format!("{base}/device?user_code={}", auth.user_code),
            "expires_in": auth.expires_in,
            "interval": auth.interval,
        })))
    }
    .await;
    no_store(result.into_response())
}

fn token_response(t: IssuedTokens) -> Response {
    Json(json!({
        "access_token": t.access_token,
        "token_type": "Bearer",
        "expires_in": t.expires_in,
        "refresh_token": t.refresh_token,
    }))
    .into_response()
}

/// `POST /oauth/token`.
pub(super) async fn token(
    State(state): State<AuthState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let params = params(&headers, body)?;
        let bad = |error| HttpError::oauth(StatusCode::BAD_REQUEST, error);
        let missing = |name: &str| {
            HttpError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                format!("missing parameter '{name}'"),
            )
        };
        let ttl = state.config.access_token_ttl_s;
        match params.get("grant_type").map(String::as_str) {
            None => Err(missing("grant_type")),
            Some(DEVICE_CODE_GRANT) => {
                check_client(&params, true)?;
                let code = params
                    .get("device_code")
                    .cloned()
                    .ok_or_else(|| missing("device_code"))?;
                match state
                    .call(move |r| r.poll_device_code(&code, CLIENT_ID, ttl))
                    .await?
                {
                    DevicePoll::Approved(t) => Ok(token_response(t)),
                    DevicePoll::Pending => Err(bad(ErrorCode::AuthorizationPending)),
                    DevicePoll::SlowDown => Err(bad(ErrorCode::SlowDown)),
                    DevicePoll::Denied => Err(bad(ErrorCode::AccessDenied)),
                    DevicePoll::Expired => Err(bad(ErrorCode::ExpiredToken)),
                    DevicePoll::Unknown => Err(bad(ErrorCode::InvalidGrant)),
                }
            }
            Some("refresh_token") => {
                check_client(&params, false)?;
                let rt = params
                    .get("refresh_token")
                    .cloned()
                    .ok_or_else(|| missing("refresh_token"))?;
                match state.call(move |r| r.refresh_tokens(&rt, ttl)).await? {
                    Some(t) => Ok(token_response(t)),
                    None => Err(bad(ErrorCode::InvalidGrant)),
                }
            }
            Some(_) => Err(bad(ErrorCode::UnsupportedGrantType)),
        }
    }
    .await;
    no_store(result.unwrap_or_else(IntoResponse::into_response))
}
