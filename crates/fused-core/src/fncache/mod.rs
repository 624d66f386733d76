//! On-disk store for `@fused.cache` (function results; the run result cache is
//! [`crate::runcache`]): one file per entry, written atomically, checked on
//! read, with a per-key lock file so concurrent processes compute a value once.
//!
//! * [`store`]: [`CacheStore`] (`get`, `put`, `remove`) and the entry format.
//! * [`lock`]: [`CacheLock`], an exclusive advisory lock on `<key>.lock`.
//!
//! Layout under the store's folder: `<key[0..2]>/<key>.bin` (entry) and
//! `<key[0..2]>/<key>.lock` (lock file, left in place: deleting lock files races).

pub mod lock;
pub mod store;

pub use lock::CacheLock;
pub use store::{checksum, validate_key, CacheStore, HEADER_LEN, MAGIC, VERSION};
