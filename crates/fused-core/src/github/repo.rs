//! Downloading a UDF folder or one file from a GitHub repository.
//!
//! A folder: `GET <raw>/<owner>/<repo>/<ref>/<path>/meta.json`, then the files it names
//! (`job_config.steps[].udf.source`, each `headers[].source_file`) and `README.md` (or
//! `README.MD`) when present. Without a meta.json (a 404, also what a wrong split of a slashy ref
//! gives), the folder is listed through `GET <api>/repos/<owner>/<repo>/contents/<path>?ref=<ref>`
//! for every ref/path split, and each file entry's `download_url` is downloaded.

use std::fmt::Write as _;

use serde_json::Value;

use super::cache::{is_safe_file_name, Validator};
use super::http::{human_bytes, status_error, Http, Response};
use super::url::{encode_component, encode_path, RepoPath};
use super::{Download, FetchOptions, MAX_FILES, MAX_FILE_BYTES, MAX_PACKAGE_BYTES};
use crate::error::{Error, Result};

/// Extensions (lower-cased) of the files taken from a folder listing; others are skipped.
const LISTED_EXTENSIONS: &[&str] = &[
    "py", "json", "md", "txt", "toml", "yaml", "yml", "cfg", "ini", "sql", "csv", "geojson",
];

/// The listing of a folder may be large (up to 1000 entries on GitHub).
const MAX_LISTING_BYTES: u64 = 5 << 20;

/// Running total of a package's bytes, capped at [`MAX_PACKAGE_BYTES`].
pub(crate) struct Budget {
    total: u64,
    url: String,
}

impl Budget {
    pub(crate) fn new(url: &str) -> Self {
        Budget {
            total: 0,
            url: url.to_string(),
        }
    }

    pub(crate) fn add(&mut self, bytes: usize) -> Result<()> {
        self.total += bytes as u64;
        if self.total > MAX_PACKAGE_BYTES {
            return Err(Error::Remote {
                url: self.url.clone(),
                status: None,
                message: format!(
                    "package is larger than the {} limit",
                    human_bytes(MAX_PACKAGE_BYTES)
                ),
            });
        }
        Ok(())
    }
}

fn raw_url(opts: &FetchOptions, p: &RepoPath, rest: &str) -> String {
    format!(
        "{}/{}/{}/{}",
        opts.raw_url.trim_end_matches('/'),
        encode_component(&p.owner),
        encode_component(&p.repo),
        encode_path(rest)
    )
}

fn contents_url(opts: &FetchOptions, p: &RepoPath, reference: &str, path: &str) -> String {
    let base = format!(
        "{}/repos/{}/{}/contents",
        opts.api_url.trim_end_matches('/'),
        encode_component(&p.owner),
        encode_component(&p.repo)
    );
    let path = if path.is_empty() {
        String::new()
    } else {
        format!("/{}", encode_path(path))
    };
    format!("{base}{path}?ref={}", encode_component(reference))
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}/{name}")
    }
}

/// One `.py` file (blob or raw URL): raw.githubusercontent.com resolves the ref/path split
/// itself, so one request whatever the ref.
pub(crate) fn download_file(http: &Http, opts: &FetchOptions, p: &RepoPath) -> Result<Download> {
    let url = raw_url(opts, p, &p.rest());
    let resp = http.get(&url, None, MAX_FILE_BYTES)?;
    if !resp.ok() {
        return Err(status_error(
            &resp,
            &format!("GitHub file ({})", p.describe(&p.reference(), &p.path())),
            http.has_token(),
        ));
    }
    let name = p.segments.last().cloned().unwrap_or_default();
    if !is_safe_file_name(&name) {
        return Err(Error::invalid(
            "GitHub file name",
            "a plain file name",
            &name,
        ));
    }
    Ok(Download {
        validators: vec![Validator {
            url,
            etag: resp.etag,
        }],
        files: vec![(name.clone(), resp.body)],
        resolved_ref: Some(p.reference()),
        resolved_path: Some(p.path()),
        entry: Some(name),
        ..Download::default()
    })
}

