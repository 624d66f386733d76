//! GeoJSON (RFC 7946) structure checks for geometry, Feature and FeatureCollection
//! values, producing normalised [`Value`] trees (coordinates as floats). WKT input
//! ends up here too, through the same position/line/ring checks.

use super::json::Json;
use super::spec::GeometryKind;
use super::Value;

/// Deepest GeometryCollection nesting accepted.
pub const MAX_GEOMETRY_DEPTH: usize = 16;

pub type Reason = String;

pub type Position = Vec<f64>;

pub fn position_value(p: Position) -> Value {
    Value::List(p.into_iter().map(Value::Float).collect())
}

/// A LineString's positions: none (EMPTY) or at least two.
pub fn line_value(points: Vec<Position>, what: &str) -> Result<Value, Reason> {
    if points.len() == 1 {
        return Err(format!("{what} needs at least 2 positions"));
    }
    Ok(Value::List(
        points.into_iter().map(position_value).collect(),
    ))
}

/// A polygon ring: at least four positions, the last equal to the first.
pub fn ring_value(points: Vec<Position>, what: &str) -> Result<Value, Reason> {
    if points.len() < 4 {
        return Err(format!("{what} needs at least 4 positions"));
    }
    if points.first() != points.last() {
        return Err(format!(
            "{what} is not closed (last position must equal the first)"
        ));
    }
    Ok(Value::List(
        points.into_iter().map(position_value).collect(),
    ))
}

/// `{"type": kind, "coordinates": coords}`.
pub fn geometry_value(kind: GeometryKind, coords: Value) -> Value {
    let member = if kind == GeometryKind::GeometryCollection {
        "geometries"
    } else {
        "coordinates"
    };
    Value::Dict(vec![
        (Value::Str("type".into()), Value::Str(kind.name().into())),
        (Value::Str(member.into()), coords),
    ])
}

fn position(j: &Json, what: &str) -> Result<Position, Reason> {
    let items = match j {
        Json::Array(items) => items,
        other => {
            return Err(format!(
                "{what} must be an array of 2 or 3 numbers, got {}",
                other.kind()
            ))
        }
    };
    if !(2..=3).contains(&items.len()) {
        return Err(format!(
            "{what} must have 2 or 3 numbers, got {}",
            items.len()
        ));
    }
    items
        .iter()
        .map(|n| match n.as_f64() {
            Some(f) if f.is_finite() => Ok(f),
            _ => Err(format!("{what} must hold finite numbers, got {}", n.show())),
        })
        .collect()
}

fn array<'a>(j: &'a Json, what: &str) -> Result<&'a [Json], Reason> {
    match j {
        Json::Array(items) => Ok(items),
        other => Err(format!("{what} must be an array, got {}", other.kind())),
    }
}

fn positions(j: &Json, what: &str) -> Result<Vec<Position>, Reason> {
    array(j, what)?
        .iter()
        .enumerate()
        .map(|(i, p)| position(p, &format!("{what} position {i}")))
        .collect()
}

fn polygon(j: &Json, what: &str) -> Result<Value, Reason> {
    let rings = array(j, what)?
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let what = format!("{what} ring {i}");
            ring_value(positions(r, &what)?, &what)
        })
        .collect::<Result<_, _>>()?;
    Ok(Value::List(rings))
}

fn each(
    j: &Json,
    what: &str,
    f: impl Fn(&Json, &str) -> Result<Value, Reason>,
) -> Result<Value, Reason> {
    let items = array(j, what)?
        .iter()
        .enumerate()
        .map(|(i, m)| f(m, &format!("{what} member {i}")))
        .collect::<Result<_, _>>()?;
    Ok(Value::List(items))
}

