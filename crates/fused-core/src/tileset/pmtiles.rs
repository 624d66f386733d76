//! PMTiles v3 (<https://github.com/protomaps/PMTiles/blob/main/spec/v3/spec.md>): a single
//! file of tiles addressed through directories, readable with HTTP range requests.
//!
//! Layout written here: header (127 bytes) | root directory | JSON metadata | leaf
//! directories | tile data. Directories and metadata are gzipped. Tile data is clustered:
//! contents appear in tile id order, a repeated content points back at its first copy, and
//! consecutive tiles with the same content share one entry (a run). The root directory fits
//! in the first 16 KiB with the header; when the entries do not, they go to leaf directories
//! (4096 entries each, doubled until the root fits).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use super::hilbert::tile_id;
use crate::tiles::Tile;
use crate::{Error, Result};

pub const MAGIC: &[u8; 7] = b"PMTiles";
pub const HEADER_LEN: usize = 127;
/// The header and the root directory fit in this many bytes (the spec's first request).
pub const ROOT_LIMIT: usize = 16_384;
/// Largest directory or metadata accepted after decompression by the reader.
const MAX_DECOMPRESSED: u64 = 256 << 20;
/// Leaf directories nested deeper than this are refused (the spec allows at most 3 levels).
const MAX_DEPTH: usize = 4;

/// Compression codes of the header.
pub const COMPRESSION_NONE: u8 = 1;
pub const COMPRESSION_GZIP: u8 = 2;
/// Tile type codes of the header.
pub const TILE_TYPE_MVT: u8 = 1;
pub const TILE_TYPE_PNG: u8 = 2;

/// The fixed-size header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub root_offset: u64,
    pub root_length: u64,
    pub metadata_offset: u64,
    pub metadata_length: u64,
    pub leaf_offset: u64,
    pub leaf_length: u64,
    pub data_offset: u64,
    pub data_length: u64,
    pub addressed_tiles: u64,
    pub tile_entries: u64,
    pub tile_contents: u64,
    pub clustered: bool,
    pub internal_compression: u8,
    pub tile_compression: u8,
    pub tile_type: u8,
    pub min_zoom: u8,
    pub max_zoom: u8,
    /// `[west, south, east, north]` in degrees (stored as 1e-7 degree integers).
    pub bounds: [f64; 4],
    pub center_zoom: u8,
    pub center: [f64; 2],
}

fn e7(v: f64) -> i32 {
    (v * 1e7)
        .round()
        .clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
}

impl Header {
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..7].copy_from_slice(MAGIC);
        b[7] = 3;
        let u64s = [
            self.root_offset,
            self.root_length,
            self.metadata_offset,
            self.metadata_length,
            self.leaf_offset,
            self.leaf_length,
            self.data_offset,
            self.data_length,
            self.addressed_tiles,
            self.tile_entries,
            self.tile_contents,
        ];
        for (i, v) in u64s.iter().enumerate() {
            b[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        b[96] = u8::from(self.clustered);
        b[97] = self.internal_compression;
        b[98] = self.tile_compression;
        b[99] = self.tile_type;
        b[100] = self.min_zoom;
        b[101] = self.max_zoom;
        for (i, v) in self.bounds.iter().enumerate() {
            b[102 + 4 * i..106 + 4 * i].copy_from_slice(&e7(*v).to_le_bytes());
        }
        b[118] = self.center_zoom;
        b[119..123].copy_from_slice(&e7(self.center[0]).to_le_bytes());
        b[123..127].copy_from_slice(&e7(self.center[1]).to_le_bytes());
        b
    }

    /// Parse and check a header; errors name `path`.
    pub fn parse(b: &[u8], path: &str) -> Result<Header> {
        let bad = |m: &str| Error::tileset(path, m);
        if b.len() < HEADER_LEN || &b[..7] != MAGIC {
            return Err(bad("not a PMTiles file (no PMTiles magic bytes)"));
        }
        if b[7] != 3 {
            return Err(bad(&format!(
                "PMTiles version {} is not supported (expected 3)",
                b[7]
            )));
        }
        let u = |i: usize| {
            u64::from_le_bytes(
                b[8 + 8 * i..16 + 8 * i]
                    .try_into()
                    .expect("an 8-byte slice"),
            )
        };
        let i32at = |o: usize| {
            f64::from(i32::from_le_bytes(
                b[o..o + 4].try_into().expect("a 4-byte slice"),
            )) / 1e7
        };
        Ok(Header {
            root_offset: u(0),
            root_length: u(1),
            metadata_offset: u(2),
            metadata_length: u(3),
            leaf_offset: u(4),
            leaf_length: u(5),
            data_offset: u(6),
            data_length: u(7),
            addressed_tiles: u(8),
            tile_entries: u(9),
            tile_contents: u(10),
            clustered: b[96] == 1,
            internal_compression: b[97],
            tile_compression: b[98],
            tile_type: b[99],
            min_zoom: b[100],
            max_zoom: b[101],
            bounds: [i32at(102), i32at(106), i32at(110), i32at(114)],
            center_zoom: b[118],
            center: [i32at(119), i32at(123)],
        })
    }
}

