//! `GET /shared/{token}/run/file[.ext]` and `GET /shared/{token}/run/tiles/{z}/{x}/{y}[.ext]`:
//! saved UDFs through share tokens, no login, so tile URL templates work in map clients.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::access::shared_udf;
use super::observe::RequestId;
use super::path::{split_extension, tile_or_400};
use super::response::RunResponse;
use super::saved::{respond, run_headers};
use super::AppState;

pub async fn run_file(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    Path((token, file)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let (stem, ext) = split_extension(&file);
    if stem != "file" {
        let msg = format!("no such endpoint: /shared/{{token}}/run/{file} (expected file[.ext])");
        return RunResponse::simple(StatusCode::NOT_FOUND, &rid, "not_found", &msg)
            .with_cors(true)
            .into_response();
    }
    let ext = ext.map(str::to_ascii_lowercase);
    match shared_udf(&state, &token, &rid).await {
        Ok(saved) => respond(&state, rid, saved, query, None, ext, run_headers(&headers)).await,
        Err(r) => r.with_cors(true).into_response(),
    }
}

pub async fn run_tile(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    Path((token, z, x, y)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let (tile, ext) = match tile_or_400(&z, &x, &y, &rid) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match shared_udf(&state, &token, &rid).await {
        Ok(saved) => {
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
        Err(r) => r.with_cors(true).into_response(),
    }
}
