//! Parsing GitHub and gist URLs into a [`GithubSource`], without any network.
//!
//! Accepted forms (http or https, query and fragment ignored):
//! * `https://github.com/<owner>/<repo>/tree/<ref>[/<path>]` - a folder (empty path: repo root);
//! * `https://github.com/<owner>/<repo>/blob/<ref>/<path>.py` - one file,
//!   `.../blob/<ref>/<path>/meta.json` - its folder;
//! * `https://raw.githubusercontent.com/<owner>/<repo>/<ref>/<path>` - a `.py` file, a
//!   `meta.json` (its folder) or a folder;
//! * `https://gist.github.com/[<user>/]<id>[/<revision>]` (`.git` suffix allowed).
//!
//! A ref may contain slashes (`feature/x`), so `<ref>/<path>` is kept as one list of segments
//! and split later ([`RepoPath::splits`]); the first guess takes one segment as the ref (three
//! for `refs/heads/<name>` and `refs/tags/<name>`).

use std::fmt::Write as _;

use crate::error::{Error, Result};

/// The form of URL a source came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Tree,
    Blob,
    Raw,
    Gist,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Tree => "tree",
            SourceKind::Blob => "blob",
            SourceKind::Raw => "raw",
            SourceKind::Gist => "gist",
        }
    }
}

/// `<owner>/<repo>` plus the ref and path segments of a repository URL, percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPath {
    pub owner: String,
    pub repo: String,
    /// The ref segments followed by the path segments (never empty: there is a ref).
    pub segments: Vec<String>,
    /// How many leading segments the first guess takes as the ref.
    pub ref_len: usize,
}

impl RepoPath {
    /// The first guess at the ref (`main`, a sha, `refs/heads/x`).
    pub fn reference(&self) -> String {
        self.segments[..self.ref_len].join("/")
    }

    /// The first guess at the path inside the repository ("" for the root).
    pub fn path(&self) -> String {
        self.segments[self.ref_len..].join("/")
    }

    /// `<ref>/<path>` exactly as in the URL (decoded).
    pub fn rest(&self) -> String {
        self.segments.join("/")
    }

    /// Every `(ref, path)` split to try, the first guess first, then longer refs.
    /// `min_path` is 0 for folders (the path may be the repo root) and 1 for files.
    pub fn splits(&self, min_path: usize) -> Vec<(String, String)> {
        let n = self.segments.len();
        (self.ref_len..=n.saturating_sub(min_path))
            .map(|i| (self.segments[..i].join("/"), self.segments[i..].join("/")))
            .collect()
    }

    /// A commit sha as the ref, full (40 hex) or short (7 to 39 hex, as catalog UDFs pin
    /// their helpers: `tree/3991434/public/common`): its content can never change, so it is
    /// fetched once and never revalidated. (A branch named like a short sha would be taken
    /// for a commit; GitHub's own short links make the same assumption.)
    pub fn is_pinned(&self) -> bool {
        self.ref_len == 1 && is_commit_sha(&self.segments[0])
    }

    /// The github.com tree URL of a ref and path (for messages).
    pub fn owner_repo_url(&self, reference: &str, path: &str) -> String {
        let mut url = format!(
            "https://github.com/{}/{}/tree/{}",
            self.owner, self.repo, reference
        );
        if !path.is_empty() {
            url.push('/');
            url.push_str(path);
        }
        url
    }

    /// Human description used in errors: owner, repo, ref and path.
    pub fn describe(&self, reference: &str, path: &str) -> String {
        let path = if path.is_empty() { "/" } else { path };
        format!(
            "owner '{}', repo '{}', ref '{}', path '{}'",
            self.owner, self.repo, reference, path
        )
    }
}

/// What a URL points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A UDF folder (meta.json and the files it names, or every file of the folder).
    Folder(RepoPath),
    /// One `.py` file.
    File(RepoPath),
    /// A gist, optionally at one revision.
    Gist {
        user: Option<String>,
        id: String,
        revision: Option<String>,
    },
}

/// A parsed GitHub or gist URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubSource {
    pub url: String,
    pub kind: SourceKind,
    pub target: Target,
}

impl GithubSource {
    pub fn parse(url: &str) -> Result<Self> {
        parse(url)
    }

