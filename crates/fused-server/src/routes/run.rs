//! The run pipeline shared by every run endpoint: validate parameters against the prepared
//! UDF's specs, get the result from the run cache or the executor (one
//! [`RunCache::get_or_compute`] call: a hit is encoded without Python; only successful
//! results are stored), choose the output format, encode, answer with `x-fused-metadata`.

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use fused_core::result::CanonicalResult;
use fused_core::tiles::Tile;
use serde_json::{json, Value};

use super::encode::{self, FormatRequest, TileBounds};
use super::params::{self, OutputChoice};
use super::response::{Metadata, RunResponse};
use super::AppState;
use crate::error::{parameter_error, ErrorCode, HttpError};
use crate::executor::protocol::WorkerErrorKind;
use crate::executor::{ExecError, Task, TaskOutput, TileXyz, WorkerError};
use crate::prepared::PreparedUdf;
use crate::registry::SavedUdf;
use crate::runcache::{Fetched, Outcome, RunCache, Slot};
use fused_core::runcache::{key, DEFAULT_MAX_AGE};

/// Response header saying whether the result came from the cache.
pub const CACHED_HEADER: &str = "x-fused-cached";

/// Request header asking for another time limit (seconds), capped at `--max-timeout`.
pub const TIMEOUT_HEADER: &str = "x-fused-timeout";

/// The request headers the pipeline reads (raw; validated here).
#[derive(Debug, Clone, Default)]
pub struct RunHeaders {
    pub if_none_match: Option<String>,
    /// `x-fused-timeout`.
    pub timeout: Option<String>,
}

impl RunHeaders {
    /// `If-None-Match` and `x-fused-timeout` of a request.
    pub fn of(headers: &HeaderMap) -> Self {
        let get = |name: &str| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        RunHeaders {
            if_none_match: get(header::IF_NONE_MATCH.as_str()),
            timeout: get(TIMEOUT_HEADER),
        }
    }
}

/// The server's time limits for UDF calls.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// When the request does not ask (`--timeout`).
    pub default_timeout: std::time::Duration,
    /// The most a request may ask for (`--max-timeout`).
    pub max_timeout: std::time::Duration,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            default_timeout: std::time::Duration::from_secs(120),
            max_timeout: std::time::Duration::from_secs(3600),
        }
    }
}

/// The time limit a request asks for: a positive number of seconds, capped at the maximum.
fn requested_timeout(raw: Option<&str>, limits: RunLimits) -> Result<std::time::Duration, String> {
    let Some(raw) = raw else {
        return Ok(limits.default_timeout);
    };
    let secs = crate::config::positive_seconds(raw).ok_or_else(|| {
        format!(
            "invalid {TIMEOUT_HEADER} header: expected a positive number of seconds \
                 (e.g. 30 or 2.5), got {raw:?}"
        )
    })?;
    Ok(std::time::Duration::from_secs_f64(
        secs.min(limits.max_timeout.as_secs_f64()),
    ))
}

/// The cache of the run pipeline; its single flight shares [`Shared`] outcomes.
pub type ResultCache = RunCache<Shared>;

/// The outcome of one computation, handed to every request that waited for it.
#[derive(Debug, Clone)]
pub enum Shared {
    Done {
        result: Arc<CanonicalResult>,
        stdout: String,
        stderr: String,
        /// Served from the cache (not computed for this request).
        cached: bool,
    },
    Udf {
        err: WorkerError,
        stdout: String,
        stderr: String,
    },
    Exec(ExecError),
}

/// One run, as the endpoints describe it.
pub struct RunSpec {
    pub request_id: String,
    /// The UDF with its parsed parameter specs and cache namespace.
    pub udf: Arc<PreparedUdf>,
    pub parameters: Vec<(String, Value)>,
    pub tile: Option<Tile>,
    pub output: OutputChoice,
    /// `If-None-Match` and `x-fused-timeout`.
    pub headers: RunHeaders,
}

/// Run a saved UDF (the caller's own, or a share token's) with query parameters.
pub async fn run_saved(
    state: &AppState,
    rid: String,
    saved: SavedUdf,
    query: Vec<(String, String)>,
    tile: Option<Tile>,
    extension: Option<String>,
    headers: RunHeaders,
) -> RunResponse {
    let version = saved.version.clone();
    let udf = prepare_saved(state, saved);
    let (parameters, mut output) = params::split_query(query);
    output.extension = extension;
    let spec = RunSpec {
        request_id: rid,
        udf,
        parameters,
        tile,
        output,
        headers,
    };
    let response = run(state, spec).await;
    if response.status == StatusCode::OK && response.content_type == MVT_CONTENT_TYPE {
        super::tilejson::record_fields(state, &version, &response.body);
    }
    response
}

