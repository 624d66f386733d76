//! The `@fused.cache` disk store: round trip, expiry, corrupt entries, atomic writes,
//! locks and key validation.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fused_core::fncache::{checksum, validate_key, CacheStore, HEADER_LEN};

const KEY: &str = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

fn store() -> (tempdir::Dir, CacheStore) {
    let dir = tempdir::Dir::new();
    let store = CacheStore::new(dir.path().join("cache"));
    (dir, store)
}

mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    pub struct Dir(PathBuf);
    impl Dir {
        pub fn new() -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let p = std::env::temp_dir().join(format!(
                "fused-cache-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn round_trip_and_layout() {
    let (_d, s) = store();
    assert_eq!(s.get(KEY, None).unwrap(), None);
    s.put(KEY, b"hello world").unwrap();
    assert_eq!(
        s.get(KEY, None).unwrap().as_deref(),
        Some(&b"hello world"[..])
    );
    let path = s.entry_path(KEY).unwrap();
    assert_eq!(path, s.dir().join("ab").join(format!("{KEY}.bin")));
    let raw = fs::read(&path).unwrap();
    assert_eq!(raw.len(), HEADER_LEN + 11);
    assert_eq!(&raw[0..4], b"FCCH");
    // Overwrite replaces; an empty payload is a valid value.
    s.put(KEY, b"").unwrap();
    assert_eq!(s.get(KEY, None).unwrap(), Some(vec![]));
    assert!(s.remove(KEY).unwrap());
    assert!(!s.remove(KEY).unwrap());
    assert_eq!(s.get(KEY, None).unwrap(), None);
}

#[test]
fn expired_entry_is_missing_and_removed() {
    let (_d, s) = store();
    s.put(KEY, b"v").unwrap();
    assert_eq!(
        s.get(KEY, Some(Duration::from_secs(60))).unwrap(),
        Some(b"v".to_vec())
    );
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(s.get(KEY, Some(Duration::from_millis(50))).unwrap(), None);
    assert!(!s.entry_path(KEY).unwrap().exists());
}

#[test]
fn corrupt_or_truncated_entry_is_missing_and_removed() {
    let (_d, s) = store();
    let payload = vec![7u8; 1000];
    let path = s.entry_path(KEY).unwrap();

    // Flipped payload byte: checksum mismatch.
    s.put(KEY, &payload).unwrap();
    let mut raw = fs::read(&path).unwrap();
    raw[HEADER_LEN + 500] ^= 0xff;
    fs::write(&path, &raw).unwrap();
    assert_eq!(s.get(KEY, None).unwrap(), None);
    assert!(!path.exists());

    // Truncated payload.
    s.put(KEY, &payload).unwrap();
    let raw = fs::read(&path).unwrap();
    fs::write(&path, &raw[..raw.len() - 10]).unwrap();
    assert_eq!(s.get(KEY, None).unwrap(), None);
    assert!(!path.exists());

    // Truncated header, and garbage.
    for junk in [
        &b"FCC"[..],
        &b"not a cache entry at all, just some bytes"[..],
    ] {
        fs::write(&path, junk).unwrap();
        assert_eq!(s.get(KEY, None).unwrap(), None);
        assert!(!path.exists());
    }
    assert_eq!(checksum(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(checksum(b"a"), 0xaf63_dc4c_8601_ec8c);
}

#[test]
fn put_is_atomic_for_concurrent_readers() {
    let (_d, s) = store();
    let small = vec![1u8; 10];
    let big = vec![2u8; 4 << 20];
    s.put(KEY, &small).unwrap();
    let stop = Arc::new(AtomicUsize::new(0));
    let reader = {
        let s = s.clone();
        let stop = stop.clone();
        let (small, big) = (small.clone(), big.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while stop.load(Ordering::Relaxed) == 0 {
                // Never a partial value: the old one or the new one.
                let got = s.get(KEY, None).unwrap().expect("entry always present");
                assert!(
                    got == small || got == big,
                    "partial entry of {} bytes",
                    got.len()
                );
                reads += 1;
            }
            reads
        })
    };
    for i in 0..20 {
        s.put(KEY, if i % 2 == 0 { &big } else { &small }).unwrap();
    }
    stop.store(1, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    // No temp files left behind.
    let shard = s.dir().join("ab");
    let names: Vec<String> = fs::read_dir(&shard)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec![format!("{KEY}.bin")]);
}

#[test]
fn lock_excludes_a_second_locker() {
    let (_d, s) = store();
    let held = s
        .lock(KEY, Duration::from_secs(1))
        .unwrap()
        .expect("first lock");
    assert!(held.path().ends_with(format!("ab/{KEY}.lock")));

    // A second locker (other thread, other handle) times out while it is held.
    let s2 = s.clone();
    let t0 = Instant::now();
    let second = std::thread::spawn(move || s2.lock(KEY, Duration::from_millis(150)).unwrap())
        .join()
        .unwrap();
    assert!(second.is_none());
    assert!(t0.elapsed() >= Duration::from_millis(140));

    // A waiter gets it once the holder releases.
    let s3 = s.clone();
    let waiter = std::thread::spawn(move || {
        let t = Instant::now();
        let g = s3.lock(KEY, Duration::from_secs(5)).unwrap();
        (g.is_some(), t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    held.release();
    let (got, waited) = waiter.join().unwrap();
    assert!(got);
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
}

#[test]
fn lock_makes_concurrent_computations_run_once() {
    let (_d, s) = store();
    let computed = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            let computed = computed.clone();
            std::thread::spawn(move || {
                if let Some(v) = s.get(KEY, None).unwrap() {
                    return v;
                }
                let _g = s.lock(KEY, Duration::from_secs(10)).unwrap().unwrap();
                if let Some(v) = s.get(KEY, None).unwrap() {
                    return v;
                }
                computed.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
                s.put(KEY, b"result").unwrap();
                b"result".to_vec()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), b"result");
    }
    assert_eq!(computed.load(Ordering::SeqCst), 1);
}

#[test]
fn keys_are_validated() {
    let (_d, s) = store();
    for bad in [
        "",
        "a",
        "../etc/passwd",
        "ab/cd",
        "zz",
        "ab cd",
        &"a".repeat(129),
    ] {
        let err = s.get(bad, None).unwrap_err().to_string();
        assert!(err.contains("cache key"), "{err}");
        assert!(s.put(bad, b"x").is_err());
        assert!(s.remove(bad).is_err());
        assert!(s.lock(bad, Duration::ZERO).is_err());
    }
    assert!(validate_key("00").is_ok());
    assert!(validate_key("ABCdef0123").is_ok());
    assert!(validate_key(&"f".repeat(128)).is_ok());
}
