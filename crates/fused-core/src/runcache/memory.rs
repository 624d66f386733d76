//! The memory tier: an LRU map bounded by the total bytes of its entries (pure: no I/O).

use std::collections::{BTreeMap, HashMap};

use super::entry::Entry;

struct Slot {
    entry: Entry,
    namespace: String,
    size: usize,
    tick: u64,
}

/// LRU by bytes. Keys are `<namespace>/<key>`; an entry larger than the cap is not kept.
pub struct MemoryLru {
    cap: usize,
    bytes: usize,
    tick: u64,
    map: HashMap<String, Slot>,
    order: BTreeMap<u64, String>,
}

impl MemoryLru {
    pub fn new(cap_bytes: usize) -> Self {
        MemoryLru {
            cap: cap_bytes,
            bytes: 0,
            tick: 0,
            map: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// The cap in bytes.
    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The live entry under `key` (marked most recently used); an expired one is dropped.
    pub fn get(&mut self, key: &str) -> Option<Entry> {
        let expired = self.map.get(key)?.entry.expired();
        if expired {
            self.remove(key);
            return None;
        }
        self.tick += 1;
        let tick = self.tick;
        let slot = self.map.get_mut(key)?;
        self.order.remove(&slot.tick);
        slot.tick = tick;
        self.order.insert(tick, key.to_string());
        Some(slot.entry.clone())
    }

    /// Keep `entry`, evicting the least recently used entries until it fits.
    pub fn insert(&mut self, key: &str, namespace: &str, entry: Entry) {
        self.remove(key);
        let size = entry.size();
        if size > self.cap {
            return;
        }
        while self.bytes + size > self.cap {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some(s) = self.map.remove(&oldest) {
                self.bytes -= s.size;
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key.to_string());
        self.bytes += size;
        self.map.insert(
            key.to_string(),
            Slot {
                entry,
                namespace: namespace.to_string(),
                size,
                tick: self.tick,
            },
        );
    }

    pub fn remove(&mut self, key: &str) -> bool {
        match self.map.remove(key) {
            Some(s) => {
                self.order.remove(&s.tick);
                self.bytes -= s.size;
                true
            }
            None => false,
        }
    }

    /// Remove the entries of `namespace` (only those of `tile` when given); their keys.
    pub fn remove_namespace(
        &mut self,
        namespace: &str,
        tile: Option<(u32, u32, u32)>,
    ) -> Vec<String> {
        let keys: Vec<String> = self
            .map
            .iter()
            .filter(|(_, s)| s.namespace == namespace && (tile.is_none() || s.entry.tile == tile))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &keys {
            self.remove(k);
        }
        keys
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }
}
