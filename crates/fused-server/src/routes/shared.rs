//! `GET /shared/{token}/run/file[.ext]` and `GET /shared/{token}/run/tiles/{z}/{x}/{y}[.ext]`:
//! saved UDFs through share tokens, no login, so tile URL templates work in map clients.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::access::shared_udf;
use super::observe::RequestId;
use super::path::{parse_tile, split_extension};
use super::run::{run_saved, RunHeaders};
use super::AppState;
use crate::error::HttpError;

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
        return HttpError::not_found(msg).for_request(&rid).into_response();
    }
    let ext = ext.map(str::to_ascii_lowercase);
    match shared_udf(&state, &token).await {
        Ok(saved) => run_saved(
            &state,
            rid,
            saved,
            query,
            None,
            ext,
            RunHeaders::of(&headers),
        )
        .await
        .into_response(),
        Err(e) => e.for_request(&rid).into_response(),
    }
}

pub async fn run_tile(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    Path((token, z, x, y)): Path<(String, String, String, String)>,
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
    match shared_udf(&state, &token).await {
        Ok(saved) => {
            let headers = RunHeaders::of(&headers);
            run_saved(&state, rid, saved, query, Some(tile), ext, headers)
                .await
                .into_response()
        }
        Err(e) => e.for_request(&rid).into_response(),
    }
}
