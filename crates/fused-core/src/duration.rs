//! `cache_max_age` values: `"10s"`, `"30m"`, `"48h"`, `"90d"` or a whole number of seconds.

use crate::{Error, Result};

/// Parse a cache lifetime into seconds. Accepts a non-negative integer (seconds) or an
/// integer followed by one unit of `s`, `m`, `h`, `d` (surrounding whitespace ignored).
pub fn parse_max_age(value: &str) -> Result<u64> {
    let expected = "a duration such as \"10s\", \"30m\", \"48h\", \"90d\" or whole seconds";
    let bad = || Error::invalid("cache_max_age", expected, format!("{value:?}"));
    let text = value.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_lowercase()),
        Some(_) => (text, 's'),
        None => return Err(bad()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return Err(bad()),
    };
    n.checked_mul(factor).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_max_age("10s").unwrap(), 10);
        assert_eq!(parse_max_age("30m").unwrap(), 1800);
        assert_eq!(parse_max_age("48h").unwrap(), 172_800);
        assert_eq!(parse_max_age("90d").unwrap(), 7_776_000);
        assert_eq!(parse_max_age("120").unwrap(), 120);
        assert_eq!(parse_max_age(" 5M ").unwrap(), 300);
    }

    #[test]
    fn refusals() {
        for bad in [
            "",
            "s",
            "10x",
            "-5s",
            "1.5h",
            "10 s",
            "ten",
            "99999999999999999999d",
        ] {
            let err = parse_max_age(bad).unwrap_err().to_string();
            assert!(err.contains("cache_max_age"), "{bad}: {err}");
        }
    }
}
