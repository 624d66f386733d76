//! The run result cache: canonical results by run key, in a memory tier (LRU bounded by
//! bytes) and a disk tier (one checksummed file per entry under `<data_dir>/cache/`), with
//! single flight for identical concurrent requests.
//!
//! Keys, the entry format and both tiers live in `fused_core::runcache` (the local engine
//! uses them too): `key` (run keys, namespaces, ETags), `entry` (the checksummed binary
//! form), `memory` (the LRU tier) and `disk` (the file tier).
//!
//! Here: [`flight`] (single flight) and [`RunCache`], the async two-tier wrapper, whose one
//! call for the run pipeline is [`RunCache::get_or_compute`]: memory tier, then single
//! flight, then disk tier, then the computation, then storing its result, counting hits and
//! misses in one place.

pub mod flight;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use fused_core::result::CanonicalResult;
use fused_core::runcache::disk::{DiskRead, DiskStore};
use fused_core::runcache::entry::Entry;
use fused_core::runcache::memory::MemoryLru;
use fused_core::time::now_ms;

/// What a computation produced, as far as the cache is concerned.
pub trait Outcome: Clone + Send + Sync + 'static {
    /// The result to store (a request that shared it counts a hit); `None`: a failure, which
    /// is handed to the requests waiting for it but neither stored nor counted as a hit.
    fn cacheable(&self) -> Option<Arc<CanonicalResult>>;
}

/// Where a run's result lives: its namespace, key, lifetime (seconds) and tile `(z, x, y)`.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    pub namespace: &'a str,
    pub key: &'a str,
    pub max_age: u64,
    pub tile: Option<(u32, u32, u32)>,
}

/// The answer of [`RunCache::get_or_compute`].
#[derive(Debug, Clone)]
pub enum Fetched<T> {
    /// A live entry of the memory or disk tier (for this request, or for the identical one
    /// it waited for).
    Cached(Entry),
    /// Computed for this request, or for the identical request in flight it waited for.
    Computed(T),
}

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
    flights: Arc<flight::Flights<Fetched<T>>>,
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

    fn count_hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    fn count_miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Identical requests computing now (one flight each).
    pub fn in_flight(&self) -> usize {
        self.flights.in_flight()
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

impl<T: Outcome> RunCache<T> {
    /// The result of `slot`: from the memory tier; else shared with the identical request in
    /// flight; else from the disk tier; else computed by `compute` (once for all identical
    /// concurrent requests) and, when [`Outcome::cacheable`], stored in both tiers. Hits and
    /// misses are counted here: a tier hit or a shared cacheable outcome is a hit, a
    /// computation a miss.
    pub async fn get_or_compute<F, Fut>(&self, slot: Slot<'_>, compute: F) -> Fetched<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        if let Some(e) = self.get_memory(slot.namespace, slot.key) {
            self.count_hit();
            return Fetched::Cached(e);
        }
        match self.flights.join(&mem_key(slot.namespace, slot.key)).await {
            flight::Role::Joined(fetched) => {
                let hit = match &fetched {
                    Fetched::Cached(_) => true,
                    Fetched::Computed(t) => t.cacheable().is_some(),
                };
                if hit {
                    self.count_hit();
                }
                fetched
            }
            flight::Role::Leader(leader) => {
                let fetched = if let Some(e) = self.get_disk(slot.namespace, slot.key).await {
                    self.count_hit();
                    Fetched::Cached(e)
                } else {
                    self.count_miss();
                    let outcome = compute().await;
                    if let Some(result) = outcome.cacheable() {
                        let entry = Entry {
                            result,
                            created_at: now_ms(),
                            max_age: slot.max_age,
                            tile: slot.tile,
                        };
                        self.put(slot.namespace, slot.key, entry).await;
                    }
                    Fetched::Computed(outcome)
                };
                leader.finish(fetched.clone());
                fetched
            }
        }
    }
}
