//! Command-line flags of `fused-server` (and `fused serve`), parsed by hand.
//!
//! ```text
//! fused-server [serve] [--host 127.0.0.1] [--port 8000] [--data-dir ~/.fused/server]
//!                      [--workers N] [--python PATH] [--cache-memory-mb N]
//!                      [--timeout S] [--max-timeout S] [--worker-memory-mb N]
//!                      [--worker-max-tasks N] [--queue-size N] [--spare-workers N]
//!                      [--shutdown-grace S]
//!                      [--log-format json|text] [--basemap-style URL]
//! fused-server admin create-user EMAIL [--data-dir DIR]
//! fused-server --help | --version
//! ```
//! Flags take `--flag value` or `--flag=value`. Errors name the flag.

use std::path::PathBuf;
use std::time::Duration;

/// Everything `serve` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub data_dir: PathBuf,
    /// Number of worker processes (at least 1).
    pub workers: usize,
    /// Python interpreter for the workers.
    pub python: String,
    /// Memory tier of the run result cache in MiB (0: off; the disk tier stays).
    pub cache_memory_mb: u64,
    /// Per-task time limit when the request does not ask for one (`x-fused-timeout`).
    pub timeout: Duration,
    /// The most a request may ask for with `x-fused-timeout`.
    pub max_timeout: Duration,
    /// Resident memory limit of one worker in MiB (0: no limit).
    pub worker_memory_mb: u64,
    /// A worker is replaced after this many tasks (0: never).
    pub worker_max_tasks: u64,
    /// Tasks that may wait for a worker; more are answered 503.
    pub queue_size: usize,
    /// Started, idle workers kept ready to replace one that dies.
    pub spare_workers: usize,
    /// How long SIGTERM / Ctrl-C waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Log lines on stderr: JSON (default) or human-readable text.
    pub log_format: LogFormat,
    /// The Workbench map's basemap (a MapLibre style URL); `None`: the offline style.
    pub basemap_style: Option<String>,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (`timestamp`, `level`, `message`, fields, `target`).
    #[default]
    Json,
    /// `<timestamp> <LEVEL> <target>: <message> key=value ...`.
    Text,
}

impl LogFormat {
    /// `json` or `text`; the error names what was expected.
    pub fn parse(v: &str) -> Result<Self, String> {
        match v.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "text" => Ok(LogFormat::Text),
            _ => Err(format!("expected json or text, got {v:?}")),
        }
    }

    /// `$FUSED_LOG_FORMAT` (unset or empty: JSON); the error names the variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        match std::env::var("FUSED_LOG_FORMAT") {
            Ok(v) if !v.trim().is_empty() => {
                Self::parse(&v).map_err(|e| ConfigError(format!("FUSED_LOG_FORMAT: {e}")))
            }
            _ => Ok(LogFormat::Json),
        }
    }
}

impl ServerConfig {
    /// The defaults: 127.0.0.1:8000, `~/.fused/server`, one worker per core,
    /// `$FUSED_PYTHON` or `python3`, `$FUSED_LOG_FORMAT` or JSON logs (an invalid value is
    /// an error in [`parse_args`] and JSON here).
    pub fn from_env() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 8000,
            data_dir: default_data_dir(),
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .max(1),
            python: std::env::var("FUSED_PYTHON")
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "python3".into()),
            cache_memory_mb: 256,
            timeout: Duration::from_secs(120),
            max_timeout: Duration::from_secs(3600),
            worker_memory_mb: 0,
            worker_max_tasks: 1000,
            queue_size: 1024,
            spare_workers: 1,
            shutdown_grace: Duration::from_secs(30),
            log_format: LogFormat::from_env().unwrap_or_default(),
            basemap_style: None,
        }
        .with_default_memory_limit()
    }

    /// The default worker memory limit: 80% of this machine's memory shared by the workers
    /// and the spares, at least 512 MiB (no limit where the total is unknown).
    fn with_default_memory_limit(mut self) -> Self {
        if let Some(total) = total_memory_mb() {
            let share = total * 8 / 10 / (self.workers + self.spare_workers).max(1) as u64;
            self.worker_memory_mb = share.max(512);
        }
        self
    }

    /// `<data_dir>/tmp`: payload files between workers and server.
    pub fn tmp_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }
}

