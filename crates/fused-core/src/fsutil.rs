//! Write-then-rename, the one way this crate puts a file or folder in place so that readers
//! see the old version, the new one or none, never a part.
//!
//! * [`write_atomic`]: a file's bytes, through a temporary sibling, synced, then renamed.
//! * [`TempPath`]: a temporary sibling (`.tmp-<name>-<pid>-<n>-<nanos>`) removed on drop
//!   unless [`TempPath::keep`] is called; a folder is filled in it before [`replace`].
//! * [`replace`]: moves a complete temporary file or folder over a target (an existing
//!   target is moved aside first and restored if the move in fails).
//!
//! Temporary names start with `.tmp-` (and moved-aside ones with `.old-`), so crash leftovers
//! can be recognised and swept (see `github::cache::remove_leftovers`).

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A hidden, unique name next to `target`: `.<tag>-<name>-<pid>-<counter>-<nanos>`.
pub fn temp_sibling(target: &Path, tag: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent_of(target).join(format!(".{tag}-{name}-{}-{n}-{nanos}", std::process::id()))
}

/// The folder holding `path` (`.` for a bare name).
pub fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Write `bytes` to `path` atomically: a temporary sibling is written and synced, then renamed
/// over `path`. The parent folder is created when missing; on failure the temporary file is
/// removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_renamed(path, bytes, true)
}

/// [`write_atomic`] without the sync: for files whose readers check them (a checksum), so
/// that one left incomplete by a power cut is found and dropped, never trusted. The run
/// cache's entries are such files, written once per computed result: a sync each would cost
/// more than the result (milliseconds on a network disk).
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_renamed(path, bytes, false)
}

fn write_renamed(path: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    fs::create_dir_all(parent_of(path))?;
    let tmp = TempPath::new(temp_sibling(path, "tmp"));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp.path())?;
    f.write_all(bytes)?;
    if sync {
        f.sync_data()?;
    }
    drop(f);
    fs::rename(tmp.path(), path)?;
    tmp.keep();
    Ok(())
}

/// Move the complete `tmp` (file or folder) to `target`. A file over a file (or onto nothing)
/// is one atomic rename. A folder over an existing target is swapped with it in one atomic
/// exchange where the OS has one (Linux `renameat2(RENAME_EXCHANGE)`), so a reader never finds
/// `target` missing, and the old one (now at `tmp`) is deleted. Elsewhere, or where the file
/// system cannot exchange, the existing target is moved aside, `tmp` renamed in (the old one
/// put back if that fails), then the old one deleted. On failure `tmp` is left for its
/// [`TempPath`] guard to remove.
pub fn replace(tmp: &Path, target: &Path) -> std::io::Result<()> {
    let existing = match fs::symlink_metadata(target) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let tmp_is_file = fs::symlink_metadata(tmp).is_ok_and(|m| m.is_file());
    match existing {
        None => return fs::rename(tmp, target),
        Some(m) if m.is_file() && tmp_is_file => return fs::rename(tmp, target),
        Some(_) => {}
    }
    let swapped = match exchange(tmp, target) {
        Ok(swapped) => swapped,
        // the target went away meanwhile: nothing to swap with
        Err(e) if e.kind() == ErrorKind::NotFound && tmp.exists() => {
            return fs::rename(tmp, target)
        }
        Err(e) => return Err(e),
    };
    if swapped {
        // the old target is at `tmp` now; failing to delete it does not undo the write
        let _ = remove_any(tmp);
        return Ok(());
    }
    let old = temp_sibling(target, "old");
    fs::rename(target, &old)?;
    if let Err(e) = fs::rename(tmp, target) {
        if fs::rename(&old, target).is_err() {
            // Someone else put a target in place meanwhile: theirs stays, ours goes.
            let _ = remove_any(&old);
        }
        return Err(e);
    }
    // The new target is in place; failing to delete the old copy does not undo the write.
    let _ = remove_any(&old);
    Ok(())
}

/// Swap `a` and `b` atomically (both must exist). `Ok(false)` where the OS or the file system
/// cannot, and the caller falls back to two renames.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::new(ErrorKind::InvalidInput, "a NUL byte in a path"))
    };
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        // no such call (old kernel), or a file system that cannot exchange
        Some(libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP | libc::EXDEV) => Ok(false),
        _ => Err(err),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<bool> {
    Ok(false)
}

/// Remove a file or a whole folder.
pub fn remove_any(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    }
}

