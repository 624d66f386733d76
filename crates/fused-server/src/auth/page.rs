//! The device approval page: `GET /device[?user_code=...]` shows a form; `POST /device`
//! (form-encoded `user_code`, `api_key`, `action=approve|deny`) approves the login with the API
//! key's account, or denies it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};

use super::form::parse_urlencoded;
use super::AuthState;
use crate::error::HttpError;
use crate::registry::normalize_user_code;

/// Escape text for HTML content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;\
padding:0 1rem;color:#222}label{display:block;margin:1rem 0 .3rem}input{width:100%;\
padding:.5rem;font-size:1.1rem;box-sizing:border-box}input[name=user_code]{letter-spacing:.2em;\
text-transform:uppercase}button{margin:1.2rem .5rem 0 0;padding:.5rem 1.2rem;font-size:1rem}\
.error{color:#a00}";

/// A complete page with the headers every page of this flow carries: no caching, no framing
/// (clickjacking), no scripts, no referrer (the user code may be in the URL).
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t} - fused</title><style>{STYLE}</style></head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title),
    );
    let mut resp = (status, Html(html)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

fn form_page(status: StatusCode, user_code: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "{error}<p>A device is asking to sign in to your fused account. Check that the code below \
         is the one it shows, then approve with your API key.</p>\
         <form method=\"post\" action=\"device\">\
         <label for=\"user_code\">Code</label>\
         <input id=\"user_code\" name=\"user_code\" value=\"{code}\" placeholder=\"ABCD-EFGH\" \
         autocomplete=\"off\" required maxlength=\"32\">\
         <label for=\"api_key\">API key</label>\
         <input id=\"api_key\" name=\"api_key\" type=\"password\" autocomplete=\"off\" placeholder=\"fsk_...\">\
         <button type=\"submit\" name=\"action\" value=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"action\" value=\"deny\" formnovalidate>Deny</button>\
         </form>",
        code = escape(user_code),
    );
    page(status, "Sign in a device", &body)
}

/// `GET /device[?user_code=...]`.
pub(super) async fn show(uri: Uri) -> Response {
    let params = parse_urlencoded(uri.query().unwrap_or("").as_bytes()).unwrap_or_default();
    let code = params.get("user_code").map_or("", String::as_str);
    let code = normalize_user_code(code).unwrap_or_else(|| code.chars().take(32).collect());
    form_page(StatusCode::OK, &code, None)
}

/// `POST /device`.
pub(super) async fn decide(
    State(state): State<AuthState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let bad = |code: &str, msg: &str| form_page(StatusCode::BAD_REQUEST, code, Some(msg));
    let body = match body {
        Ok(b) => b,
        Err(r) => return bad("", &r.body_text()),
    };
    let params = match parse_urlencoded(&body) {
        Ok(p) => p,
        Err(e) => return bad("", &format!("Malformed form: {e}.")),
    };
    let raw_code = params.get("user_code").map_or("", String::as_str).trim();
    let shown: String = raw_code.chars().take(32).collect();
    let Some(code) = normalize_user_code(raw_code) else {
        return bad(
            &shown,
            "Unknown code: expected the 8 letters the device shows, like WDJB-MJHT.",
        );
    };
    let deny = match params.get("action").map(String::as_str) {
        None | Some("approve") => false,
        Some("deny") => true,
        Some(_) => return bad(&code, "Unknown action: expected approve or deny."),
    };
    let outcome = if deny {
        let c = code.clone();
        state.call(move |r| r.deny_device_code(&c)).await
    } else {
        let key = params.get("api_key").cloned().unwrap_or_default();
        let c = code.clone();
        state
            .call(move |r| match r.user_by_api_key(&key)? {
                Some(user) => r.approve_device_code(&c, &user).map(|()| Some(user)),
                None => Ok(None),
            })
            .await
            .and_then(|user| match user {
                Some(_) => Ok(()),
                None => Err(HttpError::unauthorized("bad API key")),
            })
    };
    match outcome {
        Ok(()) if deny => page(
            StatusCode::OK,
            "Sign-in denied",
            "<p id=\"result\" data-result=\"denied\">The device was denied access. You can close this page.</p>",
        ),
        Ok(()) => page(
            StatusCode::OK,
            "Device approved",
            "<p id=\"result\" data-result=\"approved\">The device is signed in. You can close this page and return to it.</p>",
        ),
        Err(e) => {
            tracing::info!(status = %e.status, error = e.code.as_str(), "device login decision refused");
            let msg = match e.status {
                StatusCode::UNAUTHORIZED => "The API key is not valid.".to_string(),
                StatusCode::NOT_FOUND => format!("Unknown code {code}: check the code the device shows."),
                StatusCode::UNPROCESSABLE_ENTITY => format!("The code {code} has expired: start the sign-in again on the device."),
                StatusCode::CONFLICT => format!("The code {code} was already used (approved or denied)."),
                _ => "Internal error; see the server log.".to_string(),
            };
            let status = if e.status == StatusCode::INTERNAL_SERVER_ERROR {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::BAD_REQUEST
            };
            form_page(status, &code, Some(&msg))
        }
    }
}
