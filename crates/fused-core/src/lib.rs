//! fused-core: the pure-Rust heart of fused-rs.
//!
//! No pyo3, no async runtime in the public API. Everything here is shared by the
//! Python SDK (through `fused-py`) and, later, the HTTP server, so that both apply
//! exactly the same rules.
//!
//! * [`tiles`]: Web Mercator tile math, mercantile-compatible.
//! * [`params`]: parameter type specs and the string -> value conversion rules.
//! * [`package`]: the UDF package model (meta.json, folder, zip), read and written.
//! * [`fncache`]: the on-disk store behind `@fused.cache` (function results: atomic entries,
//!   lock files). Not to be confused with [`runcache`].
//! * [`runcache`]: the run result cache shared by the server and the local engine: keys,
//!   the checksummed entry format, the disk and memory tiers.
//! * [`duration`]: `cache_max_age` strings such as `"30m"`.
//! * [`tileset`]: PMTiles / MBTiles archives, TileJSON and MapLibre style documents.
//! * [`github`]: UDF packages fetched from GitHub and gists, with an on-disk cache.
//! * Shared plumbing: [`fsutil`] (write-then-rename for files and folders), [`hash`]
//!   (SHA-256, hex), [`time`] (Unix clock, civil-from-days).

pub mod duration;
pub mod encode;
pub mod error;
pub mod fncache;
pub mod fsutil;
pub mod github;
pub mod hash;
pub mod package;
pub mod params;
pub mod result;
pub mod runcache;
pub mod tiles;
pub mod tileset;
pub mod time;

pub use error::{Error, Result, TileArg};
