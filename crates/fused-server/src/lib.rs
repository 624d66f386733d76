//! fused-server: the HTTP server of fused-rs (axum + tokio).
//!
//! request -> auth -> params (validated by fused-core's rules against the UDF's schema)
//! -> executor (a supervised pool of warm Python workers) -> canonical result -> encoder
//! (fused-core) -> response with `x-fused-metadata`.
//!
//! * [`config`]: command-line flags and defaults.
//! * [`app`]: builds the router and serves it.
//! * [`routes`]: the run endpoints (code shipped by the SDK, saved UDFs, share tokens),
//!   health and the OpenAPI document.
//! * [`executor`]: the `Executor` trait and `LocalPool`, its worker protocol and supervisor.
//! * [`jobs`]: server-side jobs (`/api/v1/jobs`): scheduler, result spool, resumption.
//! * [`registry`]: SQLite: users, API keys, access tokens, saved UDFs (versions by content
//!   hash) and share tokens.
//! * [`cache`]: the run result cache (memory LRU + disk tier, single flight).
//! * [`metrics`]: request counters and histogram, rendered for `GET /metrics`.
//! * [`auth`]: bearer authentication, the OAuth 2.0 device authorization flow, and the
//!   registry / account HTTP endpoints.

pub mod app;
pub mod auth;
pub mod config;
pub mod executor;
pub mod jobs;
pub mod metrics;
pub mod registry;
pub mod routes;
pub mod runcache;
