//! Both tiers behind one blocking API, for a process that runs UDFs itself (the local
//! engine): the disk tier is the store of record, the memory tier (LRU by bytes) a read-through
//! copy of what this process wrote or read. A memory hit is served only while the entry's file
//! is the one it came from (same size, modification time and inode), so a file removed,
//! replaced or damaged by anyone is noticed at the cost of one `stat`.
//!
//! [`TieredStore::put`] writes before it returns; [`TieredStore::put_behind`] hands the write
//! to a background thread (see [`super::behind`]) so a caller that stores every result (the
//! local engine's default path, fan-out tasks) does not wait for the disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::behind::{Queue, Settled};
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
    inner: Arc<Tiers>,
}

/// The tiers, shared with the write-behind thread.
struct Tiers {
    disk: DiskStore,
    memory: Option<Mutex<Memory>>,
    behind: Arc<Queue>,
    /// Namespaces this store has written a file into: the first put of a namespace is
    /// written directly, so a folder that cannot be written fails that call, not a later one.
    written: Mutex<std::collections::HashSet<String>>,
}

impl Tiers {
    /// Keep `entry` in memory with the stamp of its file as it is now.
    fn remember(&self, namespace: &str, key: &str, entry: Entry) {
        if let Some(memory) = &self.memory {
            let stamp = self
                .disk
                .path(namespace, key)
                .and_then(|p| FileStamp::of(&p));
            if let (Some(stamp), Ok(mut m)) = (stamp, memory.lock()) {
                m.insert(&mem_id(namespace, key), namespace, entry, stamp);
            }
        }
    }

    /// The write-behind thread: writes queued entries in order until the store closes.
    fn write_behind(self: &Arc<Self>) {
        while let Some(job) = self.behind.next_job() {
            let written = self
                .disk
                .write(&job.namespace, &job.key, &job.entry)
                .map_err(|e| format!("{}/{}: {e}", job.namespace, job.key));
            let ok = written.is_ok();
            let settled = self.behind.settle(&job, written, |entry| {
                if ok {
                    self.remember(&job.namespace, &job.key, entry);
                }
            });
            if ok && matches!(settled, Settled::Removed) {
                self.disk.remove(&job.namespace, &job.key);
            }
        }
    }
}

impl Drop for TieredStore {
    fn drop(&mut self) {
        self.inner.behind.close();
    }
}

fn mem_id(namespace: &str, key: &str) -> String {
    format!("{namespace}/{key}")
}

impl TieredStore {
    pub fn new(dir: impl Into<PathBuf>, memory_bytes: usize) -> Self {
        TieredStore {
            inner: Arc::new(Tiers {
                disk: DiskStore::new(dir),
                memory: (memory_bytes > 0).then(|| {
                    Mutex::new(Memory {
                        lru: MemoryLru::new(memory_bytes),
                        stamps: HashMap::new(),
                    })
                }),
                behind: Arc::default(),
                written: Mutex::default(),
            }),
        }
    }

    pub fn dir(&self) -> &Path {
        self.inner.disk.dir()
    }

    /// The file of `namespace/key` (both hex), whether or not it exists.
    pub fn path(&self, namespace: &str, key: &str) -> Option<PathBuf> {
        self.inner.disk.path(namespace, key)
    }

    /// Entries and bytes held by the memory tier.
    pub fn memory_usage(&self) -> (usize, usize) {
        self.inner
            .memory
            .as_ref()
            .and_then(|m| m.lock().ok().map(|m| (m.lru.len(), m.lru.bytes())))
            .unwrap_or((0, 0))
    }

