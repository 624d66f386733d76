//! [`CacheLock`]: an exclusive advisory lock (`flock` on Unix, `LockFileEx` on Windows)
//! on a lock file, held by an open file handle. It excludes other processes and other
//! handles in the same process (so threads too), and the OS releases it if the holder
//! dies, so a crashed computation never blocks the others past its life.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Longest pause between two attempts while waiting for a lock.
const POLL_MAX: Duration = Duration::from_millis(50);

/// A held lock; released on drop.
#[derive(Debug)]
pub struct CacheLock {
    file: File,
    path: PathBuf,
}

// `File::try_lock`/`unlock` are stable since Rust 1.89 (the workspace's rust-version).
impl CacheLock {
    /// Open (creating) `path` and lock it exclusively, waiting up to `timeout`.
    /// `Ok(None)` when it stayed locked by another holder for that long.
    pub fn acquire(path: &Path, timeout: Duration) -> Result<Option<CacheLock>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => {
                    return Ok(Some(CacheLock {
                        file,
                        path: path.to_path_buf(),
                    }));
                }
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(Error::io(path, e)),
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(POLL_MAX);
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Release now (dropping does the same).
    pub fn release(self) {
        drop(self);
    }
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}
