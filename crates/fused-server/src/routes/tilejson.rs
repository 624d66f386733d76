//! TileJSON 3.0.0 and MapLibre style documents for the UDF tile endpoints:
//! `GET /api/v1/run/udf/saved/{email}/{name}/{tilejson,style}.json` (Bearer login) and
//! `GET /shared/{token}/{tilejson,style}.json` (no login).
//!
//! Query parameters of the request (UDF parameters, `format`) are carried into the tile URL
//! template; `format=png` makes a raster document, anything else a vector one (with
//! `format=mvt` added when no format is given, since a table tile defaults to parquet).
//! `vector_layers` fields come from the first MVT tile with features that a saved UDF's
//! version produced since the server started (`{}` before): [`record_fields`].

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fused_core::tileset::mvt_info::{layers, merge_fields};
use fused_core::tileset::tilejson::{style, TileJson};
use fused_core::tileset::TileFormat;

use super::access::{own_udf, shared_udf};
use super::observe::RequestId;
use super::AppState;
use crate::auth::AuthUser;
use crate::error::{ErrorCode, HttpError};
use crate::registry::{SavedUdf, User};

/// Saved UDF versions whose fields are remembered at most (then the memo starts over).
const MAX_VERSIONS: usize = 10_000;

/// Field name -> type of the `udf` layer, per saved UDF version.
#[derive(Default)]
pub struct FieldMemo(Mutex<HashMap<String, BTreeMap<String, String>>>);

impl FieldMemo {
    fn get(&self, version: &str) -> Option<BTreeMap<String, String>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(version)
            .cloned()
    }

    fn knows(&self, version: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(version)
    }
}

/// Remember the fields of an MVT tile `version` produced, if none are known yet and the tile
/// has features. Called by the saved / shared run endpoints on every MVT answer (cheap once
/// the version is known).
pub fn record_fields(state: &AppState, version: &str, mvt: &[u8]) {
    let memo = &state.tilesets.fields;
    if memo.knows(version) {
        return;
    }
    let Ok(found) = layers(mvt) else {
        return;
    };
    if found.iter().all(|l| l.features == 0) {
        return;
    }
    let mut fields = BTreeMap::new();
    for l in found.iter().filter(|l| l.features > 0) {
        merge_fields(&mut fields, &l.fields);
    }
    let mut map = memo
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if map.len() >= MAX_VERSIONS {
        map.clear();
    }
    map.entry(version.to_string()).or_insert(fields);
}

/// `scheme://host` of the request (`X-Forwarded-Proto` / `X-Forwarded-Host` when a proxy
/// set them), or an error message.
pub fn base_url(headers: &HeaderMap) -> Result<String, String> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(',').next().unwrap_or("").trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let host = get("x-forwarded-host")
        .or_else(|| get(header::HOST.as_str()))
        .ok_or("the request has no Host header (needed for absolute tile URLs)")?;
    let valid = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c));
    if !valid {
        return Err(format!("invalid Host header {host:?}"));
    }
    let scheme = match get("x-forwarded-proto").as_deref() {
        Some("https") => "https",
        _ => "http",
    };
    Ok(format!("{scheme}://{host}"))
}