fn geometry_at(j: &Json, depth: usize) -> Result<(GeometryKind, Value), Reason> {
    if !matches!(j, Json::Object(_)) {
        return Err(format!(
            "a GeoJSON geometry must be an object, got {}",
            j.kind()
        ));
    }
    let kind = match j.get("type") {
        Some(Json::Str(t)) => GeometryKind::from_geojson(t).ok_or_else(|| {
            format!(
                "unknown GeoJSON geometry type {}",
                Json::Str(t.clone()).show()
            )
        })?,
        Some(other) => return Err(format!("\"type\" must be a string, got {}", other.kind())),
        None => return Err("GeoJSON geometry needs a \"type\"".into()),
    };
    let name = kind.name();
    if kind == GeometryKind::GeometryCollection {
        if depth >= MAX_GEOMETRY_DEPTH {
            return Err(format!(
                "GeometryCollection nested deeper than {MAX_GEOMETRY_DEPTH}"
            ));
        }
        let members = j
            .get("geometries")
            .ok_or("GeometryCollection needs \"geometries\"")?;
        let geoms = array(members, "\"geometries\"")?
            .iter()
            .map(|g| geometry_at(g, depth + 1).map(|(_, v)| v))
            .collect::<Result<_, _>>()?;
        return Ok((kind, geometry_value(kind, Value::List(geoms))));
    }
    let c = j
        .get("coordinates")
        .ok_or_else(|| format!("{name} needs \"coordinates\""))?;
    let coords = match kind {
        GeometryKind::Point => match c {
            Json::Array(a) if a.is_empty() => Value::List(vec![]),
            _ => position_value(position(c, "Point position")?),
        },
        GeometryKind::LineString => line_value(positions(c, name)?, name)?,
        GeometryKind::Polygon => polygon(c, name)?,
        GeometryKind::MultiPoint => Value::List(
            positions(c, name)?
                .into_iter()
                .map(position_value)
                .collect(),
        ),
        GeometryKind::MultiLineString => {
            each(c, name, |m, what| line_value(positions(m, what)?, what))?
        }
        GeometryKind::MultiPolygon => each(c, name, polygon)?,
        GeometryKind::GeometryCollection => unreachable!("handled above"),
    };
    Ok((kind, geometry_value(kind, coords)))
}

/// A GeoJSON geometry object; returns its kind and the normalised dict.
pub fn geometry(j: &Json) -> Result<(GeometryKind, Value), Reason> {
    geometry_at(j, 0)
}

fn properties(j: Option<&Json>) -> Result<Value, Reason> {
    match j {
        None | Some(Json::Null) => Ok(Value::Dict(vec![])),
        Some(props @ Json::Object(_)) => Ok(Value::from_json(props)),
        Some(other) => Err(format!(
            "Feature \"properties\" must be an object or null, got {}",
            other.kind()
        )),
    }
}

/// A GeoJSON Feature: `{"type":"Feature","geometry":...,"properties":{...}}`
/// (null geometry and null/missing properties allowed).
pub fn feature(j: &Json) -> Result<Value, Reason> {
    let geometry = match j.get("geometry") {
        None => return Err("Feature needs \"geometry\" (may be null)".into()),
        Some(Json::Null) => Value::Null,
        Some(g) => geometry(g)?.1,
    };
    Ok(Value::Dict(vec![
        (Value::Str("type".into()), Value::Str("Feature".into())),
        (Value::Str("geometry".into()), geometry),
        (
            Value::Str("properties".into()),
            properties(j.get("properties"))?,
        ),
    ]))
}

/// The CRS named by a FeatureCollection's `crs` member: the 2008 form
/// `{"type":"name","properties":{"name":"EPSG:3857"}}` or a plain string.
fn crs(j: Option<&Json>) -> Result<Option<String>, Reason> {
    match j {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Str(s)) => Ok(Some(s.clone())),
        Some(obj @ Json::Object(_)) => match obj.get("properties").and_then(|p| p.get("name")) {
            Some(Json::Str(name)) => Ok(Some(name.clone())),
            _ => Err("\"crs\" must be {\"type\":\"name\",\"properties\":{\"name\":...}}".into()),
        },
        Some(other) => Err(format!(
            "\"crs\" must be an object or a string, got {}",
            other.kind()
        )),
    }
}

/// Features and CRS from a FeatureCollection, a single Feature, or a bare geometry.
pub fn features(j: &Json) -> Result<(Vec<Value>, Option<String>), Reason> {
    match j.get("type") {
        Some(Json::Str(t)) if t == "FeatureCollection" => {
            let list = j
                .get("features")
                .ok_or("FeatureCollection needs \"features\"")?;
            let features = array(list, "\"features\"")?
                .iter()
                .enumerate()
                .map(|(i, f)| match f.get("type") {
                    Some(Json::Str(t)) if t == "Feature" => feature(f),
                    _ => Err(format!("features[{i}] is not a GeoJSON Feature")),
                })
                .collect::<Result<_, _>>()?;
            Ok((features, crs(j.get("crs"))?))
        }
        Some(Json::Str(t)) if t == "Feature" => Ok((vec![feature(j)?], crs(j.get("crs"))?)),
        _ => {
            let (_, g) = geometry(j)?;
            Ok((vec![feature_of(g)], crs(j.get("crs"))?))
        }
    }
}

/// A Feature wrapping `geometry` with no properties.
pub fn feature_of(geometry: Value) -> Value {
    Value::Dict(vec![
        (Value::Str("type".into()), Value::Str("Feature".into())),
        (Value::Str("geometry".into()), geometry),
        (Value::Str("properties".into()), Value::Dict(vec![])),
    ])
}
