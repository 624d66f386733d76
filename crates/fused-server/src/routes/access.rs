//! Who is calling, and which saved UDF a request names: bearer authentication and registry
//! look-ups (SQLite, run off the async threads).

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};

use super::response::RunResponse;
use super::AppState;
use crate::auth::bearer_token;
use crate::registry::{Registry, SavedUdf, User};

/// Run a registry call on the blocking pool; a registry failure becomes a 500.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    rid: &str,
    f: impl FnOnce(&Registry) -> Result<T, String> + Send + 'static,
) -> Result<T, RunResponse> {
    let registry: Arc<Registry> = state.registry.clone();
    let joined = tokio::task::spawn_blocking(move || f(&registry)).await;
    match joined {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(msg)) => {
            tracing::error!(request_id = rid, "registry: {msg}");
            Err(RunResponse::simple(
                StatusCode::INTERNAL_SERVER_ERROR,
                rid,
                "registry_error",
                "the registry failed; see the server log",
            ))
        }
        Err(e) => {
            tracing::error!(request_id = rid, "registry task: {e}");
            Err(RunResponse::simple(
                StatusCode::INTERNAL_SERVER_ERROR,
                rid,
                "registry_error",
                "the registry failed; see the server log",
            ))
        }
    }
}

/// The caller named by `Authorization: Bearer <API key or access token>`, or a 401.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    rid: &str,
) -> Result<User, RunResponse> {
    let Some(token) = bearer_token(headers).map(str::to_owned) else {
        return Err(RunResponse::simple(
            StatusCode::UNAUTHORIZED,
            rid,
            "unauthorized",
            "login required: send Authorization: Bearer <API key or access token>",
        ));
    };
    let user = blocking(state, rid, move |r| {
        r.authenticate(&token).map_err(|e| e.to_string())
    })
    .await?;
    user.ok_or_else(|| {
        RunResponse::simple(
            StatusCode::UNAUTHORIZED,
            rid,
            "unauthorized",
            "the bearer token is invalid, expired or revoked",
        )
    })
}

fn udf_not_found(rid: &str, what: &str) -> RunResponse {
    RunResponse::simple(StatusCode::NOT_FOUND, rid, "not_found", what)
}

/// The caller's own saved UDF `email/name`; another user's UDF is a 404 like a missing one.
pub async fn own_udf(
    state: &AppState,
    user: &User,
    email: &str,
    name: &str,
    rid: &str,
) -> Result<SavedUdf, RunResponse> {
    let missing = || udf_not_found(rid, &format!("no UDF named {name:?} for {email}"));
    if !user.email.eq_ignore_ascii_case(email) {
        return Err(missing());
    }
    let (owner, udf_name) = (user.email.clone(), name.to_string());
    blocking(state, rid, move |r| {
        r.get_udf(&owner, &udf_name).map_err(|e| e.to_string())
    })
    .await?
    .ok_or_else(missing)
}

/// The saved UDF a share token names, or a 404 (unknown or revoked token).
pub async fn shared_udf(state: &AppState, token: &str, rid: &str) -> Result<SavedUdf, RunResponse> {
    let t = token.to_string();
    blocking(state, rid, move |r| {
        r.resolve_share_token(&t).map_err(|e| e.to_string())
    })
    .await?
    .ok_or_else(|| udf_not_found(rid, "unknown or revoked share token"))
}
