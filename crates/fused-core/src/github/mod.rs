//! UDF packages from GitHub and gists, with an on-disk cache.
//!
//! [`fetch`] takes a GitHub or gist URL (see [`url`] for the accepted forms) and returns a local
//! folder holding the package (or, for a URL to one `.py` file, that file). The cache rules
//! ([`cache`]):
//! * a full 40-hex commit sha (or a gist revision) is downloaded once, then never asked again;
//! * anything else (branch, tag, short sha, a gist) is revalidated at most once per
//!   `revalidate_s` seconds with conditional requests (`If-None-Match` on every file fetched
//!   raw, or on the folder listing / the gist): all 304 keeps the copy, anything changed
//!   downloads the package again;
//! * when the network is down (or GitHub rate-limits or fails with a 5xx) a cached copy is used
//!   and a warning returned; with no cached copy the error names the URL and the cause.
//!
//! [`create_gist`] makes a gist through `POST <api>/gists`.

pub mod cache;
mod gist;
pub mod http;
mod repo;
pub mod url;

use std::path::PathBuf;

pub use cache::{CacheDecision, FetchState, Validator, STATE_FILE};
pub use gist::{create_gist, CreatedGist};
pub use http::HttpSettings;
pub use repo::files_named_by_meta;
pub use url::{GithubSource, RepoPath, SourceKind, Target};

use crate::error::{Error, Result};
use http::{status_error, Http};

/// Default `FUSED_GITHUB_API_URL`.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Default `FUSED_GITHUB_RAW_URL`.
pub const DEFAULT_RAW_URL: &str = "https://raw.githubusercontent.com";
/// Default `FUSED_GITHUB_REVALIDATE_S`.
pub const DEFAULT_REVALIDATE_S: u64 = 60;
/// Largest single file accepted.
pub const MAX_FILE_BYTES: u64 = 10 << 20;
/// Largest package (all files together) accepted.
pub const MAX_PACKAGE_BYTES: u64 = 50 << 20;
/// Most files taken from one folder or gist.
pub const MAX_FILES: usize = 200;

/// Where to fetch from and where to cache.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub cache_dir: PathBuf,
    pub api_url: String,
    pub raw_url: String,
    pub token: Option<String>,
    pub revalidate_s: u64,
    pub http: HttpSettings,
}

impl FetchOptions {
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        FetchOptions {
            cache_dir: cache_dir.into(),
            api_url: DEFAULT_API_URL.to_string(),
            raw_url: DEFAULT_RAW_URL.to_string(),
            token: None,
            revalidate_s: DEFAULT_REVALIDATE_S,
            http: HttpSettings::default(),
        }
    }
}

/// A downloaded package, before it is installed in the cache.
#[derive(Debug, Default)]
pub(crate) struct Download {
    pub files: Vec<(String, Vec<u8>)>,
    pub validators: Vec<Validator>,
    pub resolved_ref: Option<String>,
    pub resolved_path: Option<String>,
    pub owner: Option<String>,
    pub entry: Option<String>,
    pub warnings: Vec<String>,
}

/// The outcome of [`fetch`].
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The package folder, or for a URL to one `.py` file that file.
    pub path: PathBuf,
    /// The package folder in the cache.
    pub dir: PathBuf,
    pub kind: SourceKind,
    pub owner: Option<String>,
    pub repo: Option<String>,
    /// The resolved ref (for a slashy ref resolved through the contents API, the real split),
    /// or a gist's revision.
    pub reference: Option<String>,
    /// The resolved path inside the repository ("" for the root).
    pub subpath: Option<String>,
    pub gist_id: Option<String>,
    /// Whether the cached copy was used (fresh, confirmed by a 304, or as an offline fallback).
    pub from_cache: bool,
    pub warnings: Vec<String>,
}

/// Fetch the package behind a GitHub or gist URL into the cache and say where it is.
pub fn fetch(url: &str, opts: &FetchOptions) -> Result<Fetched> {
    let source = GithubSource::parse(url)?;
    let dir = cache::package_dir(&opts.cache_dir, &source);
    let same_endpoints = |s: &FetchState| {
        s.api_url.trim_end_matches('/') == opts.api_url.trim_end_matches('/')
            && s.raw_url.trim_end_matches('/') == opts.raw_url.trim_end_matches('/')
    };
    let now = crate::time::now_s();
    let mut cached = cache::read_state(&dir).filter(same_endpoints);
    let mut decision = cache::decide(cached.as_ref(), source.is_pinned(), now, opts.revalidate_s);
    // Anything but a fresh copy is fetched under the package's lock, so that loads of one package
    // in many threads or processes do not swap its folder under each other. Whoever waited reads
    // the state again: a copy another caller fetched or revalidated meanwhile is used as it is.
    let _lock = if decision == CacheDecision::UseCached {
        None
    } else {
        let lock = cache::lock_package(&opts.cache_dir, &dir, lock_wait(&opts.http))?;
        let now_cached = cache::read_state(&dir).filter(same_endpoints);
        if now_cached != cached {
            decision = match &now_cached {
                Some(_) => CacheDecision::UseCached,
                // the copy went away meanwhile (removed by hand)
                None => CacheDecision::Fetch,
            };
            cached = now_cached;
        }
        Some(lock)
    };
    let http = Http::new(
        &opts.http,
        opts.token.as_deref(),
        &opts.api_url,
        &opts.raw_url,
    );

    match decision {
        CacheDecision::Fetch => {
            download_and_install(&http, opts, &source, &dir, now).map_err(|e| without_cache(e, url))
        }
        CacheDecision::UseCached => {
            let state = cached.expect("decide() returns UseCached only with a state");
            Ok(outcome(&source, &dir, &state, true, Vec::new()))
        }
        CacheDecision::Revalidate => {
            let mut state = cached.expect("decide() returns Revalidate only with a state");
            let fallback = |e: Error, state: &FetchState| -> Result<Fetched> {
                if is_transient(&e) {
                    let warning = format!(
                        "using the cached copy of {url} fetched {} s ago: {e}",
                        now.saturating_sub(state.fetched_at)
                    );
                    Ok(outcome(&source, &dir, state, true, vec![warning]))
                } else {
                    Err(e)
                }
            };
            match revalidate(&http, &state) {
                Ok(true) => {
                    state.fetched_at = now;
                    let mut warnings = Vec::new();
                    if let Err(e) = cache::update_state(&dir, &state) {
                        warnings.push(format!("could not record the revalidation of {url}: {e}"));
                    }
                    Ok(outcome(&source, &dir, &state, true, warnings))
                }
                Ok(false) => match download_and_install(&http, opts, &source, &dir, now) {
                    Ok(fetched) => Ok(fetched),
                    Err(e) => fallback(e, &state),
                },
                Err(e) => fallback(e, &state),
            }
        }
    }
}

