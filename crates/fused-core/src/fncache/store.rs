//! [`CacheStore`]: entries are `<dir>/<key[0..2]>/<key>.bin`, a 32-byte header then the
//! payload. Header (little endian): magic `FCCH` (4 bytes), format version (u32),
//! created at (unix milliseconds, u64), payload length (u64), FNV-1a 64 of the payload
//! (u64). An entry that is too old, truncated, too long, of another version or whose
//! checksum does not match is treated as missing and removed.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::fncache::lock::CacheLock;
use crate::fsutil;
use crate::time::now_ms;

/// First bytes of every entry file.
pub const MAGIC: [u8; 4] = *b"FCCH";
/// Entry format version; other versions are treated as missing.
pub const VERSION: u32 = 1;
/// Size of the header in front of the payload.
pub const HEADER_LEN: usize = 32;
/// Longest key accepted (a sha512 in hex is 128 characters).
const KEY_MAX: usize = 128;

/// FNV-1a 64 over `data`: detects truncation and bit rot, not tampering.
pub fn checksum(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A key is 2 to 128 lowercase or uppercase hex digits (it names files, so nothing else).
pub fn validate_key(key: &str) -> Result<()> {
    if key.len() < 2 || key.len() > KEY_MAX || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        let shown: String = key.chars().take(80).collect();
        return Err(Error::invalid(
            "cache key",
            "2 to 128 hex digits",
            format!("{shown:?}"),
        ));
    }
    Ok(())
}

/// A folder of cache entries. Cheap to create; holds no open files.
#[derive(Debug, Clone)]
pub struct CacheStore {
    dir: PathBuf,
}

impl CacheStore {
    /// A store rooted at `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CacheStore { dir: dir.into() }
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn shard(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2])
    }

    /// Where the entry for `key` lives (the key must be valid).
    pub fn entry_path(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        Ok(self.shard(key).join(format!("{key}.bin")))
    }

    /// Where the lock file for `key` lives (the key must be valid).
    pub fn lock_path(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        Ok(self.shard(key).join(format!("{key}.lock")))
    }

    /// The payload stored under `key`, if present, intact and not older than `max_age`
    /// (`None`: any age). Bad or expired entries are removed and reported as missing.
    pub fn get(&self, key: &str, max_age: Option<Duration>) -> Result<Option<Vec<u8>>> {
        let path = self.entry_path(key)?;
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        if let Some(payload) = decode(data, max_age) {
            Ok(Some(payload))
        } else {
            remove_quietly(&path)?;
            Ok(None)
        }
    }

    /// Store `payload` under `key`: written to a temp file in the same folder, then renamed
    /// over the entry, so readers see the old entry, the new one, or none, never a part.
    pub fn put(&self, key: &str, payload: &[u8]) -> Result<()> {
        let path = self.entry_path(key)?;
        let mut entry = Vec::with_capacity(HEADER_LEN + payload.len());
        entry.extend_from_slice(&encode_header(now_ms(), payload));
        entry.extend_from_slice(payload);
        fsutil::write_atomic(&path, &entry).map_err(|e| Error::io(&path, e))
    }

    /// Delete the entry for `key`; `Ok(false)` when there was none.
    pub fn remove(&self, key: &str) -> Result<bool> {
        let path = self.entry_path(key)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Take the exclusive lock for `key`, waiting up to `timeout`; `Ok(None)` when another
    /// holder kept it that long. The lock is released when the guard is dropped.
    pub fn lock(&self, key: &str, timeout: Duration) -> Result<Option<CacheLock>> {
        let path = self.lock_path(key)?;
        let shard = self.shard(key);
        fs::create_dir_all(&shard).map_err(|e| Error::io(&shard, e))?;
        CacheLock::acquire(&path, timeout)
    }
}

fn encode_header(created_ms: u64, payload: &[u8]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&VERSION.to_le_bytes());
    h[8..16].copy_from_slice(&created_ms.to_le_bytes());
    h[16..24].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    h[24..32].copy_from_slice(&checksum(payload).to_le_bytes());
    h
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[at..at + 8]);
    u64::from_le_bytes(b)
}

/// The payload of an entry file, or `None` when it is malformed or expired.
fn decode(mut data: Vec<u8>, max_age: Option<Duration>) -> Option<Vec<u8>> {
    if data.len() < HEADER_LEN || data[0..4] != MAGIC {
        return None;
    }
    let version = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
    let created_ms = u64_at(&data, 8);
    let len = u64_at(&data, 16);
    let sum = u64_at(&data, 24);
    if version != VERSION || len != (data.len() - HEADER_LEN) as u64 {
        return None;
    }
    if let Some(max_age) = max_age {
        let age_ms = now_ms().saturating_sub(created_ms);
        if u128::from(age_ms) > max_age.as_millis() {
            return None;
        }
    }
    if checksum(&data[HEADER_LEN..]) != sum {
        return None;
    }
    data.drain(..HEADER_LEN);
    Some(data)
}

fn remove_quietly(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}