/// Physical memory in MiB (`/proc/meminfo`), where known.
fn total_memory_mb() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// `~/.fused/server` (`$HOME` unset: `./.fused/server`).
pub fn default_data_dir() -> PathBuf {
    home().join(".fused").join("server")
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Expand a leading `~` or `~/`.
fn expand_tilde(s: &str) -> PathBuf {
    if s == "~" {
        home()
    } else if let Some(rest) = s.strip_prefix("~/") {
        home().join(rest)
    } else {
        PathBuf::from(s)
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve(ServerConfig),
    CreateUser { email: String, data_dir: PathBuf },
    Help,
    Version,
}

/// A command line that does not parse; the message names the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}\n(see fused-server --help)")]
pub struct ConfigError(pub String);

pub const HELP: &str = "\
fused-server: run UDFs as HTTP endpoints on a pool of warm Python workers

Usage:
  fused-server [serve] [OPTIONS]
  fused-server admin create-user EMAIL [--data-dir DIR]
  fused-server --help | --version

Options:
  --host HOST        address to listen on (default 127.0.0.1)
  --port PORT        port to listen on, 0 for any free port (default 8000)
  --data-dir DIR     registry, results and temporary files (default ~/.fused/server)
  --workers N        number of Python worker processes (default: number of cores)
  --python PATH      Python interpreter with the fused package installed
                     (default: $FUSED_PYTHON, else python3)
  --cache-memory-mb N  memory tier of the run result cache in MiB, 0 turns it off
                     (default 256; the disk tier under DIR/cache stays on)
  --timeout S        time limit of one UDF call, counted from when it starts on a
                     worker; requests may ask for another with the x-fused-timeout
                     header (default 120)
  --max-timeout S    the most x-fused-timeout may ask for (default 3600)
  --worker-memory-mb N  resident memory limit of one worker; a task over it is killed
                     (502 out_of_memory), 0 for none (default: 80% of the machine's
                     memory divided among the workers and spares)
  --worker-max-tasks N  replace a worker after N tasks, 0 for never (default 1000)
  --queue-size N     tasks that may wait for a worker; more get 503 with Retry-After
                     (default 1024)
  --spare-workers N  started, idle workers kept ready to replace one that dies
                     (default 1)
  --shutdown-grace S  how long SIGTERM / Ctrl-C waits for requests in flight before
                     the workers are killed (default 30)
  --log-format FMT   json (one JSON object per line) or text, on stderr
                     (default: $FUSED_LOG_FORMAT, else json)
  --basemap-style URL  MapLibre style (http or https URL) of the Workbench map's
                     basemap (default: a plain offline style)
  -h, --help         show this help
  -V, --version      show the version

admin create-user prints the new user's API key once, as its last line of output.
";

/// Parse the arguments after the program name.
pub fn parse_args<I, S>(args: I) -> Result<Command, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    let mut rest = args.as_slice();
    match rest.first().map(String::as_str) {
        Some("serve") => rest = &rest[1..],
        Some("admin") => return parse_admin(&rest[1..]),
        _ => {}
    }
    let mut cfg = ServerConfig::from_env();
    let mut memory_set = false;
    cfg.log_format = LogFormat::from_env()?;
    let mut flags = Flags::new(rest);
    while let Some(flag) = flags.next_flag()? {
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--host" => {
                let v = flags.value(&flag)?;
                if v.trim().is_empty() {
                    return Err(ConfigError(
                        "--host: expected a host name or address, got \"\"".into(),
                    ));
                }
                cfg.host = v;
            }
            "--port" => {
                let v = flags.value(&flag)?;
                cfg.port = v.parse().map_err(|_| {
                    ConfigError(format!("--port: expected a port number 0-65535, got {v:?}"))
                })?;
            }
            "--data-dir" => cfg.data_dir = data_dir(&flags.value(&flag)?)?,
            "--workers" => {
                let v = flags.value(&flag)?;
                cfg.workers = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .ok_or_else(|| {
                        ConfigError(format!("--workers: expected an integer 1-1024, got {v:?}"))
                    })?;
            }
            "--python" => {
                let v = flags.value(&flag)?;
                if v.is_empty() {
                    return Err(ConfigError("--python: expected a path, got \"\"".into()));
                }
                cfg.python = v;
            }
            "--cache-memory-mb" => {
                let v = flags.value(&flag)?;
                cfg.cache_memory_mb =
                    v.parse::<u64>()
                        .ok()
                        .filter(|n| *n <= 1 << 20)
                        .ok_or_else(|| {
                            ConfigError(format!(
                                "--cache-memory-mb: expected an integer 0-1048576, got {v:?}"
                            ))
                        })?;
            }
            "--timeout" => cfg.timeout = seconds(&flag, &flags.value(&flag)?)?,
            "--max-timeout" => cfg.max_timeout = seconds(&flag, &flags.value(&flag)?)?,
            "--shutdown-grace" => {
                let v = flags.value(&flag)?;
                cfg.shutdown_grace = if v.trim() == "0" {
                    Duration::ZERO
                } else {
                    seconds(&flag, &v)?
                };
            }
            "--worker-memory-mb" => {
                cfg.worker_memory_mb = integer(&flag, &flags.value(&flag)?, 0, 1 << 24)?;
                memory_set = true;
            }
            "--worker-max-tasks" => {
                cfg.worker_max_tasks = integer(&flag, &flags.value(&flag)?, 0, u64::MAX >> 1)?;
            }
            "--queue-size" => {
                cfg.queue_size = integer(&flag, &flags.value(&flag)?, 1, 1 << 20)? as usize;
            }
            "--spare-workers" => {
                cfg.spare_workers = integer(&flag, &flags.value(&flag)?, 0, 64)? as usize;
            }
            "--log-format" => {
                let v = flags.value(&flag)?;
                cfg.log_format =
                    LogFormat::parse(&v).map_err(|e| ConfigError(format!("--log-format: {e}")))?;
            }
            "--basemap-style" => cfg.basemap_style = Some(basemap_style(&flags.value(&flag)?)?),
            other => return Err(unknown(other)),
        }
    }
    if cfg.max_timeout < cfg.timeout {
        return Err(ConfigError(format!(
            "--max-timeout: expected at least --timeout ({} s), got {} s",
            cfg.timeout.as_secs_f64(),
            cfg.max_timeout.as_secs_f64()
        )));
    }
    if !memory_set {
        cfg = cfg.with_default_memory_limit();
    }
    Ok(Command::Serve(cfg))
}

