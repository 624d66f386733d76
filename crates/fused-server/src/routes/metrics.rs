//! `GET /metrics`: Prometheus text format 0.0.4 (see [`crate::metrics`]). No login: meant
//! for a private network (the server binds 127.0.0.1 by default). Requests to `/metrics` and
//! `/health` are counted like any other, each once its response is ready (so a scrape
//! shows the previous scrapes, not itself).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;
use crate::metrics::CONTENT_TYPE;

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = state
        .metrics
        .render(state.executor.stats(), state.cache_stats());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
}
