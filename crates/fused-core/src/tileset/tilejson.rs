//! TileJSON 3.0.0 and MapLibre style (version 8) documents for a tile endpoint or a
//! tileset, built from a UDF's meta.json `metadata`:
//!
//! * `fused:description` (else the README's first paragraph) -> `description`;
//! * `fused:minzoom` / `fused:maxzoom` (integers 0..=30; default 0 / 22);
//! * `fused:defaultViewState` (`longitude`, `latitude`, `zoom`) -> `center`; its optional
//!   `bounds` (`[w, s, e, n]`) or `fused:bounds` -> `bounds` (default: the whole world);
//! * `fused:vizConfig.vectorLayer` fixed colours (`getFillColor`, `getLineColor` as
//!   `[r, g, b(, a)]`) and `lineWidthMinPixels` / `getLineWidth` numbers -> style paint.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::TileFormat;
use crate::{Error, Result};

pub const DEFAULT_MINZOOM: u8 = 0;
pub const DEFAULT_MAXZOOM: u8 = 22;
pub const WORLD_BOUNDS: [f64; 4] = [-180.0, -85.051_128_779_806_59, 180.0, 85.051_128_779_806_6];
/// The layer of every UDF vector tile (see `encode::MVT_LAYER_NAME`).
pub const LAYER: &str = crate::encode::MVT_LAYER_NAME;

/// What a TileJSON document says.
#[derive(Debug, Clone, PartialEq)]
pub struct TileJson {
    pub name: String,
    pub description: Option<String>,
    /// Absolute tile URL templates with `{z}`, `{x}`, `{y}`.
    pub tiles: Vec<String>,
    pub format: TileFormat,
    pub minzoom: u8,
    pub maxzoom: u8,
    pub bounds: [f64; 4],
    /// `[lon, lat, zoom]`.
    pub center: Option<[f64; 3]>,
    /// The `udf` layer's fields (vector only; empty until known).
    pub fields: BTreeMap<String, String>,
}

impl TileJson {
    /// The TileJSON 3.0.0 document.
    pub fn to_json(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("tilejson".into(), "3.0.0".into());
        doc.insert("name".into(), self.name.clone().into());
        if let Some(d) = &self.description {
            doc.insert("description".into(), d.clone().into());
        }
        doc.insert("scheme".into(), "xyz".into());
        doc.insert("tiles".into(), json!(self.tiles));
        doc.insert("minzoom".into(), self.minzoom.into());
        doc.insert("maxzoom".into(), self.maxzoom.into());
        doc.insert("bounds".into(), json!(self.bounds));
        if let Some(c) = self.center {
            doc.insert("center".into(), json!([c[0], c[1], c[2].round()]));
        }
        doc.insert("format".into(), self.format.mbtiles_name().into());
        if self.format == TileFormat::Mvt {
            doc.insert(
                "vector_layers".into(),
                json!([{
                    "id": LAYER,
                    "fields": self.fields,
                    "minzoom": self.minzoom,
                    "maxzoom": self.maxzoom,
                }]),
            );
        }
        Value::Object(doc)
    }

    /// Settings from a UDF's name, README and meta.json `metadata`; `tiles` and `fields`
    /// are filled by the caller. Malformed metadata values are errors naming the key.
    pub fn from_udf(
        name: &str,
        readme: Option<&str>,
        metadata: &Map<String, Value>,
        format: TileFormat,
    ) -> Result<TileJson> {
        let (minzoom, maxzoom) = zoom_range(name, metadata)?;
        let (bounds, center) = view(name, metadata)?;
        Ok(TileJson {
            name: name.to_string(),
            description: description(readme, metadata),
            tiles: Vec::new(),
            format,
            minzoom,
            maxzoom,
            bounds,
            center,
            fields: BTreeMap::new(),
        })
    }
}

fn meta_error(udf: &str, key: &str, expected: &str, got: &Value) -> Error {
    Error::package(
        format!("UDF {udf:?} meta.json"),
        format!("metadata {key:?}: expected {expected}, got {got}"),
    )
}

