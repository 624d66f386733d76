//! Who is calling, and which saved UDF a request names: the [`AuthUser`] extractor under the
//! run endpoints' state, and registry look-ups (SQLite, run off the async threads). Errors
//! are [`HttpError`]s; the handler gives them its request id (the run rendering).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::observe::RequestId;
use super::AppState;
use crate::auth::{self, AuthUser};
use crate::error::HttpError;
use crate::registry::{SavedUdf, User};

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let rid = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        auth::authenticate(state.registry.clone(), &parts.headers)
            .await
            .map(AuthUser)
            .map_err(|e| e.for_request(&rid))
    }
}

/// The caller's own saved UDF `email/name`; another user's UDF is a 404 like a missing one.
pub async fn own_udf(
    state: &AppState,
    user: &User,
    email: &str,
    name: &str,
) -> Result<SavedUdf, HttpError> {
    let missing = || HttpError::not_found(format!("no UDF named {name:?} for {email}"));
    if !user.email.eq_ignore_ascii_case(email) {
        return Err(missing());
    }
    let (owner, udf_name) = (user.email.clone(), name.to_string());
    auth::blocking(state.registry.clone(), move |r| {
        r.get_udf(&owner, &udf_name)
    })
    .await?
    .ok_or_else(missing)
}

/// The saved UDF a share token names, or a 404 (unknown or revoked token).
pub async fn shared_udf(state: &AppState, token: &str) -> Result<SavedUdf, HttpError> {
    let t = token.to_string();
    auth::blocking(state.registry.clone(), move |r| r.resolve_share_token(&t))
        .await?
        .ok_or_else(|| HttpError::not_found("unknown or revoked share token"))
}