const MVT_CONTENT_TYPE: &str = "application/vnd.mapbox-vector-tile";

/// The prepared form of a saved version (from the LRU: its specs are parsed once).
pub(crate) fn prepare_saved(state: &AppState, saved: SavedUdf) -> Arc<PreparedUdf> {
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

/// Run it and build the response (every outcome carries the metadata header).
pub async fn run(state: &AppState, spec: RunSpec) -> RunResponse {
    let rid = spec.request_id.clone();
    let timeout = match requested_timeout(spec.headers.timeout.as_deref(), state.limits) {
        Ok(t) => t,
        Err(msg) => return HttpError::bad_request(msg).run_response(&rid),
    };
    let validated = match params::validate(spec.udf.schema(), spec.parameters) {
        Ok(v) => v,
        Err(e) => return HttpError::from(e).run_response(&rid),
    };
    let lifetime =
        match params::cache_lifetime(&spec.output, spec.udf.cache_max_age(), DEFAULT_MAX_AGE) {
            Ok(l) => l,
            Err((parameter, expected, value)) => {
                let message = format!("invalid {parameter}: expected {expected}, got {value}");
                return parameter_error(message, &parameter, &expected, &value).run_response(&rid);
            }
        };
    let tile_key = spec.tile.map(|t| (u32::from(t.z), t.x, t.y));
    let mut task = Task::new(rid.clone(), spec.udf.clone(), validated.parameters);
    task.tile = spec.tile.map(|t| TileXyz {
        x: t.x,
        y: t.y,
        z: t.z,
    });
    task.timeout = Some(timeout);
    let mut meta = Metadata::new(&rid);
    meta.ignored_parameters = validated.ignored;
    let cache = &state.cache;
    let Some(max_age) = lifetime.filter(|_| cache.enabled()) else {
        let shared = execute(state, task).await;
        return respond(shared, &spec.output, spec.tile, meta, None);
    };
    let key = spec.udf.run_key(&task.parameters, tile_key);
    task.run_key = Some(key.clone());
    let slot = Slot {
        namespace: spec.udf.namespace(),
        key: &key,
        max_age,
        tile: tile_key,
    };
    let shared = match cache.get_or_compute(slot, || execute(state, task)).await {
        Fetched::Cached(e) => Shared::Done {
            result: e.result,
            stdout: String::new(),
            stderr: String::new(),
            cached: true,
        },
        Fetched::Computed(shared) => shared,
    };
    let conditional = Some((key.as_str(), spec.headers.if_none_match.as_deref()));
    respond(shared, &spec.output, spec.tile, meta, conditional)
}

impl Outcome for Shared {
    fn cacheable(&self) -> Option<Arc<CanonicalResult>> {
        match self {
            Shared::Done { result, .. } => Some(result.clone()),
            Shared::Udf { .. } | Shared::Exec(_) => None,
        }
    }
}

/// Run the task on the executor.
pub(crate) async fn execute(state: &AppState, task: Task) -> Shared {
    match state.executor.run(task).await {
        Err(e) => Shared::Exec(e),
        Ok(TaskOutput {
            result: Ok(result),
            stdout,
            stderr,
        }) => Shared::Done {
            result: Arc::new(result),
            stdout,
            stderr,
            cached: false,
        },
        Ok(TaskOutput {
            result: Err(err),
            stdout,
            stderr,
        }) => Shared::Udf {
            err,
            stdout,
            stderr,
        },
    }
}

/// The response to an outcome; `conditional` = (cache key, If-None-Match) when cached.
fn respond(
    shared: Shared,
    out: &OutputChoice,
    tile: Option<Tile>,
    mut meta: Metadata,
    conditional: Option<(&str, Option<&str>)>,
) -> RunResponse {
    match shared {
        Shared::Exec(e) => HttpError::from(e).run_response_with(meta),
        Shared::Udf {
            err,
            stdout,
            stderr,
        } => {
            meta.stdout = stdout;
            meta.stderr = stderr;
            udf_error(err, meta)
        }
        Shared::Done {
            result,
            stdout,
            stderr,
            cached,
        } => {
            meta.stdout = stdout;
            meta.stderr = stderr;
            encode_result(&result, out, tile, meta, cached, conditional)
        }
    }
}

/// True when `If-None-Match` lists `etag` (or is `*`).
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag))
}

