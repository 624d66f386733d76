//! Writing folders and zips: layout, round trips, overwrite and atomicity.

use super::*;

#[test]
fn directory_round_trip_is_byte_for_byte() {
    let tmp = TempDir::new();
    let pkg = sample_package();
    let dir = tmp.join("out");
    write_directory(&pkg, &dir, false).unwrap();
    let mut files: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "My_UDF.py",
            "README.md",
            "helpers.py",
            "meta.json",
            "utils.py"
        ]
    );
    assert_eq!(
        fs::read(dir.join("My_UDF.py")).unwrap(),
        pkg.code.as_bytes()
    );
    assert_eq!(fs::read(dir.join("utils.py")).unwrap(), b"X = 1\r\n");
    assert_eq!(read_package(&dir).unwrap(), pkg);
    assert_eq!(tmp.listing(), ["out"], "no temporary siblings left");
}

#[test]
fn zip_round_trip_is_byte_for_byte_under_a_top_folder() {
    let tmp = TempDir::new();
    let pkg = sample_package();
    let path = tmp.join("out.zip");
    write_zip(&pkg, &path, false).unwrap();
    let mut archive = zip::ZipArchive::new(fs::File::open(&path).unwrap()).unwrap();
    let mut names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "My_UDF/",
            "My_UDF/My_UDF.py",
            "My_UDF/README.md",
            "My_UDF/helpers.py",
            "My_UDF/meta.json",
            "My_UDF/utils.py"
        ]
    );
    let mut code = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("My_UDF/My_UDF.py").unwrap(), &mut code)
        .unwrap();
    assert_eq!(code, pkg.code);
    assert_eq!(read_package(&path).unwrap(), pkg);
    assert_eq!(tmp.listing(), ["out.zip"]);
}

