//! GitHub URL parsing, cache rules and error mapping, without any network (the HTTP paths are
//! exercised end to end against a fake GitHub in `tests/test_github_native.py`), plus one
//! fetch against a tiny `std::net` server.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, SystemTime};

use fused_core::github::cache::{self, escape_key, is_safe_file_name, remove_leftovers};
use fused_core::github::http::{format_utc, origin, status_error, Response};
use fused_core::github::{
    create_gist, fetch, files_named_by_meta, CacheDecision, FetchOptions, FetchState, GithubSource,
    HttpSettings, SourceKind, Target, Validator, STATE_FILE,
};
use fused_core::Error;

fn parse(url: &str) -> GithubSource {
    GithubSource::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// (kind, owner, repo, ref guess, path guess, is a single file)
fn repo_parts(url: &str) -> (SourceKind, String, String, String, String, bool) {
    let s = parse(url);
    let (p, file) = match &s.target {
        Target::Folder(p) => (p, false),
        Target::File(p) => (p, true),
        Target::Gist { .. } => panic!("{url} parsed as a gist"),
    };
    (
        s.kind,
        p.owner.clone(),
        p.repo.clone(),
        p.reference(),
        p.path(),
        file,
    )
}

fn parts(
    kind: SourceKind,
    r: &str,
    path: &str,
    file: bool,
) -> (SourceKind, String, String, String, String, bool) {
    (
        kind,
        "fusedio".into(),
        "udfs".into(),
        r.into(),
        path.into(),
        file,
    )
}

#[test]
fn tree_urls() {
    let k = SourceKind::Tree;
    for url in [
        "https://github.com/fusedio/udfs/tree/main/public/Overture_Maps_Example",
        "https://github.com/fusedio/udfs/tree/main/public/Overture_Maps_Example/",
        "http://github.com/fusedio/udfs/tree/main/public/Overture_Maps_Example",
        "https://www.github.com/fusedio/udfs/tree/main/public/Overture_Maps_Example?tab=readme#x",
        "https://github.com/fusedio/udfs.git/tree/main/public/Overture_Maps_Example",
    ] {
        assert_eq!(
            repo_parts(url),
            parts(k, "main", "public/Overture_Maps_Example", false),
            "{url}"
        );
    }
    // Repo root, with and without slash.
    assert_eq!(
        repo_parts("https://github.com/fusedio/udfs/tree/main"),
        parts(k, "main", "", false)
    );
    assert_eq!(
        repo_parts("https://github.com/fusedio/udfs/tree/v1.2/"),
        parts(k, "v1.2", "", false)
    );
    // Full and short shas.
    let sha = "f8f0b0a9b6f1e5c2d3a4b5c6d7e8f9a0b1c2d3e4";
    let s = parse(&format!(
        "https://github.com/fusedio/udfs/tree/{sha}/public/common/"
    ));
    assert!(s.is_pinned());
    assert_eq!(s.repo_path().unwrap().reference(), sha);
    let s = parse("https://github.com/fusedio/udfs/tree/f8f0b0a/public/common/");
    assert!(
        s.is_pinned(),
        "a short sha is a commit: fetched once, never revalidated"
    );
    // Six hex digits, or a word with a non-hex letter, is a branch or tag.
    assert!(!parse("https://github.com/fusedio/udfs/tree/f8f0b0/x").is_pinned());
    assert!(!parse("https://github.com/fusedio/udfs/tree/f8f0b0g/x").is_pinned());
    assert!(!parse("https://github.com/fusedio/udfs/tree/main/x").is_pinned());
    // Percent-escapes are decoded.
    assert_eq!(
        repo_parts("https://github.com/fusedio/udfs/tree/main/My%20UDF"),
        parts(k, "main", "My UDF", false)
    );
}

#[test]
fn slashy_refs_split_in_every_way() {
    let s = parse("https://github.com/fusedio/udfs/tree/feature/x/public/a");
    let p = s.repo_path().unwrap();
    assert_eq!(
        (p.reference(), p.path()),
        ("feature".into(), "x/public/a".into())
    );
    assert_eq!(
        p.splits(0),
        vec![
            ("feature".to_string(), "x/public/a".to_string()),
            ("feature/x".to_string(), "public/a".to_string()),
            ("feature/x/public".to_string(), "a".to_string()),
            ("feature/x/public/a".to_string(), String::new()),
        ]
    );
    assert_eq!(
        p.splits(1).len(),
        3,
        "a file keeps at least one path segment"
    );
    // GitHub's "Raw" links spell the ref out.
    let s = parse("https://raw.githubusercontent.com/fusedio/udfs/refs/heads/feature/x/a/a.py");
    let p = s.repo_path().unwrap();
    assert_eq!(
        (p.reference(), p.path()),
        ("refs/heads/feature".into(), "x/a/a.py".into())
    );
}

#[test]
fn blob_urls() {
    let k = SourceKind::Blob;
    assert_eq!(
        repo_parts("https://github.com/fusedio/udfs/blob/main/public/A/A.py"),
        parts(k, "main", "public/A/A.py", true)
    );
    // meta.json means its folder.
    assert_eq!(
        repo_parts("https://github.com/fusedio/udfs/blob/main/public/A/meta.json"),
        parts(k, "main", "public/A", false)
    );
    assert_eq!(
        repo_parts("https://github.com/fusedio/udfs/blob/main/meta.json"),
        parts(k, "main", "", false)
    );
}

#[test]
fn raw_urls() {
    let k = SourceKind::Raw;
    let base = "https://raw.githubusercontent.com/fusedio/udfs";
    assert_eq!(
        repo_parts(&format!("{base}/main/public/A/A.py")),
        parts(k, "main", "public/A/A.py", true)
    );
    assert_eq!(
        repo_parts(&format!("{base}/main/public/A/meta.json")),
        parts(k, "main", "public/A", false)
    );
    assert_eq!(
        repo_parts(&format!("{base}/main/public/A")),
        parts(k, "main", "public/A", false)
    );
    assert_eq!(
        repo_parts(&format!("{base}/main/public/A/")),
        parts(k, "main", "public/A", false)
    );
}

#[test]
fn gist_urls() {
    let gist = |url: &str| match parse(url).target {
        Target::Gist { user, id, revision } => (user, id, revision),
        t => panic!("{url}: {t:?}"),
    };
    let id = "0123456789abcdef0123456789abcdef";
    let user = Some("someone".to_string());
    assert_eq!(
        gist(&format!("https://gist.github.com/someone/{id}")),
        (user.clone(), id.into(), None)
    );
    assert_eq!(
        gist(&format!("https://gist.github.com/someone/{id}/")),
        (user.clone(), id.into(), None)
    );
    assert_eq!(
        gist(&format!("https://gist.github.com/someone/{id}.git")),
        (user.clone(), id.into(), None)
    );
    assert_eq!(
        gist(&format!("https://gist.github.com/{id}")),
        (None, id.into(), None)
    );
    assert_eq!(
        gist(&format!("https://gist.github.com/{id}#file-x-py")),
        (None, id.into(), None)
    );
    let rev = "a".repeat(40);
    let s = parse(&format!("https://gist.github.com/someone/{id}/{rev}"));
    assert!(s.is_pinned());
    assert_eq!(s.kind, SourceKind::Gist);
    assert!(!parse(&format!("https://gist.github.com/{id}")).is_pinned());
}

#[test]
fn malformed_urls_name_the_url_and_what_was_expected() {
    for (url, expected) in [
        ("github.com/fusedio/udfs/tree/main/x", "http(s) URL"),
        ("ftp://github.com/fusedio/udfs/tree/main/x", "http(s) URL"),
        ("https://gitlab.com/fusedio/udfs/tree/main/x", "github.com"),
        ("https://github.com/fusedio/udfs", "/tree/<ref>/<path>"),
        ("https://github.com/fusedio/udfs/tree", "/tree/<ref>/<path>"),
        (
            "https://github.com/fusedio/udfs/commits/main",
            "/tree/<ref>/<path>",
        ),
        (
            "https://github.com/fusedio/udfs/blob/main",
            "blob URL to a file",
        ),
        (
            "https://github.com/fusedio/udfs/blob/main/README.md",
            ".py file or a meta.json",
        ),
        ("https://github.com/fused io/udfs/tree/main/x", "owner name"),
        ("https://github.com/fusedio/../tree/main/x", "repo name"),
        (
            "https://github.com/fusedio/udfs/tree/main/../secrets",
            "'..'",
        ),
        ("https://github.com/fusedio/udfs/tree/main/a%2Fb", "%2F"),
        (
            "https://github.com/fusedio/udfs/tree/main/a%zz",
            "percent-escapes",
        ),
        (
            "https://raw.githubusercontent.com/fusedio/udfs",
            "raw.githubusercontent.com/<owner>",
        ),
        (
            "https://raw.githubusercontent.com/fusedio/udfs/main/README.md",
            "raw URL to a .py file",
        ),
        ("https://gist.github.com/", "gist id"),
        ("https://gist.github.com/someone/not-hex", "gist id"),
        ("https://gist.github.com/someone/abc123/short", "40-hex sha"),
        ("https://gist.github.com/a/b/c/d", "gist id"),
    ] {
        let err = GithubSource::parse(url).expect_err(url);
        assert!(
            matches!(err, Error::InvalidArgument { .. }),
            "{url}: {err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(url.trim()),
            "{url}: message does not name the URL: {msg}"
        );
        assert!(
            msg.contains(expected),
            "{url}: message does not say '{expected}': {msg}"
        );
    }
}

fn state(fetched_at: u64) -> FetchState {
    FetchState::new("u", "a", "r", fetched_at, vec![], vec![])
}

#[test]
fn cache_decisions() {
    use CacheDecision::*;
    let now = 1_000_000;
    assert_eq!(cache::decide(None, true, now, 60), Fetch);
    assert_eq!(cache::decide(None, false, now, 60), Fetch);
    // A commit sha: fetched once, never again, however old.
    assert_eq!(cache::decide(Some(&state(1)), true, now, 60), UseCached);
    // A branch: fresh within revalidate_s, then revalidated.
    assert_eq!(
        cache::decide(Some(&state(now - 59)), false, now, 60),
        UseCached
    );
    assert_eq!(
        cache::decide(Some(&state(now - 60)), false, now, 60),
        Revalidate
    );
    assert_eq!(cache::decide(Some(&state(now)), false, now, 0), Revalidate);
    // A clock that moved back a lot does not freeze the copy forever.
    assert_eq!(
        cache::decide(Some(&state(now + 10)), false, now, 60),
        UseCached
    );
    assert_eq!(
        cache::decide(Some(&state(now + 3600)), false, now, 60),
        Revalidate
    );
}

#[test]
fn cache_layout_and_keys() {
    let root = Path::new("/c");
    let dir = |url: &str| cache::package_dir(root, &parse(url));
    assert_eq!(
        dir("https://github.com/fusedio/udfs/tree/main/public/A/"),
        root.join("github/fusedio/udfs/folder/main~public~A")
    );
    // tree, blob-to-meta.json and raw-to-meta.json of one folder share one copy.
    assert_eq!(
        dir("https://github.com/fusedio/udfs/blob/main/public/A/meta.json"),
        dir("https://raw.githubusercontent.com/fusedio/udfs/main/public/A/meta.json")
    );
    assert_eq!(
        dir("https://github.com/fusedio/udfs/blob/main/public/A/A.py"),
        root.join("github/fusedio/udfs/file/main~public~A~A.py")
    );
    let id = "0123456789abcdef";
    assert_eq!(
        dir(&format!("https://gist.github.com/u/{id}")),
        root.join(format!("gist/{id}"))
    );
    let rev = "b".repeat(40);
    assert_eq!(
        dir(&format!("https://gist.github.com/u/{id}/{rev}")),
        root.join(format!("gist/{id}@{rev}"))
    );

    assert_eq!(escape_key("feature/x/a b~%"), "feature~x~a%20b%7E%25");
    assert_eq!(escape_key(".hidden"), "%2Ehidden");
    let long = "a/".repeat(200);
    let k = escape_key(&long);
    assert!(k.len() < 160, "{}", k.len());
    assert_ne!(k, escape_key(&"a/".repeat(201)), "long keys stay unique");
    for good in ["udf.py", "README.MD", "meta.json", "a b.py"] {
        assert!(is_safe_file_name(good), "{good}");
    }
    for bad in [
        "",
        ".",
        "..",
        "a/b.py",
        "..\\x",
        "/etc/passwd",
        STATE_FILE,
        "a\0b",
    ] {
        assert!(!is_safe_file_name(bad), "{bad:?}");
    }
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("fused-github-test-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn install_is_atomic_and_replaces_old_copies() {
    let root = tmpdir("install");
    let pkg = root.join("github/o/r/folder/main~x");
    let files = vec![
        ("meta.json".to_string(), b"{}".to_vec()),
        ("x.py".to_string(), b"v1".to_vec()),
    ];
    let mut st = FetchState::new(
        "https://github.com/o/r/tree/main/x",
        "a",
        "r",
        5,
        vec!["meta.json".into(), "x.py".into()],
        vec![],
    );
    st.resolved_ref = Some("main".into());
    cache::install(&pkg, &files, &st).unwrap();
    assert_eq!(cache::read_state(&pkg), Some(st.clone()));
    assert_eq!(fs::read(pkg.join("x.py")).unwrap(), b"v1");

    // Replace: the new copy wins, a file the new copy lacks is gone, no temp folder remains.
    let files2 = vec![("x.py".to_string(), b"v2".to_vec())];
    let st2 = FetchState::new(&st.source_url, "a", "r", 6, vec!["x.py".into()], vec![]);
    cache::install(&pkg, &files2, &st2).unwrap();
    assert_eq!(fs::read(pkg.join("x.py")).unwrap(), b"v2");
    assert!(!pkg.join("meta.json").exists());
    let siblings: Vec<_> = fs::read_dir(pkg.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(siblings, vec![std::ffi::OsString::from("main~x")]);

    // Unsafe names never reach the disk, and nothing is left half-written.
    let bad = vec![("../evil.py".to_string(), b"x".to_vec())];
    assert!(cache::install(&pkg, &bad, &st2).is_err());
    assert_eq!(fs::read(pkg.join("x.py")).unwrap(), b"v2");

    // A folder without its state file, or missing a listed file, is not a cached copy.
    fs::remove_file(pkg.join("x.py")).unwrap();
    assert_eq!(cache::read_state(&pkg), None);
    fs::remove_file(pkg.join(STATE_FILE)).unwrap();
    assert_eq!(cache::read_state(&pkg), None);

    // update_state rewrites the state in place.
    cache::install(&pkg, &files2, &st2).unwrap();
    let mut st3 = st2.clone();
    st3.fetched_at = 99;
    cache::update_state(&pkg, &st3).unwrap();
    assert_eq!(cache::read_state(&pkg).unwrap().fetched_at, 99);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn crash_leftovers_are_ignored_then_removed_when_old() {
    let root = tmpdir("leftovers");
    let fresh = root.join(".tmp-main~x-1-2");
    let old = root.join(".old-main~x-3-4");
    fs::create_dir_all(&fresh).unwrap();
    fs::create_dir_all(&old).unwrap();
    fs::write(fresh.join("meta.json"), "{half").unwrap();
    let an_hour_ago = SystemTime::now() - Duration::from_secs(7200);
    fs::File::open(&old)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    remove_leftovers(&root, cache::LEFTOVER_MAX_AGE);
    assert!(
        fresh.exists(),
        "a young temp folder may be a download in progress"
    );
    assert!(!old.exists());
    assert_eq!(cache::read_state(&fresh), None);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn meta_json_names_source_and_header_files() {
    let meta: serde_json::Value = serde_json::json!({
        "version": "0.0.3",
        "job_config": {"steps": [{"type": "udf", "udf": {
            "name": "A", "source": "A_code.py",
            "headers": [
                {"module_name": "utils", "source_file": "utils.py"},
                {"module_name": "inline", "source_code": "x = 1"},
                {"module_name": "again", "source_file": "utils.py"}
            ]
        }}]}
    });
    assert_eq!(files_named_by_meta(&meta), vec!["A_code.py", "utils.py"]);
    let inline = serde_json::json!({"job_config": {"steps": [{"udf": {"code": "x"}}]}});
    assert!(files_named_by_meta(&inline).is_empty());
}

fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
    let h = |k: &str| {
        headers
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    };
    Response {
        url: "http://h/x".into(),
        status,
        etag: h("etag"),
        rate_remaining: h("x-ratelimit-remaining"),
        rate_reset: h("x-ratelimit-reset"),
        retry_after: h("retry-after"),
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn status_errors() {
    let what = "GitHub folder (owner 'o', repo 'r', ref 'main', path 'x')";
    let e = status_error(
        &response(404, &[], r#"{"message":"Not Found"}"#),
        what,
        false,
    );
    assert!(matches!(e, Error::RemoteNotFound { .. }));
    let m = e.to_string();
    for part in [
        "owner 'o'",
        "repo 'r'",
        "ref 'main'",
        "path 'x'",
        "http://h/x",
        "GITHUB_TOKEN",
    ] {
        assert!(m.contains(part), "{m}");
    }

    let e = status_error(
        &response(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "4102444800"),
            ],
            "",
        ),
        what,
        false,
    );
    let Error::RateLimited { reset_at, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*reset_at, Some(4_102_444_800));
    let m = e.to_string();
    assert!(
        m.contains("2100-01-01 00:00:00 UTC") && m.contains("GITHUB_TOKEN"),
        "{m}"
    );

    let e = status_error(&response(429, &[("retry-after", "30")], ""), what, true);
    assert!(e.to_string().contains("resets in 30 s"), "{e}");

    let e = status_error(
        &response(
            403,
            &[("x-ratelimit-remaining", "12")],
            r#"{"message":"Resource not accessible"}"#,
        ),
        what,
        false,
    );
    assert!(matches!(e, Error::AuthRequired { .. }));
    assert!(
        e.to_string().contains("Resource not accessible") && e.to_string().contains("GITHUB_TOKEN"),
        "{e}"
    );
    let e = status_error(
        &response(401, &[], r#"{"message":"Bad credentials"}"#),
        what,
        true,
    );
    assert!(
        e.to_string().contains("check that GITHUB_TOKEN is valid"),
        "{e}"
    );

    let e = status_error(&response(502, &[], "bad gateway"), what, true);
    assert!(matches!(
        e,
        Error::Remote {
            status: Some(502),
            ..
        }
    ));
    assert!(
        e.to_string().contains("502") && e.to_string().contains("http://h/x"),
        "{e}"
    );
}

#[test]
fn the_token_goes_only_to_the_configured_origins() {
    // `Http` sends the token to a URL only when its origin is the API's or the raw host's.
    assert_eq!(
        origin("http://127.0.0.1:8080/api/x?ref=a/b").as_deref(),
        Some("http://127.0.0.1:8080")
    );
    assert_eq!(
        origin("HTTPS://Raw.GitHubusercontent.com/o/r").as_deref(),
        Some("https://raw.githubusercontent.com")
    );
    assert_ne!(
        origin("https://api.github.com.evil.example/x"),
        origin("https://api.github.com")
    );
    assert_eq!(origin("not a url"), None);
}

#[test]
fn utc_formatting() {
    assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
    assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
}

#[test]
fn creating_a_gist_needs_a_token() {
    let files = vec![("a.py".to_string(), "x = 1".to_string())];
    for token in [None, Some(""), Some("  ")] {
        let e = create_gist(
            &files,
            "d",
            false,
            "http://127.0.0.1:9",
            token,
            &HttpSettings::default(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::AuthRequired { .. }));
        assert!(
            e.to_string().contains("creating a gist needs GITHUB_TOKEN"),
            "{e}"
        );
    }
    let empty = vec![("a.py".to_string(), String::new())];
    let e = create_gist(
        &empty,
        "d",
        false,
        "http://127.0.0.1:9",
        Some("t"),
        &HttpSettings::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e:?}");
}

/// A one-shot HTTP server answering each accepted connection with the next canned response.
fn serve(responses: Vec<String>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for resp in responses {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap();
            seen.push(String::from_utf8_lossy(&buf[..n]).to_string());
            stream.write_all(resp.as_bytes()).unwrap();
        }
        seen
    });
    (base, handle)
}

fn http_response(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
}

#[test]
fn fetch_one_file_sends_the_token_and_caches_a_pinned_sha_for_good() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let (base, server) = serve(vec![http_response(
        "200 OK",
        "ETag: \"e1\"\r\n",
        "print('hi')\n",
    )]);
    let root = tmpdir("fetch");
    let opts = FetchOptions {
        api_url: format!("{base}/api"),
        raw_url: format!("{base}/raw"),
        token: Some("sekret".into()),
        ..FetchOptions::new(&root)
    };
    let url = format!("https://github.com/o/r/blob/{sha}/udfs/a/a.py");
    let first = fetch(&url, &opts).unwrap();
    assert!(!first.from_cache);
    assert_eq!(fs::read_to_string(&first.path).unwrap(), "print('hi')\n");
    assert_eq!(first.path.file_name().unwrap(), "a.py");
    assert_eq!(
        (first.reference.as_deref(), first.subpath.as_deref()),
        (Some(sha), Some("udfs/a/a.py"))
    );
    let requests = server.join().unwrap();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].starts_with(&format!("GET /raw/o/r/{sha}/udfs/a/a.py ")),
        "{}",
        requests[0]
    );
    assert!(
        requests[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer sekret"),
        "{}",
        requests[0]
    );
    // The server is gone: a pinned sha never asks again.
    let second = fetch(&url, &opts).unwrap();
    assert!(second.from_cache && second.warnings.is_empty());
    assert_eq!(second.path, first.path);
    let st = cache::read_state(&first.dir).unwrap();
    assert_eq!(
        st.validators,
        vec![Validator {
            url: format!("{base}/raw/o/r/{sha}/udfs/a/a.py"),
            etag: Some("\"e1\"".into())
        }]
    );
    fs::remove_dir_all(&root).unwrap();
}
