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
//! * [`error`]: the one HTTP error (`HttpError`, its `ErrorCode`s, `From` every source
//!   error), in the run rendering or RFC 6749's.
//! * [`executor`]: the `Executor` trait and `LocalPool`, its worker protocol and supervisor.
//! * [`jobs`]: server-side jobs (`/api/v1/jobs`): scheduler, result spool, resumption.
//! * [`registry`]: SQLite: users, API keys, access tokens, saved UDFs (versions by content
//!   hash) and share tokens.
//! * [`prepared`]: a UDF ready to run (typed package, content hash, parsed specs, cache
//!   namespace), and the LRU of prepared versions.
//! * [`runcache`]: the run result cache (memory LRU + disk tier, single flight) and its one
//!   call, `get_or_compute`.
//! * [`metrics`]: request counters and histogram, rendered for `GET /metrics`.
//! * [`auth`]: bearer authentication, the OAuth 2.0 device authorization flow, and the
//!   registry / account HTTP endpoints.

pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod executor;
pub mod jobs;
pub mod metrics;
pub mod prepared;
pub mod registry;
pub mod routes;
pub mod runcache;
