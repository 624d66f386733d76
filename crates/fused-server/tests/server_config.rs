//! Command-line parsing of `fused-server`.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::path::PathBuf;

use fused_server::config::{parse_args, Command, LogFormat, ServerConfig};

fn serve(args: &[&str]) -> ServerConfig {
    match parse_args(args.iter().copied()) {
        Ok(Command::Serve(c)) => c,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn error(args: &[&str]) -> String {
    parse_args(args.iter().copied()).unwrap_err().to_string()
}

#[test]
fn defaults() {
    let c = serve(&[]);
    assert_eq!(c.host, "127.0.0.1");
    assert_eq!(c.port, 8000);
    assert!(c.workers >= 1);
    assert!(c.data_dir.ends_with(".fused/server"), "{:?}", c.data_dir);
    assert_eq!(serve(&["serve"]), c);
}

#[test]
fn flags_both_forms() {
    let c = serve(&[
        "--host",
        "0.0.0.0",
        "--port=9001",
        "--data-dir",
        "/tmp/x",
        "--workers",
        "3",
        "--python=/usr/bin/python3",
    ]);
    assert_eq!(c.host, "0.0.0.0");
    assert_eq!(c.port, 9001);
    assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
    assert_eq!(c.workers, 3);
    assert_eq!(c.python, "/usr/bin/python3");
    assert_eq!(serve(&["serve", "--port", "0"]).port, 0);
}

#[test]
fn log_format_flag() {
    assert_eq!(serve(&["--log-format", "text"]).log_format, LogFormat::Text);
    assert_eq!(serve(&["--log-format=json"]).log_format, LogFormat::Json);
    assert_eq!(
        serve(&["serve", "--log-format", "TEXT"]).log_format,
        LogFormat::Text
    );
    assert_eq!(LogFormat::parse("json"), Ok(LogFormat::Json));
    assert_eq!(LogFormat::default(), LogFormat::Json);
    let e = error(&["--log-format", "xml"]);
    assert!(
        e.contains("--log-format: expected json or text, got \"xml\""),
        "{e}"
    );
    assert!(error(&["--log-format"]).contains("--log-format: expected a value"));
    assert!(fused_server::config::help("fused-server").contains("--log-format <FMT>"));
}

#[test]
fn tilde_expands() {
    let c = serve(&["--data-dir", "~/srv"]);
    assert!(!c.data_dir.starts_with("~"), "{:?}", c.data_dir);
    assert!(c.data_dir.ends_with("srv"));
}

#[test]
fn errors_name_the_flag() {
    assert!(error(&["--port", "x"]).contains("--port"));
    assert!(error(&["--port", "70000"]).contains("--port"));
    assert!(error(&["--workers", "0"]).contains("--workers"));
    assert!(error(&["--workers"]).contains("--workers: expected a value"));
    assert!(error(&["--bogus"]).contains("unknown option --bogus"));
    assert!(error(&["extra"]).contains("unexpected argument"));
    assert!(error(&["--data-dir", "--port", "1"]).contains("--data-dir"));
}

#[test]
fn help_and_version() {
    assert!(matches!(parse_args(["--help"]).unwrap(), Command::Help(h) if h.contains("--workers")));
    assert!(matches!(
        parse_args(["serve", "-h"]).unwrap(),
        Command::Help(_)
    ));
    assert_eq!(parse_args(["--version"]).unwrap(), Command::Version);
    let help = fused_server::config::help("fused serve");
    assert!(help.contains("--workers <N>") && help.contains("FUSED_SERVER_WORKERS"));
    assert!(help.contains("fused serve"));
}

#[test]
fn admin_create_user() {
    assert_eq!(
        parse_args(["admin", "create-user", "a@b.io", "--data-dir", "/tmp/d"]).unwrap(),
        Command::CreateUser {
            email: "a@b.io".into(),
            data_dir: PathBuf::from("/tmp/d")
        }
    );
    assert!(error(&["admin", "create-user"]).contains("EMAIL"));
    assert!(error(&["admin", "create-user", "nope"]).contains("email"));
    assert!(error(&["admin", "remove"]).contains("unknown command"));
    assert!(error(&["admin", "create-user", "a@b.io", "c@d.io"]).contains("unexpected"));
}

#[test]
fn repeated_flags_keep_the_last_value() {
    // `fused serve` puts its defaults (--python, --data-dir) before the user's flags.
    let c = serve(&[
        "--python",
        "/a/python",
        "--port",
        "1",
        "--python",
        "/b/python",
    ]);
    assert_eq!(c.python, "/b/python");
    assert_eq!(c.port, 1);
}

#[test]
fn value_errors_keep_their_wording() {
    assert_eq!(
        error(&["--queue-size", "none"]).lines().next().unwrap(),
        "--queue-size: expected an integer 1-1048576, got \"none\""
    );
    assert!(error(&["--timeout", "-1"]).contains("--timeout: expected a positive number"));
    assert!(error(&["--timeout", "10", "--max-timeout", "5"]).contains("--max-timeout"));
    assert!(error(&["--log-format=xml"]).contains("--log-format: expected json or text"));
    assert_eq!(
        serve(&["--shutdown-grace", "0"]).shutdown_grace.as_secs(),
        0
    );
}

/// Every flag can come from the environment; the command line wins. Run in a child
/// process (the environment is process-wide and tests run in threads).
#[test]
fn flags_from_the_environment() {
    if std::env::var_os("FUSED_CONFIG_ENV_CHILD").is_some() {
        let c = serve(&[]);
        assert_eq!(c.port, 9123);
        assert_eq!(c.workers, 3);
        assert_eq!(c.queue_size, 7);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/from-env"));
        assert_eq!(serve(&["--port", "9000"]).port, 9000);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", "flags_from_the_environment", "--nocapture"])
        .env("FUSED_CONFIG_ENV_CHILD", "1")
        .env("FUSED_SERVER_PORT", "9123")
        .env("FUSED_SERVER_WORKERS", "3")
        .env("FUSED_SERVER_QUEUE_SIZE", "7")
        .env("FUSED_SERVER_DATA_DIR", "/tmp/from-env")
        .env("FUSED_LOG_FORMAT", "text")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let bad = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "flags_from_the_environment"])
        .env("FUSED_CONFIG_ENV_CHILD", "1")
        .env("FUSED_SERVER_PORT", "lots")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stdout).contains("FUSED_SERVER_PORT: expected a port number")
    );
}

