//! The tileset writers: PMTiles and MBTiles archives written by `TilesetWriter` and read back.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::path::Path;

use fused_core::tiles::Tile;
use fused_core::tileset::pmtiles::{PmtilesReader, COMPRESSION_GZIP, TILE_TYPE_MVT, TILE_TYPE_PNG};
use fused_core::tileset::writer::TilesetMetadata;
use fused_core::tileset::{tile_id, TileFormat, TilesetWriter};
use fused_core::Error;

fn msg(field: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![(field << 3) | 2];
    let mut n = body.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(body);
    out
}

/// An MVT tile with one layer `udf` and `features` point features tagged `name = label`.
fn mvt(features: usize, label: &str) -> Vec<u8> {
    let mut layer = msg(1, b"udf");
    for _ in 0..features {
        let mut f = msg(2, &[0, 0]);
        f.extend([3 << 3, 1]); // type point
        f.extend(msg(4, &[9, 50, 50])); // MoveTo(25, 25)
        layer.extend(msg(2, &f));
    }
    layer.extend(msg(3, b"name"));
    layer.extend(msg(4, &msg(1, label.as_bytes())));
    layer.extend([5 << 3, 0x80, 0x20]); // extent 4096
    msg(3, &layer)
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn meta() -> TilesetMetadata {
    TilesetMetadata {
        name: "test".into(),
        description: Some("a test".into()),
        minzoom: 0,
        maxzoom: 12,
        bounds: [-10.0, -5.0, 10.0, 5.0],
        center: None,
    }
}

fn t(z: u8, x: u32, y: u32) -> Tile {
    Tile { x, y, z }
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect()
}

#[test]
fn pmtiles_round_trip_dedup_runs_and_empty_tiles() {
    let dir = tempdir("pm");
    let path = dir.join("out.pmtiles");
    let mut w = TilesetWriter::create(&path, TileFormat::Mvt, false).unwrap();
    let a = mvt(2, "a");
    let b = mvt(1, "b");
    // Added out of tile id order: the archive is still clustered.
    assert!(w.add(t(2, 3, 3), &b).unwrap());
    assert!(w.add(t(0, 0, 0), &a).unwrap());
    assert!(w.add(t(1, 0, 0), &a).unwrap());
    assert!(w.add(t(1, 0, 1), &a).unwrap());
    assert!(
        !w.add(t(1, 1, 1), &mvt(0, "x")).unwrap(),
        "no features: left out"
    );
    assert!(!w.add(t(1, 1, 0), b"").unwrap(), "no bytes: left out");
    let e = w.add(t(2, 0, 0), b"not a tile").unwrap_err().to_string();
    assert!(e.contains("tile 2/0/0"), "{e}");
    assert!(!leftovers(&dir).is_empty());
    let stats = w.finish(&meta()).unwrap();
    assert_eq!((stats.tiles, stats.unique, stats.empty), (4, 2, 2));
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));

    let mut r = PmtilesReader::open(&path).unwrap();
    let h = r.header().clone();
    assert_eq!(
        (h.tile_type, h.tile_compression),
        (TILE_TYPE_MVT, COMPRESSION_GZIP)
    );
    assert_eq!((h.addressed_tiles, h.tile_contents), (4, 2));
    // 0/0/0, 1/0/0 and 1/0/1 have consecutive ids and the same content: one run.
    assert_eq!(h.tile_entries, 2);
    assert!(h.clustered);
    assert_eq!((h.min_zoom, h.max_zoom), (0, 12));
    assert_eq!(h.bounds, [-10.0, -5.0, 10.0, 5.0]);
    assert_eq!(gunzip(&r.get(t(1, 0, 1)).unwrap().unwrap()), a);
    assert_eq!(gunzip(&r.get(t(2, 3, 3)).unwrap().unwrap()), b);
    assert_eq!(r.get(t(1, 1, 1)).unwrap(), None);
    assert_eq!(r.get(t(5, 1, 1)).unwrap(), None);
    let m: serde_json::Value = serde_json::from_str(&r.metadata().unwrap()).unwrap();
    assert_eq!(m["vector_layers"][0]["id"], "udf");
    assert_eq!(m["vector_layers"][0]["fields"]["name"], "String");
    assert_eq!(m["description"], "a test");
    // Offsets are in tile id order: the first tile's content comes first.
    let entries = r.entries().unwrap();
    assert_eq!(entries[0].tile_id, 0);
    assert_eq!(entries[0].offset, 0);
    assert_eq!(entries[1].tile_id, tile_id(t(2, 3, 3)));
}

