//! Both tiers behind one blocking API, for a process that runs UDFs itself (the local
//! engine): the disk tier is the store of record, the memory tier (LRU by bytes) a read-through
//! copy of what this process wrote or read. A memory hit is served only while the entry's file
//! is the one it came from (same size, modification time and inode), so a file removed,
//! replaced or damaged by anyone is noticed at the cost of one `stat`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::disk::{DiskRead, DiskStore};
use super::entry::Entry;
use super::memory::MemoryLru;
use crate::time::now_ms;

/// Identity of an entry file's current content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&m);
        #[cfg(not(unix))]
        let inode = 0;
        Some(FileStamp {
            len: m.len(),
            modified: m.modified().ok(),
            inode,
        })
    }
}

struct Memory {
    lru: MemoryLru,
    stamps: HashMap<String, FileStamp>,
}

impl Memory {
    fn insert(&mut self, id: &str, namespace: &str, entry: Entry, stamp: FileStamp) {
        self.lru.insert(id, namespace, entry);
        if self.lru.contains(id) {
            self.stamps.insert(id.to_string(), stamp);
        }
        // stamps of entries the LRU evicted
        if self.stamps.len() > 2 * self.lru.len() + 64 {
            let lru = &self.lru;
            self.stamps.retain(|k, _| lru.contains(k));
        }
    }

    fn remove(&mut self, id: &str) {
        self.lru.remove(id);
        self.stamps.remove(id);
    }
}

/// A disk tier under `dir` with a memory tier of `memory_bytes` (0: none).
pub struct TieredStore {
    disk: DiskStore,
    memory: Option<Mutex<Memory>>,
}

fn mem_id(namespace: &str, key: &str) -> String {
    format!("{namespace}/{key}")
}

impl TieredStore {
    pub fn new(dir: impl Into<PathBuf>, memory_bytes: usize) -> Self {
        TieredStore {
            disk: DiskStore::new(dir),
            memory: (memory_bytes > 0).then(|| {
                Mutex::new(Memory {
                    lru: MemoryLru::new(memory_bytes),
                    stamps: HashMap::new(),
                })
            }),
        }
    }

    pub fn dir(&self) -> &Path {
        self.disk.dir()
    }

    /// The file of `namespace/key` (both hex), whether or not it exists.
    pub fn path(&self, namespace: &str, key: &str) -> Option<PathBuf> {
        self.disk.path(namespace, key)
    }

    /// Entries and bytes held by the memory tier.
    pub fn memory_usage(&self) -> (usize, usize) {
        self.memory
            .as_ref()
            .and_then(|m| m.lock().ok().map(|m| (m.lru.len(), m.lru.bytes())))
            .unwrap_or((0, 0))
    }

    /// The entry of `namespace/key` younger than `max_age` seconds (and within its own
    /// lifetime): from memory while its file is unchanged, else from disk (then kept in
    /// memory). Corrupt and expired files are removed, as [`DiskStore::read_within`] does.
    pub fn get(&self, namespace: &str, key: &str, max_age: u64) -> DiskRead {
        let Some(path) = self.disk.path(namespace, key) else {
            return DiskRead::Missing;
        };
        let id = mem_id(namespace, key);
        if let Some(Ok(mut m)) = self.memory.as_ref().map(Mutex::lock) {
            if let Some(known) = m.stamps.get(&id).copied() {
                if FileStamp::of(&path) == Some(known) {
                    // `get` drops an entry past its own lifetime (then the disk decides)
                    if let Some(e) = m.lru.get(&id) {
                        if e.fresh_at(now_ms(), Some(max_age)) {
                            return DiskRead::Hit(e);
                        }
                        return DiskRead::Stale;
                    }
                }
                m.remove(&id);
            }
        }
        let read = self.disk.read_within(namespace, key, Some(max_age));
        if let (DiskRead::Hit(e), Some(memory)) = (&read, &self.memory) {
            // the stamp after reading: a concurrent replacement makes it differ next time
            if let (Some(stamp), Ok(mut m)) = (FileStamp::of(&path), memory.lock()) {
                m.insert(&id, namespace, e.clone(), stamp);
            }
        }
        read
    }

    /// Write `entry` to disk (atomically), then keep it in memory.
    pub fn put(&self, namespace: &str, key: &str, entry: Entry) -> std::io::Result<()> {
        self.disk.write(namespace, key, &entry)?;
        if let Some(memory) = &self.memory {
            let stamp = self
                .disk
                .path(namespace, key)
                .and_then(|p| FileStamp::of(&p));
            if let (Some(stamp), Ok(mut m)) = (stamp, memory.lock()) {
                m.insert(&mem_id(namespace, key), namespace, entry, stamp);
            }
        }
        Ok(())
    }

    /// Remove the entry from both tiers; whether a file was removed.
    pub fn remove(&self, namespace: &str, key: &str) -> bool {
        if let Some(Ok(mut m)) = self.memory.as_ref().map(Mutex::lock) {
            m.remove(&mem_id(namespace, key));
        }
        self.disk.remove(namespace, key)
    }

    /// Drop the memory tier's entries (the files stay).
    pub fn clear_memory(&self) {
        if let Some(Ok(mut m)) = self.memory.as_ref().map(Mutex::lock) {
            m.stamps.clear();
            let cap = m.lru.cap();
            m.lru = MemoryLru::new(cap);
        }
    }
}
