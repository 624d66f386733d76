//! Account and registry endpoints (Bearer): whoami, saved UDFs and their share tokens.
//! Another user's UDF answers exactly as a missing one (404), so existence never leaks.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fused_core::package::UdfPackage;
use serde_json::{json, Value};

use super::{AuthState, AuthUser};
use crate::error::{ErrorCode, HttpError};

fn not_found(what: String) -> HttpError {
    HttpError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        format!("{what}: not found"),
    )
}

fn invalid(msg: impl Into<String>) -> HttpError {
    HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::Invalid, msg)
}

/// `GET /api/v1/me`.
pub(super) async fn me(AuthUser(user): AuthUser) -> Result<Response, HttpError> {
    Ok(Json(json!({"email": user.email, "id": user.id})).into_response())
}

/// `GET /api/v1/udfs` -> `{"udfs": [names]}`.
pub(super) async fn list_udfs(
    State(state): State<AuthState>,
    AuthUser(user): AuthUser,
) -> Result<Response, HttpError> {
    let names = state.call(move |r| r.list_udfs(&user)).await?;
    Ok(Json(json!({ "udfs": names })).into_response())
}

/// The parts of a save request: `{"package": {...}, "schema": {param: spec}, "overwrite": bool}`.
fn parse_save_request(
    body: &[u8],
) -> Result<(UdfPackage, BTreeMap<String, String>, bool), HttpError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        HttpError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            format!("malformed JSON body: {e}"),
        )
    })?;
    let Value::Object(mut obj) = value else {
        return Err(invalid(
            "the body must be a JSON object with 'package', 'schema' and 'overwrite'",
        ));
    };
    let package = obj
        .remove("package")
        .ok_or_else(|| invalid("missing 'package'"))?;
    let package: UdfPackage =
        serde_json::from_value(package).map_err(|e| invalid(format!("invalid 'package': {e}")))?;
    let schema = match obj.remove("schema") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(s) => serde_json::from_value::<BTreeMap<String, String>>(s).map_err(|e| {
            invalid(format!(
                "invalid 'schema' (expected an object of parameter name to type spec): {e}"
            ))
        })?,
    };
    let overwrite = match obj.remove("overwrite") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            return Err(invalid(format!(
                "invalid 'overwrite': expected true or false, got {other}"
            )))
        }
    };
    Ok((package, schema, overwrite))
}

/// `POST /api/v1/udfs` -> 201 `{"name", "version", "owner_email"}`.
pub(super) async fn save_udf(
    State(state): State<AuthState>,
    AuthUser(user): AuthUser,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let body =
        body.map_err(|r| HttpError::new(r.status(), ErrorCode::InvalidRequest, r.body_text()))?;
    let (package, schema, overwrite) = parse_save_request(&body)?;
    let saved = state
        .call(move |r| r.save_udf(&user, package, schema, overwrite))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "name": saved.name,
            "version": saved.version,
            "owner_email": saved.owner_email,
            "created_at": saved.created_at,
        })),
    )
        .into_response())
}

/// `GET /api/v1/udfs/saved/{email}/{name}`: the latest version, to its owner only.
pub(super) async fn get_saved_udf(
    State(state): State<AuthState>,
    AuthUser(user): AuthUser,
    Path((email, name)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let what = format!("UDF {email}/{name}");
    if !user.email.eq_ignore_ascii_case(email.trim()) {
        return Err(not_found(what));
    }
    let saved = state
        .call(move |r| r.get_udf(&user.email, &name))
        .await?
        .ok_or_else(|| not_found(what))?;
    Ok(Json(json!({
        "name": saved.name,
        "owner_email": saved.owner_email,
        "version": saved.version,
        "package": saved.package,
        "schema": saved.schema,
        "created_at": saved.created_at,
    }))
    .into_response())
}

/// `DELETE /api/v1/udfs/{name}` -> 204 or 404.
pub(super) async fn delete_udf(
    State(state): State<AuthState>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
) -> Result<Response, HttpError> {
    let n = name.clone();
    if state.call(move |r| r.delete_udf(&user, &n)).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found(format!("UDF {name}")))
    }
}

/// `POST /api/v1/udfs/{name}/access-tokens` -> 201 `{"token", "udf_name", "owner_email"}`.
/// A body, if any, is read (so the connection stays reusable) and ignored.
pub(super) async fn create_share_token(
    State(state): State<AuthState>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
    _body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let token = state
        .call(move |r| r.create_share_token(&user, &name))
        .await?;
    Ok((StatusCode::CREATED, Json(token)).into_response())
}

/// `GET /api/v1/udfs/{name}/access-tokens` -> `{"tokens": [...]}` (tokens shown by hint).
pub(super) async fn list_share_tokens(
    State(state): State<AuthState>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
) -> Result<Response, HttpError> {
    let tokens = state
        .call(move |r| r.list_share_tokens(&user, &name))
        .await?;
    Ok(Json(json!({ "tokens": tokens })).into_response())
}

/// `DELETE /api/v1/access-tokens/{token}` -> 204, or 404 unless it is the caller's.
pub(super) async fn revoke_share_token(
    State(state): State<AuthState>,
    AuthUser(user): AuthUser,
    Path(token): Path<String>,
) -> Result<Response, HttpError> {
    if state
        .call(move |r| r.revoke_share_token(&user, &token))
        .await?
    {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found("share token".to_string()))
    }
}