fn zoom_range(udf: &str, metadata: &Map<String, Value>) -> Result<(u8, u8)> {
    let zoom = |key: &str, default: u8| match metadata.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .filter(|z| *z <= 30)
            .map(|z| z as u8)
            .ok_or_else(|| meta_error(udf, key, "an integer 0..=30", v)),
    };
    let min = zoom("fused:minzoom", DEFAULT_MINZOOM)?;
    let max = zoom("fused:maxzoom", DEFAULT_MAXZOOM)?;
    if min > max {
        return Err(meta_error(
            udf,
            "fused:maxzoom",
            "at least fused:minzoom",
            &max.into(),
        ));
    }
    Ok((min, max))
}

fn bounds_value(udf: &str, key: &str, v: &Value) -> Result<[f64; 4]> {
    let nums: Option<Vec<f64>> = v
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect());
    match nums.as_deref() {
        Some(&[w, s, e, n])
            if (-180.0..=180.0).contains(&w)
                && (-180.0..=180.0).contains(&e)
                && (-90.0..=90.0).contains(&s)
                && (-90.0..=90.0).contains(&n)
                && s <= n =>
        {
            Ok([w, s, e, n])
        }
        _ => Err(meta_error(
            udf,
            key,
            "[west, south, east, north] in degrees",
            v,
        )),
    }
}

fn view(udf: &str, metadata: &Map<String, Value>) -> Result<([f64; 4], Option<[f64; 3]>)> {
    let mut bounds = WORLD_BOUNDS;
    let mut center = None;
    if let Some(v) = metadata.get("fused:bounds").filter(|v| !v.is_null()) {
        bounds = bounds_value(udf, "fused:bounds", v)?;
    }
    if let Some(state) = metadata
        .get("fused:defaultViewState")
        .filter(|v| !v.is_null())
    {
        let key = "fused:defaultViewState";
        let obj = state
            .as_object()
            .ok_or_else(|| meta_error(udf, key, "an object", state))?;
        let num = |k: &str| obj.get(k).and_then(Value::as_f64);
        if let (Some(lng), Some(lat)) = (num("longitude"), num("latitude")) {
            if !(-180.0..=180.0).contains(&lng) || !(-90.0..=90.0).contains(&lat) {
                return Err(meta_error(udf, key, "longitude/latitude in degrees", state));
            }
            let zoom = num("zoom").unwrap_or(0.0).clamp(0.0, 30.0);
            center = Some([lng, lat, zoom]);
        }
        if let Some(b) = obj.get("bounds").filter(|v| !v.is_null()) {
            bounds = bounds_value(udf, "fused:defaultViewState.bounds", b)?;
        }
    }
    Ok((bounds, center))
}

fn description(readme: Option<&str>, metadata: &Map<String, Value>) -> Option<String> {
    if let Some(d) = metadata.get("fused:description").and_then(Value::as_str) {
        let d = d.trim();
        if !d.is_empty() {
            return Some(d.to_string());
        }
    }
    // The README's first paragraph that is not a heading, an image or a badge.
    let text = readme?;
    let mut para: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            if !para.is_empty() {
                break;
            }
            continue;
        }
        if para.is_empty()
            && (line.starts_with('#') || line.starts_with('!') || line.starts_with('<'))
        {
            continue;
        }
        para.push(line);
    }
    (!para.is_empty()).then(|| para.join(" "))
}

/// `rgba(...)` of a deck.gl colour `[r, g, b]` / `[r, g, b, a]` (0..255), if it is one.
fn rgba(v: Option<&Value>) -> Option<String> {
    let a = v?.as_array()?;
    let n: Vec<f64> = a.iter().map(Value::as_f64).collect::<Option<_>>()?;
    if !(n.len() == 3 || n.len() == 4) || n.iter().any(|c| !(0.0..=255.0).contains(c)) {
        return None;
    }
    let alpha = n
        .get(3)
        .map_or(1.0, |a| (a / 255.0 * 1000.0).round() / 1000.0);
    Some(format!(
        "rgba({}, {}, {}, {alpha})",
        n[0].round(),
        n[1].round(),
        n[2].round()
    ))
}

