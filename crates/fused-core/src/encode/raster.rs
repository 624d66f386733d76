//! Rasters: size validation, the band-layout rule, and the PNG and NPY encoders.

use crate::result::Dtype;
use crate::{Error, Result};

/// A raster result, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct RasterRef<'a> {
    pub data: &'a [u8],
    pub dtype: Dtype,
    pub shape: &'a [usize],
    pub bounds: Option<[f64; 4]>,
}

impl RasterRef<'_> {
    /// Check `data.len() == product(shape) * dtype.size()`.
    pub fn validate(&self, format: &str) -> Result<()> {
        let expected = self
            .shape
            .iter()
            .try_fold(self.dtype.size(), |acc, &d| acc.checked_mul(d));
        match expected {
            Some(n) if n == self.data.len() => Ok(()),
            Some(n) => Err(Error::encode(
                format,
                format!(
                    "raster data is {} bytes, but shape {:?} of {} needs {n}",
                    self.data.len(),
                    self.shape,
                    self.dtype.numpy_str()
                ),
            )),
            None => Err(Error::encode(
                format,
                format!("raster shape {:?} is too large", self.shape),
            )),
        }
    }
}

/// How an image's samples are laid out in the array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub height: usize,
    pub width: usize,
    pub bands: usize,
    /// `(bands, H, W)` when true, `(H, W, bands)` when false.
    pub band_first: bool,
}

fn is_image_bands(n: usize) -> bool {
    matches!(n, 1 | 3 | 4)
}

/// The layout of a 2-D or 3-D array.
///
/// `(H, W)` is one band. For `(a, b, c)`: band-first `(bands, H, W)` when `a` is 1, 3 or 4
/// and `c` is not; band-last `(H, W, bands)` when `c` is 1, 3 or 4 (so `(3, H, 3)` is
/// band-last). When neither is 1, 3 or 4 (TIFF only: any band count), the smaller of `a`
/// and `c` is the band axis, band-first on a tie (rasterio's order).
pub fn layout(shape: &[usize], format: &str) -> Result<Layout> {
    let l = match *shape {
        [h, w] => Layout {
            height: h,
            width: w,
            bands: 1,
            band_first: false,
        },
        [a, b, c] => {
            let band_first = if is_image_bands(a) && !is_image_bands(c) {
                true
            } else if is_image_bands(c) {
                false
            } else {
                a <= c
            };
            if band_first {
                Layout {
                    height: b,
                    width: c,
                    bands: a,
                    band_first,
                }
            } else {
                Layout {
                    height: a,
                    width: b,
                    bands: c,
                    band_first,
                }
            }
        }
        _ => {
            return Err(Error::encode(
                format,
                format!(
                    "an image needs a 2-D (H, W) or 3-D (bands, H, W) / (H, W, bands) array, \
                     got shape {shape:?}; use format=npy for other shapes"
                ),
            ))
        }
    };
    if l.height == 0 || l.width == 0 || l.bands == 0 {
        return Err(Error::encode(
            format,
            format!("cannot write an empty image (shape {shape:?})"),
        ));
    }
    Ok(l)
}

/// Samples interleaved per pixel (`(H, W, bands)` order), element size `size` bytes.
pub fn interleave<'a>(data: &'a [u8], l: &Layout, size: usize) -> std::borrow::Cow<'a, [u8]> {
    if !l.band_first || l.bands == 1 {
        return std::borrow::Cow::Borrowed(data);
    }
    let plane = l.height * l.width;
    let mut out = vec![0u8; data.len()];
    for b in 0..l.bands {
        for p in 0..plane {
            let src = (b * plane + p) * size;
            let dst = (p * l.bands + b) * size;
            out[dst..dst + size].copy_from_slice(&data[src..src + size]);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// PNG: uint8 (or bool, written as 0/255) rasters with 1 (gray), 3 (RGB) or 4 (RGBA) bands.
pub fn to_png(r: &RasterRef) -> Result<Vec<u8>> {
    r.validate("png")?;
    let l = layout(r.shape, "png")?;
    if !is_image_bands(l.bands) {
        return Err(Error::encode(
            "png",
            format!(
                "png needs 1, 3 or 4 bands, got {} (shape {:?}); use format=tiff or npy",
                l.bands, r.shape
            ),
        ));
    }
    let bool_bytes;
    let data: &[u8] = match r.dtype {
        Dtype::U8 => r.data,
        Dtype::Bool => {
            bool_bytes = r
                .data
                .iter()
                .map(|&b| if b != 0 { 255 } else { 0 })
                .collect::<Vec<u8>>();
            &bool_bytes
        }
        other => {
            return Err(Error::encode(
                "png",
                format!(
                    "png needs a uint8 or bool array, got dtype {}; scale it to uint8 or use \
                     format=tiff or format=npy",
                    other.numpy_str()
                ),
            ))
        }
    };
    let (Ok(w), Ok(h)) = (u32::try_from(l.width), u32::try_from(l.height)) else {
        return Err(Error::encode(
            "png",
            format!("image {}x{} is too large for png", l.width, l.height),
        ));
    };
    let pixels = interleave(data, &l, 1);
    let fail = |e: png::EncodingError| Error::encode("png", e.to_string());
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(match l.bands {
            1 => png::ColorType::Grayscale,
            3 => png::ColorType::Rgb,
            _ => png::ColorType::Rgba,
        });
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header().map_err(fail)?;
        writer.write_image_data(&pixels).map_err(fail)?;
        writer.finish().map_err(fail)?;
    }
    Ok(out)
}

/// NPY format version 1.0 (2.0 when the header would exceed 65535 bytes): magic, version,
/// header length, the header dict padded with spaces and a newline so the data starts at a
/// multiple of 64, then the C-order bytes.
pub fn to_npy(r: &RasterRef) -> Result<Vec<u8>> {
    r.validate("npy")?;
    let shape = match r.shape {
        [n] => format!("({n},)"),
        s => format!(
            "({})",
            s.iter()
                .map(std::string::ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        r.dtype.numpy_str()
    );
    // Length of the padded header (newline included) after a prefix of `p` bytes.
    let padded = |p: usize| (p + header.len() + 1).div_ceil(64) * 64 - p;
    let v1 = u16::try_from(padded(10)).is_ok();
    let len = if v1 { padded(10) } else { padded(12) };
    header.push_str(&" ".repeat(len - header.len() - 1));
    header.push('\n');
    let total = len + if v1 { 10 } else { 12 };
    let mut out = Vec::with_capacity(total + r.data.len());
    out.extend_from_slice(b"\x93NUMPY");
    if v1 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(r.data);
    Ok(out)
}
