//! `GET /api/v1/run/udf/saved/{email}/{name}[.ext]` and
//! `GET /api/v1/run/udf/saved/{email}/{name}/tiles/{z}/{x}/{y}[.ext]`: the caller's own saved
//! UDFs (Bearer login; another user's UDF is a 404). Query parameters are UDF parameters.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::access::{authenticate, own_udf};
use super::observe::RequestId;
use super::params::split_query;
use super::path::{parse_tile, split_extension, tile_or_400};
use super::response::RunResponse;
use super::run::{run, RunHeaders, RunSpec, TIMEOUT_HEADER};
use super::AppState;
use crate::prepared::PreparedUdf;
use crate::registry::SavedUdf;
use fused_core::runcache::key;
use std::sync::Arc;

const MVT_CONTENT_TYPE: &str = "application/vnd.mapbox-vector-tile";

/// The request headers the run pipeline reads: `If-None-Match` and `x-fused-timeout`.
pub(super) fn run_headers(headers: &HeaderMap) -> RunHeaders {
    let get = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    RunHeaders {
        if_none_match: get(axum::http::header::IF_NONE_MATCH.as_str()),
        timeout: get(TIMEOUT_HEADER),
    }
}

/// `DELETE /api/v1/udf/saved/{email}/{name}/cache[?x=&y=&z=]`: remove the cached results of
/// the caller's own saved UDF (all of them, or one tile's). `{"removed": N}`.
pub async fn invalidate_cache(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    Path((email, name)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let user = match authenticate(&state, &headers, &rid).await {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let saved = match own_udf(&state, &user, &email, &name, &rid).await {
        Ok(s) => s,
        Err(r) => return r.into_response(),
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
                return RunResponse::simple(StatusCode::BAD_REQUEST, &rid, "bad_request", &msg)
                    .into_response();
            }
        }
        _ => {
            let msg = "a tile needs all of x, y and z".to_string();
            return RunResponse::simple(StatusCode::BAD_REQUEST, &rid, "bad_request", &msg)
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
    Path((email, name_ext)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let user = match authenticate(&state, &headers, &rid).await {
        Ok(u) => u,
        Err(r) => return r.with_cors(true).into_response(),
    };
    // `name.ext` with a known extension is `name` in that format, unless a UDF is saved
    // under the full `name.ext`.
    let (name, ext) = split_extension(&name_ext);
    let found = match ext {
        Some(_) => own_udf(&state, &user, &email, &name_ext, &rid).await.ok(),
        None => None,
    };
    let (saved, ext) = match found {
        Some(s) => (s, None),
        None => match own_udf(&state, &user, &email, name, &rid).await {
            Ok(s) => (s, ext.map(str::to_ascii_lowercase)),
            Err(r) => return r.with_cors(true).into_response(),
        },
    };
    respond(&state, rid, saved, query, None, ext, run_headers(&headers)).await
}

pub async fn run_tile(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    Path((email, name, z, x, y)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let user = match authenticate(&state, &headers, &rid).await {
        Ok(u) => u,
        Err(r) => return r.with_cors(true).into_response(),
    };
    let (tile, ext) = match tile_or_400(&z, &x, &y, &rid) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let saved = match own_udf(&state, &user, &email, &name, &rid).await {
        Ok(s) => s,
        Err(r) => return r.with_cors(true).into_response(),
    };
    respond(
        &state,
        rid,
        saved,
        query,
        Some(tile),
        ext,
        run_headers(&headers),
    )
    .await
}

/// The prepared form of a saved version (from the LRU: its specs are parsed once).
pub(super) fn prepare_saved(state: &AppState, saved: SavedUdf) -> Arc<PreparedUdf> {
    let namespace = key::saved_namespace(&saved.owner_email, &saved.name);
    let hash = saved.version.clone();
    state.prepared.get_or_prepare(&namespace, &hash, || {
        PreparedUdf::with_hash(
            saved.package,
            Some(saved.schema),
            hash.clone(),
            Some(namespace.clone()),
        )
    })
}

/// Run a saved UDF with query parameters (shared with the share-token endpoints).
pub(super) async fn respond(
    state: &AppState,
    rid: String,
    saved: SavedUdf,
    query: Vec<(String, String)>,
    tile: Option<fused_core::tiles::Tile>,
    extension: Option<String>,
    headers: RunHeaders,
) -> Response {
    let version = saved.version.clone();
    let udf = prepare_saved(state, saved);
    let (parameters, mut output) = split_query(query);
    output.extension = extension;
    let spec = RunSpec {
        request_id: rid,
        udf,
        parameters,
        tile,
        output,
        cors: true,
        headers,
    };
    let response = run(state, spec).await;
    if response.status == StatusCode::OK && response.content_type == MVT_CONTENT_TYPE {
        super::tilejson::record_fields(state, &version, &response.body);
    }
    response.into_response()
}