fn parse_admin(args: &[String]) -> Result<Command, ConfigError> {
    match args.first().map(String::as_str) {
        Some("create-user") => {}
        Some("-h") | Some("--help") => return Ok(Command::Help),
        Some(other) => {
            return Err(ConfigError(format!(
                "admin: unknown command {other:?} (expected create-user)"
            )))
        }
        None => {
            return Err(ConfigError(
                "admin: expected a command (create-user)".into(),
            ))
        }
    }
    let mut email = None;
    let mut dir = default_data_dir();
    let mut flags = Flags::new(&args[1..]);
    while let Some(arg) = flags.next_arg()? {
        match arg {
            Arg::Flag(f) if f == "--data-dir" => dir = data_dir(&flags.value(&f)?)?,
            Arg::Flag(f) if f == "-h" || f == "--help" => return Ok(Command::Help),
            Arg::Flag(f) => return Err(unknown(&f)),
            Arg::Positional(p) if email.is_none() => email = Some(p),
            Arg::Positional(p) => {
                return Err(ConfigError(format!(
                    "admin create-user: unexpected argument {p:?} (one EMAIL expected)"
                )))
            }
        }
    }
    let email = email.ok_or_else(|| ConfigError("admin create-user: expected EMAIL".into()))?;
    if !valid_email(&email) {
        return Err(ConfigError(format!(
            "admin create-user: expected an email address like name@example.com, got {email:?}"
        )));
    }
    Ok(Command::CreateUser {
        email,
        data_dir: dir,
    })
}

