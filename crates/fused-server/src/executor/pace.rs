//! [`Pace`]: a moving average of task run times, from which an executor tells a refused
//! caller when to come back (`Retry-After`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Moving average of task run times in ms.
#[derive(Debug, Default)]
pub(super) struct Pace {
    avg_task_ms: AtomicU64,
}

impl Pace {
    pub fn record(&self, took: Duration) {
        let ms = took.as_millis().min(u128::from(u32::MAX)) as u64;
        let old = self.avg_task_ms.load(Ordering::Relaxed);
        let new = if old == 0 { ms } else { (old * 7 + ms) / 8 };
        self.avg_task_ms.store(new, Ordering::Relaxed);
    }

    /// Seconds (1-60) until `queued` waiting tasks have gone through `slots` slots.
    pub fn retry_after(&self, queued: usize, slots: usize) -> u64 {
        let per_task = self.avg_task_ms.load(Ordering::Relaxed).max(1);
        (queued as u64 * per_task / slots.max(1) as u64 / 1000).clamp(1, 60)
    }
}
