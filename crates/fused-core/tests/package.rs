//! UDF packages end to end: folders, zips and .py files read, written, refused.
//! Fixtures are built in fresh temporary folders by each test. Reading folders and .py files
//! is tested here; zips in `package/zips.rs`, writing in `package/write.rs`.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::fs;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use fused_core::package::{
    package_from_code, read_package, write_directory, write_zip, Header, UdfPackage,
};
use fused_core::Error;
use serde_json::{json, Map, Value};
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

#[path = "package/write.rs"]
mod write;
#[path = "package/zips.rs"]
mod zips;

// ---------------------------------------------------------------- helpers

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "fused-pkg-test-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    /// Write `files` (relative path, content) under `rel`, creating folders; returns the folder.
    fn tree(&self, rel: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let root = self.join(rel);
        for (name, data) in files {
            let path = root.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, data).unwrap();
        }
        root
    }

    /// Names in the folder, sorted (to prove nothing else was left behind).
    fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A zip at `path` with the given entries (name, content).
fn make_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, SimpleFileOptions::default()).unwrap();
        w.write_all(data).unwrap();
    }
    fs::write(path, w.finish().unwrap().into_inner()).unwrap();
}

fn meta(udf: Value) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({
        "version": "0.0.3",
        "job_config": {"version": "0.0.3", "name": null,
                       "steps": [{"type": "udf", "udf": udf}], "metadata": null}
    }))
    .unwrap()
}

const CODE: &str =
    "@fused.udf\ndef udf(n: int = 3):\n    from utils import double\n    return double(n)\n";
const UTILS: &str = "def double(x):\n    return 2 * x\n";

fn catalog_meta() -> Vec<u8> {
    meta(json!({
        "type": "geopandas_v2", "name": "Sample_UDF", "entrypoint": "udf",
        "parameters": {"n": 4},
        "metadata": {"fused:udfType": "auto", "fused:description": "Doubles n.", "zeta": 1, "alpha": 2},
        "source": "Sample_UDF.py",
        "headers": [{"module_name": "utils", "source_file": "utils.py"}]
    }))
}

fn catalog_dir(tmp: &TempDir) -> PathBuf {
    let meta = catalog_meta();
    tmp.tree(
        "Sample_UDF",
        &[
            ("README.MD", b"# Sample\n"),
            ("Sample_UDF.py", CODE.as_bytes()),
            ("meta.json", &meta),
            ("utils.py", UTILS.as_bytes()),
        ],
    )
}

/// The message of a `Package` error, failing the test on any other outcome.
fn package_err(result: fused_core::Result<UdfPackage>) -> String {
    match result {
        Err(e @ Error::Package { .. }) => e.to_string(),
        other => panic!("expected a package error, got {other:?}"),
    }
}

fn assert_contains(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} does not contain {part:?}"
        );
    }
}

fn sample_package() -> UdfPackage {
    let mut metadata = Map::new();
    metadata.insert("fused:description".into(), json!("Line one.\nLine two."));
    metadata.insert("z_last".into(), json!([1, null, {"k": true}]));
    metadata.insert("a_first".into(), json!(1.5));
    let mut parameters = Map::new();
    parameters.insert("n".into(), json!(3));
    UdfPackage {
        name: "My_UDF".into(),
        entrypoint: Some("udf".into()),
        // CRLF, tabs, non-ASCII and no trailing newline: kept byte for byte.
        code: "@fused.udf\r\ndef udf(n=3):\r\n\treturn 'é' * n".into(),
        source_file: "My_UDF.py".into(),
        headers: vec![
            Header {
                module_name: "utils".into(),
                source_code: "X = 1\r\n".into(),
                source_file: "utils.py".into(),
            },
            Header {
                module_name: "helpers".into(),
                source_code: "Y = 2".into(),
                source_file: "helpers.py".into(),
            },
        ],
        parameters,
        metadata,
        readme: Some("# My UDF\r\nno newline".into()),
        udf_type: "geopandas_v2".into(),
    }
}

// ---------------------------------------------------------------- reading

