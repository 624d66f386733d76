//! The Workbench: a map page served by the server itself at `/workbench` (`/` redirects
//! there), its static assets (built from `web/` by `web/build.sh`, committed under
//! `assets/workbench/` and embedded in the binary), and the small JSON API the page needs on
//! top of the SDK's endpoints:
//!
//! * `GET /workbench/config.json`: the basemap style URL (`--basemap-style`) or null;
//! * `GET /api/v1/workbench/udfs`: the caller's saved UDFs with mode, schema and save time;
//! * `GET /api/v1/workbench/examples`: the example UDFs shipped with the server;
//! * `POST /api/v1/workbench/signature` `{"udf": <package>}`: the entrypoint's parameters
//!   (name, type spec, default), worked out on a worker by the SDK's own rules;
//! * `GET /api/v1/workbench/shared/{token}`: what a share token's UDF is (name, mode,
//!   schema, map settings; never its code), for the signed-out share view.
//!
//! The signed-in calls authenticate exactly as the SDK's (`Authorization: Bearer`, API key or
//! access token): the page keeps its token in memory and never in a cookie or a URL, so there
//! is no ambient credential a cross-site request could use (no CSRF surface).

mod examples;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fused_core::package::{package_from_code, UdfPackage};
use serde_json::{json, Value};

use super::access::shared_udf;
use super::observe::RequestId;
use super::params::OutputChoice;
use super::run::{run, RunHeaders, RunSpec};
use super::AppState;
use crate::auth::AuthUser;
use crate::error::{registry_failed, HttpError};
use crate::prepared::PreparedUdf;
use crate::registry::SavedUdf;

/// The page and its assets, built by `web/build.sh` (see `web/README.md`).
const INDEX_HTML: &[u8] = include_bytes!("../../assets/workbench/index.html");
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/workbench/app.js"),
    ),
    (
        "editor.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/workbench/editor.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/workbench/app.css"),
    ),
    (
        "maplibre-gl.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/workbench/maplibre-gl.css"),
    ),
    (
        "maplibre-gl-worker.mjs",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/workbench/maplibre-gl-worker.mjs"),
    ),
];

/// The signature probe run on a worker (see [`signature`]).
const SIGNATURE_PROBE: &str = include_str!("workbench/signature.py");

/// The Workbench routes, to be merged into the server's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/workbench") }))
        .route("/workbench", get(page))
        .route("/workbench/", get(|| async { Redirect::to("/workbench") }))
        .route("/workbench/config.json", get(config))
        .route("/workbench/assets/{file}", get(asset))
        .route("/api/v1/workbench/udfs", get(list_udfs))
        .route("/api/v1/workbench/examples", get(list_examples))
        .route("/api/v1/workbench/signature", post(signature))
        .route("/api/v1/workbench/shared/{token}", get(shared_info))
}

/// The page's Content-Security-Policy: scripts, workers and styles from this origin only; no
/// inline script, no eval; data requests to this origin (and, with `--basemap-style`, to the
/// HTTPS hosts a real basemap style names).
pub fn content_security_policy(basemap_style: Option<&str>) -> String {
    let remote = match basemap_style.and_then(origin_of) {
        Some(origin) if origin.starts_with("https://") => " https:".to_string(),
        Some(origin) => format!(" {origin} https:"),
        None => String::new(),
    };
    format!(
        "default-src 'none'; script-src 'self'; worker-src 'self' blob:; \
         style-src 'self'; img-src 'self' data: blob:{remote}; \
         connect-src 'self'{remote}; font-src 'self'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'; object-src 'none'"
    )
}

/// `scheme://host[:port]` of an http(s) URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && !host.contains('@')).then(|| format!("{scheme}://{host}"))
}

fn etag_of(bytes: &[u8]) -> String {
    let digest = fused_core::hash::sha256(bytes);
    format!("\"{}\"", fused_core::hash::hex(&digest[..12]))
}

/// A static body with its content type, an ETag (304 when `If-None-Match` matches) and
/// `Cache-Control: no-cache` (revalidate every time: the names are not content-hashed).
fn static_response(
    headers: &HeaderMap,
    content_type: &'static str,
    body: &'static [u8],
) -> Response {
    let etag = etag_of(body);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// `GET /workbench`: the page, with its CSP.
async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut resp = static_response(&headers, "text/html; charset=utf-8", INDEX_HTML);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_security_policy(state.basemap_style.as_deref())) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// `GET /workbench/assets/{file}`.
async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => static_response(&headers, content_type, body),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({
                "error": "not_found",
                "error_description": format!(
                    "no Workbench asset {file:?} (expected one of: {})",
                    ASSETS.iter().map(|a| a.0).collect::<Vec<_>>().join(", ")
                ),
            })),
        )
            .into_response(),
    }
}

