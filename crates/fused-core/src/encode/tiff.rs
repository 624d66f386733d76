//! GeoTIFF: baseline little-endian TIFF, deflate-compressed strips, samples interleaved
//! (PlanarConfiguration 1, chunky), any of the raster dtypes (`SampleFormat` 1/2/3; bool as
//! uint8 0/1). With bounds, the GeoTIFF tags place it in EPSG:4326: `ModelPixelScale`
//! (33550), ModelTiepoint (33922) at the north-west corner, and a `GeoKeyDirectory` (34735)
//! with GTModelType 2 (geographic), `GTRasterType` 1 (`PixelIsArea`), `GeographicType` 4326.

use super::raster::{interleave, layout, RasterRef};
use crate::result::Dtype;
use crate::{Error, Result};
use flate2::write::ZlibEncoder;
use std::io::Write;

const SHORT: u16 = 3;
const LONG: u16 = 4;
const DOUBLE: u16 = 12;

/// Target uncompressed strip size.
const STRIP_BYTES: usize = 64 * 1024;

enum TagValue {
    Short(Vec<u16>),
    Long(Vec<u32>),
    Double(Vec<f64>),
}

impl TagValue {
    fn kind_count(&self) -> (u16, u32) {
        match self {
            TagValue::Short(v) => (SHORT, v.len() as u32),
            TagValue::Long(v) => (LONG, v.len() as u32),
            TagValue::Double(v) => (DOUBLE, v.len() as u32),
        }
    }
    fn bytes(&self) -> Vec<u8> {
        match self {
            TagValue::Short(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TagValue::Long(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TagValue::Double(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

fn sample_format(d: Dtype) -> u16 {
    match d {
        Dtype::U8 | Dtype::U16 | Dtype::U32 | Dtype::U64 | Dtype::Bool => 1,
        Dtype::I8 | Dtype::I16 | Dtype::I32 | Dtype::I64 => 2,
        Dtype::F32 | Dtype::F64 => 3,
    }
}

fn too_large() -> Error {
    Error::encode(
        "tiff",
        "the image exceeds the 4 GiB classic TIFF limit; use format=npy",
    )
}

/// Encode a raster as a (Geo)TIFF.
pub fn to_tiff(r: &RasterRef) -> Result<Vec<u8>> {
    r.validate("tiff")?;
    let l = layout(r.shape, "tiff")?;
    let size = r.dtype.size();
    let bool_bytes;
    let data: &[u8] = if r.dtype == Dtype::Bool {
        bool_bytes = r
            .data
            .iter()
            .map(|&b| u8::from(b != 0))
            .collect::<Vec<u8>>();
        &bool_bytes
    } else {
        r.data
    };
    let (Ok(w), Ok(h), Ok(spp)) = (
        u32::try_from(l.width),
        u32::try_from(l.height),
        u16::try_from(l.bands),
    ) else {
        return Err(too_large());
    };
    let pixels = interleave(data, &l, size);

    // Strips of whole rows, each deflated on its own.
    let row_bytes = l.width * l.bands * size;
    let rows_per_strip = (STRIP_BYTES / row_bytes).clamp(1, l.height);
    let mut strips: Vec<Vec<u8>> = Vec::new();
    for chunk in pixels.chunks(rows_per_strip * row_bytes) {
        let mut z = ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(chunk)
            .and_then(|()| z.finish())
            .map(|v| strips.push(v))
            .map_err(|e| Error::encode("tiff", e.to_string()))?;
    }

    let mut tags: Vec<(u16, TagValue)> = vec![
        (256, TagValue::Long(vec![w])),
        (257, TagValue::Long(vec![h])),
        (258, TagValue::Short(vec![(size * 8) as u16; l.bands])),
        (259, TagValue::Short(vec![8])), // Adobe deflate
    ];
    let rgb = r.dtype == Dtype::U8 && (l.bands == 3 || l.bands == 4);
    tags.push((262, TagValue::Short(vec![if rgb { 2 } else { 1 }])));
    tags.push((273, TagValue::Long(vec![0; strips.len()]))); // offsets, filled in below
    tags.push((277, TagValue::Short(vec![spp])));
    tags.push((278, TagValue::Long(vec![rows_per_strip as u32])));
    let counts = strips
        .iter()
        .map(|s| u32::try_from(s.len()).map_err(|_| too_large()))
        .collect::<Result<Vec<u32>>>()?;
    tags.push((279, TagValue::Long(counts)));
    tags.push((284, TagValue::Short(vec![1])));
    let base = if rgb { 3 } else { 1 };
    if l.bands > base {
        // Unassociated alpha for RGBA, unspecified extra samples otherwise.
        let extra = if rgb { 2 } else { 0 };
        tags.push((338, TagValue::Short(vec![extra; l.bands - base])));
    }
    tags.push((339, TagValue::Short(vec![sample_format(r.dtype); l.bands])));
    if let Some([west, south, east, north]) = r.bounds {
        if !(west.is_finite() && south.is_finite() && east.is_finite() && north.is_finite())
            || west >= east
            || south >= north
        {
            return Err(Error::encode(
                "tiff",
                format!(
                    "raster bounds [{west}, {south}, {east}, {north}] are not a \
                     [west, south, east, north] box"
                ),
            ));
        }
        let sx = (east - west) / l.width as f64;
        let sy = (north - south) / l.height as f64;
        tags.push((33550, TagValue::Double(vec![sx, sy, 0.0])));
        tags.push((
            33922,
            TagValue::Double(vec![0.0, 0.0, 0.0, west, north, 0.0]),
        ));
        tags.push((
            34735,
            TagValue::Short(vec![
                1, 1, 0, 3, // version 1.1.0, 3 keys
                1024, 0, 1, 2, // GTModelTypeGeoKey = ModelTypeGeographic
                1025, 0, 1, 1, // GTRasterTypeGeoKey = RasterPixelIsArea
                2048, 0, 1, 4326, // GeographicTypeGeoKey = EPSG:4326
            ]),
        ));
    }

    // Layout: header (8) | IFD | out-of-line tag values | strips.
    let ifd_len = 2 + tags.len() * 12 + 4;
    let mut values_len = 0usize;
    for (_, v) in &tags {
        let n = v.bytes().len();
        if n > 4 {
            values_len += n + (n & 1);
        }
    }
    let data_start = 8 + ifd_len + values_len;
    let total = data_start + strips.iter().map(Vec::len).sum::<usize>();
    if total > u32::MAX as usize {
        return Err(too_large());
    }
    let mut offset = data_start as u32;
    let offsets: Vec<u32> = strips
        .iter()
        .map(|s| {
            let o = offset;
            offset += s.len() as u32;
            o
        })
        .collect();
    for (tag, v) in &mut tags {
        if *tag == 273 {
            *v = TagValue::Long(offsets.clone());
        }
    }

    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"II");
    out.extend_from_slice(&42u16.to_le_bytes());
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&(tags.len() as u16).to_le_bytes());
    let mut extra: Vec<u8> = Vec::with_capacity(values_len);
    for (tag, v) in &tags {
        let (kind, count) = v.kind_count();
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        let mut b = v.bytes();
        if b.len() <= 4 {
            b.resize(4, 0);
            out.extend_from_slice(&b);
        } else {
            let at = (8 + ifd_len + extra.len()) as u32;
            out.extend_from_slice(&at.to_le_bytes());
            extra.extend_from_slice(&b);
            if b.len() & 1 == 1 {
                extra.push(0);
            }
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    out.extend_from_slice(&extra);
    debug_assert_eq!(out.len(), data_start);
    for s in &strips {
        out.extend_from_slice(s);
    }
    Ok(out)
}
