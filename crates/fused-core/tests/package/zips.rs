//! Package zips: layouts, and every refused entry.

use super::*;

#[test]
fn reads_zips_at_the_root_or_under_one_folder() {
    let tmp = TempDir::new();
    let meta = catalog_meta();
    let at_root = tmp.join("root.zip");
    make_zip(
        &at_root,
        &[
            ("meta.json", &meta),
            ("Sample_UDF.py", CODE.as_bytes()),
            ("utils.py", UTILS.as_bytes()),
        ],
    );
    let from_dir = read_package(catalog_dir(&tmp)).unwrap();
    let pkg = read_package(&at_root).unwrap();
    assert_eq!(
        pkg,
        UdfPackage {
            readme: None,
            ..from_dir.clone()
        }
    );

    let nested = tmp.join("nested.zip");
    make_zip(
        &nested,
        &[
            ("Sample_UDF/", b""),
            ("Sample_UDF/README.MD", b"# Sample\n"),
            ("Sample_UDF/meta.json", &meta),
            ("Sample_UDF/Sample_UDF.py", CODE.as_bytes()),
            ("Sample_UDF/utils.py", UTILS.as_bytes()),
            ("__MACOSX/Sample_UDF/._meta.json", b"junk"),
        ],
    );
    assert_eq!(read_package(&nested).unwrap(), from_dir);

    // no meta.json: name from the top folder, or from the zip's stem at the root
    let plain = tmp.join("whatever.zip");
    make_zip(&plain, &[("Top/Top.py", b"a"), ("Top/other.py", b"b")]);
    assert_eq!(read_package(&plain).unwrap().name, "Top");
    let plain = tmp.join("stem.zip");
    make_zip(&plain, &[("code.py", b"a")]);
    assert_eq!(read_package(&plain).unwrap().name, "stem");
}

#[test]
fn zip_layout_root_wins_and_several_top_folders_are_ambiguous() {
    let tmp = TempDir::new();
    let both = tmp.join("both.zip");
    make_zip(&both, &[("root.py", b"root"), ("Inner/Inner.py", b"inner")]);
    assert_eq!(read_package(&both).unwrap().code, "root");

    let two = tmp.join("two.zip");
    make_zip(&two, &[("A/a.py", b""), ("B/b.py", b"")]);
    assert_contains(
        &package_err(read_package(&two)),
        &["ambiguous layout", "A, B"],
    );

    let empty = tmp.join("empty.zip");
    make_zip(&empty, &[("Only/", b"")]);
    assert_contains(&package_err(read_package(&empty)), &["holds no files"]);
}

#[test]
fn zip_entries_escaping_or_linking_are_refused() {
    let tmp = TempDir::new();
    for (i, evil) in [
        "../evil.py",
        "/abs/evil.py",
        "Top/../../evil.py",
        "C:/evil.py",
        "..\\evil.py",
    ]
    .into_iter()
    .enumerate()
    {
        let path = tmp.join(&format!("evil{i}.zip"));
        make_zip(&path, &[("Top/Top.py", b"x"), (evil, b"boom")]);
        let msg = package_err(read_package(&path));
        assert_contains(&msg, &[&format!("evil{i}.zip"), "refused"]);
        assert!(msg.contains("absolute") || msg.contains("'..'"), "{msg}");
    }
    // symlink entry (unix mode in the external attributes)
    let path = tmp.join("link.zip");
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file("Top/Top.py", SimpleFileOptions::default())
        .unwrap();
    w.write_all(b"x").unwrap();
    w.add_symlink("Top/utils.py", "/etc/passwd", SimpleFileOptions::default())
        .unwrap();
    fs::write(&path, w.finish().unwrap().into_inner()).unwrap();
    assert_contains(
        &package_err(read_package(&path)),
        &["Top/utils.py", "symbolic link", "refused"],
    );
    // a canvas note inside a zip
    let note = tmp.join("note.zip");
    make_zip(
        &note,
        &[(
            "N/meta.json",
            &meta(json!({"metadata": {"isNodeTemplate": true}})),
        )],
    );
    assert_contains(
        &package_err(read_package(&note)),
        &["note.zip:N/meta.json", "canvas note"],
    );
    // a meta.json whose source steps out, inside a zip
    let esc = tmp.join("esc.zip");
    make_zip(
        &esc,
        &[
            ("N/meta.json", &meta(json!({"source": "../x.py"}))),
            ("N/N.py", b""),
        ],
    );
    assert_contains(
        &package_err(read_package(&esc)),
        &["relative path inside the package"],
    );
}

#[test]
fn zip_bombs_are_bounded() {
    let tmp = TempDir::new();
    let path = tmp.join("bomb.zip");
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    w.start_file("Top/Top.py", opts).unwrap();
    let chunk = vec![b'#'; 1 << 20];
    for _ in 0..101 {
        w.write_all(&chunk).unwrap();
    }
    fs::write(&path, w.finish().unwrap().into_inner()).unwrap();
    assert!(
        fs::metadata(&path).unwrap().len() < 2 << 20,
        "the fixture itself is small"
    );
    assert_contains(
        &package_err(read_package(&path)),
        &["bomb.zip", "more than 100 MiB", "refused"],
    );

    let many = tmp.join("many.zip");
    let names: Vec<String> = (0..10_001).map(|i| format!("T/f{i}.txt")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
    make_zip(&many, &entries);
    assert_contains(
        &package_err(read_package(&many)),
        &["10001 entries", "at most 10000"],
    );
}
