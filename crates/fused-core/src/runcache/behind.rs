//! The write-behind queue of [`super::tiered::TieredStore`]: results stored with
//! [`TieredStore::put_behind`](super::tiered::TieredStore::put_behind) are served from here at
//! once and written to disk by one background thread per store, in the order they were put,
//! with the same atomic write as a direct put (a temporary file, then rename): a reader of the
//! folder sees a whole entry or none, never half of one.
//!
//! Bounds and rules:
//! * at most [`MAX_PENDING_BYTES`] wait to be written; a put over that waits for the writer
//!   (back-pressure, so a fast producer cannot grow memory without limit);
//! * a `remove` of a pending entry drops it, and a file the writer was writing meanwhile is
//!   deleted after the write (a removal is never undone by a late write);
//! * a failed write is kept and reported to the next put or flush (the caller's warning);
//! * `flush` waits until everything put before it is on disk; the store's `Drop` flushes;
//! * after `fork` the child starts its own writer (the parent's thread does not exist there).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::entry::Entry;

/// Bytes of entries waiting for the writer before a put waits.
pub const MAX_PENDING_BYTES: usize = 64 * 1024 * 1024;

/// One entry waiting to be written.
pub(super) struct Pending {
    pub generation: u64,
    pub namespace: String,
    pub key: String,
    pub entry: Entry,
}

/// What the queue holds, under one lock.
#[derive(Default)]
pub(super) struct State {
    /// `namespace/key` -> the newest entry put for it and not yet on disk.
    pub pending: HashMap<String, Pending>,
    /// Writes in put order: (`namespace/key`, generation); a stale generation is skipped.
    queue: VecDeque<(String, u64)>,
    bytes: usize,
    next_generation: u64,
    /// The writer thread is writing an entry now.
    writing: bool,
    /// The process whose writer thread serves this queue (changes after fork).
    writer_pid: Option<u32>,
    /// The first write that failed since the last report.
    error: Option<String>,
    closing: bool,
}

/// The queue and the condition its writer and waiters wait on.
#[derive(Default)]
pub(super) struct Queue {
    state: Mutex<State>,
    changed: Condvar,
}

/// A write the writer thread took from the queue.
pub(super) struct Job {
    pub id: String,
    pub generation: u64,
    pub namespace: String,
    pub key: String,
    pub entry: Entry,
}

/// What happened to the entry while it was being written.
pub(super) enum Settled {
    /// Still the newest: moved out of the queue (the caller keeps it in memory).
    Current,
    /// A newer entry was put meanwhile; it will be written next.
    Superseded,
    /// Removed meanwhile: the file just written must go.
    Removed,
}

impl Queue {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // a panic while holding the lock leaves plain data behind; keep serving
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The pending entry of `id`, if any.
    pub(super) fn get(&self, id: &str) -> Option<Entry> {
        self.lock().pending.get(id).map(|p| p.entry.clone())
    }

    /// Queue `entry`; false when no writer thread can serve this process (then the caller
    /// writes it itself). Waits while the queue is over its byte bound. The error of an
    /// earlier failed write, if any, is returned (and forgotten) with the outcome.
    pub(super) fn push(
        self: &Arc<Self>,
        id: String,
        namespace: &str,
        key: &str,
        entry: Entry,
        spawn: impl FnOnce() -> bool,
    ) -> (bool, Option<String>) {
        let mut st = self.lock();
        let pid = std::process::id();
        if st.writer_pid != Some(pid) {
            // first put, or the first after a fork: this process needs its own writer
            st.writing = false;
            if !spawn() {
                return (false, st.error.take());
            }
            st.writer_pid = Some(pid);
        }
        while st.bytes > MAX_PENDING_BYTES && !st.queue.is_empty() {
            st = self
                .changed
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        let generation = st.next_generation;
        st.next_generation += 1;
        st.bytes += entry.size();
        let old = st.pending.insert(
            id.clone(),
            Pending {
                generation,
                namespace: namespace.to_string(),
                key: key.to_string(),
                entry,
            },
        );
        if let Some(old) = old {
            st.bytes = st.bytes.saturating_sub(old.entry.size());
        }
        st.queue.push_back((id, generation));
        let error = st.error.take();
        drop(st);
        self.changed.notify_all();
        (true, error)
    }

    /// Forget the pending entry of `id` (a write under way is undone when it ends).
    pub(super) fn remove(&self, id: &str) -> bool {
        let mut st = self.lock();
        let removed = st.pending.remove(id);
        if let Some(p) = &removed {
            st.bytes = st.bytes.saturating_sub(p.entry.size());
        }
        removed.is_some()
    }

    /// The writer's next job; None when the store is closing and nothing is left.
    pub(super) fn next_job(&self) -> Option<Job> {
        let mut st = self.lock();
        loop {
            while let Some((id, generation)) = st.queue.pop_front() {
                let Some(p) = st.pending.get(&id) else {
                    continue; // removed before it was written
                };
                if p.generation != generation {
                    continue; // a newer put of the same key is queued behind
                }
                let job = Job {
                    namespace: p.namespace.clone(),
                    key: p.key.clone(),
                    entry: p.entry.clone(),
                    id,
                    generation,
                };
                st.writing = true;
                return Some(job);
            }
            if st.closing {
                st.writer_pid = None;
                drop(st);
                self.changed.notify_all();
                return None;
            }
            // the queue is empty (perhaps only of removed entries): wake any flush
            self.changed.notify_all();
            st = self
                .changed
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Record the end of `job`'s write. `keep` runs under the queue's lock when the entry is
    /// still current (so a reader never misses it between the queue and the memory tier).
    pub(super) fn settle(
        &self,
        job: &Job,
        result: Result<(), String>,
        keep: impl FnOnce(Entry),
    ) -> Settled {
        let mut st = self.lock();
        st.writing = false;
        if let Err(e) = result {
            st.error.get_or_insert(e);
        }
        let settled = match st.pending.get(&job.id) {
            Some(p) if p.generation == job.generation => {
                if let Some(p) = st.pending.remove(&job.id) {
                    st.bytes = st.bytes.saturating_sub(p.entry.size());
                    keep(p.entry);
                }
                Settled::Current
            }
            Some(_) => Settled::Superseded,
            None => Settled::Removed,
        };
        drop(st);
        self.changed.notify_all();
        settled
    }

    /// Wait until every entry queued before this call is written (or dropped); the error of a
    /// failed write, if any (then forgotten).
    pub(super) fn flush(&self) -> Option<String> {
        let mut st = self.lock();
        let pid = std::process::id();
        while st.writer_pid == Some(pid) && (st.writing || !st.queue.is_empty()) {
            st = self
                .changed
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        st.error.take()
    }

    /// Flush, then let the writer thread end.
    pub(super) fn close(&self) {
        self.flush();
        self.lock().closing = true;
        self.changed.notify_all();
    }

    /// Entries and bytes waiting to be written.
    pub(super) fn usage(&self) -> (usize, usize) {
        let st = self.lock();
        (st.pending.len(), st.bytes)
    }
}