/// How long to wait for another fetch of the same package: long enough for its requests to time
/// out (a package is a handful of requests), short enough that a wedged holder is reported.
fn lock_wait(http: &HttpSettings) -> std::time::Duration {
    (http.connect_timeout + http.request_timeout) * 4
}

/// Ask whether a cached copy is still current: `Ok(true)` when every validator answers 304.
fn revalidate(http: &Http, state: &FetchState) -> Result<bool> {
    if state.validators.is_empty() {
        return Ok(false);
    }
    for v in &state.validators {
        let Some(etag) = v.etag.as_deref() else {
            return Ok(false);
        };
        // A gist's JSON holds every file: allow a whole package.
        let resp = http.get(&v.url, Some(etag), MAX_PACKAGE_BYTES)?;
        match resp.status {
            304 => {}
            s if (200..300).contains(&s) || s == 404 => return Ok(false),
            _ => {
                return Err(status_error(
                    &resp,
                    &format!("{} (revalidating)", state.source_url),
                    http.has_token(),
                ))
            }
        }
    }
    Ok(true)
}

/// Errors that say nothing about the package itself: the cached copy stays usable.
fn is_transient(e: &Error) -> bool {
    match e {
        Error::Network { .. } | Error::RateLimited { .. } => true,
        Error::Remote { status, .. } => status.is_none_or(|s| s >= 500),
        _ => false,
    }
}

/// With no cached copy, a network error names the URL asked for, the request and the cause.
fn without_cache(e: Error, url: &str) -> Error {
    match e {
        Error::Network {
            url: request,
            cause,
        } => Error::Network {
            url: url.to_string(),
            cause: format!("{cause} (while requesting {request}); no cached copy to fall back on"),
        },
        e => e,
    }
}

fn download_and_install(
    http: &Http,
    opts: &FetchOptions,
    source: &GithubSource,
    dir: &std::path::Path,
    now: u64,
) -> Result<Fetched> {
    let dl = match &source.target {
        Target::Folder(p) => repo::download_folder(http, opts, p)?,
        Target::File(p) => repo::download_file(http, opts, p)?,
        Target::Gist { id, revision, .. } => {
            gist::download_gist(http, opts, id, revision.as_deref())?
        }
    };
    let mut state = FetchState::new(
        &source.url,
        &opts.api_url,
        &opts.raw_url,
        now,
        dl.files.iter().map(|(n, _)| n.clone()).collect(),
        dl.validators,
    );
    state.resolved_ref = dl.resolved_ref;
    state.resolved_path = dl.resolved_path;
    state.owner = dl.owner;
    state.entry = dl.entry;
    cache::install(dir, &dl.files, &state)?;
    Ok(outcome(source, dir, &state, false, dl.warnings))
}

fn outcome(
    source: &GithubSource,
    dir: &std::path::Path,
    state: &FetchState,
    from_cache: bool,
    warnings: Vec<String>,
) -> Fetched {
    let path = match &state.entry {
        Some(entry) => dir.join(entry),
        None => dir.to_path_buf(),
    };
    let (owner, repo, reference, subpath, gist_id) = match &source.target {
        Target::Folder(p) | Target::File(p) => (
            Some(p.owner.clone()),
            Some(p.repo.clone()),
            state.resolved_ref.clone().or_else(|| Some(p.reference())),
            state.resolved_path.clone().or_else(|| Some(p.path())),
            None,
        ),
        Target::Gist { user, id, revision } => (
            state.owner.clone().or_else(|| user.clone()),
            None,
            revision.clone(),
            None,
            Some(id.clone()),
        ),
    };
    Fetched {
        path,
        dir: dir.to_path_buf(),
        kind: source.kind,
        owner,
        repo,
        reference,
        subpath,
        gist_id,
        from_cache,
        warnings,
    }
}
