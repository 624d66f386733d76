//! The run result cache: canonical results by run key, in a memory tier (LRU bounded by
//! bytes) and a disk tier (one checksummed file per entry under `<data_dir>/cache/`), with
//! single flight for identical concurrent requests.
//!
//! Keys, the entry format and both tiers live in `fused_core::runcache` (the local engine
//! uses them too): `key` (run keys, namespaces, ETags), `entry` (the checksummed binary
//! form), `memory` (the LRU tier) and `disk` (the file tier).
//!
//! Here: [`flight`] (single flight) and [`RunCache`], the async two-tier wrapper.

pub mod flight;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use fused_core::runcache::disk::{DiskRead, DiskStore};
use fused_core::runcache::entry::Entry;
use fused_core::runcache::memory::MemoryLru;

/// Counters for `/health` (and later `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    pub enabled: bool,
    pub hits: u64,
    pub misses: u64,
    /// Bytes held by the memory tier.
    pub bytes: u64,
    pub memory_entries: u64,
}

/// Both tiers. The generic `T` of the single flight is chosen by the run pipeline.
pub struct RunCache<T: Clone> {
    memory: Option<Mutex<MemoryLru>>,
    disk: Option<Arc<DiskStore>>,
    pub flights: Arc<flight::Flights<T>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

fn mem_key(namespace: &str, key: &str) -> String {
    format!("{namespace}/{key}")
}

impl<T: Clone + Send + Sync + 'static> RunCache<T> {
    /// A cache with `memory_bytes` of memory tier (0: none) and its disk tier in `disk_dir`.
    pub fn new(memory_bytes: usize, disk_dir: Option<PathBuf>) -> Self {
        RunCache {
            memory: (memory_bytes > 0).then(|| Mutex::new(MemoryLru::new(memory_bytes))),
            disk: disk_dir.map(|d| Arc::new(DiskStore::new(d))),
            flights: Arc::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// No tiers: every lookup misses and nothing is stored.
    pub fn disabled() -> Self {
        Self::new(0, None)
    }

    pub fn enabled(&self) -> bool {
        self.memory.is_some() || self.disk.is_some()
    }

    pub fn stats(&self) -> CacheStats {
        let (bytes, entries) = self
            .memory
            .as_ref()
            .and_then(|m| m.lock().ok().map(|m| (m.bytes() as u64, m.len() as u64)))
            .unwrap_or((0, 0));
        CacheStats {
            enabled: self.enabled(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes,
            memory_entries: entries,
        }
    }

    pub fn count_hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// The memory tier only (no I/O; for the fast path).
    pub fn get_memory(&self, namespace: &str, key: &str) -> Option<Entry> {
        self.memory
            .as_ref()?
            .lock()
            .ok()?
            .get(&mem_key(namespace, key))
    }

    /// The disk tier (a live, intact entry is promoted to memory).
    pub async fn get_disk(&self, namespace: &str, key: &str) -> Option<Entry> {
        let disk = self.disk.clone()?;
        let (ns, k) = (namespace.to_string(), key.to_string());
        let read = tokio::task::spawn_blocking(move || disk.read(&ns, &k))
            .await
            .ok()?;
        match read {
            DiskRead::Corrupt(e) => {
                tracing::warn!("cache: {namespace}/{key}: {e}; removed");
                None
            }
            DiskRead::Hit(e) => {
                if let Some(m) = &self.memory {
                    if let Ok(mut m) = m.lock() {
                        m.insert(&mem_key(namespace, key), namespace, e.clone());
                    }
                }
                Some(e)
            }
            _ => None,
        }
    }

    /// Store in both tiers (a disk failure is logged, not fatal).
    pub async fn put(&self, namespace: &str, key: &str, entry: Entry) {
        if let Some(m) = &self.memory {
            if let Ok(mut m) = m.lock() {
                m.insert(&mem_key(namespace, key), namespace, entry.clone());
            }
        }
        if let Some(disk) = self.disk.clone() {
            let (ns, k) = (namespace.to_string(), key.to_string());
            let written = tokio::task::spawn_blocking(move || disk.write(&ns, &k, &entry)).await;
            if let Ok(Err(e)) = written {
                tracing::warn!("cache: cannot write entry {key}: {e}");
            }
        }
    }

    /// Remove the entries of `namespace` (one tile's when given); how many distinct entries.
    pub async fn invalidate(&self, namespace: &str, tile: Option<(u32, u32, u32)>) -> usize {
        let mut removed: BTreeSet<String> = BTreeSet::new();
        if let Some(m) = &self.memory {
            if let Ok(mut m) = m.lock() {
                for k in m.remove_namespace(namespace, tile) {
                    let key = k.rsplit('/').next().unwrap_or(&k).to_string();
                    removed.insert(key);
                }
            }
        }
        if let Some(disk) = self.disk.clone() {
            let ns = namespace.to_string();
            if let Ok(keys) =
                tokio::task::spawn_blocking(move || disk.remove_namespace(&ns, tile)).await
            {
                removed.extend(keys);
            }
        }
        removed.len()
    }
}
