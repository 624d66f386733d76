//! Bearer authentication, the OAuth 2.0 device authorization flow (RFC 8628) and the registry /
//! account HTTP endpoints.
//!
//! * [`bearer_token`]: the credential of a request (`Authorization: Bearer <t>`).
//! * [`routes`]: every endpoint of this module as one router, state applied, to be merged into
//!   the server's router:
//!   - `POST /oauth/device/code`, `POST /oauth/token` ([`oauth`]);
//!   - `GET /device`, `POST /device`: the approval page ([`page`]);
//!   - `GET /api/v1/me`, `GET|POST /api/v1/udfs`, `GET /api/v1/udfs/saved/{email}/{name}`,
//!     `DELETE /api/v1/udfs/{name}`, `GET|POST /api/v1/udfs/{name}/access-tokens`,
//!     `DELETE /api/v1/access-tokens/{token}` ([`api`]).
//!
//! Other routes authenticate a request with [`bearer_token`] and
//! [`Registry::authenticate`] (API key or unexpired access token); a saved UDF is visible to
//! its owner only ([`Registry::get_udf`] with the caller's email), and share tokens resolve
//! with [`Registry::resolve_share_token`].
//!
//! Errors are JSON `{"error": "...", "error_description": "..."}` (RFC 6749 section 5.2 codes
//! on the OAuth endpoints); a 401 carries `WWW-Authenticate: Bearer`.

mod api;
mod form;
mod oauth;
mod page;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::registry::{Registry, RegistryError, User};

/// Client id of the `fused` SDK and CLI, the only OAuth client.
pub const CLIENT_ID: &str = "fused";
/// `grant_type` of the device flow's token request (RFC 8628 section 3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Largest request body accepted by these endpoints.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Settings of the account endpoints.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Lifetime of an access token, seconds (default 3600).
    pub access_token_ttl_s: u64,
    /// Lifetime of a device code, seconds (default 600).
    pub device_code_ttl_s: u64,
    /// Minimum seconds between two polls of a device code (default 5; 0 disables `slow_down`).
    pub poll_interval_s: u64,
    /// Public base URL of the server (`https://fused.example.com`), used for the
    /// `verification_uri`; without it, `http://<Host header>`.
    pub public_url: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            access_token_ttl_s: 3600,
            device_code_ttl_s: 600,
            poll_interval_s: 5,
            public_url: None,
        }
    }
}

/// The bearer token of `Authorization: Bearer <t>` (scheme case-insensitive, token trimmed),
/// if present and non-empty.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// All registry/account endpoints with their state applied, bodies capped at
/// [`MAX_BODY_BYTES`]; `.merge()` it into the server's router.
pub fn routes(registry: Arc<Registry>, config: AuthConfig) -> Router {
    let state = AuthState {
        registry,
        config: Arc::new(config),
    };
    Router::new()
        .route("/oauth/device/code", post(oauth::device_code))
        .route("/oauth/token", post(oauth::token))
        .route("/device", get(page::show).post(page::decide))
        .route("/api/v1/me", get(api::me))
        .route("/api/v1/udfs", get(api::list_udfs).post(api::save_udf))
        .route("/api/v1/udfs/saved/{email}/{name}", get(api::get_saved_udf))
        .route("/api/v1/udfs/{name}", delete(api::delete_udf))
        .route(
            "/api/v1/udfs/{name}/access-tokens",
            get(api::list_share_tokens).post(api::create_share_token),
        )
        .route(
            "/api/v1/access-tokens/{token}",
            delete(api::revoke_share_token),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

#[derive(Clone)]
struct AuthState {
    registry: Arc<Registry>,
    config: Arc<AuthConfig>,
}

impl AuthState {
    /// Run a registry operation off the async threads.
    async fn call<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Registry) -> Result<T, RegistryError> + Send + 'static,
    {
        let registry = self.registry.clone();
        tokio::task::spawn_blocking(move || f(&registry))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "registry task failed");
                ApiError::internal()
            })?
            .map_err(ApiError::from)
    }

    /// The user of the request's bearer token, or a 401.
    async fn require_user(&self, headers: &HeaderMap) -> Result<User, ApiError> {
        let Some(token) = bearer_token(headers) else {
            return Err(ApiError::unauthorized(
                "missing credentials: send 'Authorization: Bearer <API key or access token>'",
            ));
        };
        let token = token.to_string();
        self.call(move |r| r.authenticate(&token))
            .await?
            .ok_or_else(|| ApiError::unauthorized("the bearer token is invalid or expired"))
    }
}

/// An error answer: status and JSON body `{"error", "error_description"?}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    error: &'static str,
    description: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            description: Some(description.into()),
        }
    }

    /// An error with only a code (RFC 6749 style).
    fn code(status: StatusCode, error: &'static str) -> Self {
        ApiError {
            status,
            error,
            description: None,
        }
    }

    fn unauthorized(description: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", description)
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error; see the server log",
        )
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            RegistryError::Conflict(_) => {
                Self::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            RegistryError::Invalid(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
            }
            RegistryError::Unauthorized(_) => {
                Self::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
            }
            RegistryError::Db(_) => {
                tracing::error!(error = %e, "registry error");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match &self.description {
            Some(d) => json!({"error": self.error, "error_description": d}),
            None => json!({"error": self.error}),
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer   abc "),
        );
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&h), None);
    }
}