/// One directory entry: a run of `run_length` tiles from `tile_id` with the same content at
/// `offset` (from the start of the tile data) and `length`; `run_length == 0` is a leaf
/// directory at `offset` from the start of the leaf directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirEntry {
    pub tile_id: u64,
    pub offset: u64,
    pub length: u32,
    pub run_length: u32,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// A directory's bytes before compression: count, then tile id deltas, run lengths,
/// lengths and offsets (0 = right after the previous entry's content, else offset + 1).
pub fn encode_directory(entries: &[DirEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 6 + 4);
    put_varint(&mut out, entries.len() as u64);
    let mut last = 0;
    for e in entries {
        put_varint(&mut out, e.tile_id - last);
        last = e.tile_id;
    }
    for e in entries {
        put_varint(&mut out, u64::from(e.run_length));
    }
    for e in entries {
        put_varint(&mut out, u64::from(e.length));
    }
    for (i, e) in entries.iter().enumerate() {
        let follows = i > 0 && e.offset == entries[i - 1].offset + u64::from(entries[i - 1].length);
        put_varint(&mut out, if follows { 0 } else { e.offset + 1 });
    }
    out
}

/// Decode a (decompressed) directory; errors name `path`.
pub fn decode_directory(buf: &[u8], path: &str) -> Result<Vec<DirEntry>> {
    let bad = || Error::tileset(path, "malformed PMTiles directory");
    let mut pos = 0;
    let n = get_varint(buf, &mut pos).ok_or_else(bad)?;
    if n > buf.len() as u64 {
        return Err(bad());
    }
    let n = n as usize;
    let mut entries = vec![
        DirEntry {
            tile_id: 0,
            offset: 0,
            length: 0,
            run_length: 0
        };
        n
    ];
    let mut last: u64 = 0;
    for e in &mut entries {
        last = last
            .checked_add(get_varint(buf, &mut pos).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        e.tile_id = last;
    }
    for e in &mut entries {
        e.run_length =
            u32::try_from(get_varint(buf, &mut pos).ok_or_else(bad)?).map_err(|_| bad())?;
    }
    for e in &mut entries {
        e.length = u32::try_from(get_varint(buf, &mut pos).ok_or_else(bad)?).map_err(|_| bad())?;
    }
    for i in 0..n {
        let v = get_varint(buf, &mut pos).ok_or_else(bad)?;
        entries[i].offset = if v == 0 && i > 0 {
            entries[i - 1].offset + u64::from(entries[i - 1].length)
        } else if v == 0 {
            return Err(bad());
        } else {
            v - 1
        };
    }
    Ok(entries)
}

/// Gzip at level 1 (the fast setting): gzip is most of the writer's time, and the export's
/// writer share is what `bench/bench_tilesets.py` measures.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(data.len() / 2 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Decompress with `compression` (none or gzip), at most [`MAX_DECOMPRESSED`] bytes.
pub fn decompress(data: &[u8], compression: u8, path: &str) -> Result<Vec<u8>> {
    match compression {
        COMPRESSION_NONE => Ok(data.to_vec()),
        COMPRESSION_GZIP => {
            let mut out = Vec::new();
            GzDecoder::new(data)
                .take(MAX_DECOMPRESSED + 1)
                .read_to_end(&mut out)
                .map_err(|e| Error::tileset(path, format!("corrupt gzip data: {e}")))?;
            if out.len() as u64 > MAX_DECOMPRESSED {
                return Err(Error::tileset(path, "a directory is larger than 256 MiB"));
            }
            Ok(out)
        }
        other => Err(Error::tileset(
            path,
            format!("internal compression {other} is not supported (expected none or gzip)"),
        )),
    }
}

/// Root and leaf directories (gzipped) for `entries` (sorted by tile id).
fn build_directories(entries: &[DirEntry]) -> (Vec<u8>, Vec<u8>) {
    let root = gzip(&encode_directory(entries));
    if root.len() <= ROOT_LIMIT - HEADER_LEN {
        return (root, Vec::new());
    }
    let mut leaf_size = 4096;
    loop {
        let mut leaves = Vec::new();
        let mut root_entries = Vec::new();
        for chunk in entries.chunks(leaf_size) {
            let leaf = gzip(&encode_directory(chunk));
            root_entries.push(DirEntry {
                tile_id: chunk[0].tile_id,
                offset: leaves.len() as u64,
                length: leaf.len() as u32,
                run_length: 0,
            });
            leaves.extend_from_slice(&leaf);
        }
        let root = gzip(&encode_directory(&root_entries));
        if root.len() <= ROOT_LIMIT - HEADER_LEN {
            return (root, leaves);
        }
        leaf_size *= 2;
    }
}

/// What the header says about the tiles, besides the sections.
#[derive(Debug, Clone)]
pub struct ArchiveInfo {
    pub tile_type: u8,
    pub tile_compression: u8,
    pub min_zoom: u8,
    pub max_zoom: u8,
    pub bounds: [f64; 4],
    pub center: [f64; 2],
    pub center_zoom: u8,
    /// JSON metadata (TileJSON fields).
    pub metadata: String,
}

/// Where the tile contents are while tiles are added: appended to a scratch file, each
/// content once; the archive is assembled from it in tile id order by [`PmtilesBuilder::finish`].
pub struct PmtilesBuilder {
    scratch_path: PathBuf,
    scratch: File,
    scratch_len: u64,
    /// (offset in scratch, length) of each distinct content.
    contents: Vec<(u64, u32)>,
    /// (tile id, content index) of each tile, in the order added.
    tiles: Vec<(u64, u32)>,
}

impl PmtilesBuilder {
    /// Start a builder whose scratch file is `scratch_path` (created, truncated).
    pub fn create(scratch_path: &Path) -> Result<Self> {
        let scratch = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(scratch_path)
            .map_err(|e| Error::io(scratch_path, e))?;
        Ok(PmtilesBuilder {
            scratch_path: scratch_path.to_path_buf(),
            scratch,
            scratch_len: 0,
            contents: Vec::new(),
            tiles: Vec::new(),
        })
    }

    /// Store a new content; returns its index for [`PmtilesBuilder::add_tile`].
    pub fn add_content(&mut self, data: &[u8]) -> Result<u32> {
        let len = u32::try_from(data.len())
            .map_err(|_| Error::invalid("tile", "at most 4 GiB", data.len()))?;
        self.scratch
            .write_all(data)
            .map_err(|e| Error::io(&self.scratch_path, e))?;
        self.contents.push((self.scratch_len, len));
        self.scratch_len += u64::from(len);
        Ok(self.contents.len() as u32 - 1)
    }

    pub fn add_tile(&mut self, tile: Tile, content: u32) {
        self.tiles.push((tile_id(tile), content));
    }

    /// Write the archive to `out` (a new file) and remove the scratch file.
    pub fn finish(mut self, out: &mut File, out_path: &Path, info: &ArchiveInfo) -> Result<Header> {
        let io = |e| Error::io(out_path, e);
        // Later additions of the same tile replace earlier ones.
        self.tiles.sort_by_key(|(id, _)| *id);
        let mut tiles: Vec<(u64, u32)> = Vec::with_capacity(self.tiles.len());
        for t in self.tiles.drain(..) {
            match tiles.last_mut() {
                Some(last) if last.0 == t.0 => *last = t,
                _ => tiles.push(t),
            }
        }
        // Contents in order of first use; entries with runs merged.
        let mut new_offset: Vec<Option<u64>> = vec![None; self.contents.len()];
        let mut order: Vec<u32> = Vec::new();
        let mut data_len: u64 = 0;
        let mut entries: Vec<DirEntry> = Vec::new();
        let mut last_content = u32::MAX;
        for &(id, c) in &tiles {
            let offset = if let Some(o) = new_offset[c as usize] {
                o
            } else {
                let o = data_len;
                new_offset[c as usize] = Some(o);
                order.push(c);
                data_len += u64::from(self.contents[c as usize].1);
                o
            };
            if let Some(prev) = entries.last_mut() {
                if last_content == c && prev.tile_id + u64::from(prev.run_length) == id {
                    prev.run_length += 1;
                    continue;
                }
            }
            entries.push(DirEntry {
                tile_id: id,
                offset,
                length: self.contents[c as usize].1,
                run_length: 1,
            });
            last_content = c;
        }
        let (root, leaves) = build_directories(&entries);
        let metadata = gzip(info.metadata.as_bytes());
        let root_offset = HEADER_LEN as u64;
        let metadata_offset = root_offset + root.len() as u64;
        let leaf_offset = metadata_offset + metadata.len() as u64;
        let data_offset = leaf_offset + leaves.len() as u64;
        let header = Header {
            root_offset,
            root_length: root.len() as u64,
            metadata_offset,
            metadata_length: metadata.len() as u64,
            leaf_offset,
            leaf_length: leaves.len() as u64,
            data_offset,
            data_length: data_len,
            addressed_tiles: tiles.len() as u64,
            tile_entries: entries.len() as u64,
            tile_contents: order.len() as u64,
            clustered: true,
            internal_compression: COMPRESSION_GZIP,
            tile_compression: info.tile_compression,
            tile_type: info.tile_type,
            min_zoom: info.min_zoom,
            max_zoom: info.max_zoom,
            bounds: info.bounds,
            center_zoom: info.center_zoom,
            center: info.center,
        };
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut *out);
        w.write_all(&header.to_bytes()).map_err(io)?;
        w.write_all(&root).map_err(io)?;
        w.write_all(&metadata).map_err(io)?;
        w.write_all(&leaves).map_err(io)?;
        // Copy the contents in their new order; in one pass when they already are in it.
        let sequential = order.iter().enumerate().all(|(i, &c)| c as usize == i)
            && order.len() == self.contents.len();
        let scratch_err = |e| Error::io(&self.scratch_path, e);
        self.scratch.flush().map_err(scratch_err)?;
        self.scratch.seek(SeekFrom::Start(0)).map_err(scratch_err)?;
        if sequential {
            let copied = std::io::copy(&mut (&self.scratch).take(data_len), &mut w).map_err(io)?;
            if copied != data_len {
                return Err(Error::tileset(
                    self.scratch_path.display().to_string(),
                    "scratch file is shorter than the tiles written",
                ));
            }
        } else {
            let mut buf = Vec::new();
            for c in order {
                let (off, len) = self.contents[c as usize];
                buf.resize(len as usize, 0);
                self.scratch
                    .seek(SeekFrom::Start(off))
                    .map_err(scratch_err)?;
                self.scratch.read_exact(&mut buf).map_err(scratch_err)?;
                w.write_all(&buf).map_err(io)?;
            }
        }
        w.flush().map_err(io)?;
        drop(w);
        out.sync_all().map_err(io)?;
        let _ = std::fs::remove_file(&self.scratch_path);
        Ok(header)
    }

    /// Drop the scratch file (an abandoned export).
    pub fn abort(self) {
        let _ = std::fs::remove_file(&self.scratch_path);
    }
}