    pub fn repo_path(&self) -> Option<&RepoPath> {
        match &self.target {
            Target::Folder(p) | Target::File(p) => Some(p),
            Target::Gist { .. } => None,
        }
    }

    /// Whether the content behind this URL is immutable (commit sha, gist revision).
    pub fn is_pinned(&self) -> bool {
        match &self.target {
            Target::Folder(p) | Target::File(p) => p.is_pinned(),
            Target::Gist { revision, .. } => revision.is_some(),
        }
    }
}

pub fn is_full_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A full or abbreviated (at least 7 hex digits, git's default) commit sha.
pub fn is_commit_sha(s: &str) -> bool {
    (7..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

const TREE_FORM: &str = "https://github.com/<owner>/<repo>/tree/<ref>/<path> or \
                         https://github.com/<owner>/<repo>/blob/<ref>/<file>.py";
const RAW_FORM: &str = "https://raw.githubusercontent.com/<owner>/<repo>/<ref>/<path>";
const GIST_FORM: &str = "https://gist.github.com/<user>/<id> with a hexadecimal gist id";

fn bad(url: &str, expected: impl Into<String>) -> Error {
    Error::invalid("GitHub URL", expected, format!("'{url}'"))
}

fn parse(url: &str) -> Result<GithubSource> {
    let trimmed = url.trim();
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| {
            bad(
                url,
                format!("an http(s) URL such as {TREE_FORM}, {RAW_FORM} or {GIST_FORM}"),
            )
        })?;
    // Drop the fragment, then the query.
    let rest = rest.split('#').next().unwrap_or("");
    let rest = rest.split('?').next().unwrap_or("");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.to_ascii_lowercase();
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| decode_segment(url, s))
        .collect::<Result<Vec<_>>>()?;
    match host.as_str() {
        "github.com" | "www.github.com" => parse_github(url, segments),
        "raw.githubusercontent.com" => parse_raw(url, segments),
        "gist.github.com" => parse_gist(url, segments),
        _ => Err(bad(
            url,
            format!("a github.com, raw.githubusercontent.com or gist.github.com URL, such as {TREE_FORM}"),
        )),
    }
}

fn parse_github(url: &str, segs: Vec<String>) -> Result<GithubSource> {
    if segs.len() < 4 || !(segs[2] == "tree" || segs[2] == "blob") {
        return Err(bad(url, TREE_FORM));
    }
    let owner = check_name(url, "owner", &segs[0])?;
    let repo = check_name(
        url,
        "repo",
        segs[1].strip_suffix(".git").unwrap_or(&segs[1]),
    )?;
    let is_blob = segs[2] == "blob";
    let mut rest: Vec<String> = segs[3..].to_vec();
    check_segments(url, &rest)?;
    let ref_len = ref_len(&rest);
    if is_blob {
        let last = rest.last().cloned().unwrap_or_default();
        if rest.len() <= ref_len {
            return Err(bad(
                url,
                "a blob URL to a file: .../blob/<ref>/<path>/<file>.py",
            ));
        }
        let kind = SourceKind::Blob;
        let path = |segments| RepoPath {
            owner: owner.clone(),
            repo: repo.clone(),
            segments,
            ref_len,
        };
        if last == "meta.json" {
            rest.pop();
            return Ok(GithubSource {
                url: url.to_string(),
                kind,
                target: Target::Folder(path(rest)),
            });
        }
        if last.ends_with(".py") {
            return Ok(GithubSource {
                url: url.to_string(),
                kind,
                target: Target::File(path(rest)),
            });
        }
        return Err(bad(
            url,
            "a blob URL to a .py file or a meta.json (for a UDF folder use /tree/)",
        ));
    }
    if rest.len() < ref_len {
        return Err(bad(url, TREE_FORM));
    }
    Ok(GithubSource {
        url: url.to_string(),
        kind: SourceKind::Tree,
        target: Target::Folder(RepoPath {
            owner,
            repo,
            segments: rest,
            ref_len,
        }),
    })
}

fn parse_raw(url: &str, segs: Vec<String>) -> Result<GithubSource> {
    if segs.len() < 3 {
        return Err(bad(url, RAW_FORM));
    }
    let owner = check_name(url, "owner", &segs[0])?;
    let repo = check_name(url, "repo", &segs[1])?;
    let mut rest: Vec<String> = segs[2..].to_vec();
    check_segments(url, &rest)?;
    let ref_len = ref_len(&rest);
    if rest.len() < ref_len {
        return Err(bad(url, RAW_FORM));
    }
    let last = rest.last().cloned().unwrap_or_default();
    let kind = SourceKind::Raw;
    let has_path = rest.len() > ref_len;
    let target = if has_path && last == "meta.json" {
        rest.pop();
        Target::Folder(RepoPath {
            owner,
            repo,
            segments: rest,
            ref_len,
        })
    } else if has_path && last.ends_with(".py") {
        Target::File(RepoPath {
            owner,
            repo,
            segments: rest,
            ref_len,
        })
    } else if has_path
        && [".json", ".md", ".txt", ".ipynb"]
            .iter()
            .any(|e| last.ends_with(e))
    {
        return Err(bad(
            url,
            "a raw URL to a .py file, a meta.json or a UDF folder",
        ));
    } else {
        Target::Folder(RepoPath {
            owner,
            repo,
            segments: rest,
            ref_len,
        })
    };
    Ok(GithubSource {
        url: url.to_string(),
        kind,
        target,
    })
}

fn parse_gist(url: &str, segs: Vec<String>) -> Result<GithubSource> {
    let strip = |s: &str| s.strip_suffix(".git").unwrap_or(s).to_string();
    let (user, id, revision) = match segs.as_slice() {
        [id] => (None, strip(id), None),
        [user, id] => (Some(user.clone()), strip(id), None),
        [user, id, rev] => (Some(user.clone()), id.clone(), Some(strip(rev))),
        _ => return Err(bad(url, GIST_FORM)),
    };
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(url, GIST_FORM));
    }
    if let Some(user) = &user {
        check_name(url, "gist user", user)?;
    }
    if let Some(rev) = &revision {
        if !is_full_sha(rev) {
            return Err(bad(
                url,
                "a gist revision as a 40-hex sha: https://gist.github.com/<user>/<id>/<revision>",
            ));
        }
    }
    Ok(GithubSource {
        url: url.to_string(),
        kind: SourceKind::Gist,
        target: Target::Gist {
            user,
            id: id.to_ascii_lowercase(),
            revision,
        },
    })
}

