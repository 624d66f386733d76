//! Request parameters of the OAuth endpoints and the approval page: an
//! `application/x-www-form-urlencoded` body (what RFC 6749 specifies) or a JSON object of
//! strings, and query strings.

use std::collections::HashMap;

use axum::http::{header, HeaderMap};

/// Most parameters accepted in one request.
const MAX_PARAMS: usize = 32;

/// Decode `application/x-www-form-urlencoded` text into a map; a repeated name is an error
/// (RFC 6749 section 3.1), as is invalid percent-encoding or UTF-8.
pub(super) fn parse_urlencoded(input: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for pair in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        if out.len() >= MAX_PARAMS {
            return Err(format!("more than {MAX_PARAMS} parameters"));
        }
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let k = decode_component(k)?;
        let v = decode_component(v)?;
        if out.contains_key(&k) {
            return Err(format!("parameter '{k}' is given more than once"));
        }
        out.insert(k, v);
    }
    Ok(out)
}

fn decode_component(s: &[u8]) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hexval = |b: u8| (b as char).to_digit(16);
                let (Some(h), Some(l)) = (
                    s.get(i + 1).and_then(|&b| hexval(b)),
                    s.get(i + 2).and_then(|&b| hexval(b)),
                ) else {
                    return Err("invalid percent-encoding".to_string());
                };
                bytes.push((h * 16 + l) as u8);
                i += 2;
            }
            b => bytes.push(b),
        }
        i += 1;
    }
    String::from_utf8(bytes).map_err(|_| "parameters are not valid UTF-8".to_string())
}

/// The parameters of a POST body: a JSON object of strings when the content type says JSON,
/// else form-urlencoded.
pub(super) fn body_params(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, String> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim();
            m.eq_ignore_ascii_case("application/json") || m.to_ascii_lowercase().ends_with("+json")
        });
    if !is_json {
        return parse_urlencoded(body);
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("malformed JSON body: {e}"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("the JSON body must be an object".to_string());
    };
    if map.len() > MAX_PARAMS {
        return Err(format!("more than {MAX_PARAMS} parameters"));
    }
    map.into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            other => Err(format!("parameter '{k}' must be a string, got {other}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded() {
        let m = parse_urlencoded(b"a=1&b=x+y%20z&c=&d&e=%C3%A9").unwrap();
        assert_eq!(m["a"], "1");
        assert_eq!(m["b"], "x y z");
        assert_eq!(m["c"], "");
        assert_eq!(m["d"], "");
        assert_eq!(m["e"], "é");
        assert!(parse_urlencoded(b"a=1&a=2").is_err());
        assert!(parse_urlencoded(b"a=%zz").is_err());
        assert!(parse_urlencoded(b"a=%4").is_err());
        assert!(parse_urlencoded(b"a=%ff").is_err());
    }

    #[test]
    fn json_body() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        let m = body_params(&h, br#"{"client_id":"fused","scope":null}"#).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m["client_id"], "fused");
        assert!(body_params(&h, br#"{"client_id":1}"#).is_err());
        assert!(body_params(&h, b"[1]").is_err());
        assert!(body_params(&h, b"{").is_err());
    }
}