#[test]
fn reads_a_catalog_folder() {
    let tmp = TempDir::new();
    let pkg = read_package(catalog_dir(&tmp)).unwrap();
    assert_eq!(pkg.name, "Sample_UDF");
    assert_eq!(pkg.entrypoint.as_deref(), Some("udf"));
    assert_eq!(pkg.code, CODE);
    assert_eq!(pkg.source_file, "Sample_UDF.py");
    assert_eq!(
        pkg.headers,
        vec![Header {
            module_name: "utils".into(),
            source_code: UTILS.into(),
            source_file: "utils.py".into()
        }]
    );
    assert_eq!(pkg.parameters.get("n"), Some(&json!(4)));
    assert_eq!(pkg.metadata.get("fused:udfType"), Some(&json!("auto")));
    // metadata kept verbatim, key order included
    let keys: Vec<&str> = pkg
        .metadata
        .keys()
        .map(std::string::String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["fused:udfType", "fused:description", "zeta", "alpha"]
    );
    assert_eq!(pkg.readme.as_deref(), Some("# Sample\n"));
    assert_eq!(pkg.udf_type, "geopandas_v2");
}

#[test]
fn reads_inline_code_inline_headers_and_defaults() {
    let tmp = TempDir::new();
    let meta = meta(json!({
        "code": "def udf():\n    return 1\n",
        "headers": [{"module_name": "h", "source_code": "A = 1\n"}]
    }));
    let dir = tmp.tree("Inline", &[("meta.json", &meta)]);
    let pkg = read_package(&dir).unwrap();
    assert_eq!(pkg.name, "Inline", "no name in meta.json: the folder name");
    assert_eq!(pkg.entrypoint, None);
    assert_eq!(pkg.code, "def udf():\n    return 1\n");
    assert_eq!(pkg.source_file, "Inline.py");
    assert_eq!(pkg.headers[0].source_code, "A = 1\n");
    assert_eq!(pkg.headers[0].source_file, "h.py");
    assert_eq!(pkg.udf_type, "geopandas_v2");
    assert!(pkg.parameters.is_empty() && pkg.metadata.is_empty());
    assert_eq!(pkg.readme, None);
}

#[test]
fn reads_a_source_not_named_after_the_folder_and_in_a_subfolder() {
    let tmp = TempDir::new();
    let meta = meta(json!({"name": "other", "source": "src/code.py",
                           "headers": [{"module_name": "u", "source_file": "./lib\\u.py"}]}));
    let dir = tmp.tree(
        "Folder",
        &[
            ("meta.json", &meta),
            ("src/code.py", b"x = 1"),
            ("lib/u.py", b"y = 2"),
        ],
    );
    let pkg = read_package(&dir).unwrap();
    assert_eq!((pkg.name.as_str(), pkg.code.as_str()), ("other", "x = 1"));
    assert_eq!(pkg.source_file, "src/code.py");
    assert_eq!(pkg.headers[0].source_code, "y = 2");
    assert_eq!(pkg.headers[0].source_file, "lib/u.py");
}

#[test]
fn reads_a_folder_without_meta_json() {
    let tmp = TempDir::new();
    let one = tmp.tree(
        "One",
        &[("anything.py", b"def udf(): pass\n"), ("README.md", b"hi")],
    );
    let pkg = read_package(&one).unwrap();
    assert_eq!(
        (pkg.name.as_str(), pkg.source_file.as_str()),
        ("One", "anything.py")
    );
    assert_eq!(pkg.readme.as_deref(), Some("hi"));

    let named = tmp.tree("Named", &[("Named.py", b"a = 1"), ("utils.py", b"b = 2")]);
    let pkg = read_package(&named).unwrap();
    assert_eq!((pkg.code.as_str(), pkg.headers.len()), ("a = 1", 0));

    let many = tmp.tree("Many", &[("a.py", b""), ("b.py", b"")]);
    assert_contains(
        &package_err(read_package(&many)),
        &["several .py files (a.py, b.py)", "Many.py"],
    );

    let none = tmp.tree("None", &[("README.md", b"only docs"), ("sub/x.py", b"")]);
    assert_contains(&package_err(read_package(&none)), &["no Python code"]);
}

#[test]
fn reads_a_single_py_file_byte_for_byte() {
    let tmp = TempDir::new();
    let path = tmp.join("hello_udf.py");
    fs::write(&path, "@fused.udf\r\ndef udf():\r\n    return 'hi'").unwrap();
    let pkg = read_package(&path).unwrap();
    assert_eq!(pkg.name, "hello_udf");
    assert_eq!(pkg.code, "@fused.udf\r\ndef udf():\r\n    return 'hi'");
    assert_eq!(pkg.source_file, "hello_udf.py");
    assert!(pkg.headers.is_empty());
}

