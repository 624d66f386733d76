//! `GET /health`: `"status": "ok"` (200) once at least one worker can take a task, else
//! `"status": "starting"` (503), so a load balancer or a client waiting for readiness does
//! not send requests into a pool that is still importing its libraries.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let stats = state.executor.stats();
    let ready = stats.alive > 0;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ok" } else { "starting" },
        "version": env!("CARGO_PKG_VERSION"),
        "executor": state.executor.kind(),
        "workers": {
            "configured": stats.configured,
            "alive": stats.alive,
            "busy": stats.busy,
            "queued": stats.queued,
            "restarts": stats.restarts,
            "spares": stats.spares,
        },
        "cache": state.cache_stats(),
    });
    (status, Json(body))
}
