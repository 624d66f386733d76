//! The on-disk cache of fetched packages.
//!
//! Layout under the cache dir (`$FUSED_CACHE_DIR`, default `~/.cache/fused`):
//!
//! ```text
//! github/<owner>/<repo>/folder/<escaped ref/path>/   a UDF folder (tree, blob or raw meta.json)
//! github/<owner>/<repo>/file/<escaped ref/path.py>/   one .py file (blob or raw)
//! gist/<id>/  or  gist/<id>@<revision>/               a gist
//! ```
//!
//! Each package folder holds the files plus [`STATE_FILE`] (etags, fetch time, resolved ref and
//! path, source URL). A folder is written complete into a temporary sibling (`.tmp-<name>-...`)
//! and renamed into place, so a package folder that exists is always whole; leftovers of a crash
//! are never read and are removed once they are an hour old. Downloads and revalidations of one
//! package take turns on its lock ([`lock_package`]), so no caller sees its folder swapped away.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::url::{GithubSource, Target};
use crate::error::{Error, Result};
use crate::fncache::CacheLock;
use crate::fsutil::{self, TempPath};

/// The state file inside every cached package folder.
pub const STATE_FILE: &str = ".fused-fetch.json";
const STATE_VERSION: u32 = 1;
/// Leftover temporary folders older than this are removed (younger ones may be another
/// process's download in progress).
pub const LEFTOVER_MAX_AGE: Duration = Duration::from_secs(3600);

/// A conditional request that tells whether a cached package is still current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validator {
    pub url: String,
    pub etag: Option<String>,
}

/// What `.fused-fetch.json` records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchState {
    pub version: u32,
    pub source_url: String,
    /// The endpoints the copy came from: a copy from other endpoints is not reused.
    pub api_url: String,
    pub raw_url: String,
    /// Unix seconds of the last download or successful revalidation.
    pub fetched_at: u64,
    pub resolved_ref: Option<String>,
    pub resolved_path: Option<String>,
    /// Gist owner, when known.
    pub owner: Option<String>,
    /// For a single-file source, the file's name.
    pub entry: Option<String>,
    pub files: Vec<String>,
    pub validators: Vec<Validator>,
}

impl FetchState {
    pub fn new(
        source_url: &str,
        api_url: &str,
        raw_url: &str,
        fetched_at: u64,
        files: Vec<String>,
        validators: Vec<Validator>,
    ) -> Self {
        FetchState {
            version: STATE_VERSION,
            source_url: source_url.to_string(),
            api_url: api_url.to_string(),
            raw_url: raw_url.to_string(),
            fetched_at,
            resolved_ref: None,
            resolved_path: None,
            owner: None,
            entry: None,
            files,
            validators,
        }
    }
}

/// What to do with a source given what the cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheDecision {
    /// Use the cached copy without any network.
    UseCached,
    /// Ask the server whether the cached copy is still current (conditional requests).
    Revalidate,
    /// Nothing usable is cached: download.
    Fetch,
}

/// Pinned sources (a commit sha, a gist revision) are fetched once; others are revalidated at
/// most once per `revalidate_s` seconds. A `fetched_at` in the future (clock moved back by more
/// than `revalidate_s`) counts as stale.
pub fn decide(
    state: Option<&FetchState>,
    pinned: bool,
    now: u64,
    revalidate_s: u64,
) -> CacheDecision {
    let Some(state) = state else {
        return CacheDecision::Fetch;
    };
    if pinned {
        return CacheDecision::UseCached;
    }
    let fresh = if now >= state.fetched_at {
        now - state.fetched_at < revalidate_s
    } else {
        state.fetched_at - now < revalidate_s
    };
    if fresh {
        CacheDecision::UseCached
    } else {
        CacheDecision::Revalidate
    }
}

/// The package folder for a source.
pub fn package_dir(cache_dir: &Path, source: &GithubSource) -> PathBuf {
    match &source.target {
        Target::Folder(p) => cache_dir
            .join("github")
            .join(&p.owner)
            .join(&p.repo)
            .join("folder")
            .join(escape_key(&p.rest())),
        Target::File(p) => cache_dir
            .join("github")
            .join(&p.owner)
            .join(&p.repo)
            .join("file")
            .join(escape_key(&p.rest())),
        Target::Gist { id, revision, .. } => {
            let name = match revision {
                Some(rev) => format!("{id}@{rev}"),
                None => id.clone(),
            };
            cache_dir.join("gist").join(name)
        }
    }
}