/// A MapLibre style (version 8) with one source (the TileJSON at `tilejson_url`) and the
/// default layers: fill + line + circle for vector tiles, raster for rasters.
pub fn style(
    name: &str,
    tilejson_url: &str,
    format: TileFormat,
    metadata: &Map<String, Value>,
) -> Value {
    let source = "udf";
    if format == TileFormat::Png {
        return json!({
            "version": 8,
            "name": name,
            "sources": { source: { "type": "raster", "url": tilejson_url, "tileSize": 256 } },
            "layers": [{ "id": format!("{name}-raster"), "type": "raster", "source": source }],
        });
    }
    let viz = metadata
        .get("fused:vizConfig")
        .and_then(|v| v.get("vectorLayer"));
    let fill = rgba(viz.and_then(|v| v.get("getFillColor")))
        .unwrap_or_else(|| "rgba(255, 140, 0, 0.5)".into());
    let line = rgba(viz.and_then(|v| v.get("getLineColor")))
        .unwrap_or_else(|| "rgba(200, 80, 0, 1)".into());
    let width = viz
        .and_then(|v| {
            v.get("lineWidthMinPixels")
                .or_else(|| v.get("getLineWidth"))
        })
        .and_then(Value::as_f64)
        .filter(|w| w.is_finite() && *w >= 0.0)
        .unwrap_or(1.0);
    let is = |types: &[&str]| json!(["match", ["geometry-type"], types, true, false]);
    json!({
        "version": 8,
        "name": name,
        "sources": { source: { "type": "vector", "url": tilejson_url } },
        "layers": [
            {
                "id": format!("{name}-fill"), "type": "fill", "source": source,
                "source-layer": LAYER, "filter": is(&["Polygon", "MultiPolygon"]),
                "paint": { "fill-color": fill },
            },
            {
                "id": format!("{name}-line"), "type": "line", "source": source,
                "source-layer": LAYER,
                "filter": is(&["LineString", "MultiLineString", "Polygon", "MultiPolygon"]),
                "paint": { "line-color": line, "line-width": width },
            },
            {
                "id": format!("{name}-circle"), "type": "circle", "source": source,
                "source-layer": LAYER, "filter": is(&["Point", "MultiPoint"]),
                "paint": { "circle-color": fill, "circle-stroke-color": line,
                           "circle-stroke-width": width, "circle-radius": 4 },
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn settings_from_metadata() {
        let m = meta(json!({
            "fused:minzoom": 3, "fused:maxzoom": 16,
            "fused:defaultViewState": {"longitude": -122.4, "latitude": 37.8, "zoom": 11.6},
            "fused:description": "Buildings",
        }));
        let mut tj = TileJson::from_udf("b", None, &m, TileFormat::Mvt).unwrap();
        tj.tiles = vec!["http://h/t/{z}/{x}/{y}".into()];
        let doc = tj.to_json();
        assert_eq!(doc["minzoom"], 3);
        assert_eq!(doc["maxzoom"], 16);
        assert_eq!(doc["center"], json!([-122.4, 37.8, 12.0]));
        assert_eq!(doc["description"], "Buildings");
        assert_eq!(doc["vector_layers"][0]["id"], "udf");
        assert_eq!(doc["vector_layers"][0]["fields"], json!({}));
        let e = TileJson::from_udf(
            "b",
            None,
            &meta(json!({"fused:maxzoom": 40})),
            TileFormat::Png,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("fused:maxzoom"), "{e}");
        let d = TileJson::from_udf(
            "b",
            Some("# Title\n\nFirst para\nline two.\n\nSecond"),
            &Map::new(),
            TileFormat::Png,
        )
        .unwrap();
        assert_eq!(d.description.as_deref(), Some("First para line two."));
        assert!(d.to_json().get("vector_layers").is_none());
    }

    #[test]
    fn style_colours() {
        let m = meta(json!({"fused:vizConfig": {"vectorLayer": {
            "getFillColor": [10, 20, 30, 51], "getLineColor": "@@=x", "lineWidthMinPixels": 2}}}));
        let s = style("b", "http://h/tilejson.json", TileFormat::Mvt, &m);
        assert_eq!(
            s["layers"][0]["paint"]["fill-color"],
            "rgba(10, 20, 30, 0.2)"
        );
        assert_eq!(s["layers"][1]["paint"]["line-color"], "rgba(200, 80, 0, 1)");
        assert_eq!(s["layers"][1]["paint"]["line-width"], 2.0);
        let r = style("b", "u", TileFormat::Png, &Map::new());
        assert_eq!(r["layers"][0]["type"], "raster");
    }
}