/// A temporary file or folder, removed on drop unless [`TempPath::keep`] is called.
#[derive(Debug)]
pub struct TempPath {
    path: PathBuf,
    armed: bool,
}

impl TempPath {
    /// Guard `path` (which need not exist yet).
    pub fn new(path: PathBuf) -> Self {
        TempPath { path, armed: true }
    }

    /// A new empty folder next to `target`, guarded.
    pub fn dir_for(target: &Path) -> std::io::Result<Self> {
        let path = temp_sibling(target, "tmp");
        fs::create_dir(&path)?;
        Ok(TempPath::new(path))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stop guarding (the path was renamed away or is to stay).
    pub fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if self.armed {
            let _ = remove_any(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "fused-fsutil-{name}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        fs::create_dir_all(&dir).expect("scratch folder");
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// While a folder is replaced again and again, a reader always finds it, whole: one
    /// version's file (on Linux, where the swap is one exchange).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_reader_never_finds_a_replaced_folder_missing() {
        use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
        use std::sync::Arc;
        let dir = scratch("exchange");
        let (a, b) = (dir.join("a"), dir.join("b"));
        fs::create_dir(&a).expect("probe a");
        fs::create_dir(&b).expect("probe b");
        if !exchange(&a, &b).expect("probe") {
            eprintln!("this file system cannot exchange: the two-rename fallback is used");
            fs::remove_dir_all(&dir).expect("cleanup");
            return;
        }
        fs::remove_dir(&a).expect("probe a");
        fs::remove_dir(&b).expect("probe b");
        let target = dir.join("pkg");
        fs::create_dir(&target).expect("first folder");
        fs::write(target.join("v.txt"), b"0").expect("first file");
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU32::new(0));
        let reader = {
            let (stop, reads, file) = (stop.clone(), reads.clone(), target.join("v.txt"));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let got = fs::read_to_string(&file).expect("the folder is always there");
                    assert!(got.parse::<u32>().is_ok(), "a whole version: {got:?}");
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        while reads.load(Ordering::Relaxed) == 0 && !reader.is_finished() {
            std::thread::yield_now();
        }
        for version in 1..=300 {
            let tmp = TempPath::dir_for(&target).expect("temp folder");
            fs::write(tmp.path().join("v.txt"), version.to_string()).expect("new file");
            replace(tmp.path(), &target).expect("replace");
            tmp.keep();
        }
        stop.store(true, Ordering::Relaxed);
        reader.join().expect("the reader never failed");
        assert_eq!(
            fs::read_to_string(target.join("v.txt")).expect("last"),
            "300"
        );
        assert_eq!(names(&dir), vec!["pkg".to_string()]);
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn write_atomic_creates_replaces_and_leaves_no_temp() {
        let dir = scratch("write");
        let path = dir.join("sub").join("a.bin");
        write_atomic(&path, b"one").expect("first write");
        write_atomic(&path, b"two").expect("second write");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        assert_eq!(names(&dir.join("sub")), vec!["a.bin".to_string()]);
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn write_atomic_over_a_folder_fails_and_cleans_up() {
        let dir = scratch("fail");
        let path = dir.join("taken");
        fs::create_dir(&path).expect("folder");
        fs::write(path.join("keep.txt"), b"x").expect("file");
        assert!(write_atomic(&path, b"data").is_err());
        assert_eq!(names(&dir), vec!["taken".to_string()]);
        assert_eq!(fs::read(path.join("keep.txt")).expect("kept"), b"x");
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn replace_swaps_a_whole_folder() {
        let dir = scratch("replace");
        let target = dir.join("pkg");
        fs::create_dir(&target).expect("old folder");
        fs::write(target.join("old.txt"), b"old").expect("old file");
        let tmp = TempPath::dir_for(&target).expect("temp folder");
        fs::write(tmp.path().join("new.txt"), b"new").expect("new file");
        replace(tmp.path(), &target).expect("replace");
        tmp.keep();
        assert_eq!(names(&target), vec!["new.txt".to_string()]);
        assert_eq!(names(&dir), vec!["pkg".to_string()]);
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_dropped_temp_folder_is_removed() {
        let dir = scratch("drop");
        let tmp = TempPath::dir_for(&dir.join("x")).expect("temp folder");
        fs::write(tmp.path().join("f"), b"1").expect("file");
        assert!(tmp
            .path()
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-x-")));
        drop(tmp);
        assert!(names(&dir).is_empty());
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
