//! Gists: fetching one (`GET <api>/gists/<id>[/<revision>]`) and creating one
//! (`POST <api>/gists`).

use serde_json::{json, Map, Value};

use super::cache::{is_safe_file_name, Validator};
use super::http::{status_error, Http, HttpSettings};
use super::repo::Budget;
use super::url::encode_component;
use super::{Download, FetchOptions, MAX_FILES, MAX_FILE_BYTES, MAX_PACKAGE_BYTES};
use crate::error::{Error, Result};

fn gist_url(api_url: &str, id: &str, revision: Option<&str>) -> String {
    let mut url = format!(
        "{}/gists/{}",
        api_url.trim_end_matches('/'),
        encode_component(id)
    );
    if let Some(rev) = revision {
        url.push('/');
        url.push_str(&encode_component(rev));
    }
    url
}

fn bad_response(url: &str, message: impl Into<String>) -> Error {
    Error::Remote {
        url: url.to_string(),
        status: None,
        message: message.into(),
    }
}

/// Download every file of a gist (truncated files through their `raw_url`).
pub(crate) fn download_gist(
    http: &Http,
    opts: &FetchOptions,
    id: &str,
    revision: Option<&str>,
) -> Result<Download> {
    let url = gist_url(&opts.api_url, id, revision);
    let resp = http.get(&url, None, MAX_PACKAGE_BYTES)?;
    if !resp.ok() {
        let what = match revision {
            Some(rev) => format!("gist '{id}' at revision '{rev}'"),
            None => format!("gist '{id}'"),
        };
        return Err(status_error(&resp, &what, http.has_token()));
    }
    let value: Value = serde_json::from_slice(&resp.body)
        .map_err(|e| bad_response(&url, format!("the gist is not valid JSON: {e}")))?;
    let files = value
        .get("files")
        .and_then(Value::as_object)
        .ok_or_else(|| bad_response(&url, "the gist has no 'files' object"))?;
    if files.is_empty() {
        return Err(Error::package(
            &url,
            "the gist has no files: not a UDF package",
        ));
    }
    if files.len() > MAX_FILES {
        return Err(bad_response(
            &url,
            format!("the gist has more than {MAX_FILES} files"),
        ));
    }
    let mut budget = Budget::new(&url);
    let mut dl = Download {
        validators: vec![Validator {
            url: url.clone(),
            etag: resp.etag.clone(),
        }],
        resolved_ref: revision.map(str::to_string),
        owner: value
            .pointer("/owner/login")
            .and_then(Value::as_str)
            .map(str::to_string),
        ..Download::default()
    };
    for (key, file) in files {
        let name = file.get("filename").and_then(Value::as_str).unwrap_or(key);
        if !is_safe_file_name(name) {
            return Err(bad_response(
                &url,
                format!("the gist has an unsafe file name '{name}'"),
            ));
        }
        let truncated = file
            .get("truncated")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let content = file.get("content").and_then(Value::as_str);
        let bytes = if let (false, Some(text)) = (truncated, content) {
            if text.len() as u64 > MAX_FILE_BYTES {
                return Err(bad_response(
                    &url,
                    format!("gist file '{name}' is over the per-file limit"),
                ));
            }
            text.as_bytes().to_vec()
        } else {
            let raw = file
                .get("raw_url")
                .and_then(Value::as_str)
                .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
                .ok_or_else(|| {
                    bad_response(
                        &url,
                        format!("gist file '{name}' has neither content nor an http(s) raw_url"),
                    )
                })?;
            let r = http.get(raw, None, MAX_FILE_BYTES)?;
            if !r.ok() {
                return Err(status_error(
                    &r,
                    &format!("file '{name}' of gist '{id}'"),
                    http.has_token(),
                ));
            }
            r.body
        };
        budget.add(bytes.len())?;
        dl.files.push((name.to_string(), bytes));
    }
    if value.get("truncated").and_then(Value::as_bool) == Some(true) {
        dl.warnings.push(format!(
            "gist '{id}' has more files than the GitHub API lists; only {} were loaded",
            dl.files.len()
        ));
    }
    Ok(dl)
}

/// A gist made by [`create_gist`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedGist {
    pub html_url: String,
    pub id: String,
}

/// Create a gist holding `files` (name, content) through `POST <api>/gists`; needs a token.
pub fn create_gist(
    files: &[(String, String)],
    description: &str,
    public: bool,
    api_url: &str,
    token: Option<&str>,
    settings: &HttpSettings,
) -> Result<CreatedGist> {
    let url = format!("{}/gists", api_url.trim_end_matches('/'));
    let token = token.map(str::trim).filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(Error::AuthRequired {
            url,
            message: "creating a gist needs GITHUB_TOKEN: set it to a GitHub token with the \
                      'gist' scope"
                .to_string(),
        });
    };
    if files.is_empty() {
        return Err(Error::invalid("gist files", "at least one file", "none"));
    }
    let mut map = Map::new();
    for (name, content) in files {
        if !is_safe_file_name(name) {
            return Err(Error::invalid(
                "gist file name",
                "a plain file name without '/'",
                format!("'{name}'"),
            ));
        }
        if content.trim().is_empty() {
            return Err(Error::invalid(
                "gist file content",
                format!("a non-empty '{name}' (GitHub does not store empty gist files)"),
                "an empty string",
            ));
        }
        if map
            .insert(name.clone(), json!({ "content": content }))
            .is_some()
        {
            return Err(Error::invalid(
                "gist file name",
                "unique names",
                format!("'{name}' twice"),
            ));
        }
    }
    let body = json!({ "description": description, "public": public, "files": map });
    let http = Http::new(settings, Some(token), api_url, api_url);
    let resp = http.post_json(&url, &body, MAX_PACKAGE_BYTES)?;
    if resp.status != 201 && resp.status != 200 {
        return Err(status_error(&resp, "the gist endpoint", true));
    }
    let value: Value = serde_json::from_slice(&resp.body)
        .map_err(|e| bad_response(&url, format!("the created gist is not valid JSON: {e}")))?;
    let html_url = value
        .get("html_url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let id = value.get("id").and_then(Value::as_str).unwrap_or_default();
    if !(html_url.starts_with("https://") || html_url.starts_with("http://")) || id.is_empty() {
        return Err(bad_response(
            &url,
            "the created gist has no 'html_url' or 'id'",
        ));
    }
    Ok(CreatedGist {
        html_url: html_url.to_string(),
        id: id.to_string(),
    })
}