fn valid_email(s: &str) -> bool {
    let mut parts = s.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && s.len() <= 254
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
}

/// A positive, finite number of seconds (`30`, `2.5`); shared by the flags and the
/// `x-fused-timeout` header.
pub fn positive_seconds(v: &str) -> Option<f64> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
}

/// A positive number of seconds up to a year, for a flag.
fn seconds(flag: &str, v: &str) -> Result<Duration, ConfigError> {
    positive_seconds(v)
        .filter(|s| *s <= 86400.0 * 365.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            ConfigError(format!(
                "{flag}: expected a positive number of seconds, got {v:?}"
            ))
        })
}

/// An integer in `min..=max`.
fn integer(flag: &str, v: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ConfigError(format!(
                "{flag}: expected an integer {min}-{max}, got {v:?}"
            ))
        })
}

/// An absolute http(s) URL without spaces, quotes or credentials (it goes into the page's
/// Content-Security-Policy).
fn basemap_style(v: &str) -> Result<String, ConfigError> {
    let ok = (v.starts_with("https://") || v.starts_with("http://"))
        && v.split("://").nth(1).is_some_and(|rest| {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !host.contains('@')
        })
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | ';' | ','));
    if ok {
        Ok(v.to_string())
    } else {
        Err(ConfigError(format!(
            "--basemap-style: expected an http(s) URL of a MapLibre style, got {v:?}"
        )))
    }
}

fn data_dir(v: &str) -> Result<PathBuf, ConfigError> {
    if v.is_empty() {
        return Err(ConfigError(
            "--data-dir: expected a directory, got \"\"".into(),
        ));
    }
    Ok(expand_tilde(v))
}

fn unknown(flag: &str) -> ConfigError {
    if flag.starts_with('-') {
        ConfigError(format!("unknown option {flag}"))
    } else {
        ConfigError(format!("unexpected argument {flag:?}"))
    }
}

enum Arg {
    Flag(String),
    Positional(String),
}

/// Walks `--flag value`, `--flag=value` and positionals.
struct Flags<'a> {
    args: &'a [String],
    pos: usize,
    inline: Option<String>,
}

impl<'a> Flags<'a> {
    fn new(args: &'a [String]) -> Self {
        Flags {
            args,
            pos: 0,
            inline: None,
        }
    }

    fn next_arg(&mut self) -> Result<Option<Arg>, ConfigError> {
        if let Some(v) = self.inline.take() {
            return Err(ConfigError(format!("unexpected value {v:?}")));
        }
        let Some(arg) = self.args.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        if arg.starts_with("--") {
            if let Some((flag, value)) = arg.split_once('=') {
                self.inline = Some(value.to_string());
                return Ok(Some(Arg::Flag(flag.to_string())));
            }
        }
        if arg.starts_with('-') && arg.len() > 1 {
            Ok(Some(Arg::Flag(arg.clone())))
        } else {
            Ok(Some(Arg::Positional(arg.clone())))
        }
    }

    fn next_flag(&mut self) -> Result<Option<String>, ConfigError> {
        match self.next_arg()? {
            None => Ok(None),
            Some(Arg::Flag(f)) => Ok(Some(f)),
            Some(Arg::Positional(p)) => Err(unknown(&p)),
        }
    }

    /// The value of `flag` (inline after `=`, else the next argument).
    fn value(&mut self, flag: &str) -> Result<String, ConfigError> {
        if let Some(v) = self.inline.take() {
            return Ok(v);
        }
        match self.args.get(self.pos) {
            Some(v) if !v.starts_with("--") => {
                self.pos += 1;
                Ok(v.clone())
            }
            _ => Err(ConfigError(format!("{flag}: expected a value"))),
        }
    }
}
