//! `POST /api/v1/run/udf` and `POST /api/v1/run/udf/tiles/{z}/{x}/{y}`: run code shipped by the
//! SDK. Bearer login required. Body:
//! `{"udf": <package JSON>, "schema"?: {name: spec}, "parameters"?: {name: string | JSON},
//!   "format"?, "dtype_out_vector"?, "dtype_out_raster"?, "cache_max_age"?, "cache"?}`;
//! `format` etc. may also be query parameters.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use fused_core::package::UdfPackage;
use fused_core::tiles::Tile;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::observe::RequestId;
use super::params::{option_text, split_query, OutputChoice};
use super::path::parse_tile;
use super::run::{run, RunHeaders, RunSpec};
use super::AppState;
use crate::auth::AuthUser;
use crate::error::HttpError;
use crate::prepared::PreparedUdf;
use fused_core::runcache::key;

#[derive(Debug, Deserialize)]
struct RunBody {
    udf: UdfPackage,
    #[serde(default)]
    schema: Option<BTreeMap<String, String>>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    dtype_out_vector: Option<String>,
    #[serde(default)]
    dtype_out_raster: Option<String>,
    /// Result-cache lifetime ("10s", "30m", "48h", "90d" or seconds; 0 bypasses).
    #[serde(default)]
    cache_max_age: Option<Value>,
    /// `false` bypasses the result cache.
    #[serde(default)]
    cache: Option<Value>,
}

pub async fn run_file(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    _user: AuthUser,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    handle(state, rid, headers, query, body, None).await
}

pub async fn run_tile(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    _user: AuthUser,
    Path((z, x, y)): Path<(String, String, String)>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    handle(state, rid, headers, query, body, Some((z, x, y))).await
}

async fn handle(
    state: AppState,
    rid: String,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    body: Bytes,
    tile: Option<(String, String, String)>,
) -> Response {
    let bad = |msg: String| HttpError::bad_request(msg).for_request(&rid);
    let (tile, extension): (Option<Tile>, Option<String>) = match &tile {
        None => (None, None),
        Some((z, x, y)) => match parse_tile(z, x, y) {
            Ok((t, ext)) => (Some(t), ext),
            Err(msg) => return bad(msg).into_response(),
        },
    };
    let body: RunBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return bad(format!(
                "invalid request body: expected JSON {{\"udf\": <package>, \"parameters\": {{..}}}}: {e}"
            ))
            .into_response()
        }
    };
    let (_, query_out) = split_query(query);
    let output = OutputChoice {
        format: body.format.or(query_out.format),
        dtype_out_vector: body.dtype_out_vector.or(query_out.dtype_out_vector),
        dtype_out_raster: body.dtype_out_raster.or(query_out.dtype_out_raster),
        extension,
        cache_max_age: option_text(body.cache_max_age).or(query_out.cache_max_age),
        cache: option_text(body.cache).or(query_out.cache),
    };
    let hash = crate::prepared::content_hash(&body.udf, body.schema.as_ref());
    let namespace = key::code_namespace_of(&body.udf.code);
    let (package, schema) = (body.udf, body.schema);
    let udf = state.prepared.get_or_prepare(&namespace, &hash, || {
        PreparedUdf::with_hash(package, schema, hash.clone(), None)
    });
    let spec = RunSpec {
        request_id: rid.clone(),
        udf,
        parameters: body.parameters.unwrap_or_default().into_iter().collect(),
        tile,
        output,
        headers: RunHeaders::of(&headers),
    };
    run(&state, spec).await.into_response()
}