#[test]
fn pmtiles_with_leaf_directories() {
    let dir = tempdir("leaf");
    let path = dir.join("many.pmtiles");
    let mut w = TilesetWriter::create(&path, TileFormat::Png, false).unwrap();
    // Lengths vary pseudo-randomly so the directory does not compress to nothing.
    let png = |i: u32| {
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        v.extend(i.to_le_bytes());
        v.resize(12 + (i.wrapping_mul(2_654_435_761) >> 20) as usize % 400, 7);
        v
    };
    // 256 * 256 / 2 distinct tiles at zoom 8, every second one: no runs, many entries.
    let mut n = 0;
    for x in 0..256u32 {
        for y in 0..256u32 {
            if (x + y) % 2 == 0 {
                w.add(t(8, x, y), &png(x * 256 + y)).unwrap();
                n += 1;
            }
        }
    }
    let stats = w.finish(&meta()).unwrap();
    assert_eq!(stats.tiles, n);
    let mut r = PmtilesReader::open(&path).unwrap();
    assert!(r.header().leaf_length > 0, "expected leaf directories");
    assert_eq!(r.header().tile_type, TILE_TYPE_PNG);
    for x in 0..256u32 {
        for y in 0..256u32 {
            if (x * 256 + y) % 13 != 0 {
                continue; // a sample: every lookup decompresses a leaf
            }
            let got = r.get(t(8, x, y)).unwrap();
            if (x + y) % 2 == 0 {
                assert_eq!(got.unwrap(), png(x * 256 + y));
            } else {
                assert_eq!(got, None);
            }
        }
    }
}

#[test]
fn existing_file_abort_and_bad_names() {
    let dir = tempdir("exist");
    let path = dir.join("x.pmtiles");
    std::fs::write(&path, b"old").unwrap();
    assert!(matches!(
        TilesetWriter::create(&path, TileFormat::Mvt, false),
        Err(Error::AlreadyExists { .. })
    ));
    let mut w = TilesetWriter::create(&path, TileFormat::Mvt, true).unwrap();
    w.add(t(0, 0, 0), &mvt(1, "a")).unwrap();
    w.abort();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"old",
        "replaced only when finished"
    );
    assert!(leftovers(&dir).is_empty());
    {
        let mut w = TilesetWriter::create(&path, TileFormat::Mvt, true).unwrap();
        w.add(t(0, 0, 0), &mvt(1, "a")).unwrap();
        // dropped without finish
    }
    assert!(leftovers(&dir).is_empty());
    let e = TilesetWriter::create(&dir.join("x.zip"), TileFormat::Mvt, false)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains(".pmtiles or .mbtiles"), "{e}");
    let e = PmtilesReader::open(&path).err().unwrap().to_string();
    assert!(e.contains("not a PMTiles file"), "{e}");
}

#[cfg(feature = "mbtiles")]
#[test]
fn mbtiles_round_trip_tms_rows_and_dedup() {
    use fused_core::tileset::mbtiles::MbtilesReader;

    let dir = tempdir("mb");
    let path = dir.join("out.mbtiles");
    let mut w = TilesetWriter::create(&path, TileFormat::Mvt, false).unwrap();
    let a = mvt(3, "a");
    w.add(t(3, 1, 2), &a).unwrap();
    w.add(t(3, 2, 2), &a).unwrap();
    w.add(t(3, 5, 6), &mvt(1, "b")).unwrap();
    let stats = w.finish(&meta()).unwrap();
    assert_eq!((stats.tiles, stats.unique), (3, 2));
    assert!(leftovers(&dir).is_empty());
    let r = MbtilesReader::open(&path).unwrap();
    assert_eq!(gunzip(&r.get(t(3, 2, 2)).unwrap().unwrap()), a);
    assert_eq!(r.get(t(3, 2, 3)).unwrap(), None);
    let m = r.metadata().unwrap();
    assert_eq!(m["format"], "pbf");
    assert_eq!(m["bounds"], "-10,-5,10,5");
    assert_eq!(m["maxzoom"], "12");
    let json: serde_json::Value = serde_json::from_str(&m["json"]).unwrap();
    assert_eq!(json["vector_layers"][0]["fields"]["name"], "String");
    assert!(std::fs::read(&path)
        .unwrap()
        .starts_with(b"SQLite format 3\0"));
    let e = MbtilesReader::open(&dir.join("missing.mbtiles"))
        .err()
        .unwrap();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "fused-tileset-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