#[test]
fn missing_path_and_unknown_file_kind() {
    let tmp = TempDir::new();
    assert!(matches!(
        read_package(tmp.join("nope")),
        Err(Error::NotFound { .. })
    ));
    let txt = tmp.join("notes.txt");
    fs::write(&txt, "x").unwrap();
    assert_contains(
        &package_err(read_package(&txt)),
        &["notes.txt", "expected a UDF package"],
    );
    let fake = tmp.join("fake.zip");
    fs::write(&fake, "not a zip").unwrap();
    assert_contains(
        &package_err(read_package(&fake)),
        &["fake.zip", "not a valid zip archive"],
    );
}

#[test]
fn invalid_json_names_line_and_column() {
    let tmp = TempDir::new();
    let dir = tmp.tree(
        "Bad",
        &[("meta.json", b"{\n  \"version\": \"0.0.3\",\n  oops\n}")],
    );
    assert_contains(
        &package_err(read_package(&dir)),
        &["meta.json", "invalid JSON", "line 3, column 3"],
    );
}

#[test]
fn structural_errors_name_the_json_path() {
    let cases: Vec<(Value, &[&str])> = vec![
        (json!([]), &["expected a JSON object, got an array"]),
        (json!({"version": "0.0.3"}), &["missing job_config"]),
        (
            json!({"job_config": 3}),
            &["job_config: expected an object, got a number"],
        ),
        (json!({"job_config": {}}), &["missing job_config.steps"]),
        (
            json!({"job_config": {"steps": {}}}),
            &["job_config.steps: expected an array"],
        ),
        (
            json!({"job_config": {"steps": []}}),
            &["job_config.steps is empty"],
        ),
        (
            json!({"job_config": {"steps": [{"type": "sql", "udf": {}}]}}),
            &["expected \"udf\""],
        ),
        (
            json!({"job_config": {"steps": [{"type": "udf"}]}}),
            &["missing job_config.steps[0].udf"],
        ),
        (
            json!({"job_config": {"steps": [{"udf": "x"}]}}),
            &["udf: expected an object, got a string"],
        ),
    ];
    let tmp = TempDir::new();
    for (i, (value, parts)) in cases.into_iter().enumerate() {
        let bytes = serde_json::to_vec(&value).unwrap();
        let dir = tmp.tree(
            &format!("case{i}"),
            &[("meta.json", &bytes), ("case.py", b"")],
        );
        let msg = package_err(read_package(&dir));
        assert_contains(&msg, parts);
        assert_contains(&msg, &["meta.json"]);
    }
}

#[test]
fn wrong_field_types_are_refused() {
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"code": "x", "parameters": []}),
            "udf.parameters: expected an object, got an array",
        ),
        (
            json!({"code": "x", "metadata": "m"}),
            "udf.metadata: expected an object, got a string",
        ),
        (
            json!({"code": "x", "name": 5}),
            "udf.name: expected a string, got a number",
        ),
        (
            json!({"code": "x", "entrypoint": "not valid"}),
            "udf.entrypoint: expected a Python function name",
        ),
        (json!({"code": 1}), "udf.code: expected a string"),
        (
            json!({"code": "x", "headers": {}}),
            "udf.headers: expected an array",
        ),
        (
            json!({"code": "x", "headers": ["u"]}),
            "headers[0]: expected an object",
        ),
        (
            json!({"code": "x", "headers": [{"source_code": ""}]}),
            "headers[0]: missing module_name",
        ),
        (
            json!({"code": "x", "headers": [{"module_name": "u"}]}),
            "expected \"source_file\" or inline \"source_code\"",
        ),
        (json!({"name": "n"}), "has no Python code"),
    ];
    let tmp = TempDir::new();
    for (i, (udf, part)) in cases.into_iter().enumerate() {
        let dir = tmp.tree(&format!("case{i}"), &[("meta.json", &meta(udf))]);
        assert_contains(&package_err(read_package(&dir)), &[part]);
    }
}