/// `GET /workbench/config.json`.
async fn config(State(state): State<AppState>) -> Response {
    let mut resp = Json(json!({
        "basemap_style": state.basemap_style.as_deref(),
        "version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// What the list shows of a UDF: mode, parameters, save time and map settings.
fn describe(package: &UdfPackage, schema: Option<&BTreeMap<String, String>>) -> Value {
    let meta = &package.metadata;
    let udf_type = meta
        .get("fused:udfType")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mode = if udf_type.ends_with("_tile") || udf_type == "tile" {
        "tile"
    } else {
        "file"
    };
    json!({
        "name": package.name,
        "mode": mode,
        "udf_type": udf_type,
        "description": meta.get("fused:description"),
        "viz_config": meta.get("fused:vizConfig"),
        "default_view_state": meta.get("fused:defaultViewState"),
        "schema": schema,
    })
}

fn describe_saved(saved: &SavedUdf) -> Value {
    let mut v = describe(&saved.package, Some(&saved.schema));
    v["owner_email"] = json!(saved.owner_email);
    v["version"] = json!(saved.version);
    v["created_at"] = json!(saved.created_at);
    v
}

/// `GET /api/v1/workbench/udfs` -> `{"udfs": [{name, mode, udf_type, schema, created_at,
/// version, owner_email, description, viz_config, default_view_state}]}`, newest first.
async fn list_udfs(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    AuthUser(user): AuthUser,
) -> Response {
    let registry = state.registry.clone();
    let listed = tokio::task::spawn_blocking(move || -> Result<Vec<Value>, String> {
        let names = registry.list_udfs(&user).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(saved) = registry
                .get_udf(&user.email, &name)
                .map_err(|e| e.to_string())?
            {
                out.push(describe_saved(&saved));
            }
        }
        out.sort_by(|a, b| b["created_at"].as_i64().cmp(&a["created_at"].as_i64()));
        Ok(out)
    })
    .await;
    match listed {
        Ok(Ok(udfs)) => Json(json!({ "udfs": udfs })).into_response(),
        Ok(Err(msg)) => {
            tracing::error!(request_id = rid, "registry: {msg}");
            registry_failed().for_request(&rid).into_response()
        }
        Err(e) => {
            tracing::error!(request_id = rid, "registry task: {e}");
            registry_failed().for_request(&rid).into_response()
        }
    }
}

/// `GET /api/v1/workbench/examples` -> `{"examples": [{..describe, "package"}]}`.
async fn list_examples(RequestId(rid): RequestId, _user: AuthUser) -> Response {
    match examples::packages() {
        Ok(packages) => {
            let list: Vec<Value> = packages
                .iter()
                .map(|p| {
                    let mut v = describe(p, None);
                    v["package"] = serde_json::to_value(p).unwrap_or(Value::Null);
                    v
                })
                .collect();
            Json(json!({ "examples": list })).into_response()
        }
        Err(msg) => {
            tracing::error!(request_id = rid, "examples: {msg}");
            HttpError::internal(msg).for_request(&rid).into_response()
        }
    }
}

/// `POST /api/v1/workbench/signature` `{"udf": <package>}` -> `{"name", "entrypoint",
/// "parameters": [{"name", "spec", "required", "default"}]}`. The annotation -> type spec
/// rules live in the SDK (`fused._spec`), so a worker works them out: the probe UDF loads
/// the package as `fused.load` would and reads its entrypoint's signature. Errors in the
/// code (a `SyntaxError`, a failing import) come back like any run's, in `x-fused-metadata`.
async fn signature(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    _user: AuthUser,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let bad = |msg: String| HttpError::bad_request(msg).for_request(&rid);
    let package = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut obj)) => match obj.remove("udf") {
            Some(udf) => match serde_json::from_value::<UdfPackage>(udf) {
                Ok(p) => p,
                Err(e) => return bad(format!("invalid 'udf' package: {e}")).into_response(),
            },
            None => return bad("missing 'udf' (the UDF package)".into()).into_response(),
        },
        Ok(_) => {
            return bad("the body must be a JSON object {\"udf\": <package>}".into())
                .into_response()
        }
        Err(e) => return bad(format!("malformed JSON body: {e}")).into_response(),
    };
    let probe = match package_from_code("workbench_signature", SIGNATURE_PROBE) {
        Ok(p) => p,
        Err(e) => {
            return HttpError::internal(e.to_string())
                .for_request(&rid)
                .into_response();
        }
    };
    let package = match serde_json::to_string(&package) {
        Ok(text) => text,
        Err(e) => return bad(format!("invalid 'udf' package: {e}")).into_response(),
    };
    let spec = RunSpec {
        request_id: rid,
        udf: Arc::new(PreparedUdf::with_schema(
            probe,
            Some(BTreeMap::from([(
                "package".to_string(),
                "dict".to_string(),
            )])),
        )),
        parameters: vec![("package".to_string(), Value::String(package))],
        tile: None,
        output: OutputChoice {
            format: Some("json".into()),
            ..Default::default()
        },
        headers: RunHeaders::of(&headers),
    };
    run(&state, spec).await.into_response()
}

/// `GET /api/v1/workbench/shared/{token}`: the share token's UDF without its code (a share
/// token grants running it, not reading it).
async fn shared_info(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    Path(token): Path<String>,
) -> Response {
    match shared_udf(&state, &token).await {
        Ok(saved) => Json(describe(&saved.package, Some(&saved.schema))).into_response(),
        Err(e) => e.for_request(&rid).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_is_strict_by_default() {
        let csp = content_security_policy(None);
        assert!(csp.contains("script-src 'self';"));
        assert!(!csp.contains("unsafe"));
        assert!(csp.contains("connect-src 'self';"));
        let remote = content_security_policy(Some("https://tiles.example.com/style.json"));
        assert!(remote.contains("connect-src 'self' https:;"));
        assert!(remote.contains("script-src 'self';"));
        let plain = content_security_policy(Some("http://10.0.0.5:8080/style.json"));
        assert!(plain.contains("connect-src 'self' http://10.0.0.5:8080 https:;"));
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://a.example/x.json?k=1").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(origin_of("ftp://a/b"), None);
        assert_eq!(origin_of("https://u@a/b"), None);
    }

    #[test]
    fn examples_parse() {
        let packages = examples::packages().expect("the bundled examples parse");
        let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        assert!(names.contains(&"Tile_Grid"), "{names:?}");
        let buffered = packages
            .iter()
            .find(|p| p.name == "Buffered_Points")
            .unwrap();
        assert_eq!(buffered.headers.len(), 1);
        assert_eq!(buffered.headers[0].module_name, "utils");
    }
}
