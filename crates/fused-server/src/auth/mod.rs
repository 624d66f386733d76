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
//! Errors are [`HttpError`]s in their RFC 6749 rendering, `{"error": code,
//! "error_description": "..."}` (section 5.2 codes on the OAuth endpoints); a 401 carries
//! `WWW-Authenticate: Bearer`. Authentication is the [`AuthUser`] extractor.

mod api;
mod form;
mod oauth;
mod page;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::routing::{delete, get, post};
use axum::Router;

use crate::error::{registry_failed, HttpError};
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
pub struct AuthState {
    registry: Arc<Registry>,
    config: Arc<AuthConfig>,
}

impl AuthState {
    /// Run a registry operation off the async threads.
    async fn call<T, F>(&self, f: F) -> Result<T, HttpError>
    where
        T: Send + 'static,
        F: FnOnce(&Registry) -> Result<T, RegistryError> + Send + 'static,
    {
        blocking(self.registry.clone(), f).await
    }
}

/// Run a registry call on the blocking pool; a registry failure is a 500 (logged).
pub(crate) async fn blocking<T, F>(registry: Arc<Registry>, f: F) -> Result<T, HttpError>
where
    T: Send + 'static,
    F: FnOnce(&Registry) -> Result<T, RegistryError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || f(&registry))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "registry task failed");
            registry_failed()
        })?
        .map_err(HttpError::from)
}

/// The 401 of a request without a bearer credential.
pub const LOGIN_REQUIRED: &str =
    "login required: send 'Authorization: Bearer <API key or access token>'";
/// The 401 of a bearer credential the registry does not accept.
pub const BAD_CREDENTIAL: &str = "the bearer token is invalid, expired or revoked";

/// The caller named by `Authorization: Bearer <API key or access token>`: the one
/// authentication of every endpoint that needs a login, as an extractor. Its rejection is a
/// 401 [`HttpError`] (the run rendering under the run endpoints' state, RFC 6749's under
/// this module's).
#[derive(Debug, Clone)]
pub struct AuthUser(pub User);

/// Who `headers` authenticate (a registry look-up off the async threads).
pub async fn authenticate(registry: Arc<Registry>, headers: &HeaderMap) -> Result<User, HttpError> {
    let Some(token) = bearer_token(headers).map(str::to_owned) else {
        return Err(HttpError::unauthorized(LOGIN_REQUIRED));
    };
    blocking(registry, move |r| r.authenticate(&token))
        .await?
        .ok_or_else(|| HttpError::unauthorized(BAD_CREDENTIAL))
}

impl FromRequestParts<AuthState> for AuthUser {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AuthState) -> Result<Self, HttpError> {
        authenticate(state.registry.clone(), &parts.headers)
            .await
            .map(AuthUser)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
