//! A small blocking HTTP layer over `ureq`: GETs and POSTs that return the status, the headers
//! GitHub cares about and a size-capped body, and the mapping of failures to [`Error`]s that
//! name the URL and the cause (never a bare transport error).

use std::time::Duration;

use crate::error::{Error, Result};

/// Timeouts and limits of one [`Http`] client.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    /// The whole request, from connecting to the last body byte.
    pub request_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// One answer: any status (error statuses are values, not errors, here).
#[derive(Debug)]
pub struct Response {
    pub url: String,
    pub status: u16,
    pub etag: Option<String>,
    pub rate_remaining: Option<String>,
    pub rate_reset: Option<String>,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// GitHub's JSON `message` field, when the body has one.
    pub fn message(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("message")?
            .as_str()
            .map(|s| s.chars().take(300).collect())
    }
}

/// A blocking client that sends the token only to the GitHub hosts it was configured with.
pub struct Http {
    agent: ureq::Agent,
    token: Option<String>,
    /// Origins (`scheme://host[:port]`) that may receive the token.
    token_origins: Vec<String>,
    /// URLs under this prefix get the GitHub API's `Accept` and version headers.
    api_prefix: String,
}

const USER_AGENT: &str = concat!("fused-rs/", env!("CARGO_PKG_VERSION"));

impl Http {
    /// A client for the API at `api_url` and raw files at `raw_url`; the token goes to those two
    /// origins only (never to another host a listing points at).
    pub fn new(settings: &HttpSettings, token: Option<&str>, api_url: &str, raw_url: &str) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_global(Some(settings.request_timeout))
            .user_agent(USER_AGENT)
            .build();
        Http {
            agent: config.into(),
            token: token
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from),
            token_origins: [api_url, raw_url]
                .iter()
                .filter_map(|u| origin(u))
                .collect(),
            api_prefix: api_url.trim_end_matches('/').to_string(),
        }
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    fn auth_for(&self, url: &str) -> Option<String> {
        let token = self.token.as_ref()?;
        let o = origin(url)?;
        self.token_origins
            .contains(&o)
            .then(|| format!("Bearer {token}"))
    }

    /// GET `url`, with `If-None-Match` when `etag` is given; the body is capped at `limit` bytes.
    pub fn get(&self, url: &str, etag: Option<&str>, limit: u64) -> Result<Response> {
        let mut req = self.agent.get(url);
        if url.starts_with(&self.api_prefix) {
            req = req
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28");
        }
        if let Some(auth) = self.auth_for(url) {
            req = req.header("Authorization", auth);
        }
        if let Some(etag) = etag {
            req = req.header("If-None-Match", etag);
        }
        let resp = req.call().map_err(|e| transport_error(url, e))?;
        read_response(url, resp, limit)
    }

    /// POST a JSON body (always with the token, which the caller checked).
    pub fn post_json(&self, url: &str, body: &serde_json::Value, limit: u64) -> Result<Response> {
        let mut req = self
            .agent
            .post(url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("Content-Type", "application/json");
        if let Some(token) = &self.token {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        let resp = req
            .send(body.to_string().as_bytes())
            .map_err(|e| transport_error(url, e))?;
        read_response(url, resp, limit)
    }
}

/// `scheme://host[:port]` of a URL, lower-cased.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    ))
}

fn read_response(
    url: &str,
    mut resp: ureq::http::Response<ureq::Body>,
    limit: u64,
) -> Result<Response> {
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
    };
    let status = resp.status().as_u16();
    let etag = header("etag");
    let rate_remaining = header("x-ratelimit-remaining");
    let rate_reset = header("x-ratelimit-reset");
    let retry_after = header("retry-after");
    let body = if status == 304 {
        Vec::new()
    } else {
        resp.body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => Error::Remote {
                    url: url.to_string(),
                    status: Some(status),
                    message: format!("response is larger than the {} limit", human_bytes(limit)),
                },
                e => transport_error(url, e),
            })?
    };
    Ok(Response {
        url: url.to_string(),
        status,
        etag,
        rate_remaining,
        rate_reset,
        retry_after,
        body,
    })
}

/// A failure below HTTP: connection, DNS, timeout, TLS, protocol.
pub fn transport_error(url: &str, err: ureq::Error) -> Error {
    let network = |cause: String| Error::Network {
        url: url.to_string(),
        cause,
    };
    match err {
        ureq::Error::Io(e) => network(e.to_string()),
        ureq::Error::HostNotFound => network("host not found (DNS lookup failed)".into()),
        ureq::Error::Timeout(t) => network(format!("timed out ({t})")),
        ureq::Error::ConnectionFailed => network("connection failed".into()),
        ureq::Error::Tls(e) => network(format!("TLS error: {e}")),
        ureq::Error::Rustls(e) => network(format!("TLS error: {e}")),
        ureq::Error::BadUri(e) => {
            Error::invalid("URL", "an absolute http(s) URL", format!("'{url}' ({e})"))
        }
        e => Error::Remote {
            url: url.to_string(),
            status: None,
            message: format!("HTTP error: {e}"),
        },
    }
}

/// Turn a non-success answer into the error that says what to do about it.
/// `what` names the thing asked for (owner, repo, ref and path, or the gist) for a 404.
pub fn status_error(resp: &Response, what: &str, has_token: bool) -> Error {
    let url = resp.url.clone();
    let status = resp.status;
    let rate_limited = status == 429
        || (status == 403
            && (resp.rate_remaining.as_deref() == Some("0") || resp.retry_after.is_some()));
    if rate_limited {
        let now = crate::time::now_s();
        let reset_at = resp
            .rate_reset
            .as_deref()
            .and_then(|s| s.parse::<u64>().ok())
            .or_else(|| {
                resp.retry_after
                    .as_deref()
                    .and_then(|s| s.parse::<u64>().ok())
                    .map(|s| now + s)
            });
        let reset = match reset_at {
            Some(at) => format!(
                "the limit resets in {} s (at {})",
                at.saturating_sub(now),
                format_utc(at)
            ),
            None => "the server did not say when the limit resets".to_string(),
        };
        return Error::RateLimited {
            url,
            status,
            reset,
            reset_at,
        };
    }
    let server_says = resp.message().map(|m| format!(": {m}")).unwrap_or_default();
    match status {
        404 => Error::RemoteNotFound {
            what: what.to_string(),
            url,
            hint: if has_token {
                String::new()
            } else {
                "; if the repository is private, set GITHUB_TOKEN".to_string()
            },
        },
        401 | 403 => {
            let advice = if has_token {
                "check that GITHUB_TOKEN is valid and can read this repository"
            } else {
                "set GITHUB_TOKEN to a GitHub token that can read it"
            };
            Error::AuthRequired {
                message: format!(
                    "GitHub refused access to {url} (HTTP {status}{server_says}); {advice}"
                ),
                url,
            }
        }
        _ => Error::Remote {
            message: format!("unexpected HTTP status {status} for {what}{server_says}"),
            url,
            status: Some(status),
        },
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for a unix time.
pub fn format_utc(unix: u64) -> String {
    let days = i64::try_from(unix / 86_400).unwrap_or(i64::MAX);
    let secs = unix % 86_400;
    let (year, month, day) = crate::time::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

pub fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}