/// A UDF folder: through its meta.json, else through the contents API.
pub(crate) fn download_folder(http: &Http, opts: &FetchOptions, p: &RepoPath) -> Result<Download> {
    let base = raw_url(opts, p, &p.rest());
    let meta_url = format!("{base}/meta.json");
    let resp = http.get(&meta_url, None, MAX_FILE_BYTES)?;
    match resp.status {
        200 => folder_from_meta(http, p, &base, resp),
        404 => folder_from_listing(http, opts, p),
        _ => Err(status_error(
            &resp,
            &folder_what(p, &p.reference(), &p.path()),
            http.has_token(),
        )),
    }
}

fn folder_what(p: &RepoPath, reference: &str, path: &str) -> String {
    format!("GitHub folder ({})", p.describe(reference, path))
}

/// The file names a meta.json refers to: each step's `udf.source` and header `source_file`s.
pub fn files_named_by_meta(meta: &Value) -> Vec<String> {
    let mut names = Vec::new();
    let steps = meta
        .pointer("/job_config/steps")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for step in &steps {
        let Some(udf) = step.get("udf") else { continue };
        if let Some(source) = udf.get("source").and_then(Value::as_str) {
            names.push(source.to_string());
        }
        for header in udf
            .get("headers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(file) = header.get("source_file").and_then(Value::as_str) {
                names.push(file.to_string());
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| !n.is_empty() && seen.insert(n.clone()));
    names
}

fn folder_from_meta(http: &Http, p: &RepoPath, base: &str, meta: Response) -> Result<Download> {
    let (reference, path) = (p.reference(), p.path());
    let value: Value = serde_json::from_slice(&meta.body)
        .map_err(|e| Error::package(&meta.url, format!("meta.json is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(Error::package(&meta.url, "meta.json is not a JSON object"));
    }
    let mut budget = Budget::new(base);
    budget.add(meta.body.len())?;
    let mut dl = Download {
        resolved_ref: Some(reference.clone()),
        resolved_path: Some(path.clone()),
        ..Download::default()
    };
    dl.validators.push(Validator {
        url: meta.url.clone(),
        etag: meta.etag.clone(),
    });
    dl.files.push(("meta.json".to_string(), meta.body));

    for name in files_named_by_meta(&value) {
        if !is_safe_file_name(&name) || name == "meta.json" {
            return Err(Error::package(
                format!("{base}/meta.json"),
                format!("names the file '{name}': expected a plain file name in the UDF folder"),
            ));
        }
        let url = format!("{base}/{}", encode_component(&name));
        let resp = http.get(&url, None, MAX_FILE_BYTES)?;
        if !resp.ok() {
            let what = format!(
                "file '{name}' named by meta.json in GitHub folder ({})",
                p.describe(&reference, &path)
            );
            return Err(status_error(&resp, &what, http.has_token()));
        }
        budget.add(resp.body.len())?;
        dl.validators.push(Validator {
            url,
            etag: resp.etag,
        });
        dl.files.push((name, resp.body));
    }

    if !dl
        .files
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("README.md"))
    {
        for readme in ["README.md", "README.MD"] {
            let url = format!("{base}/{readme}");
            let resp = http.get(&url, None, MAX_FILE_BYTES)?;
            if resp.ok() {
                budget.add(resp.body.len())?;
                dl.validators.push(Validator {
                    url,
                    etag: resp.etag,
                });
                dl.files.push((readme.to_string(), resp.body));
                break;
            }
            if resp.status != 404 {
                let what = format!(
                    "{readme} in GitHub folder ({})",
                    p.describe(&reference, &path)
                );
                return Err(status_error(&resp, &what, http.has_token()));
            }
        }
    }
    Ok(dl)
}

fn folder_from_listing(http: &Http, opts: &FetchOptions, p: &RepoPath) -> Result<Download> {
    let splits = p.splits(0);
    let private_hint = if http.has_token() {
        ""
    } else {
        "; if the repository is private, set GITHUB_TOKEN"
    };
    let mut first_url = None;
    for (reference, path) in &splits {
        let url = contents_url(opts, p, reference, path);
        let resp = http.get(&url, None, MAX_LISTING_BYTES)?;
        match resp.status {
            200 => return listed_files(http, p, reference, path, resp),
            404 => {
                // GitHub says "No commit found for the ref <ref>" when the ref does not exist;
                // a plain "Not Found" means the ref exists but the path does not, and git
                // cannot have a longer ref through an existing one: stop splitting.
                let unknown_ref = resp
                    .message()
                    .is_some_and(|m| m.starts_with("No commit found"));
                if !unknown_ref {
                    return Err(Error::RemoteNotFound {
                        what: folder_what(p, reference, path),
                        url,
                        hint: private_hint.to_string(),
                    });
                }
                first_url.get_or_insert(url);
            }
            _ => {
                return Err(status_error(
                    &resp,
                    &folder_what(p, reference, path),
                    http.has_token(),
                ))
            }
        }
    }
    let mut hint = String::from("; no ref of the repository matches");
    if splits.len() > 1 {
        let _ = write!(hint, " any ref/path split of '{}'", p.rest()); // to a String: cannot fail
    }
    hint.push_str(private_hint);
    Err(Error::RemoteNotFound {
        what: folder_what(p, &p.reference(), &p.path()),
        url: first_url.unwrap_or_default(),
        hint,
    })
}

fn listed_files(
    http: &Http,
    p: &RepoPath,
    reference: &str,
    path: &str,
    listing: Response,
) -> Result<Download> {
    let what = folder_what(p, reference, path);
    let value: Value = serde_json::from_slice(&listing.body).map_err(|e| Error::Remote {
        url: listing.url.clone(),
        status: Some(listing.status),
        message: format!("the contents listing is not valid JSON: {e}"),
    })?;
    let entries = match value {
        Value::Array(entries) => entries,
        Value::Object(_) => {
            return Err(Error::invalid(
                "GitHub folder URL",
                "a folder (for one file use a /blob/ URL to a .py file)",
                format!("the file {what}"),
            ))
        }
        _ => {
            return Err(Error::Remote {
                url: listing.url.clone(),
                status: Some(listing.status),
                message: "the contents listing is not a JSON array".into(),
            })
        }
    };
    let mut budget = Budget::new(&listing.url);
    let mut dl = Download {
        resolved_ref: Some(reference.to_string()),
        resolved_path: Some(path.to_string()),
        validators: vec![Validator {
            url: listing.url.clone(),
            etag: listing.etag.clone(),
        }],
        ..Download::default()
    };
    for entry in &entries {
        let field = |k: &str| entry.get(k).and_then(Value::as_str);
        if field("type") != Some("file") {
            continue; // subfolders, symlinks, submodules
        }
        let Some(name) = field("name") else { continue };
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        if !LISTED_EXTENSIONS.contains(&ext.as_str()) {
            continue;
        }
        if !is_safe_file_name(name) {
            return Err(Error::Remote {
                url: listing.url.clone(),
                status: None,
                message: format!("the contents listing has an unsafe file name '{name}'"),
            });
        }
        let size = entry.get("size").and_then(Value::as_u64).unwrap_or(0);
        if size > MAX_FILE_BYTES {
            return Err(Error::Remote {
                url: listing.url.clone(),
                status: None,
                message: format!(
                    "'{name}' is {size} bytes, over the {} limit per file",
                    human_bytes(MAX_FILE_BYTES)
                ),
            });
        }
        let Some(download) =
            field("download_url").filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        else {
            return Err(Error::Remote {
                url: listing.url.clone(),
                status: None,
                message: format!("the entry '{name}' has no http(s) download_url"),
            });
        };
        if dl.files.len() >= MAX_FILES {
            return Err(Error::Remote {
                url: listing.url.clone(),
                status: None,
                message: format!("the folder has more than {MAX_FILES} files"),
            });
        }
        let resp = http.get(download, None, MAX_FILE_BYTES)?;
        if !resp.ok() {
            let what = format!("file '{}' of {what}", join(path, name));
            return Err(status_error(&resp, &what, http.has_token()));
        }
        budget.add(resp.body.len())?;
        dl.files.push((name.to_string(), resp.body));
    }
    let has_code = dl
        .files
        .iter()
        .any(|(n, _)| n.ends_with(".py") || n == "meta.json");
    if !has_code {
        return Err(Error::package(
            p.owner_repo_url(reference, path),
            "the folder has no meta.json and no .py file: not a UDF package",
        ));
    }
    Ok(dl)
}