/// One safe folder name for `ref/path`: `/` becomes `~`, bytes outside `[A-Za-z0-9._-]` become
/// `%XX`; a long key keeps its start and gains a hash of the whole so it stays unique.
pub fn escape_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'/' => out.push('~'),
            b if b.is_ascii_alphanumeric() || b"._-".contains(&b) => out.push(b as char),
            b => {
                let _ = write!(out, "%{b:02X}"); // writing to a String cannot fail
            }
        }
    }
    if out.starts_with('.') {
        out.replace_range(0..1, "%2E");
    }
    if out.len() > 180 {
        let mut cut = 120;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out = format!("{}~{:016x}", &out[..cut], fnv1a(key.as_bytes()));
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A file name from a server or a meta.json that is safe to write in a package folder.
pub fn is_safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && name != STATE_FILE
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
}

/// The state of a cached package, if the folder holds a complete one.
pub fn read_state(dir: &Path) -> Option<FetchState> {
    let bytes = fs::read(dir.join(STATE_FILE)).ok()?;
    let state: FetchState = serde_json::from_slice(&bytes).ok()?;
    if state.version != STATE_VERSION {
        return None;
    }
    let complete = state
        .files
        .iter()
        .all(|f| is_safe_file_name(f) && dir.join(f).is_file());
    complete.then_some(state)
}

fn state_json(state: &FetchState) -> Vec<u8> {
    serde_json::to_vec_pretty(state).expect("state serializes")
}

fn write_state(path: &Path, state: &FetchState) -> Result<()> {
    fs::write(path, state_json(state)).map_err(|e| Error::io(path, e))
}

/// Write a whole package atomically as `dir`: into a temporary sibling first, then swapped into
/// place ([`fsutil::replace`]). Callers hold the package's lock ([`lock_package`]), so no other
/// install of it runs meanwhile.
pub fn install(dir: &Path, files: &[(String, Vec<u8>)], state: &FetchState) -> Result<()> {
    let parent = dir
        .parent()
        .ok_or_else(|| Error::package(dir, "no parent folder"))?;
    if dir.file_name().is_none() {
        return Err(Error::package(dir, "no folder name"));
    }
    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    remove_leftovers(parent, LEFTOVER_MAX_AGE);

    let tmp = TempPath::dir_for(dir).map_err(|e| Error::io(dir, e))?;
    for (file, content) in files {
        if !is_safe_file_name(file) {
            return Err(Error::package(
                dir,
                format!("refusing unsafe file name '{file}'"),
            ));
        }
        let path = tmp.path().join(file);
        fs::write(&path, content).map_err(|e| Error::io(&path, e))?;
    }
    // The state file last: a folder with it is complete (the rename makes it visible).
    write_state(&tmp.path().join(STATE_FILE), state)?;
    fsutil::replace(tmp.path(), dir).map_err(|e| Error::io(dir, e))?;
    tmp.keep();
    Ok(())
}

/// Rewrite the state file of an installed package (after a 304), atomically.
pub fn update_state(dir: &Path, state: &FetchState) -> Result<()> {
    let target = dir.join(STATE_FILE);
    fsutil::write_atomic(&target, &state_json(state)).map_err(|e| Error::io(&target, e))
}

/// Lock the package folder `dir` against other fetches of it, in this process or another:
/// an advisory lock on `<cache_dir>/.locks/<hash of dir>.lock` (outside the package folders, so
/// listings of them stay clean; the OS drops it if the holder dies). Waits up to `wait`, then
/// says which lock is held.
pub fn lock_package(cache_dir: &Path, dir: &Path, wait: Duration) -> Result<CacheLock> {
    let locks = cache_dir.join(".locks");
    fs::create_dir_all(&locks).map_err(|e| Error::io(&locks, e))?;
    let name = format!("{:016x}.lock", fnv1a(dir.as_os_str().as_encoded_bytes()));
    let path = locks.join(name);
    CacheLock::acquire(&path, wait)?.ok_or_else(|| {
        Error::package(
            dir,
            format!(
                "another fetch of this package has held {} for over {} s",
                path.display(),
                wait.as_secs()
            ),
        )
    })
}

/// Remove `.tmp-*` and `.old-*` folders in `parent` older than `max_age` (crash leftovers).
/// Younger ones may belong to a download in progress and are left alone. Errors are ignored.
pub fn remove_leftovers(parent: &Path, max_age: Duration) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(".tmp-") || name.starts_with(".old-")) {
            continue;
        }
        let old_enough = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age >= max_age);
        if old_enough {
            let path = entry.path();
            if path.is_dir() {
                let _ = fs::remove_dir_all(&path);
            } else {
                let _ = fs::remove_file(&path);
            }
        }
    }
}
