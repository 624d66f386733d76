//! The run result cache's core: the key's exact serialization (the server's and the local
//! engine's keys must agree), typed parameters, read-side lifetimes and the tiered store
//! (memory served only while its file is unchanged).
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::fmt::Write as _;
use std::sync::Arc;

use fused_core::result::{CanonicalResult, Dtype};
use fused_core::runcache::disk::{DiskRead, DiskStore};
use fused_core::runcache::key::{code_namespace, code_namespace_of, run_key, ParamValue, RunKeyer};
use fused_core::runcache::tiered::TieredStore;
use fused_core::runcache::Entry;
use fused_core::time::now_ms;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

fn tempdir(tag: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let d = std::env::temp_dir().join(format!(
        "fused-runcache-{tag}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn entry(v: Value, max_age: u64) -> Entry {
    Entry {
        result: Arc::new(CanonicalResult::Json(v)),
        created_at: now_ms(),
        max_age,
        tile: None,
    }
}

fn json_of(read: &DiskRead) -> Option<Value> {
    match read {
        DiskRead::Hit(e) => match &*e.result {
            CanonicalResult::Json(v) => Some(v.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The documented serialization, written out by hand.
fn by_hand(fields: &[(&str, &[u8])]) -> String {
    let mut h = Sha256::new();
    for (tag, value) in fields {
        h.update((tag.len() as u64).to_le_bytes());
        h.update(tag.as_bytes());
        h.update((value.len() as u64).to_le_bytes());
        h.update(value);
    }
    h.finalize().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[test]
fn key_serialization_is_pinned() {
    let udf = json!({"code": "def udf(n=1): return n", "entrypoint": "udf",
                     "headers": [{"module_name": "utils", "source_code": "X = 1"}],
                     "parameters": {"b": [1, 2], "a": "x"}});
    let mut params = Map::new();
    params.insert("n".into(), json!("3"));
    params.insert("m".into(), json!(2.5));
    let expected = by_hand(&[
        ("fused-run-cache", b"1"),
        ("code", b"def udf(n=1): return n"),
        ("entrypoint", b"udf"),
        ("header.module_name", b"utils"),
        ("header.source_code", b"X = 1"),
        ("default.name", b"a"),
        ("default.value", b"\"x\""),
        ("default.name", b"b"),
        ("default.value", b"[1,2]"),
        ("param.name", b"m"),
        ("param.value", b"2.5"),
        ("param.name", b"n"),
        ("param.value", b"3"),
        ("tile", b"12/654/1583"),
    ]);
    assert_eq!(run_key(&udf, &params, Some((12, 654, 1583))), expected);
    // the local engine's keyer, built from the parts, gives the same key for string values
    let defaults = udf["parameters"].as_object().unwrap();
    let keyer = RunKeyer::new(
        "def udf(n=1): return n",
        "udf",
        [("utils", "X = 1")],
        Some(defaults),
    );
    let local = keyer.key(
        [("n", ParamValue::Text("3")), ("m", ParamValue::Text("2.5"))],
        Some((12, 654, 1583)),
    );
    assert_eq!(local, expected);
    assert_eq!(
        code_namespace(&udf),
        code_namespace_of("def udf(n=1): return n")
    );
    assert_eq!(code_namespace_of("x"), by_hand(&[("shipped.code", b"x")]));
}

#[test]
fn typed_package_keys_as_its_json() {
    let mut pkg = fused_core::package::package_from_code("k", "def udf(n=1): return n").unwrap();
    pkg.entrypoint = Some("udf".into());
    pkg.parameters.insert("a".into(), json!("x"));
    pkg.headers.push(fused_core::package::Header {
        module_name: "utils".into(),
        source_code: "X = 1".into(),
        source_file: "utils.py".into(),
    });
    let mut params = Map::new();
    params.insert("n".into(), json!("3"));
    params.insert("gone".into(), json!(null));
    let typed = RunKeyer::from_package(&pkg).server_key(&params, Some((1, 0, 1)));
    let value = serde_json::to_value(&pkg).unwrap();
    assert_eq!(typed, run_key(&value, &params, Some((1, 0, 1))));
    // a change of a header changes the key
    pkg.headers[0].source_code = "X = 2".into();
    assert_ne!(
        RunKeyer::from_package(&pkg).server_key(&params, Some((1, 0, 1))),
        typed
    );
}

#[test]
fn typed_values_never_equal_text() {
    let keyer = RunKeyer::new("code", "udf", [], None);
    let text = keyer.key([("n", ParamValue::Text("5"))], None);
    let typed = keyer.key(
        [(
            "n",
            ParamValue::Typed {
                kind: "int",
                text: "5",
            },
        )],
        None,
    );
    let other_kind = keyer.key(
        [(
            "n",
            ParamValue::Typed {
                kind: "float",
                text: "5",
            },
        )],
        None,
    );
    assert_eq!(
        typed,
        by_hand(&[
            ("fused-run-cache", b"1"),
            ("code", b"code"),
            ("entrypoint", b"udf"),
            ("param.name", b"n"),
            ("param.typed", b"int"),
            ("param.value", b"5"),
            ("tile", b""),
        ])
    );
    assert_ne!(text, typed);
    assert_ne!(typed, other_kind);
    // the keyer is reusable and order-insensitive; a repeated name keeps its last value
    let ab = keyer.key(
        [("a", ParamValue::Text("1")), ("b", ParamValue::Text("2"))],
        None,
    );
    let ba = keyer.key(
        [("b", ParamValue::Text("2")), ("a", ParamValue::Text("1"))],
        None,
    );
    assert_eq!(ab, ba);
    let repeated = keyer.key(
        [
            ("a", ParamValue::Text("0")),
            ("b", ParamValue::Text("2")),
            ("a", ParamValue::Text("1")),
        ],
        None,
    );
    assert_eq!(repeated, ab);
    assert_eq!(keyer.key([("n", ParamValue::Text("5"))], None), text);
}

#[test]
fn readers_may_ask_for_fresher_entries() {
    let mut e = entry(json!(1), 100);
    let t = e.created_at;
    assert!(e.fresh_at(t + 99_999, None));
    assert!(!e.fresh_at(t + 100_000, None));
    assert!(e.fresh_at(t + 9_999, Some(10)));
    assert!(!e.fresh_at(t + 10_000, Some(10)));
    // a reader never extends the stored lifetime
    assert!(!e.fresh_at(t + 100_000, Some(1000)));
    assert!(!e.fresh_at(t, Some(0)));

    let dir = tempdir("stale");
    let disk = DiskStore::new(&dir);
    e.created_at = now_ms() - 5_000;
    disk.write("ab", "01", &e).unwrap();
    assert!(matches!(
        disk.read_within("ab", "01", Some(2)),
        DiskRead::Stale
    ));
    assert!(dir.join("ab/01").exists(), "a stale entry is kept");
    assert_eq!(
        json_of(&disk.read_within("ab", "01", Some(60))),
        Some(json!(1))
    );
    e.max_age = 1;
    disk.write("ab", "01", &e).unwrap();
    assert!(matches!(
        disk.read_within("ab", "01", Some(60)),
        DiskRead::Expired
    ));
    assert!(!dir.join("ab/01").exists(), "an expired entry is removed");
}

#[test]
fn tiered_store_serves_memory_only_while_the_file_is_unchanged() {
    let dir = tempdir("tiered");
    let store = TieredStore::new(&dir, 1 << 20);
    let (ns, key) = ("0a", "0b");
    assert!(matches!(store.get(ns, key, 60), DiskRead::Missing));
    store.put(ns, key, entry(json!({"v": 1}), 60)).unwrap();
    assert_eq!(store.memory_usage().0, 1);
    assert_eq!(json_of(&store.get(ns, key, 60)), Some(json!({"v": 1})));

    // replaced behind our back (another process): the new file is served
    let other = TieredStore::new(&dir, 0);
    std::thread::sleep(std::time::Duration::from_millis(20));
    other.put(ns, key, entry(json!({"v": 2}), 60)).unwrap();
    assert_eq!(json_of(&store.get(ns, key, 60)), Some(json!({"v": 2})));

    // damaged: detected, removed, never served (memory included)
    let path = store.path(ns, key).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(store.get(ns, key, 60), DiskRead::Corrupt(_)));
    assert!(!path.exists());
    assert!(matches!(store.get(ns, key, 60), DiskRead::Missing));

    // truncated
    store.put(ns, key, entry(json!([1, 2, 3]), 60)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 7]).unwrap();
    assert!(matches!(store.get(ns, key, 60), DiskRead::Corrupt(_)));

    // removed: memory does not outlive the file
    store.put(ns, key, entry(json!("x"), 60)).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(store.get(ns, key, 60), DiskRead::Missing));

    // a stricter reader gets Stale from memory as from disk, the entry stays
    let mut old = entry(json!("old"), 3600);
    old.created_at = now_ms() - 10_000;
    store.put(ns, key, old).unwrap();
    assert!(matches!(store.get(ns, key, 5), DiskRead::Stale));
    assert_eq!(json_of(&store.get(ns, key, 60)), Some(json!("old")));

    // clear_memory keeps the file; remove drops both
    store.clear_memory();
    assert_eq!(store.memory_usage(), (0, 0));
    assert_eq!(json_of(&store.get(ns, key, 60)), Some(json!("old")));
    assert!(store.remove(ns, key));
    assert!(matches!(store.get(ns, key, 60), DiskRead::Missing));
    // names that are not hex have no file
    assert!(store.path("../x", key).is_none());
    assert!(store.put("../x", key, entry(json!(1), 60)).is_err());
}

#[test]
fn tiered_store_keeps_every_kind_and_bounds_memory() {
    let dir = tempdir("kinds");
    let store = TieredStore::new(&dir, 4096);
    let raster = CanonicalResult::Raster {
        data: vec![0, 0, 128, 63, 0, 0, 0, 64],
        dtype: Dtype::F32,
        shape: vec![1, 2],
        bounds: Some([-1.0, -2.0, 3.0, 4.0]),
    };
    let e = Entry {
        result: Arc::new(raster.clone()),
        created_at: now_ms(),
        max_age: 60,
        tile: Some((3, 1, 2)),
    };
    store.put("aa", "01", e.clone()).unwrap();
    match store.get("aa", "01", 60) {
        DiskRead::Hit(got) => assert_eq!(got, e),
        other => panic!("{other:?}"),
    }
    let big = Entry {
        result: Arc::new(CanonicalResult::Bytes {
            data: vec![7; 3000],
            content_type: "application/octet-stream".into(),
        }),
        created_at: now_ms(),
        max_age: 60,
        tile: None,
    };
    store.put("aa", "02", big.clone()).unwrap();
    store.put("aa", "03", big.clone()).unwrap();
    let (entries, bytes) = store.memory_usage();
    assert!(bytes <= 4096, "{bytes}");
    assert!(entries <= 2);
    // evicted from memory, still on disk
    for k in ["01", "02", "03"] {
        assert!(matches!(store.get("aa", k, 60), DiskRead::Hit(_)), "{k}");
    }
}

#[test]
fn put_behind_serves_at_once_and_writes_whole_files_in_the_background() {
    let dir = tempdir("behind");
    let store = TieredStore::new(&dir, 1 << 20);
    for i in 0..200u32 {
        let key = format!("{i:04x}");
        store
            .put_behind("ab", &key, entry(json!({ "i": i }), 60))
            .unwrap();
        // served before (or while) it is written
        assert_eq!(json_of(&store.get("ab", &key, 60)), Some(json!({ "i": i })));
    }
    store.flush().unwrap();
    assert_eq!(store.pending_usage(), (0, 0));
    // every file is whole: another store (no memory) reads each one from disk
    let other = TieredStore::new(&dir, 0);
    for i in 0..200u32 {
        let key = format!("{i:04x}");
        assert_eq!(json_of(&other.get("ab", &key, 60)), Some(json!({ "i": i })));
    }
    // no temporary file is left behind
    let names: Vec<String> = std::fs::read_dir(dir.join("ab"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 200, "{names:?}");
}

#[test]
fn put_behind_keeps_the_newest_value_and_a_removal_is_never_undone() {
    let dir = tempdir("behind-order");
    let store = TieredStore::new(&dir, 1 << 20);
    for v in 0..50 {
        store.put_behind("ab", "01", entry(json!(v), 60)).unwrap();
    }
    store.flush().unwrap();
    let other = TieredStore::new(&dir, 0);
    assert_eq!(json_of(&other.get("ab", "01", 60)), Some(json!(49)));

    // removed right after being put: neither served nor on disk once the writer is done
    for i in 0..100u32 {
        let key = format!("{i:04x}");
        store.put_behind("cd", &key, entry(json!(i), 60)).unwrap();
        assert!(store.remove("cd", &key));
        assert!(matches!(store.get("cd", &key, 60), DiskRead::Missing));
    }
    store.flush().unwrap();
    assert_eq!(std::fs::read_dir(dir.join("cd")).unwrap().count(), 0);

    // a stricter reader gets Stale from the queue too
    let mut old = entry(json!("old"), 3600);
    old.created_at = now_ms() - 10_000;
    store.put_behind("ab", "02", old).unwrap();
    assert!(matches!(store.get("ab", "02", 5), DiskRead::Stale));
    // names that are not hex are refused before queueing
    assert!(store.put_behind("../x", "01", entry(json!(1), 60)).is_err());
}

#[test]
fn put_behind_reports_a_failed_write_to_the_next_call_and_drop_flushes() {
    let dir = tempdir("behind-fail");
    // a file where the namespace folder should be: every write under it fails
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ee"), b"not a folder").unwrap();
    let store = TieredStore::new(&dir, 0);
    // the first entry of a namespace is written directly: the failure is this call's
    assert!(store.put_behind("ee", "01", entry(json!(1), 60)).is_err());
    // a namespace that worked, then broke: reported by the next flush (or put), once
    store.put_behind("dd", "01", entry(json!(1), 60)).unwrap();
    std::fs::remove_dir_all(dir.join("dd")).unwrap();
    std::fs::write(dir.join("dd"), b"not a folder").unwrap();
    store.put_behind("dd", "02", entry(json!(2), 60)).unwrap();
    let err = store.flush().unwrap_err().to_string();
    assert!(err.contains("dd/02"), "{err}");
    store.flush().unwrap();

    let store = TieredStore::new(&dir, 0);
    store
        .put_behind("ff", "01", entry(json!("kept"), 60))
        .unwrap();
    drop(store);
    let other = TieredStore::new(&dir, 0);
    assert_eq!(json_of(&other.get("ff", "01", 60)), Some(json!("kept")));
}