#[test]
fn written_meta_json_has_the_catalog_shape() {
    let tmp = TempDir::new();
    let mut pkg = sample_package();
    pkg.entrypoint = None;
    let dir = tmp.join("m");
    write_directory(&pkg, &dir, false).unwrap();
    let text = fs::read_to_string(dir.join("meta.json")).unwrap();
    assert!(
        text.starts_with(
            "{\n  \"version\": \"0.0.3\",\n  \"job_config\": {\n    \"version\": \"0.0.3\""
        ),
        "{text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["job_config"]["name"], Value::Null);
    assert_eq!(v["job_config"]["metadata"], Value::Null);
    let step = &v["job_config"]["steps"][0];
    assert_eq!(step["type"], "udf");
    let udf = step["udf"].as_object().unwrap();
    let keys: Vec<&str> = udf.keys().map(std::string::String::as_str).collect();
    assert_eq!(
        keys,
        [
            "type",
            "name",
            "entrypoint",
            "parameters",
            "metadata",
            "source",
            "headers"
        ]
    );
    assert_eq!(udf["source"], "My_UDF.py");
    assert_eq!(udf["entrypoint"], Value::Null);
    assert_eq!(udf["parameters"], json!({"n": 3}));
    assert_eq!(
        udf["headers"],
        json!([{"module_name": "utils", "source_file": "utils.py"}, {"module_name": "helpers", "source_file": "helpers.py"}])
    );
    let meta_keys: Vec<&str> = udf["metadata"]
        .as_object()
        .unwrap()
        .keys()
        .map(std::string::String::as_str)
        .collect();
    assert_eq!(
        meta_keys,
        ["fused:description", "z_last", "a_first"],
        "metadata order kept"
    );
}

#[test]
fn readme_is_generated_when_missing() {
    let tmp = TempDir::new();
    let mut pkg = sample_package();
    pkg.readme = None;
    write_directory(&pkg, tmp.join("g"), false).unwrap();
    let readme = fs::read_to_string(tmp.join("g/README.md")).unwrap();
    assert_eq!(readme, "# My_UDF\n\nLine one.\nLine two.\n");
    let plain = package_from_code("bare", "x = 1").unwrap();
    write_zip(&plain, tmp.join("b.zip"), false).unwrap();
    assert_eq!(
        read_package(tmp.join("b.zip")).unwrap().readme.as_deref(),
        Some("# bare\n")
    );
}

#[test]
fn round_trip_of_a_catalog_folder_is_stable() {
    let tmp = TempDir::new();
    let original = read_package(catalog_dir(&tmp)).unwrap();
    write_directory(&original, tmp.join("copy"), false).unwrap();
    let copy = read_package(tmp.join("copy")).unwrap();
    assert_eq!(copy, original);
    write_zip(&copy, tmp.join("copy.zip"), false).unwrap();
    assert_eq!(read_package(tmp.join("copy.zip")).unwrap(), original);
}

#[test]
fn existing_targets_are_refused_without_overwrite_and_left_untouched() {
    let tmp = TempDir::new();
    let pkg = sample_package();
    let dir = tmp.tree("taken", &[("keep.txt", b"mine")]);
    match write_directory(&pkg, &dir, false) {
        Err(e @ Error::AlreadyExists { .. }) => {
            assert_contains(&e.to_string(), &["taken", "overwrite=True"]);
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(fs::read(dir.join("keep.txt")).unwrap(), b"mine");
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);

    let zip_path = tmp.join("taken.zip");
    fs::write(&zip_path, "old bytes").unwrap();
    assert!(matches!(
        write_zip(&pkg, &zip_path, false),
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(fs::read(&zip_path).unwrap(), b"old bytes");
    // a file in the way of a folder counts as existing too
    assert!(matches!(
        write_directory(&pkg, &zip_path, false),
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(
        tmp.listing(),
        ["taken", "taken.zip"],
        "nothing else written"
    );
}

#[test]
fn overwrite_replaces_whole_targets() {
    let tmp = TempDir::new();
    let pkg = sample_package();
    let dir = tmp.tree("target", &[("stale.txt", b"old"), ("sub/deep.txt", b"old")]);
    write_directory(&pkg, &dir, true).unwrap();
    assert!(!dir.join("stale.txt").exists() && !dir.join("sub").exists());
    assert_eq!(read_package(&dir).unwrap(), pkg);

    let zip_path = tmp.join("target.zip");
    fs::write(&zip_path, "old").unwrap();
    write_zip(&pkg, &zip_path, true).unwrap();
    assert_eq!(read_package(&zip_path).unwrap(), pkg);

    // kinds may change: a zip over a folder, a folder over a file
    write_zip(&pkg, &dir, true).unwrap();
    assert!(dir.is_file());
    write_directory(&pkg, &zip_path, true).unwrap();
    assert!(zip_path.is_dir());
    assert_eq!(
        tmp.listing(),
        ["target", "target.zip"],
        "no temporary or old copies left"
    );
}

#[test]
fn invalid_packages_are_refused_before_anything_is_written() {
    let tmp = TempDir::new();
    let bad_names = ["", "a/b", "..", "a\\b", ".hidden", "x:y"];
    for name in bad_names {
        let pkg = UdfPackage {
            name: name.into(),
            ..sample_package()
        };
        for result in [
            write_directory(&pkg, tmp.join("d"), false),
            write_zip(&pkg, tmp.join("z.zip"), false),
        ] {
            match result {
                Err(e @ Error::InvalidArgument { .. }) => {
                    assert_contains(&e.to_string(), &["invalid name"]);
                }
                other => panic!("{name:?}: expected InvalidArgument, got {other:?}"),
            }
        }
    }
    let mut pkg = sample_package();
    pkg.headers[1].module_name = "utils".into();
    assert_contains(
        &write_directory(&pkg, tmp.join("d"), false)
            .unwrap_err()
            .to_string(),
        &["\"utils\"", "used once"],
    );
    pkg.headers[1].module_name = "My_UDF".into();
    assert!(
        write_zip(&pkg, tmp.join("z.zip"), false).is_err(),
        "header named like the UDF file"
    );
    pkg.headers[1].module_name = "not-valid".into();
    assert_contains(
        &write_directory(&pkg, tmp.join("d"), false)
            .unwrap_err()
            .to_string(),
        &["Python identifier"],
    );
    let pkg = UdfPackage {
        entrypoint: Some("1x".into()),
        ..sample_package()
    };
    assert!(matches!(
        write_directory(&pkg, tmp.join("d"), false),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(write_directory(&sample_package(), tmp.join(".."), true).is_err());
    assert!(
        tmp.listing().is_empty(),
        "nothing written: {:?}",
        tmp.listing()
    );
}

#[test]
fn missing_parent_folders_are_created() {
    let tmp = TempDir::new();
    let target = tmp.join("a/b/c.zip");
    write_zip(&sample_package(), &target, false).unwrap();
    assert_eq!(read_package(&target).unwrap().name, "My_UDF");
}

#[test]
fn package_from_code_validates_the_name() {
    let pkg = package_from_code("quick", "def udf(): return 1").unwrap();
    assert_eq!(pkg.source_file, "quick.py");
    assert_eq!(pkg.udf_type, "geopandas_v2");
    assert!(matches!(
        package_from_code("a/b", ""),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn serde_shape_uses_type_and_defaults() {
    let v = serde_json::to_value(package_from_code("q", "x").unwrap()).unwrap();
    assert_eq!(v["type"], "geopandas_v2");
    let back: UdfPackage = serde_json::from_value(json!({"name": "q", "code": "x"})).unwrap();
    assert_eq!(back.udf_type, "geopandas_v2");
    assert!(back.headers.is_empty() && back.entrypoint.is_none());
}

#[test]
fn a_failed_write_leaves_nothing_behind() {
    let tmp = TempDir::new();
    fs::write(tmp.join("file"), "x").unwrap();
    // the parent is a file: creating the temporary sibling fails
    for result in [
        write_directory(&sample_package(), tmp.join("file/out"), false),
        write_zip(&sample_package(), tmp.join("file/out.zip"), true),
    ] {
        assert!(matches!(result, Err(Error::Io { .. })), "{result:?}");
    }
    assert_eq!(tmp.listing(), ["file"]);
    assert_eq!(fs::read(tmp.join("file")).unwrap(), b"x");
}
