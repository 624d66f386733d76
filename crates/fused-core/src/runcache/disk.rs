//! The disk tier: one file per entry, `<dir>/<namespace>/<key>`, written atomically (a
//! temporary name in the same directory, then rename). Blocking: the server calls it off its
//! async threads.

use std::path::{Path, PathBuf};

use super::entry::{CorruptEntry, Entry};
use crate::time::now_ms;

pub struct DiskStore {
    dir: PathBuf,
}

/// What a read found.
#[derive(Debug)]
pub enum DiskRead {
    Hit(Entry),
    Missing,
    /// Past its own lifetime: the file was removed.
    Expired,
    /// Within its own lifetime but older than the reader accepts: the file is kept.
    Stale,
    /// Corrupt or truncated: the file was removed (never served).
    Corrupt(CorruptEntry),
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl DiskStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DiskStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of `namespace/key` (both hex; anything else has no file).
    pub fn path(&self, namespace: &str, key: &str) -> Option<PathBuf> {
        (valid_name(namespace) && valid_name(key)).then(|| self.dir.join(namespace).join(key))
    }

    /// The entry of `namespace/key` if intact and within its own lifetime.
    pub fn read(&self, namespace: &str, key: &str) -> DiskRead {
        self.read_within(namespace, key, None)
    }

    /// As [`DiskStore::read`], also refusing (as [`DiskRead::Stale`]) an entry older than
    /// `max_age` seconds when given.
    pub fn read_within(&self, namespace: &str, key: &str, max_age: Option<u64>) -> DiskRead {
        let Some(path) = self.path(namespace, key) else {
            return DiskRead::Missing;
        };
        let Ok(bytes) = std::fs::read(&path) else {
            return DiskRead::Missing;
        };
        let now = now_ms();
        match Entry::decode(&bytes) {
            Ok(e) if e.fresh_at(now, max_age) => DiskRead::Hit(e),
            Ok(e) if !e.expired_at(now) => DiskRead::Stale,
            Ok(_) => {
                let _ = std::fs::remove_file(&path);
                DiskRead::Expired
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                DiskRead::Corrupt(e)
            }
        }
    }

    pub fn write(&self, namespace: &str, key: &str, entry: &Entry) -> std::io::Result<()> {
        let Some(path) = self.path(namespace, key) else {
            return Err(std::io::Error::other("invalid cache key"));
        };
        // entries carry a checksum, checked on every read
        crate::fsutil::write_atomic_unsynced(&path, &entry.encode())
    }

    pub fn remove(&self, namespace: &str, key: &str) -> bool {
        self.path(namespace, key)
            .is_some_and(|p| std::fs::remove_file(p).is_ok())
    }

    /// Remove the entries of `namespace` (only those of `tile` when given: each file's header
    /// is read; unreadable files go too); the removed keys.
    pub fn remove_namespace(&self, namespace: &str, tile: Option<(u32, u32, u32)>) -> Vec<String> {
        let mut removed = Vec::new();
        if !valid_name(namespace) {
            return removed;
        }
        let Ok(entries) = std::fs::read_dir(self.dir.join(namespace)) else {
            return removed;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !valid_name(&name) {
                continue;
            }
            if tile.is_some() {
                let keep = std::fs::read(e.path())
                    .ok()
                    .and_then(|b| Entry::decode(&b).ok())
                    .is_some_and(|entry| entry.tile != tile);
                if keep {
                    continue;
                }
            }
            if std::fs::remove_file(e.path()).is_ok() {
                removed.push(name);
            }
        }
        removed
    }
}
