//! `GET /api/v1/run/udf/saved/{email}/{name}[.ext]` and
//! `GET /api/v1/run/udf/saved/{email}/{name}/tiles/{z}/{x}/{y}[.ext]`: the caller's own saved
//! UDFs (Bearer login; another user's UDF is a 404). Query parameters are UDF parameters.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::access::own_udf;
use super::observe::RequestId;
use super::path::{parse_tile, split_extension};
use super::run::{run_saved, RunHeaders};
use super::AppState;
use crate::auth::AuthUser;
use crate::error::HttpError;
use fused_core::runcache::key;

/// `DELETE /api/v1/udf/saved/{email}/{name}/cache[?x=&y=&z=]`: remove the cached results of
/// the caller's own saved UDF (all of them, or one tile's). `{"removed": N}`.
pub async fn invalidate_cache(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    AuthUser(user): AuthUser,
    Path((email, name)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let saved = match own_udf(&state, &user, &email, &name).await {
        Ok(s) => s,
        Err(e) => return e.for_request(&rid).into_response(),
    };
    let get = |n: &str| {
        query
            .iter()
            .rev()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    let tile = match (get("z"), get("x"), get("y")) {
        (None, None, None) => None,
        (Some(z), Some(x), Some(y)) => {
            if let Ok((t, None)) = parse_tile(&z, &x, &y) {
                Some((u32::from(t.z), t.x, t.y))
            } else {
                let msg = format!("invalid tile z={z} x={x} y={y}");
                return HttpError::bad_request(msg)
                    .for_request(&rid)
                    .into_response();
            }
        }
        _ => {
            return HttpError::bad_request("a tile needs all of x, y and z")
                .for_request(&rid)
                .into_response();
        }
    };
    let ns = key::saved_namespace(&saved.owner_email, &saved.name);
    let removed = state.cache.invalidate(&ns, tile).await;
    axum::Json(serde_json::json!({ "removed": removed })).into_response()
}

pub async fn run_file(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    AuthUser(user): AuthUser,
    Path((email, name_ext)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    // `name.ext` with a known extension is `name` in that format, unless a UDF is saved
    // under the full `name.ext`.
    let (name, ext) = split_extension(&name_ext);
    let found = match ext {
        Some(_) => own_udf(&state, &user, &email, &name_ext).await.ok(),
        None => None,
    };
    let (saved, ext) = match found {
        Some(s) => (s, None),
        None => match own_udf(&state, &user, &email, name).await {
            Ok(s) => (s, ext.map(str::to_ascii_lowercase)),
            Err(e) => return e.for_request(&rid).into_response(),
        },
    };
    let headers = RunHeaders::of(&headers);
    run_saved(&state, rid, saved, query, None, ext, headers)
        .await
        .into_response()
}

pub async fn run_tile(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    AuthUser(user): AuthUser,
    Path((email, name, z, x, y)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let (tile, ext) = match parse_tile(&z, &x, &y) {
        Ok(t) => t,
        Err(msg) => {
            return HttpError::bad_request(msg)
                .for_request(&rid)
                .into_response()
        }
    };
    let saved = match own_udf(&state, &user, &email, &name).await {
        Ok(s) => s,
        Err(e) => return e.for_request(&rid).into_response(),
    };
    let headers = RunHeaders::of(&headers);
    run_saved(&state, rid, saved, query, Some(tile), ext, headers)
        .await
        .into_response()
}
