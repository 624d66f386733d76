//! The run result cache: keys, entry serialization, corruption, LRU by bytes, expiry, disk
//! tier, invalidation and single flight.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::sync::Arc;

use fused_core::result::{CanonicalResult, Dtype};
use fused_core::runcache::disk::{DiskRead, DiskStore};
use fused_core::runcache::entry::Entry;
use fused_core::runcache::key::{code_namespace, etag, run_key, saved_namespace};
use fused_core::runcache::memory::MemoryLru;
use fused_core::time::now_ms;
use fused_server::runcache::flight::{Flights, Role};
use fused_server::runcache::{Fetched, Outcome, RunCache, Slot};
use serde_json::{json, Map, Value};

fn params(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn udf() -> Value {
    json!({"name": "t", "code": "def udf(n=1): return n", "entrypoint": "udf",
           "headers": [{"module_name": "utils", "source_code": "X = 1"}]})
}

fn entry(result: CanonicalResult, max_age: u64, tile: Option<(u32, u32, u32)>) -> Entry {
    Entry {
        result: Arc::new(result),
        created_at: now_ms(),
        max_age,
        tile,
    }
}

fn all_kinds() -> Vec<CanonicalResult> {
    vec![
        CanonicalResult::Table {
            ipc: (0..=255u8).collect(),
        },
        CanonicalResult::Raster {
            data: vec![1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0],
            dtype: Dtype::U16,
            shape: vec![2, 3],
            bounds: Some([-1.5, 2.0, 3.25, 4.0]),
        },
        CanonicalResult::Raster {
            data: vec![9; 4],
            dtype: Dtype::U8,
            shape: vec![4],
            bounds: None,
        },
        CanonicalResult::Json(json!({"a": [1, 2.5, "é"], "b": null})),
        CanonicalResult::Bytes {
            data: b"<p>hi</p>".to_vec(),
            content_type: "text/html".into(),
        },
    ]
}

#[test]
fn key_is_stable_and_sensitive() {
    let p = params(&[("n", json!("3")), ("m", json!("x"))]);
    let k = run_key(&udf(), &p, None);
    assert_eq!(k.len(), 64);
    // order of parameters does not matter; a null parameter is "not given"
    let p2 = params(&[("m", json!("x")), ("n", json!("3")), ("z", Value::Null)]);
    assert_eq!(run_key(&udf(), &p2, None), k);
    // a number and its string form are the same validated value
    let p3 = params(&[("n", json!(3)), ("m", json!("x"))]);
    assert_eq!(run_key(&udf(), &p3, None), k);
    let mut changed = vec![
        run_key(
            &udf(),
            &params(&[("n", json!("4")), ("m", json!("x"))]),
            None,
        ),
        run_key(&udf(), &params(&[("n", json!("3"))]), None),
        run_key(&udf(), &p, Some((1, 0, 0))),
        run_key(&udf(), &p, Some((1, 0, 1))),
    ];
    for field in ["code", "entrypoint"] {
        let mut u = udf();
        u[field] = json!("other");
        changed.push(run_key(&u, &p, None));
    }
    let mut u = udf();
    u["headers"][0]["source_code"] = json!("X = 2");
    changed.push(run_key(&u, &p, None));
    let mut u = udf();
    u["headers"][0]["module_name"] = json!("utils2");
    changed.push(run_key(&u, &p, None));
    // name-value boundaries are unambiguous
    changed.push(run_key(
        &udf(),
        &params(&[("n", json!("3m")), ("", json!("x"))]),
        None,
    ));
    let mut all = changed.clone();
    all.push(k.clone());
    all.sort();
    all.dedup();
    assert_eq!(all.len(), changed.len() + 1, "{changed:?}");
    // the README, name and other metadata do not matter
    let mut u = udf();
    u["name"] = json!("renamed");
    u["readme"] = json!("docs");
    assert_eq!(run_key(&u, &p, None), k);

    assert_eq!(
        saved_namespace("Me@Example.com", "a"),
        saved_namespace("me@example.com", "a")
    );
    assert_ne!(
        saved_namespace("me@example.com", "a"),
        saved_namespace("me@example.com", "b")
    );
    assert_ne!(
        code_namespace(&udf()),
        saved_namespace("me@example.com", "t")
    );
    let e = etag(&k, "json");
    assert!(
        e.starts_with('"') && e.ends_with('"') && e.len() == 34,
        "{e}"
    );
    assert_eq!(e, etag(&k, "json"));
    assert_ne!(e, etag(&k, "csv"));
}

#[test]
fn entry_round_trip_every_kind() {
    for (i, r) in all_kinds().into_iter().enumerate() {
        let tile = (i % 2 == 0).then_some((12, 654, 1583));
        let e = entry(r, 3600, tile);
        let bytes = e.encode();
        let back = Entry::decode(&bytes).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.tile, tile);
        assert_eq!(back.max_age, 3600);
    }
}