/// Percent-encode a path segment (RFC 3986 unreserved characters and `@` stay).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The tile format a query asks for, and the query for the tile template.
fn tile_query(raw: Option<&str>, pairs: &[(String, String)]) -> (TileFormat, String) {
    let get = |n: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.trim())
    };
    let first = |v: &str| {
        v.split(',')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let raster = match get("format").filter(|v| !v.is_empty()) {
        Some(f) => first(f) == "png",
        None => {
            get("dtype_out_raster").is_some_and(|v| first(v) == "png")
                && get("dtype_out_vector").is_none()
        }
    };
    let mut query = raw.unwrap_or("").to_string();
    let has_format = ["format", "dtype_out_vector", "dtype_out_raster"]
        .iter()
        .any(|n| get(n).is_some_and(|v| !v.is_empty()));
    if !raster && !has_format {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str("format=mvt");
    }
    let format = if raster {
        TileFormat::Png
    } else {
        TileFormat::Mvt
    };
    (format, query)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Doc {
    TileJson,
    Style,
}

fn json_response(doc: serde_json::Value) -> Response {
    let mut resp = (StatusCode::OK, axum::Json(doc)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Build the document for `saved`, whose endpoints live under `base_path` (tiles at
/// `tiles_path`).
#[allow(clippy::too_many_arguments)]
fn document(
    state: &AppState,
    rid: &str,
    headers: &HeaderMap,
    saved: &SavedUdf,
    raw: Option<&str>,
    pairs: &[(String, String)],
    base_path: &str,
    tiles_path: &str,
    which: Doc,
) -> Response {
    let bad = |status: StatusCode, code: ErrorCode, msg: String| {
        HttpError::new(status, code, msg)
            .for_request(rid)
            .into_response()
    };
    let base = match base_url(headers) {
        Ok(b) => b,
        Err(msg) => return bad(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, msg),
    };
    let (format, query) = tile_query(raw, pairs);
    let pkg = &saved.package;
    let mut tj = match TileJson::from_udf(&saved.name, pkg.readme.as_deref(), &pkg.metadata, format)
    {
        Ok(t) => t,
        Err(e) => {
            return bad(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::BadMetadata,
                e.to_string(),
            )
        }
    };
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    tj.tiles = vec![format!("{base}{tiles_path}/{{z}}/{{x}}/{{y}}{q}")];
    if format == TileFormat::Mvt {
        tj.fields = state
            .tilesets
            .fields
            .get(&saved.version)
            .unwrap_or_default();
    }
    match which {
        Doc::TileJson => json_response(tj.to_json()),
        Doc::Style => {
            let raw_q = raw.filter(|r| !r.is_empty()).map(|r| format!("?{r}"));
            let url = format!(
                "{base}{base_path}/tilejson.json{}",
                raw_q.unwrap_or_default()
            );
            json_response(style(&saved.name, &url, format, &pkg.metadata))
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn saved_doc(
    state: AppState,
    rid: String,
    user: User,
    (email, name): (String, String),
    headers: HeaderMap,
    raw: Option<String>,
    pairs: Vec<(String, String)>,
    which: Doc,
) -> Response {
    let saved = match own_udf(&state, &user, &email, &name).await {
        Ok(s) => s,
        Err(e) => return e.for_request(&rid).into_response(),
    };
    let base_path = format!(
        "/api/v1/run/udf/saved/{}/{}",
        segment(&saved.owner_email),
        segment(&saved.name)
    );
    let tiles_path = format!("{base_path}/tiles");
    document(
        &state,
        &rid,
        &headers,
        &saved,
        raw.as_deref(),
        &pairs,
        &base_path,
        &tiles_path,
        which,
    )
}

async fn shared_doc(
    state: AppState,
    rid: String,
    token: String,
    headers: HeaderMap,
    raw: Option<String>,
    pairs: Vec<(String, String)>,
    which: Doc,
) -> Response {
    let saved = match shared_udf(&state, &token).await {
        Ok(s) => s,
        Err(e) => return e.for_request(&rid).into_response(),
    };
    let base_path = format!("/shared/{}", segment(&token));
    let tiles_path = format!("{base_path}/run/tiles");
    document(
        &state,
        &rid,
        &headers,
        &saved,
        raw.as_deref(),
        &pairs,
        &base_path,
        &tiles_path,
        which,
    )
}

pub async fn saved_tilejson(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    AuthUser(user): AuthUser,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    saved_doc(state, rid, user, path, headers, raw, pairs, Doc::TileJson).await
}

pub async fn saved_style(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    AuthUser(user): AuthUser,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    saved_doc(state, rid, user, path, headers, raw, pairs, Doc::Style).await
}

pub async fn shared_tilejson(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    Path(token): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    shared_doc(state, rid, token, headers, raw, pairs, Doc::TileJson).await
}

pub async fn shared_style(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    Path(token): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    shared_doc(state, rid, token, headers, raw, pairs, Doc::Style).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_carried_and_format_chosen() {
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let (f, q) = tile_query(Some("n=3"), &pairs(&[("n", "3")]));
        assert_eq!((f, q.as_str()), (TileFormat::Mvt, "n=3&format=mvt"));
        let (f, q) = tile_query(
            Some("format=png&n=3"),
            &pairs(&[("format", "png"), ("n", "3")]),
        );
        assert_eq!((f, q.as_str()), (TileFormat::Png, "format=png&n=3"));
        let (f, q) = tile_query(None, &[]);
        assert_eq!((f, q.as_str()), (TileFormat::Mvt, "format=mvt"));
        assert_eq!(segment("a b@c.d"), "a%20b@c.d");
    }
}
