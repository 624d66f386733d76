//! The run pipeline shared by every run endpoint: validate parameters, run on the executor,
//! choose the output format, encode, answer with `x-fused-metadata`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use fused_core::result::CanonicalResult;
use fused_core::tiles::Tile;
use serde_json::{json, Map, Value};

use super::encode::{self, FormatRequest, TileBounds};
use super::params::{self, OutputChoice, ParamError};
use super::response::{Metadata, RunResponse};
use super::AppState;
use crate::executor::{ExecError, Task, TaskOutput, TileXyz, WorkerError};

/// One run, as the endpoints describe it.
pub struct RunSpec {
    pub request_id: String,
    /// The UDF package as JSON.
    pub udf: Value,
    /// Parameter name -> type spec; `None`: values are passed on unchecked.
    pub schema: Option<BTreeMap<String, String>>,
    pub parameters: Vec<(String, Value)>,
    pub tile: Option<Tile>,
    pub output: OutputChoice,
    /// GET endpoints answer with `Access-Control-Allow-Origin: *`.
    pub cors: bool,
}

/// Run it and build the response (every outcome carries the metadata header).
pub async fn run(state: &AppState, spec: RunSpec) -> RunResponse {
    let cors = spec.cors;
    run_inner(state, spec).await.with_cors(cors)
}

async fn run_inner(state: &AppState, spec: RunSpec) -> RunResponse {
    let rid = spec.request_id.clone();
    let validated = match params::validate(spec.schema.as_ref(), spec.parameters) {
        Ok(v) => v,
        Err(ParamError::Schema(msg)) => {
            return RunResponse::simple(StatusCode::BAD_REQUEST, &rid, "bad_schema", &msg)
        }
        Err(ParamError::Value {
            message,
            parameter,
            expected,
            value,
        }) => return parameter_error(&message, &parameter, &expected, &value, Metadata::new(&rid)),
    };
    let task = Task {
        task_id: rid.clone(),
        udf: spec.udf,
        parameters: validated.parameters,
        tile: spec.tile.map(|t| TileXyz {
            x: t.x,
            y: t.y,
            z: t.z,
        }),
    };
    let mut meta = Metadata::new(&rid);
    meta.ignored_parameters = validated.ignored;
    let output = match state.executor.run(task).await {
        Ok(o) => o,
        Err(e) => return exec_error(e, meta),
    };
    let TaskOutput {
        result,
        stdout,
        stderr,
    } = output;
    meta.stdout = stdout;
    meta.stderr = stderr;
    match result {
        Ok(result) => encode_result(&result, &spec.output, spec.tile, meta),
        Err(err) => udf_error(err, meta),
    }
}

fn encode_result(
    result: &CanonicalResult,
    out: &OutputChoice,
    tile: Option<Tile>,
    mut meta: Metadata,
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
        let msg = e.to_string();
        let mut extra = Map::new();
        extra.insert("error_type".into(), "unsupported_format".into());
        RunResponse::error(
            StatusCode::BAD_REQUEST,
            meta.failed("unsupported_format", &msg),
            &msg,
            extra,
        )
    };
    let format = match encode::choose_format(result, &req) {
        Ok(f) => f,
        Err(e) => return bad_format(e, meta),
    };
    let tile = tile.map(|t| TileBounds {
        x: t.x,
        y: t.y,
        z: t.z,
    });
    match encode::encode(result, format, tile) {
        Ok(encoded) => RunResponse {
            status: StatusCode::OK,
            body: encoded.body,
            content_type: encoded.content_type,
            metadata: meta,
            cors: false,
        },
        Err(e @ fused_core::Error::Io { .. }) => {
            let msg = format!("encoding the result failed: {e}");
            RunResponse::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                meta.failed("encode_error", &msg),
                &msg,
                Map::new(),
            )
        }
        // The result cannot take the requested form (e.g. a float raster as png).
        Err(e) => bad_format(e, meta),
    }
}

fn parameter_error(
    message: &str,
    parameter: &str,
    expected: &str,
    value: &str,
    meta: Metadata,
) -> RunResponse {
    let mut extra = Map::new();
    extra.insert("parameter".into(), parameter.into());
    extra.insert("expected".into(), expected.into());
    extra.insert("value".into(), value.into());
    extra.insert("error_type".into(), "parameter".into());
    RunResponse::error(
        StatusCode::UNPROCESSABLE_ENTITY,
        meta.failed("parameter", message),
        message,
        extra,
    )
}

/// The executor could not produce an answer: 502 (worker crash / protocol) or 503.
fn exec_error(e: ExecError, meta: Metadata) -> RunResponse {
    let status = match e {
        ExecError::WorkerCrash(_) | ExecError::Protocol(_) => StatusCode::BAD_GATEWAY,
        ExecError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let msg = e.to_string();
    let mut extra = Map::new();
    extra.insert("error_type".into(), e.error_type().into());
    RunResponse::error(status, meta.failed(e.error_type(), &msg), &msg, extra)
}

/// The UDF (or its call, or its result) failed: 422 with the exception in metadata and body.
fn udf_error(err: WorkerError, mut meta: Metadata) -> RunResponse {
    if err.kind == "parameter" {
        let message = format!("{}: {}", err.exception_class, err.errormsg);
        return parameter_error(
            &message,
            err.parameter.as_deref().unwrap_or(""),
            err.expected.as_deref().unwrap_or(""),
            err.value.as_deref().unwrap_or(""),
            meta,
        );
    }
    let error_type = match err.kind.as_str() {
        "runtime" => "udf_exception",
        "call" => "udf_call",
        "result" => "udf_result",
        _ => "udf_error",
    };
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