#[test]
fn paths_escaping_the_package_are_refused() {
    let tmp = TempDir::new();
    fs::write(tmp.join("x.py"), "outside").unwrap();
    for source in [
        "../x.py",
        "/etc/passwd",
        "sub/../../x.py",
        "C:\\x.py",
        "..\\x.py",
    ] {
        let m = meta(json!({"source": source}));
        let dir = tmp.tree("Escape", &[("meta.json", &m)]);
        let msg = package_err(read_package(&dir));
        assert_contains(&msg, &["udf.source", "relative path inside the package"]);
    }
    let m = meta(json!({"code": "", "headers": [{"module_name": "u", "source_file": "../x.py"}]}));
    let dir = tmp.tree("Escape2", &[("meta.json", &m)]);
    assert_contains(
        &package_err(read_package(&dir)),
        &["headers[0].source_file", "'..' are refused"],
    );
}

#[cfg(unix)]
#[test]
fn links_out_of_a_folder_are_refused() {
    let tmp = TempDir::new();
    fs::write(tmp.join("secret.py"), "outside").unwrap();
    let dir = tmp.tree(
        "Linked",
        &[("meta.json", &meta(json!({"source": "code.py"})))],
    );
    std::os::unix::fs::symlink(tmp.join("secret.py"), dir.join("code.py")).unwrap();
    assert_contains(
        &package_err(read_package(&dir)),
        &["code.py", "outside the package folder"],
    );
}

#[test]
fn missing_referenced_files_are_refused() {
    let tmp = TempDir::new();
    let dir = tmp.tree(
        "Missing",
        &[("meta.json", &meta(json!({"source": "gone.py"})))],
    );
    assert_contains(
        &package_err(read_package(&dir)),
        &["meta.json", "source file \"gone.py\" is not in the package"],
    );
    let m =
        meta(json!({"code": "", "headers": [{"module_name": "utils", "source_file": "utils.py"}]}));
    let dir = tmp.tree("Missing2", &[("meta.json", &m)]);
    assert_contains(
        &package_err(read_package(&dir)),
        &["module \"utils\"", "\"utils.py\" is not in the package"],
    );
}

#[test]
fn non_utf8_code_is_refused() {
    let tmp = TempDir::new();
    let m = meta(json!({"source": "c.py"}));
    let dir = tmp.tree("Latin1", &[("meta.json", &m), ("c.py", b"x = '\xe9'\n")]);
    assert_contains(
        &package_err(read_package(&dir)),
        &["c.py", "not valid UTF-8", "offset 5"],
    );
    let py = tmp.join("bad.py");
    fs::write(&py, b"\xff").unwrap();
    assert_contains(
        &package_err(read_package(&py)),
        &["bad.py", "not valid UTF-8"],
    );
}

#[test]
fn header_module_names_are_checked() {
    let tmp = TempDir::new();
    for (name, part) in [
        ("my-utils", "expected a Python identifier"),
        ("import", "expected a Python identifier"),
        ("", "expected a Python identifier"),
    ] {
        let m = meta(json!({"code": "", "headers": [{"module_name": name, "source_code": ""}]}));
        let dir = tmp.tree("Hdr", &[("meta.json", &m)]);
        assert_contains(&package_err(read_package(&dir)), &[part]);
    }
    let m = meta(json!({"code": "", "headers": [
        {"module_name": "u", "source_code": "a"}, {"module_name": "u", "source_code": "b"}]}));
    let dir = tmp.tree("Dup", &[("meta.json", &m)]);
    assert_contains(
        &package_err(read_package(&dir)),
        &["module name \"u\" appears more than once"],
    );
}

#[test]
fn canvas_notes_are_refused() {
    let tmp = TempDir::new();
    let m = meta(json!({"name": "note", "code": "",
                        "metadata": {"fused:isNodeTemplate": true, "fused:udfType": "auto"}}));
    let dir = tmp.tree("Note", &[("meta.json", &m), ("Note.py", b"")]);
    assert_contains(
        &package_err(read_package(&dir)),
        &["canvas note", "isNodeTemplate", "not a Python UDF"],
    );
    // even when it has no code at all, the note is what is reported
    let m = meta(json!({"isNodeTemplate": true}));
    let dir = tmp.tree("Note2", &[("meta.json", &m)]);
    assert_contains(&package_err(read_package(&dir)), &["canvas note"]);
    // false is not a note
    let m = meta(json!({"code": "x = 1", "metadata": {"isNodeTemplate": false}}));
    let dir = tmp.tree("NotNote", &[("meta.json", &m)]);
    assert_eq!(read_package(&dir).unwrap().code, "x = 1");
}