#[test]
fn basemap_style_flag() {
    assert_eq!(serve(&[]).basemap_style, None);
    assert_eq!(
        serve(&["--basemap-style", "https://tiles.example.com/style.json"]).basemap_style,
        Some("https://tiles.example.com/style.json".to_string())
    );
    assert_eq!(
        serve(&["--basemap-style=http://10.0.0.5:8080/s.json"]).basemap_style,
        Some("http://10.0.0.5:8080/s.json".to_string())
    );
    for bad in [
        "style.json",
        "file:///tmp/s.json",
        "https://",
        "https://user@host/s.json",
        "https://host/a b.json",
        "https://host/s.json'; script-src *",
    ] {
        let e = error(&["--basemap-style", bad]);
        assert!(
            e.contains("--basemap-style: expected an http(s) URL of a MapLibre style"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn executor_flags_choose_local_or_dask_and_name_bad_values() {
    use fused_server::config::ExecutorChoice;
    assert_eq!(serve(&[]).executor, ExecutorChoice::Local);
    assert_eq!(
        serve(&["--executor", "dask", "--workers", "3"]).executor,
        ExecutorChoice::Dask {
            scheduler: None,
            in_flight: 12
        }
    );
    assert_eq!(
        serve(&[
            "--executor",
            "DASK",
            "--dask-scheduler",
            "tcp://10.0.0.5:8786",
            "--dask-in-flight",
            "64"
        ])
        .executor,
        ExecutorChoice::Dask {
            scheduler: Some("tcp://10.0.0.5:8786".into()),
            in_flight: 64
        }
    );
    let err = error;
    let e = err(&["--executor", "ray"]);
    assert!(
        e.contains("--executor") && e.contains("local or dask"),
        "{e}"
    );
    let e = err(&["--executor", "dask", "--dask-scheduler", "10.0.0.5:8786"]);
    assert!(
        e.contains("--dask-scheduler") && e.contains("tcp://HOST:8786"),
        "{e}"
    );
    let e = err(&[
        "--executor",
        "dask",
        "--dask-scheduler",
        "tcp://host:notaport",
    ]);
    assert!(e.contains("--dask-scheduler"), "{e}");
    let e = err(&["--dask-scheduler", "tcp://10.0.0.5:8786"]);
    assert!(e.contains("needs --executor dask"), "{e}");
    let e = err(&["--dask-in-flight", "8"]);
    assert!(
        e.contains("--dask-in-flight") && e.contains("needs --executor dask"),
        "{e}"
    );
    let e = err(&["--executor", "dask", "--dask-in-flight", "0"]);
    assert!(e.contains("--dask-in-flight"), "{e}");
}