fn encode_result(
    result: &CanonicalResult,
    out: &OutputChoice,
    tile: Option<Tile>,
    mut meta: Metadata,
    cached: bool,
    conditional: Option<(&str, Option<&str>)>,
) -> RunResponse {
    if let CanonicalResult::Raster { bounds, .. } = result {
        meta.bounds = *bounds;
    }
    let req = FormatRequest {
        format: out.format.as_deref(),
        dtype_out_vector: out.dtype_out_vector.as_deref(),
        dtype_out_raster: out.dtype_out_raster.as_deref(),
        extension: out.extension.as_deref(),
        is_tile: tile.is_some(),
    };
    let bad_format = |e: fused_core::Error, meta: Metadata| {
        HttpError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedFormat,
            e.to_string(),
        )
        .run_response_with(meta)
    };
    let format = match encode::choose_format(result, &req) {
        Ok(f) => f,
        Err(e) => return bad_format(e, meta),
    };
    let mut headers = vec![(
        HeaderName::from_static(CACHED_HEADER),
        HeaderValue::from_static(if cached { "true" } else { "false" }),
    )];
    if let Some((key, if_none_match)) = conditional {
        let etag = key::etag(key, format.name());
        if let Ok(v) = HeaderValue::from_str(&etag) {
            headers.push((header::ETAG, v));
        }
        if if_none_match.is_some_and(|inm| etag_matches(inm, &etag)) {
            return RunResponse {
                status: StatusCode::NOT_MODIFIED,
                body: Vec::new(),
                content_type: String::new(),
                metadata: meta,
                headers,
            };
        }
    }
    let tile = tile.map(|t| TileBounds {
        x: t.x,
        y: t.y,
        z: t.z,
    });
    match encode::encode(result, format, tile) {
        // A vector tile with no feature (an empty frame, null geometries, everything
        // clipped away): 204 No Content, as martin answers; map clients draw nothing.
        Ok(encoded) if format == encode::Format::Mvt && encoded.body.is_empty() => RunResponse {
            status: StatusCode::NO_CONTENT,
            body: Vec::new(),
            content_type: String::new(),
            metadata: meta,
            headers,
        },
        Ok(encoded) => RunResponse {
            status: StatusCode::OK,
            body: encoded.body,
            content_type: encoded.content_type,
            metadata: meta,
            headers,
        },
        Err(e @ fused_core::Error::Io { .. }) => HttpError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::EncodeError,
            format!("encoding the result failed: {e}"),
        )
        .run_response_with(meta),
        // The result cannot take the requested form (e.g. a float raster as png).
        Err(e) => bad_format(e, meta),
    }
}

/// The UDF (or its call, or its result) failed: 422 with the exception in metadata and body.
fn udf_error(err: WorkerError, mut meta: Metadata) -> RunResponse {
    let code = match err.kind() {
        Some(WorkerErrorKind::Parameter) => {
            let message = format!("{}: {}", err.exception_class, err.errormsg);
            return parameter_error(
                message,
                err.parameter.as_deref().unwrap_or(""),
                err.expected.as_deref().unwrap_or(""),
                err.value.as_deref().unwrap_or(""),
            )
            .run_response_with(meta);
        }
        Some(WorkerErrorKind::Runtime) => ErrorCode::UdfException,
        Some(WorkerErrorKind::Call) => ErrorCode::UdfCall,
        Some(WorkerErrorKind::Result) => ErrorCode::UdfResult,
        // (the supervisor turns these into executor errors before they get here)
        Some(WorkerErrorKind::WorkerCrash) => ErrorCode::WorkerCrash,
        Some(WorkerErrorKind::Unavailable) => ErrorCode::ExecutorUnavailable,
        Some(WorkerErrorKind::Exit | WorkerErrorKind::Cancelled) | None => ErrorCode::UdfError,
    };
    let error_type = code.as_str();
    meta.has_exception = true;
    meta.exception_class = Some(err.exception_class.clone());
    meta.errormsg = Some(err.errormsg.clone());
    meta.lineno = err.lineno;
    meta.error_type = Some(error_type.into());
    let message = match err.lineno {
        Some(l) => format!("{} at line {l}: {}", err.exception_class, err.errormsg),
        None => format!("{}: {}", err.exception_class, err.errormsg),
    };
    let extra = json!({
        "error_type": error_type,
        "exception_class": err.exception_class,
        "errormsg": err.errormsg,
        "lineno": err.lineno,
        "traceback": err.traceback,
        "stdout": meta.stdout,
        "stderr": meta.stderr,
    });
    let Value::Object(extra) = extra else {
        unreachable!()
    };
    RunResponse::error(StatusCode::UNPROCESSABLE_ENTITY, meta, &message, extra)
}
