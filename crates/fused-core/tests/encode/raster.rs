//! Rasters: PNG decoded with the png crate for every layout, TIFF IFDs parsed here (tags,
//! geo tags, pixel bytes after inflating), NPY headers and bytes exact.

use super::*;
use std::collections::BTreeMap;
use std::io::{Cursor, Read};

fn raster(
    data: Vec<u8>,
    dtype: Dtype,
    shape: &[usize],
    bounds: Option<[f64; 4]>,
) -> CanonicalResult {
    CanonicalResult::Raster {
        data,
        dtype,
        shape: shape.to_vec(),
        bounds,
    }
}

fn decode_png(bytes: &[u8]) -> (u32, u32, png::ColorType, Vec<u8>) {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, info.color_type, buf)
}

#[test]
fn png_every_layout() {
    use png::ColorType::*;
    // (shape, input bytes, width, height, color, expected interleaved pixels)
    let seq = |n: u8| (0..n).collect::<Vec<u8>>();
    type Case = (Vec<usize>, Vec<u8>, u32, u32, png::ColorType, Vec<u8>);
    let cases: Vec<Case> = vec![
        (vec![2, 3], seq(6), 3, 2, Grayscale, seq(6)),
        (vec![1, 2, 5], seq(10), 5, 2, Grayscale, seq(10)),
        // (1, 2, 3): the last axis is 1/3/4, so band-last: one row of two RGB pixels.
        (vec![1, 2, 3], seq(6), 2, 1, Rgb, seq(6)),
        (vec![2, 3, 1], seq(6), 3, 2, Grayscale, seq(6)),
        // (3, H=2, W=2) band-first: planes R=0..4, G=4..8, B=8..12.
        (
            vec![3, 2, 2],
            seq(12),
            2,
            2,
            Rgb,
            vec![0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11],
        ),
        (vec![2, 2, 3], seq(12), 2, 2, Rgb, seq(12)),
        (
            vec![4, 1, 2],
            seq(8),
            2,
            1,
            Rgba,
            vec![0, 2, 4, 6, 1, 3, 5, 7],
        ),
        (vec![1, 2, 4], seq(8), 2, 1, Rgba, seq(8)),
        // (3, 5, 3): both ends are 1/3/4, so band-last (H=3, W=5, 3 bands).
        (vec![3, 5, 3], seq(45), 5, 3, Rgb, seq(45)),
    ];
    for (shape, data, w, h, color, pixels) in cases {
        let r = raster(data, Dtype::U8, &shape, None);
        let e = encode(&r, Format::Png, None).unwrap();
        assert_eq!(e.content_type, "image/png");
        assert_eq!(&e.body[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(
            decode_png(&e.body),
            (w, h, color, pixels),
            "shape {shape:?}"
        );
    }
}

#[test]
fn png_bool_and_refusals() {
    let r = raster(vec![0, 1, 1, 0], Dtype::Bool, &[2, 2], None);
    let (_, _, color, px) = decode_png(&encode(&r, Format::Png, None).unwrap().body);
    assert_eq!(
        (color, px),
        (png::ColorType::Grayscale, vec![0, 255, 255, 0])
    );

    let err = |r: &CanonicalResult| encode(r, Format::Png, None).unwrap_err().to_string();
    let f = raster(vec![0; 16], Dtype::F32, &[2, 2], None);
    assert_eq!(
        err(&f),
        "cannot encode as png: png needs a uint8 or bool array, got dtype <f4; scale it to \
         uint8 or use format=tiff or format=npy"
    );
    let two_bands = raster(vec![0; 8], Dtype::U8, &[2, 2, 2], None);
    assert!(
        err(&two_bands).contains("png needs 1, 3 or 4 bands, got 2"),
        "{}",
        err(&two_bands)
    );
    let flat = raster(vec![0; 4], Dtype::U8, &[4], None);
    assert!(err(&flat).contains("got shape [4]"), "{}", err(&flat));
    let empty = raster(vec![], Dtype::U8, &[0, 3], None);
    assert!(err(&empty).contains("empty image"), "{}", err(&empty));
    // Size mismatch, for every raster format.
    let short = raster(vec![0; 5], Dtype::U16, &[2, 3], None);
    for f in [Format::Png, Format::Tiff, Format::Npy] {
        let e = encode(&short, f, None).unwrap_err().to_string();
        assert!(
            e.ends_with("raster data is 5 bytes, but shape [2, 3] of <u2 needs 12"),
            "{e}"
        );
    }
    let huge = raster(vec![0; 4], Dtype::U8, &[usize::MAX, 2], None);
    assert!(encode(&huge, Format::Npy, None)
        .unwrap_err()
        .to_string()
        .contains("too large"));
}

/// A parsed TIFF: tag -> (type, values as f64), plus the image bytes (strips inflated).
struct Tiff {
    tags: BTreeMap<u16, (u16, Vec<f64>)>,
    pixels: Vec<u8>,
}

fn parse_tiff(b: &[u8]) -> Tiff {
    assert_eq!(&b[..4], b"II*\0");
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let ifd = u32_at(4) as usize;
    let n = u16_at(ifd) as usize;
    let mut tags = BTreeMap::new();
    let mut last = 0;
    for i in 0..n {
        let e = ifd + 2 + i * 12;
        let (tag, kind, count) = (u16_at(e), u16_at(e + 2), u32_at(e + 4) as usize);
        assert!(tag > last, "tags must be sorted ascending");
        last = tag;
        let size = match kind {
            3 => 2,
            4 => 4,
            12 => 8,
            k => panic!("unexpected type {k}"),
        };
        let at = if size * count <= 4 {
            e + 8
        } else {
            u32_at(e + 8) as usize
        };
        assert_eq!(at % 2, 0, "values word-aligned");
        let values: Vec<f64> = (0..count)
            .map(|k| {
                let o = at + k * size;
                match kind {
                    3 => f64::from(u16_at(o)),
                    4 => f64::from(u32_at(o)),
                    _ => f64::from_le_bytes(b[o..o + 8].try_into().unwrap()),
                }
            })
            .collect();
        tags.insert(tag, (kind, values));
    }
    assert_eq!(u32_at(ifd + 2 + n * 12), 0, "one IFD");
    let mut pixels = Vec::new();
    let offsets = tags[&273].1.clone();
    let counts = tags[&279].1.clone();
    assert_eq!(tags[&259].1, [8.0], "deflate");
    for (o, c) in offsets.iter().zip(&counts) {
        let strip = &b[*o as usize..(*o + *c) as usize];
        flate2::read::ZlibDecoder::new(strip)
            .read_to_end(&mut pixels)
            .unwrap();
    }
    Tiff { tags, pixels }
}

#[test]
fn geotiff_float_with_bounds() {
    let values: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 1.0).collect();
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let r = raster(
        data.clone(),
        Dtype::F32,
        &[3, 4],
        Some([-10.0, 40.0, -6.0, 43.0]),
    );
    let e = encode(&r, Format::Tiff, None).unwrap();
    assert_eq!(e.content_type, "image/tiff");
    let t = parse_tiff(&e.body);
    let tag = |k: u16| t.tags[&k].1.clone();
    assert_eq!(tag(256), [4.0]);
    assert_eq!(tag(257), [3.0]);
    assert_eq!(tag(258), [32.0]);
    assert_eq!(tag(262), [1.0]);
    assert_eq!(tag(277), [1.0]);
    assert_eq!(tag(284), [1.0]);
    assert_eq!(tag(339), [3.0]);
    assert_eq!(tag(33550), [1.0, 1.0, 0.0]);
    assert_eq!(tag(33922), [0.0, 0.0, 0.0, -10.0, 43.0, 0.0]);
    assert_eq!(t.tags[&33922].0, 12);
    assert_eq!(
        tag(34735),
        [
            1.0, 1.0, 0.0, 3.0, 1024.0, 0.0, 1.0, 2.0, 1025.0, 0.0, 1.0, 1.0, 2048.0, 0.0, 1.0,
            4326.0
        ]
    );
    assert!(!t.tags.contains_key(&338));
    assert_eq!(t.pixels, data);
}

#[test]
fn tiff_bands_dtypes_and_no_bounds() {
    // RGBA uint8, band-first -> chunky RGB + unassociated alpha, no geo tags.
    let data: Vec<u8> = (0..16).collect();
    let r = raster(data, Dtype::U8, &[4, 2, 2], None);
    let t = parse_tiff(&encode(&r, Format::Tiff, None).unwrap().body);
    assert_eq!(t.tags[&262].1, [2.0]);
    assert_eq!(t.tags[&277].1, [4.0]);
    assert_eq!(t.tags[&258].1, [8.0; 4]);
    assert_eq!(t.tags[&338].1, [2.0]);
    assert_eq!(t.tags[&339].1, [1.0; 4]);
    assert!(!t.tags.contains_key(&33550) && !t.tags.contains_key(&34735));
    assert_eq!(
        t.pixels,
        [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15]
    );

    // int16 with 5 bands band-first (neither end is 1/3/4: the smaller axis is bands).
    let vals: Vec<i16> = (0..5 * 2 * 6).map(|i| i as i16 - 30).collect();
    let data: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    let r = raster(data, Dtype::I16, &[5, 2, 6], Some([0.0, 0.0, 6.0, 1.0]));
    let t = parse_tiff(&encode(&r, Format::Tiff, None).unwrap().body);
    assert_eq!((t.tags[&256].1[0], t.tags[&257].1[0]), (6.0, 2.0));
    assert_eq!(t.tags[&277].1, [5.0]);
    assert_eq!(t.tags[&339].1, [2.0; 5]);
    assert_eq!(t.tags[&338].1, [0.0; 4]);
    assert_eq!(t.tags[&33550].1, [1.0, 0.5, 0.0]);
    // Pixel (row 1, col 2) has samples band*12 + 1*6 + 2 - 30.
    let px = |row: usize, col: usize, band: usize| {
        let o = ((row * 6 + col) * 5 + band) * 2;
        i16::from_le_bytes([t.pixels[o], t.pixels[o + 1]])
    };
    assert_eq!(
        (0..5).map(|b| px(1, 2, b)).collect::<Vec<_>>(),
        [-22, -10, 2, 14, 26]
    );

    // f64, bool, u64: sample formats and sizes; bool as 0/1 bytes.
    let r = raster(vec![0, 3, 1, 0], Dtype::Bool, &[2, 2], None);
    let t = parse_tiff(&encode(&r, Format::Tiff, None).unwrap().body);
    assert_eq!(
        (t.tags[&258].1.clone(), t.tags[&339].1.clone()),
        (vec![8.0], vec![1.0])
    );
    assert_eq!(t.pixels, [0, 1, 1, 0]);
    let r = raster(vec![7; 8 * 6], Dtype::F64, &[2, 3], None);
    let t = parse_tiff(&encode(&r, Format::Tiff, None).unwrap().body);
    assert_eq!(
        (t.tags[&258].1.clone(), t.tags[&339].1.clone()),
        (vec![64.0], vec![3.0])
    );
    assert_eq!(t.pixels, vec![7; 48]);

    // Many strips: 300 rows of 1000 bytes -> 65 rows per strip, 5 strips.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let r = raster(data.clone(), Dtype::U8, &[300, 1000], None);
    let t = parse_tiff(&encode(&r, Format::Tiff, None).unwrap().body);
    assert_eq!(t.tags[&278].1, [65.0]);
    assert_eq!(t.tags[&273].1.len(), 5);
    assert_eq!(t.pixels, data);

    // Bad bounds.
    let r = raster(vec![0; 4], Dtype::U8, &[2, 2], Some([1.0, 0.0, 1.0, 1.0]));
    let e = encode(&r, Format::Tiff, None).unwrap_err().to_string();
    assert!(
        e.contains("are not a [west, south, east, north] box"),
        "{e}"
    );
}

#[test]
fn npy_header_and_bytes_exact() {
    let data: Vec<u8> = (0..24).collect();
    let r = raster(data.clone(), Dtype::F32, &[2, 3], None);
    let e = encode(&r, Format::Npy, None).unwrap();
    assert_eq!(e.content_type, "application/octet-stream");
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    let mut expected = b"\x93NUMPY\x01\x00".to_vec();
    let padded = format!("{header:<117}\n");
    assert_eq!(padded.len() + 10, 128);
    expected.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    expected.extend_from_slice(padded.as_bytes());
    expected.extend_from_slice(&data);
    assert_eq!(e.body, expected);

    let r = raster(vec![1, 0, 1], Dtype::Bool, &[3], None);
    let body = encode(&r, Format::Npy, None).unwrap().body;
    let hlen = u16::from_le_bytes([body[8], body[9]]) as usize;
    assert_eq!((10 + hlen) % 64, 0);
    let text = std::str::from_utf8(&body[10..10 + hlen]).unwrap();
    assert!(text.ends_with(" \n"));
    assert_eq!(
        text.trim_end(),
        "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }"
    );
    assert_eq!(&body[10 + hlen..], [1, 0, 1]);
    let r = raster(
        vec![0; 8 * 24],
        Dtype::I64,
        &[2, 3, 4],
        Some([0.0, 0.0, 1.0, 1.0]),
    );
    let body = encode(&r, Format::Npy, None).unwrap().body;
    assert!(std::str::from_utf8(&body[10..128])
        .unwrap()
        .starts_with("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3, 4), }"));
    assert_eq!(body.len(), 128 + 8 * 24);
}

#[test]
fn geotiff_of_a_tile_is_placed_on_the_tile() {
    // A bare array on a tile request: the tile's lon/lat bounds, EPSG:4326.
    let tile = TileBounds {
        x: 655,
        y: 1583,
        z: 12,
    };
    let b = fused_core::tiles::bounds(tile);
    let r = raster(vec![9; 256 * 256], Dtype::U8, &[256, 256], None);
    let t = parse_tiff(&encode(&r, Format::Tiff, Some(tile)).unwrap().body);
    assert_eq!(
        t.tags[&33550].1,
        [(b.east - b.west) / 256.0, (b.north - b.south) / 256.0, 0.0]
    );
    assert_eq!(t.tags[&33922].1, [0.0, 0.0, 0.0, b.west, b.north, 0.0]);
    assert_eq!(t.tags[&34735].1[12..], [2048.0, 0.0, 1.0, 4326.0]);
    // The UDF's own bounds win over the tile's.
    let own = raster(vec![9; 4], Dtype::U8, &[2, 2], Some([1.0, 2.0, 3.0, 4.0]));
    let t = parse_tiff(&encode(&own, Format::Tiff, Some(tile)).unwrap().body);
    assert_eq!(t.tags[&33922].1, [0.0, 0.0, 0.0, 1.0, 4.0, 0.0]);
    // PNG and NPY are the same bytes with or without the tile.
    for f in [Format::Png, Format::Npy] {
        assert_eq!(
            encode(&r, f, Some(tile)).unwrap().body,
            encode(&r, f, None).unwrap().body
        );
    }
}
