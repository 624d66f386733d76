//! Points: the tile containing a longitude/latitude, and lng/lat <-> mercator metres.

use super::{check_finite, latitude_error, max_index, LngLat, Tile, D2R, EPSILON, R2D, RE};
use crate::{Error, Result, TileArg};
use std::f64::consts::PI;

/// Clamp a longitude to ±180 and a latitude to ±90 (mercantile `truncate_lnglat`).
pub fn truncate_lnglat(lng: f64, lat: f64) -> (f64, f64) {
    (lng.clamp(-180.0, 180.0), lat.clamp(-90.0, 90.0))
}

/// Fraction of the world width west of `lng` (mercantile `_xy` x).
#[inline]
pub(crate) fn world_x(lng: f64) -> f64 {
    lng / 360.0 + 0.5
}

/// Fraction of the world height north of `lat` (mercantile `_xy` y); `None` where mercantile
/// raises `InvalidLatitudeError` (sin(lat) rounds to ±1) and for |lat| > 90, where mercantile
/// would fold the latitude back through `sin`. `lat` must not be NaN.
#[inline]
pub(crate) fn world_y(lat: f64) -> Option<f64> {
    if !(-90.0..=90.0).contains(&lat) {
        return None;
    }
    let sinlat = (lat * D2R).sin();
    if sinlat == 1.0 || sinlat == -1.0 {
        return None;
    }
    Some(0.5 - 0.25 * ((1.0 + sinlat) / (1.0 - sinlat)).ln() / PI)
}

/// mercantile's index of a world fraction at `2**z` tiles, unclamped: may be `2**z` when
/// `v` is within `EPSILON` of 1.
#[inline]
pub(crate) fn raw_index(v: f64, z2: f64) -> u64 {
    if v <= 0.0 {
        0
    } else if v >= 1.0 {
        (z2 - 1.0) as u64
    } else {
        ((v + EPSILON) * z2).floor() as u64
    }
}

/// The tile containing a point, on checked, finite, possibly truncated input.
#[inline]
pub(crate) fn tile_unchecked_lat(lng: f64, lat: f64, zoom: u8) -> Option<Tile> {
    let y = world_y(lat)?;
    let z2 = (1u64 << zoom) as f64;
    let max = u64::from(max_index(zoom));
    Some(Tile {
        x: raw_index(world_x(lng), z2).min(max) as u32,
        y: raw_index(y, z2).min(max) as u32,
        z: zoom,
    })
}

fn prepare(lng: f64, lat: f64, truncate: bool, names: (&str, &str)) -> Result<(f64, f64)> {
    check_finite(TileArg::Other, names.0, lng)?;
    check_finite(TileArg::Latitude, names.1, lat)?;
    Ok(if truncate {
        truncate_lnglat(lng, lat)
    } else {
        (lng, lat)
    })
}

/// The tile containing a longitude and latitude (mercantile `tile`). `zoom` must already be
/// checked (`check_zoom`). Errors name `lng` or `lat`.
pub fn tile(lng: f64, lat: f64, zoom: u8, truncate: bool) -> Result<Tile> {
    let (lng, lat) = prepare(lng, lat, truncate, ("lng", "lat"))?;
    tile_unchecked_lat(lng, lat, zoom).ok_or_else(|| latitude_error("lat", lat))
}

/// The position of a point as fractions of the world's width and height from the
/// upper-left corner (mercantile `_xy`): outside `0..1` beyond the mercator latitude limit.
/// Errors name `lng` or `lat`; a latitude at or beyond a pole is refused.
pub fn world_xy(lng: f64, lat: f64, truncate: bool) -> Result<(f64, f64)> {
    let (lng, lat) = prepare(lng, lat, truncate, ("lng", "lat"))?;
    let y = world_y(lat).ok_or_else(|| latitude_error("lat", lat))?;
    Ok((world_x(lng), y))
}

/// `tile()` over arrays: the x and y indices of each point. Errors name the element, e.g.
/// `lats[3]`.
pub fn tile_many(
    lngs: &[f64],
    lats: &[f64],
    zoom: u8,
    truncate: bool,
) -> Result<(Vec<i64>, Vec<i64>)> {
    if lngs.len() != lats.len() {
        return Err(Error::tile(
            TileArg::Latitude,
            "lats",
            format!("an array of the same length as lngs ({})", lngs.len()),
            format!("length {}", lats.len()),
        ));
    }
    let mut xs = Vec::with_capacity(lngs.len());
    let mut ys = Vec::with_capacity(lngs.len());
    for (i, (&lng, &lat)) in lngs.iter().zip(lats).enumerate() {
        let Some(t) = (lng.is_finite() && lat.is_finite())
            .then(|| {
                let (lng, lat) = if truncate {
                    truncate_lnglat(lng, lat)
                } else {
                    (lng, lat)
                };
                tile_unchecked_lat(lng, lat, zoom)
            })
            .flatten()
        else {
            return Err(element_error(i, lng, lat, truncate));
        };
        xs.push(i64::from(t.x));
        ys.push(i64::from(t.y));
    }
    Ok((xs, ys))
}

fn element_error(i: usize, lng: f64, lat: f64, truncate: bool) -> Error {
    let (lng_name, lat_name) = (format!("lngs[{i}]"), format!("lats[{i}]"));
    match prepare(lng, lat, truncate, (&lng_name, &lat_name)) {
        Err(err) => err,
        Ok((_, lat)) => latitude_error(&lat_name, lat),
    }
}

/// Longitude/latitude to web mercator metres (mercantile `xy`). `y` is ±inf at and beyond
/// the poles, as in mercantile. Errors name `lng` or `lat`.
pub fn xy(lng: f64, lat: f64, truncate: bool) -> Result<(f64, f64)> {
    let (lng, lat) = prepare(lng, lat, truncate, ("lng", "lat"))?;
    let x = RE * (lng * D2R);
    let y = if lat <= -90.0 {
        f64::NEG_INFINITY
    } else if lat >= 90.0 {
        f64::INFINITY
    } else {
        let t = (PI * 0.25 + 0.5 * (lat * D2R)).tan();
        // Within an ulp of -90 the tangent rounds to 0 (mercantile: "math domain error");
        // the limit there is the same -inf as at -90.
        if t <= 0.0 {
            f64::NEG_INFINITY
        } else {
            RE * t.ln()
        }
    };
    Ok((x, y))
}

/// Web mercator metres to longitude/latitude (mercantile `lnglat`). Errors name `x` or `y`.
pub fn lnglat(x: f64, y: f64, truncate: bool) -> Result<LngLat> {
    check_finite(TileArg::Other, "x", x)?;
    check_finite(TileArg::Other, "y", y)?;
    let lng = x * R2D / RE;
    let lat = (PI * 0.5 - 2.0 * (-y / RE).exp().atan()) * R2D;
    let (lng, lat) = if truncate {
        truncate_lnglat(lng, lat)
    } else {
        (lng, lat)
    };
    Ok(LngLat { lng, lat })
}
