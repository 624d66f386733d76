//! The run result cache, shared by the server (`fused-server`, which adds single flight and
//! async wrappers) and the local engine (through `fused-py`): canonical results by run key.
//!
//! * [`key`]: run keys ([`key::RunKeyer`]), namespaces (what invalidation removes), ETags.
//! * [`entry`]: an entry and its binary form (checksummed; corrupt entries are never served).
//! * [`disk`]: the file tier, one file per entry under `<dir>/<namespace>/<key>`.
//! * [`memory`]: the LRU tier, bounded by bytes.
//! * [`tiered`]: both tiers behind one blocking API (the local engine's store), with a
//!   write-behind queue (`behind`) so storing a result does not wait for the disk.

mod behind;
pub mod disk;
pub mod entry;
pub mod key;
pub mod memory;
pub mod tiered;

pub use entry::{CorruptEntry, Entry};

/// Default lifetime of an entry: 90 days, in seconds.
pub const DEFAULT_MAX_AGE: u64 = 90 * 86400;