/// A synchronous PMTiles v3 reader over a file.
pub struct PmtilesReader {
    file: File,
    path: String,
    header: Header,
    root: Vec<DirEntry>,
}

impl PmtilesReader {
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let name = path.display().to_string();
        let mut head = vec![0u8; HEADER_LEN];
        file.read_exact(&mut head)
            .map_err(|_| Error::tileset(&name, "not a PMTiles file (shorter than its header)"))?;
        let header = Header::parse(&head, &name)?;
        let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
        for (what, off, len) in [
            ("root directory", header.root_offset, header.root_length),
            ("metadata", header.metadata_offset, header.metadata_length),
            ("leaf directories", header.leaf_offset, header.leaf_length),
            ("tile data", header.data_offset, header.data_length),
        ] {
            if off.checked_add(len).is_none_or(|end| end > size) {
                return Err(Error::tileset(
                    &name,
                    format!("the {what} section ends past the end of the file (truncated?)"),
                ));
            }
        }
        if header.root_length > MAX_DECOMPRESSED {
            return Err(Error::tileset(&name, "the root directory is too large"));
        }
        let mut reader = PmtilesReader {
            file,
            path: name,
            header,
            root: Vec::new(),
        };
        let raw = reader.read_at(reader.header.root_offset, reader.header.root_length)?;
        let dir = decompress(&raw, reader.header.internal_compression, &reader.path)?;
        reader.root = decode_directory(&dir, &reader.path)?;
        Ok(reader)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    fn read_at(&mut self, offset: u64, len: u64) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len as usize];
        let path = self.path.clone();
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.read_exact(&mut buf))
            .map_err(|e| Error::io(&path, e))?;
        Ok(buf)
    }

    /// The JSON metadata text.
    pub fn metadata(&mut self) -> Result<String> {
        let raw = self.read_at(self.header.metadata_offset, self.header.metadata_length)?;
        let text = decompress(&raw, self.header.internal_compression, &self.path)?;
        String::from_utf8(text).map_err(|_| Error::tileset(&self.path, "metadata is not UTF-8"))
    }

    /// The stored bytes of a tile (compressed as the header's `tile_compression` says), or
    /// `None` when the archive does not have it.
    pub fn get(&mut self, tile: Tile) -> Result<Option<Vec<u8>>> {
        let id = tile_id(tile);
        let mut entry = find(&self.root, id);
        for _ in 0..MAX_DEPTH {
            let Some(e) = entry else {
                return Ok(None);
            };
            let len = u64::from(e.length);
            if e.run_length > 0 {
                if e.offset
                    .checked_add(len)
                    .is_none_or(|end| end > self.header.data_length)
                {
                    return Err(Error::tileset(
                        &self.path,
                        "a tile is out of the data section",
                    ));
                }
                return self
                    .read_at(self.header.data_offset + e.offset, len)
                    .map(Some);
            }
            if e.offset
                .checked_add(len)
                .is_none_or(|end| end > self.header.leaf_length)
            {
                return Err(Error::tileset(
                    &self.path,
                    "a leaf directory is out of bounds",
                ));
            }
            let raw = self.read_at(self.header.leaf_offset + e.offset, len)?;
            let d = decompress(&raw, self.header.internal_compression, &self.path)?;
            let leaf = decode_directory(&d, &self.path)?;
            entry = find(&leaf, id);
        }
        Err(Error::tileset(&self.path, "leaf directories nest too deep"))
    }

    /// Every tile entry of the archive (leaf directories resolved), in tile id order.
    pub fn entries(&mut self) -> Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        let root = self.root.clone();
        self.collect(&root, 0, &mut out)?;
        Ok(out)
    }

    fn collect(&mut self, dir: &[DirEntry], depth: usize, out: &mut Vec<DirEntry>) -> Result<()> {
        if depth >= MAX_DEPTH {
            return Err(Error::tileset(&self.path, "leaf directories nest too deep"));
        }
        for e in dir {
            if e.run_length > 0 {
                out.push(*e);
            } else {
                let raw = self.read_at(self.header.leaf_offset + e.offset, u64::from(e.length))?;
                let d = decompress(&raw, self.header.internal_compression, &self.path)?;
                let leaf = decode_directory(&d, &self.path)?;
                self.collect(&leaf, depth + 1, out)?;
            }
        }
        Ok(())
    }
}

