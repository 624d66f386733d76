//! Path pieces of the run endpoints: tile indices and the optional format extension.

use fused_core::tiles::Tile;

/// Extensions recognised on the last path segment (`.../file.parquet`, `.../{y}.mvt`).
pub const EXTENSIONS: [&str; 14] = [
    "parquet", "geojson", "json", "csv", "arrow", "feather", "mvt", "pbf", "png", "tif", "tiff",
    "npy", "raw", "html",
];

/// Split a known extension off `segment`: `("name", Some("parquet"))`. Unknown suffixes stay
/// part of the name (UDF names may contain dots).
pub fn split_extension(segment: &str) -> (&str, Option<&str>) {
    if let Some((stem, ext)) = segment.rsplit_once('.') {
        if !stem.is_empty() && EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)) {
            return (stem, Some(ext));
        }
    }
    (segment, None)
}

/// A tile from path segments (the last may carry an extension). Errors name `z`, `x` or `y`.
pub fn parse_tile(z: &str, x: &str, y_ext: &str) -> Result<(Tile, Option<String>), String> {
    let (y, ext) = split_extension(y_ext);
    let int = |name: &str, v: &str| {
        v.parse::<i64>()
            .map_err(|_| format!("invalid tile {name}: expected an integer, got {v:?}"))
    };
    let (zi, xi, yi) = (int("z", z)?, int("x", x)?, int("y", y)?);
    let tile = Tile::new(xi, yi, zi).map_err(|e| match e {
        fused_core::Error::Tile {
            name,
            expected,
            value,
            ..
        } => format!("invalid tile {name}: expected {expected}, got {value}"),
        other => format!("invalid tile: {other}"),
    })?;
    Ok((tile, ext.map(str::to_ascii_lowercase)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert_eq!(split_extension("file.parquet"), ("file", Some("parquet")));
        assert_eq!(split_extension("my.udf"), ("my.udf", None));
        assert_eq!(split_extension("file"), ("file", None));
        assert_eq!(split_extension(".png"), (".png", None));
    }

    #[test]
    fn tiles() {
        let (t, ext) = parse_tile("3", "2", "5.mvt").unwrap();
        assert_eq!((t.x, t.y, t.z), (2, 5, 3));
        assert_eq!(ext.as_deref(), Some("mvt"));
        let e = parse_tile("3", "8", "1").unwrap_err();
        assert!(e.contains("invalid tile x"), "{e}");
        let e = parse_tile("31", "0", "0").unwrap_err();
        assert!(e.contains('z'), "{e}");
        let e = parse_tile("1", "0", "a.png").unwrap_err();
        assert!(e.contains("tile y"), "{e}");
    }
}
