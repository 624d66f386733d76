//! HTTP routes: the run endpoints (code shipped by the SDK, saved UDFs, share tokens), health
//! and the OpenAPI document. The registry / account / OAuth endpoints come from
//! [`auth::routes`] and are merged in by [`router`].

mod access;
mod health;
pub mod jobs;
mod metrics;
pub mod observe;
mod openapi;
pub(crate) mod params;
mod path;
pub(crate) mod response;
mod run;
mod saved;
mod shared;
mod shipped;
mod tilejson;
pub mod tilesets;
pub mod workbench;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::auth;
use crate::executor::Executor;
use crate::metrics::Metrics;
use crate::registry::Registry;

pub use fused_core::encode;

/// Largest request body accepted (a UDF package with its headers).
pub const MAX_BODY_BYTES: usize = 100 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub executor: Arc<dyn Executor>,
    pub registry: Arc<Registry>,
    /// The run result cache (off unless [`AppState::with_cache`]).
    pub(crate) cache: Arc<run::ResultCache>,
    /// Time limits of UDF calls.
    pub limits: run::RunLimits,
    /// Request counts and durations for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The Workbench's basemap style URL (`--basemap-style`); `None`: the offline style.
    pub basemap_style: Option<String>,
    /// The UDF versions prepared last (specs parsed, run-key prefix hashed).
    pub prepared: Arc<crate::prepared::PreparedUdfs>,
    /// Served tilesets and the vector fields seen per saved UDF version.
    pub tilesets: Arc<tilesets::Tilesets>,
    /// Server-side jobs (`/api/v1/jobs`); `None` until [`AppState::with_jobs`].
    pub jobs: Option<Arc<crate::jobs::Jobs>>,
    requests: Arc<AtomicU64>,
    started: u64,
}

impl AppState {
    pub fn new(executor: Arc<dyn Executor>, registry: Arc<Registry>) -> Self {
        let started = fused_core::time::now_ms();
        AppState {
            executor,
            registry,
            cache: Arc::new(run::ResultCache::disabled()),
            limits: run::RunLimits::default(),
            metrics: Arc::default(),
            basemap_style: None,
            prepared: Arc::default(),
            tilesets: Arc::default(),
            jobs: None,
            requests: Arc::new(AtomicU64::new(0)),
            started,
        }
    }

    /// Turn the run result cache on: `memory_bytes` of memory tier (0: none) and a disk tier
    /// in `disk_dir` (`None`: none).
    pub fn with_cache(mut self, memory_bytes: usize, disk_dir: Option<std::path::PathBuf>) -> Self {
        self.cache = Arc::new(run::ResultCache::new(memory_bytes, disk_dir));
        self
    }

    /// Set the default and maximum time limits of UDF calls.
    pub fn with_limits(mut self, default_timeout: Duration, max_timeout: Duration) -> Self {
        self.limits = run::RunLimits {
            default_timeout,
            max_timeout: max_timeout.max(default_timeout),
        };
        self
    }

    /// The Workbench map's basemap style URL (`None`: the offline style).
    pub fn with_basemap_style(mut self, url: Option<String>) -> Self {
        self.basemap_style = url;
        self
    }

    /// Serve the `.pmtiles` / `.mbtiles` files of `dir` at `/tilesets/...`.
    pub fn with_tilesets(mut self, dir: std::path::PathBuf) -> Self {
        self.tilesets = Arc::new(tilesets::Tilesets::new(Some(dir)));
        self
    }

    /// Run jobs: results spooled under `dir`, at most `slots` job tasks on the executor at
    /// once; unfinished jobs of an earlier run are resumed. Call last (the job runner keeps
    /// a copy of this state). Needs a tokio runtime.
    pub fn with_jobs(mut self, dir: std::path::PathBuf, slots: usize) -> std::io::Result<Self> {
        self.jobs = Some(jobs::start(&self, dir, slots)?);
        Ok(self)
    }

    /// The cache's counters.
    pub fn cache_stats(&self) -> crate::runcache::CacheStats {
        self.cache.stats()
    }

    /// A request id unique for this server run: `<start time, hex>-<counter>`; safe as a
    /// file name (it is also the task id). Called once per request by [`observe::observe`];
    /// handlers take the id as an [`observe::RequestId`] extractor.
    pub(crate) fn next_request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{:x}-{n}", self.started)
    }
}

/// The headers a map client on another origin may read from a run answer.
const EXPOSED_HEADERS: &str = "x-fused-metadata, x-fused-cached, etag";

/// CORS of the endpoints map clients call from other origins (saved and shared runs,
/// TileJSON and styles, tilesets): any origin, and the run headers exposed (an answer that
/// exposes its own, a tileset download's, keeps them). A layer, so no handler sets it.
async fn cors(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if !h.contains_key(header::ACCESS_CONTROL_EXPOSE_HEADERS) {
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    resp
}

/// The whole HTTP API: run endpoints, health, metrics, OpenAPI, and the registry/auth
/// routes, all behind the request id / log / metrics middleware.
pub fn router(state: AppState, auth_config: auth::AuthConfig) -> Router {
    let registry = state.registry.clone();
    // Called from map clients on other origins: CORS.
    let cross_origin = Router::new()
        .route("/api/v1/run/udf/saved/{email}/{name}", get(saved::run_file))
        .route(
            "/api/v1/run/udf/saved/{email}/{name}/tiles/{z}/{x}/{y}",
            get(saved::run_tile),
        )
        .route("/shared/{token}/run/{file}", get(shared::run_file))
        .route(
            "/shared/{token}/run/tiles/{z}/{x}/{y}",
            get(shared::run_tile),
        )
        .route(
            "/api/v1/run/udf/saved/{email}/{name}/tilejson.json",
            get(tilejson::saved_tilejson),
        )
        .route(
            "/api/v1/run/udf/saved/{email}/{name}/style.json",
            get(tilejson::saved_style),
        )
        .route(
            "/shared/{token}/tilejson.json",
            get(tilejson::shared_tilejson),
        )
        .route("/shared/{token}/style.json", get(tilejson::shared_style))
        .route("/tilesets", get(tilesets::list))
        .route("/tilesets/{file}", get(tilesets::download))
        .route("/tilesets/{name}/tilejson.json", get(tilesets::tilejson))
        .route("/tilesets/{name}/{z}/{x}/{y}", get(tilesets::tile))
        .route(
            "/api/v1/tilesets/{file}",
            put(tilesets::upload).layer(DefaultBodyLimit::disable()),
        )
        .layer(map_response(cors));
    let run_routes = Router::new()
        .route("/api/v1/run/udf", post(shipped::run_file))
        .route("/api/v1/run/udf/tiles/{z}/{x}/{y}", post(shipped::run_tile))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route(
            "/api/v1/udf/saved/{email}/{name}/cache",
            delete(saved::invalidate_cache),
        )
        .route(
            "/api/v1/jobs",
            get(jobs::list)
                .post(jobs::submit)
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route("/api/v1/jobs/{id}", get(jobs::status).delete(jobs::cancel))
        .route("/api/v1/jobs/{id}/results", get(jobs::results))
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::openapi))
        .merge(cross_origin)
        .merge(workbench::routes());
    run_routes
        .with_state(state.clone())
        .merge(auth::routes(registry, auth_config))
        .layer(from_fn_with_state(state, observe::observe))
}
