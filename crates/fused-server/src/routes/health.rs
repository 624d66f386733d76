//! `GET /health`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

pub async fn health(State(state): State<AppState>) -> Json<Value> {
    let stats = state.executor.stats();
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "workers": {
            "configured": stats.configured,
            "alive": stats.alive,
            "busy": stats.busy,
            "queued": stats.queued,
            "restarts": stats.restarts,
            "spares": stats.spares,
        },
        "cache": state.cache_stats(),
    }))
}