    /// The entry of `namespace/key` younger than `max_age` seconds (and within its own
    /// lifetime): from memory while its file is unchanged, else from disk (then kept in
    /// memory). Corrupt and expired files are removed, as [`DiskStore::read_within`] does.
    /// An entry still waiting to be written behind is served from the queue.
    pub fn get(&self, namespace: &str, key: &str, max_age: u64) -> DiskRead {
        let tiers = &*self.inner;
        let Some(path) = tiers.disk.path(namespace, key) else {
            return DiskRead::Missing;
        };
        let id = mem_id(namespace, key);
        if let Some(e) = tiers.behind.get(&id) {
            return if e.fresh_at(now_ms(), Some(max_age)) {
                DiskRead::Hit(e)
            } else {
                DiskRead::Stale
            };
        }
        if let Some(Ok(mut m)) = tiers.memory.as_ref().map(Mutex::lock) {
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
        let read = tiers.disk.read_within(namespace, key, Some(max_age));
        if let (DiskRead::Hit(e), Some(memory)) = (&read, &tiers.memory) {
            // the stamp after reading: a concurrent replacement makes it differ next time
            if let (Some(stamp), Ok(mut m)) = (FileStamp::of(&path), memory.lock()) {
                m.insert(&id, namespace, e.clone(), stamp);
            }
        }
        read
    }

    /// Write `entry` to disk (atomically), then keep it in memory.
    pub fn put(&self, namespace: &str, key: &str, entry: Entry) -> std::io::Result<()> {
        let tiers = &*self.inner;
        let id = mem_id(namespace, key);
        // a direct put replaces a queued one (which must not overwrite it later)
        tiers.behind.remove(&id);
        tiers.disk.write(namespace, key, &entry)?;
        tiers.remember(namespace, key, entry);
        if let Ok(mut written) = tiers.written.lock() {
            if !written.contains(namespace) {
                written.insert(namespace.to_string());
            }
        }
        Ok(())
    }

    /// Store `entry` without waiting for the disk: it is served at once and written by the
    /// store's background thread (atomically, in put order). Err for names that are not hex,
    /// and to report an earlier background write that failed (this entry is still queued).
    /// The first entry of a namespace, and every entry when no thread can be started, is
    /// written before this returns (so an unwritable folder fails the call that meets it).
    pub fn put_behind(&self, namespace: &str, key: &str, entry: Entry) -> std::io::Result<()> {
        if self.inner.disk.path(namespace, key).is_none() {
            return Err(std::io::Error::other("invalid cache key"));
        }
        let known = self
            .inner
            .written
            .lock()
            .is_ok_and(|w| w.contains(namespace));
        if !known {
            return self.put(namespace, key, entry);
        }
        let inner = Arc::clone(&self.inner);
        let spawn = move || {
            std::thread::Builder::new()
                .name("fused-runcache-writer".into())
                .spawn(move || inner.write_behind())
                .is_ok()
        };
        let (queued, earlier) =
            self.inner
                .behind
                .push(mem_id(namespace, key), namespace, key, entry.clone(), spawn);
        if !queued {
            self.put(namespace, key, entry)?;
        }
        match earlier {
            Some(e) => Err(std::io::Error::other(format!(
                "an earlier result could not be written: {e}"
            ))),
            None => Ok(()),
        }
    }

    /// Wait until every entry put behind before this call is on disk. Err names the first
    /// background write that failed since the last report.
    pub fn flush(&self) -> std::io::Result<()> {
        match self.inner.behind.flush() {
            Some(e) => Err(std::io::Error::other(format!(
                "a result could not be written: {e}"
            ))),
            None => Ok(()),
        }
    }

    /// Entries and bytes waiting to be written behind.
    pub fn pending_usage(&self) -> (usize, usize) {
        self.inner.behind.usage()
    }

    /// Remove the entry from every tier (a queued write included); whether it existed.
    pub fn remove(&self, namespace: &str, key: &str) -> bool {
        let tiers = &*self.inner;
        let id = mem_id(namespace, key);
        let queued = tiers.behind.remove(&id);
        if let Some(Ok(mut m)) = tiers.memory.as_ref().map(Mutex::lock) {
            m.remove(&id);
        }
        tiers.disk.remove(namespace, key) || queued
    }

    /// Drop the memory tier's entries (the files stay).
    pub fn clear_memory(&self) {
        if let Some(Ok(mut m)) = self.inner.memory.as_ref().map(Mutex::lock) {
            m.stamps.clear();
            let cap = m.lru.cap();
            m.lru = MemoryLru::new(cap);
        }
    }
}
