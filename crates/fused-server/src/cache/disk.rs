//! The disk tier: one file per entry, `<dir>/<namespace>/<key>`, written atomically (a
//! temporary name in the same directory, then rename). Blocking: call it off the async threads.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::entry::Entry;

pub struct DiskStore {
    dir: PathBuf,
}

/// What a read found.
#[derive(Debug)]
pub enum DiskRead {
    Hit(Entry),
    Missing,
    /// Expired or corrupt: the file was removed.
    Removed(String),
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

    pub fn read(&self, namespace: &str, key: &str) -> DiskRead {
        let Some(path) = self.path(namespace, key) else {
            return DiskRead::Missing;
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(_) => return DiskRead::Missing,
        };
        match Entry::decode(&bytes) {
            Ok(e) if !e.expired() => DiskRead::Hit(e),
            Ok(_) => {
                let _ = std::fs::remove_file(&path);
                DiskRead::Removed("expired".into())
            }
            Err(e) => {
                tracing::warn!("cache: {} : {e}; removed", path.display());
                let _ = std::fs::remove_file(&path);
                DiskRead::Removed(e.to_string())
            }
        }
    }

    pub fn write(&self, namespace: &str, key: &str, entry: &Entry) -> std::io::Result<()> {
        let Some(path) = self.path(namespace, key) else {
            return Err(std::io::Error::other("invalid cache key"));
        };
        let dir = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir)?;
        let mut rnd = [0u8; 8];
        let _ = getrandom::fill(&mut rnd);
        let tmp = dir.join(format!(".{key}.{}.tmp", super::key::hex(&rnd)));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&entry.encode())?;
            f.sync_data()?;
            std::fs::rename(&tmp, &path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
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