/// `refs/heads/<name>` and `refs/tags/<name>` (the form of GitHub's current "Raw" links)
/// take three segments; anything else one.
fn ref_len(rest: &[String]) -> usize {
    if rest.len() >= 3 && rest[0] == "refs" && (rest[1] == "heads" || rest[1] == "tags") {
        3
    } else {
        1
    }
}

/// Owner, repo and gist user names: GitHub allows ASCII letters, digits, `-`, `_`, `.`.
fn check_name(url: &str, what: &str, name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(name.to_string())
    } else {
        Err(bad(
            url,
            format!("a GitHub {what} name of letters, digits, '-', '_' or '.', got '{name}'"),
        ))
    }
}

fn check_segments(url: &str, segs: &[String]) -> Result<()> {
    for s in segs {
        if s == "." || s == ".." || s.chars().any(|c| c.is_control() || c == '\\') {
            return Err(bad(url, format!("ref and path segments without '.', '..', '\\' or control characters, got '{s}'")));
        }
    }
    Ok(())
}

fn decode_segment(url: &str, s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => return Err(bad(url, "valid percent-escapes (%XX) in the path")),
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    let decoded = String::from_utf8(out).map_err(|_| bad(url, "a path that decodes to UTF-8"))?;
    if decoded.contains('/') {
        return Err(bad(url, "no encoded '/' (%2F) inside a path segment"));
    }
    Ok(decoded)
}

/// Percent-encode one path segment or query value (everything but RFC 3986 unreserved).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}"); // writing to a String cannot fail
        }
    }
    out
}

/// Percent-encode a `/`-separated path, keeping the slashes.
pub fn encode_path(path: &str) -> String {
    path.split('/')
        .map(encode_component)
        .collect::<Vec<_>>()
        .join("/")
}
