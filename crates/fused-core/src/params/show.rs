//! How offending values appear in error messages: quoted and truncated.

/// Longest value shown in an error, in characters.
pub const MAX_SHOWN: usize = 80;

/// The first [`MAX_SHOWN`] characters of `s`, with `...` when cut.
pub fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_SHOWN) {
        None => s.to_string(),
        Some((cut, _)) => format!("{}... ({} chars)", &s[..cut], s.chars().count()),
    }
}

/// A raw string as shown in errors: single-quoted, truncated.
pub fn quoted(s: &str) -> String {
    format!("'{}'", truncate(s))
}