/// The entry covering tile id `id` in a sorted directory.
fn find(dir: &[DirEntry], id: u64) -> Option<DirEntry> {
    let i = match dir.binary_search_by_key(&id, |e| e.tile_id) {
        Ok(i) => return Some(dir[i]),
        Err(0) => return None,
        Err(i) => i - 1,
    };
    let e = dir[i];
    if e.run_length == 0 || id - e.tile_id < u64::from(e.run_length) {
        Some(e)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tile_id: u64, offset: u64, length: u32, run_length: u32) -> DirEntry {
        DirEntry {
            tile_id,
            offset,
            length,
            run_length,
        }
    }

    #[test]
    fn directory_round_trip() {
        let entries = vec![
            entry(5, 0, 10, 1),
            entry(6, 10, 20, 3),
            entry(9, 0, 10, 1),
            entry(1000, 30, 7, 1),
        ];
        let enc = encode_directory(&entries);
        assert_eq!(decode_directory(&enc, "x").unwrap(), entries);
        assert!(decode_directory(&enc[..enc.len() - 1], "x").is_err());
    }

    #[test]
    fn header_round_trip() {
        let h = Header {
            root_offset: 127,
            root_length: 10,
            metadata_offset: 137,
            metadata_length: 5,
            leaf_offset: 142,
            leaf_length: 0,
            data_offset: 142,
            data_length: 99,
            addressed_tiles: 4,
            tile_entries: 3,
            tile_contents: 2,
            clustered: true,
            internal_compression: 2,
            tile_compression: 2,
            tile_type: 1,
            min_zoom: 3,
            max_zoom: 9,
            bounds: [-122.5, 37.7, -122.3, 37.8],
            center_zoom: 6,
            center: [-122.4, 37.75],
        };
        let b = h.to_bytes();
        assert_eq!(Header::parse(&b, "x").unwrap(), h);
        assert!(Header::parse(b"SQLite format 3\0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "x").is_err());
    }
}