#[test]
fn corrupt_and_truncated_entries_are_detected() {
    for r in all_kinds() {
        let bytes = entry(r, 60, None).encode();
        for cut in [0, 1, 4, bytes.len() / 2, bytes.len() - 1] {
            assert!(Entry::decode(&bytes[..cut]).is_err(), "truncated to {cut}");
        }
        for pos in [0, 5, 30, bytes.len() / 2, bytes.len() - 40, bytes.len() - 1] {
            let mut b = bytes.clone();
            b[pos] ^= 0x5a;
            let err = Entry::decode(&b).unwrap_err();
            assert!(err.to_string().contains("corrupt"), "{err}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Entry::decode(&longer).is_err());
    }
}

#[test]
fn lru_evicts_by_bytes() {
    let blob = |n: usize| {
        entry(
            CanonicalResult::Bytes {
                data: vec![7; n],
                content_type: "application/octet-stream".into(),
            },
            60,
            None,
        )
    };
    let size = blob(1000).size();
    let mut lru = MemoryLru::new(size * 3);
    lru.insert("a", "ns", blob(1000));
    lru.insert("b", "ns", blob(1000));
    lru.insert("c", "ns", blob(1000));
    assert_eq!((lru.len(), lru.bytes()), (3, size * 3));
    assert!(lru.get("a").is_some()); // a is now the most recently used
    lru.insert("d", "ns", blob(1000));
    assert_eq!(lru.len(), 3);
    assert!(!lru.contains("b"), "b was least recently used");
    assert!(lru.contains("a") && lru.contains("c") && lru.contains("d"));
    // a big entry pushes out as many as needed
    lru.insert("big", "ns", blob(2000));
    assert!(lru.bytes() <= size * 3);
    assert!(lru.contains("big"));
    assert_eq!(lru.len(), 2);
    // larger than the whole cap: not kept
    lru.insert("huge", "ns", blob(10_000));
    assert!(!lru.contains("huge"));
    assert!(lru.bytes() <= size * 3);
    // namespace removal
    lru.insert("x", "other", blob(10));
    assert_eq!(lru.remove_namespace("other", None), vec!["x".to_string()]);
}

#[test]
fn expiry() {
    let mut e = entry(CanonicalResult::Json(json!(1)), 10, None);
    assert!(!e.expired_at(e.created_at + 9_999));
    assert!(e.expired_at(e.created_at + 10_000));
    e.created_at = now_ms() - 2_000;
    e.max_age = 1;
    assert!(e.expired());
    let mut lru = MemoryLru::new(1 << 20);
    lru.insert("k", "ns", e.clone());
    assert!(lru.get("k").is_none());
    assert_eq!(lru.len(), 0);
    let dir = tempdir();
    let disk = DiskStore::new(&dir);
    let (ns, k) = ("ab", "cd01");
    disk.write(ns, k, &e).unwrap();
    assert!(matches!(disk.read(ns, k), DiskRead::Expired));
    assert!(!dir.join(ns).join(k).exists());
}

fn tempdir() -> std::path::PathBuf {
    let mut rnd = [0u8; 8];
    getrandom_fill(&mut rnd);
    let d = std::env::temp_dir().join(format!(
        "fused-cache-test-{}-{}",
        std::process::id(),
        fused_core::hash::hex(&rnd)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn getrandom_fill(b: &mut [u8]) {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    for (i, x) in b.iter_mut().enumerate() {
        *x = (t >> (i * 8)) as u8;
    }
}

#[test]
fn disk_tier_atomic_checksummed_and_invalidated() {
    let dir = tempdir();
    let disk = DiskStore::new(&dir);
    let ns = saved_namespace("me@example.com", "u");
    let e1 = entry(CanonicalResult::Json(json!({"t": 1})), 60, Some((1, 0, 0)));
    let e2 = entry(CanonicalResult::Json(json!({"t": 2})), 60, Some((1, 1, 0)));
    let e3 = entry(CanonicalResult::Json(json!("file")), 60, None);
    disk.write(&ns, "aa11", &e1).unwrap();
    disk.write(&ns, "bb22", &e2).unwrap();
    disk.write(&ns, "cc33", &e3).unwrap();
    // no temporary files left behind
    let names: Vec<String> = std::fs::read_dir(dir.join(&ns))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    match disk.read(&ns, "aa11") {
        DiskRead::Hit(e) => assert_eq!(e, e1),
        other => panic!("{other:?}"),
    }
    // corrupt one byte: removed, never served
    let path = dir.join(&ns).join("bb22");
    let mut b = std::fs::read(&path).unwrap();
    b[20] ^= 1;
    std::fs::write(&path, &b).unwrap();
    assert!(matches!(disk.read(&ns, "bb22"), DiskRead::Corrupt(_)));
    assert!(!path.exists());
    assert!(matches!(disk.read(&ns, "bb22"), DiskRead::Missing));
    // invalid names never touch the file system
    assert!(disk.path("../x", "aa").is_none());
    // one tile, then everything
    disk.write(&ns, "bb22", &e2).unwrap();
    assert_eq!(disk.remove_namespace(&ns, Some((1, 1, 0))), vec!["bb22"]);
    let mut rest = disk.remove_namespace(&ns, None);
    rest.sort();
    assert_eq!(rest, vec!["aa11", "cc33"]);
}

#[tokio::test]
async fn both_tiers_and_invalidation_count() {
    let dir = tempdir();
    let cache: RunCache<u32> = RunCache::new(1 << 20, Some(dir.clone()));
    let ns = saved_namespace("me@example.com", "u");
    let e = entry(CanonicalResult::Json(json!(5)), 60, None);
    cache.put(&ns, "0a", e.clone()).await;
    assert_eq!(cache.get_memory(&ns, "0a"), Some(e.clone()));
    assert!(dir.join(&ns).join("0a").exists());
    let stats = cache.stats();
    assert!(stats.enabled && stats.bytes > 0 && stats.memory_entries == 1);
    assert_eq!(cache.invalidate(&ns, None).await, 1);
    assert!(cache.get_memory(&ns, "0a").is_none());
    assert!(cache.get_disk(&ns, "0a").await.is_none());
    // disk only: a hit is read back from the file
    let disk_only: RunCache<u32> = RunCache::new(0, Some(dir.clone()));
    disk_only.put(&ns, "0b", e.clone()).await;
    assert!(disk_only.get_memory(&ns, "0b").is_none());
    assert_eq!(disk_only.get_disk(&ns, "0b").await, Some(e));
    assert!(!RunCache::<u32>::disabled().enabled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_flight_computes_once() {
    let flights: Arc<Flights<u64>> = Arc::default();
    let runs = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..8 {
        let (flights, runs) = (flights.clone(), runs.clone());
        handles.push(tokio::spawn(async move {
            match flights.join("k").await {
                Role::Leader(l) => {
                    runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    l.finish(42);
                    42
                }
                Role::Joined(v) => v,
            }
        }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), 42);
    }
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(flights.in_flight(), 0);
    // a leader that goes away hands the key to a waiter
    let f2 = flights.clone();
    let leader = match flights.join("j").await {
        Role::Leader(l) => l,
        Role::Joined(_) => panic!("expected to lead"),
    };
    let waiter = tokio::spawn(async move {
        match f2.join("j").await {
            Role::Leader(l) => {
                l.finish(7);
                "took over"
            }
            Role::Joined(_) => "joined",
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    drop(leader);
    assert_eq!(waiter.await.unwrap(), "took over");
}

/// An outcome of a test computation: a value to store, or a failure.
#[derive(Debug, Clone, PartialEq)]
enum Computed {
    Value(i64),
    Failed(&'static str),
}

impl Outcome for Computed {
    fn cacheable(&self) -> Option<Arc<CanonicalResult>> {
        match self {
            Computed::Value(v) => Some(Arc::new(CanonicalResult::Json(json!(v)))),
            Computed::Failed(_) => None,
        }
    }
}

fn slot<'a>(namespace: &'a str, key: &'a str) -> Slot<'a> {
    Slot {
        namespace,
        key,
        max_age: 60,
        tile: Some((3, 1, 2)),
    }
}

fn cached_json(f: &Fetched<Computed>) -> Option<Value> {
    match f {
        Fetched::Cached(e) => match e.result.as_ref() {
            CanonicalResult::Json(v) => Some(v.clone()),
            _ => None,
        },
        Fetched::Computed(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_or_compute_runs_identical_requests_once_and_counts_them() {
    let dir = tempdir();
    let cache: Arc<RunCache<Computed>> = Arc::new(RunCache::new(1 << 20, Some(dir.clone())));
    let runs = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..8 {
        let (cache, runs) = (cache.clone(), runs.clone());
        handles.push(tokio::spawn(async move {
            cache
                .get_or_compute(slot("ab", "c1"), || async {
                    runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    Computed::Value(42)
                })
                .await
        }));
    }
    let mut computed = 0;
    for h in handles {
        match h.await.unwrap() {
            Fetched::Computed(c) => {
                assert_eq!(c, Computed::Value(42));
                computed += 1;
            }
            Fetched::Cached(e) => panic!("nothing was cached yet: {e:?}"),
        }
    }
    // the leader and its 7 waiters all got the one computation
    assert_eq!(computed, 8);
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (7, 1));
    assert_eq!(cache.in_flight(), 0);
    // stored in both tiers, with the slot's lifetime and tile
    let mem = cache.get_memory("ab", "c1").unwrap();
    assert_eq!((mem.max_age, mem.tile), (60, Some((3, 1, 2))));
    assert!(dir.join("ab").join("c1").exists());
    // the next request is a memory hit: `compute` is not called
    let again = cache
        .get_or_compute(slot("ab", "c1"), || async { panic!("computed again") })
        .await;
    assert_eq!(cached_json(&again), Some(json!(42)));
    assert_eq!(cache.stats().hits, 8);
}

#[tokio::test]
async fn get_or_compute_reads_the_disk_tier_and_never_stores_failures() {
    let dir = tempdir();
    let first: RunCache<Computed> = RunCache::new(1 << 20, Some(dir.clone()));
    let got = first
        .get_or_compute(slot("ab", "c2"), || async { Computed::Value(7) })
        .await;
    assert!(matches!(got, Fetched::Computed(Computed::Value(7))));
    // another cache over the same directory (a restarted server): a disk hit, promoted
    let restarted: RunCache<Computed> = RunCache::new(1 << 20, Some(dir.clone()));
    let got = restarted
        .get_or_compute(slot("ab", "c2"), || async { panic!("on disk") })
        .await;
    assert_eq!(cached_json(&got), Some(json!(7)));
    assert!(restarted.get_memory("ab", "c2").is_some());
    assert_eq!((restarted.stats().hits, restarted.stats().misses), (1, 0));
    // a failure is answered, not stored: the next request computes again
    for expected_misses in 1..=2 {
        let got = restarted
            .get_or_compute(slot("ab", "dd"), || async { Computed::Failed("boom") })
            .await;
        assert!(matches!(got, Fetched::Computed(Computed::Failed("boom"))));
        assert_eq!(restarted.stats().misses, expected_misses);
    }
    assert!(restarted.get_memory("ab", "dd").is_none());
    assert!(!dir.join("ab").join("dd").exists());
}
