//! Command-line flags of `fused-server` (and `fused serve`), parsed by `clap` (derive).
//!
//! ```text
//! fused-server [serve] [--host 127.0.0.1] [--port 8000] [--data-dir ~/.fused/server]
//!                      [--workers N] [--python PATH] [--cache-memory-mb N]
//!                      [--timeout S] [--max-timeout S] [--worker-memory-mb N]
//!                      [--worker-max-tasks N] [--queue-size N] [--spare-workers N]
//!                      [--shutdown-grace S] [--log-format json|text]
//!                      [--basemap-style URL]
//! fused-server admin create-user EMAIL [--data-dir DIR]
//! fused-server --help | --version
//! ```
//! Flags take `--flag value` or `--flag=value`; a flag given twice keeps the last value (so
//! `fused serve` can put its defaults first). Every serve flag can also be set from the
//! environment (`FUSED_SERVER_PORT=9000`, ...; the names are in `--help`); a flag on the
//! command line wins. Errors name the flag (or the variable) and what was expected.

use std::path::PathBuf;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

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
    /// Where tasks run: this machine's workers, or a Dask cluster.
    pub executor: ExecutorChoice,
}

/// `--executor`: this machine's supervised workers (default) or a Dask cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutorChoice {
    Local,
    /// `scheduler`: `--dask-scheduler` (`None`: an embedded `LocalCluster`); `in_flight`:
    /// `--dask-in-flight` (default 4 x `--workers`).
    Dask {
        scheduler: Option<String>,
        in_flight: usize,
    },
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
    /// `json` or `text` (any case); the error says what was expected.
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
    /// The defaults, as an empty command line gives them (environment variables included).
    pub fn from_env() -> Self {
        match parse_args(std::iter::empty::<String>()) {
            Ok(Command::Serve(c)) => c,
            _ => ServeArgs::defaults_only().into_config(),
        }
    }

    /// `<data_dir>/tmp`: payload files between workers and server.
    pub fn tmp_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }
}

/// The default worker memory limit: 80% of this machine's memory shared by the workers and
/// the spares, at least 512 MiB (no limit where the total is unknown).
fn default_memory_limit(workers: usize, spares: usize) -> u64 {
    match total_memory_mb() {
        Some(total) => (total * 8 / 10 / (workers + spares).max(1) as u64).max(512),
        None => 0,
    }
}

/// Physical memory in MiB (`/proc/meminfo`), where known.
fn total_memory_mb() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// `~/.fused/server` (`$HOME` unset: `./.fused/server`).
pub fn default_data_dir() -> PathBuf {
    home().join(".fused").join("server")
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
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
    Help(String),
    Version,
}

/// A command line that does not parse; the message names the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}\n(see fused-server --help)")]
pub struct ConfigError(pub String);

const ABOUT: &str = "fused-server: run UDFs as HTTP endpoints on a pool of warm Python workers";
const AFTER_HELP: &str = "\
Every option can also be set from the environment variable shown with it; a flag on the
command line wins. `fused-server admin create-user EMAIL [--data-dir DIR]` creates an account
and prints its API key once, as its last line of output.";

/// `fused-server [serve]` options.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "fused-server",
    about = ABOUT,
    after_help = AFTER_HELP,
    disable_version_flag = true,
    args_override_self = true,
    allow_negative_numbers = true
)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "FUSED_SERVER_HOST", default_value = "127.0.0.1",
          value_name = "HOST", value_parser = non_empty("a host name or address"))]
    host: String,
    /// Port to listen on, 0 for any free port.
    #[arg(long, env = "FUSED_SERVER_PORT", default_value_t = 8000, value_name = "PORT",
          value_parser = port)]
    port: u16,
    /// Registry, results and temporary files [default: ~/.fused/server].
    #[arg(long, env = "FUSED_SERVER_DATA_DIR", value_name = "DIR", value_parser = data_dir)]
    data_dir: Option<PathBuf>,
    /// Number of Python worker processes [default: number of cores]; with --executor dask,
    /// the embedded cluster's Dask worker processes (4 x N is --dask-in-flight's default).
    #[arg(long, env = "FUSED_SERVER_WORKERS", value_name = "N",
          value_parser = integer(1, 1024))]
    workers: Option<u64>,
    /// Python interpreter with the fused package installed.
    #[arg(long, env = "FUSED_PYTHON", default_value = "python3", value_name = "PATH",
          value_parser = non_empty("a path"))]
    python: String,
    /// Memory tier of the run result cache in MiB, 0 turns it off (the disk tier under
    /// DIR/cache stays on).
    #[arg(long, env = "FUSED_SERVER_CACHE_MEMORY_MB", default_value_t = 256, value_name = "N",
          value_parser = integer(0, 1 << 20))]
    cache_memory_mb: u64,
    /// Time limit of one UDF call in seconds, counted from when it starts on a worker;
    /// requests may ask for another with the x-fused-timeout header.
    #[arg(long, env = "FUSED_SERVER_TIMEOUT", default_value = "120", value_name = "S",
          value_parser = seconds)]
    timeout: Duration,
    /// The most x-fused-timeout may ask for, in seconds.
    #[arg(long, env = "FUSED_SERVER_MAX_TIMEOUT", default_value = "3600", value_name = "S",
          value_parser = seconds)]
    max_timeout: Duration,
    /// Resident memory limit of one worker in MiB; a task over it is killed (502
    /// `out_of_memory`), 0 for none [default: 80% of the machine's memory divided among the
    /// workers and spares].
    #[arg(long, env = "FUSED_SERVER_WORKER_MEMORY_MB", value_name = "N",
          value_parser = integer(0, 1 << 24))]
    worker_memory_mb: Option<u64>,
    /// Replace a worker after N tasks, 0 for never.
    #[arg(long, env = "FUSED_SERVER_WORKER_MAX_TASKS", default_value_t = 1000,
          value_name = "N", value_parser = integer(0, u64::MAX >> 1))]
    worker_max_tasks: u64,
    /// Tasks that may wait for a worker; more get 503 with Retry-After.
    #[arg(long, env = "FUSED_SERVER_QUEUE_SIZE", default_value_t = 1024, value_name = "N",
          value_parser = integer(1, 1 << 20))]
    queue_size: u64,
    /// Started, idle workers kept ready to replace one that dies.
    #[arg(long, env = "FUSED_SERVER_SPARE_WORKERS", default_value_t = 1, value_name = "N",
          value_parser = integer(0, 64))]
    spare_workers: u64,
    /// How long SIGTERM / Ctrl-C waits for requests in flight before the workers are
    /// killed, in seconds (0: at once).
    #[arg(long, env = "FUSED_SERVER_SHUTDOWN_GRACE", default_value = "30", value_name = "S",
          value_parser = grace)]
    shutdown_grace: Duration,
    /// Log lines on stderr: json (one JSON object per line) or text.
    #[arg(long, env = "FUSED_LOG_FORMAT", default_value = "json", value_name = "FMT",
          value_parser = log_format)]
    log_format: LogFormat,
    /// MapLibre style (http or https URL) of the Workbench map's basemap [default: a plain
    /// offline style].
    #[arg(long, env = "FUSED_SERVER_BASEMAP_STYLE", value_name = "URL",
          value_parser = basemap_style)]
    basemap_style: Option<String>,
    /// Where UDF tasks run: local (this machine's worker processes) or dask (a Dask cluster:
    /// --dask-scheduler, else an embedded LocalCluster of --workers processes).
    #[arg(long, env = "FUSED_SERVER_EXECUTOR", default_value = "local", value_name = "KIND",
          value_parser = executor_kind)]
    executor: String,
    /// The Dask scheduler of --executor dask (tcp://HOST:PORT) [default: an embedded
    /// LocalCluster of --workers processes].
    #[arg(long, env = "FUSED_SERVER_DASK_SCHEDULER", value_name = "ADDR",
          value_parser = dask_address)]
    dask_scheduler: Option<String>,
    /// Tasks --executor dask keeps on the cluster at once; more wait in the server's queue
    /// [default: 4 x --workers]. Time limits count from when a task is handed to the cluster.
    #[arg(long, env = "FUSED_SERVER_DASK_IN_FLIGHT", value_name = "N",
          value_parser = integer(1, 1 << 16))]
    dask_in_flight: Option<u64>,
    /// Show the version.
    #[arg(short = 'V', long, action = clap::ArgAction::SetTrue)]
    version: bool,
}

impl ServeArgs {
    /// The built-in defaults, ignoring the environment (when even that does not parse).
    fn defaults_only() -> Self {
        ServeArgs {
            host: "127.0.0.1".into(),
            port: 8000,
            data_dir: None,
            workers: None,
            python: "python3".into(),
            cache_memory_mb: 256,
            timeout: Duration::from_secs(120),
            max_timeout: Duration::from_secs(3600),
            worker_memory_mb: None,
            worker_max_tasks: 1000,
            queue_size: 1024,
            spare_workers: 1,
            shutdown_grace: Duration::from_secs(30),
            log_format: LogFormat::Json,
            basemap_style: None,
            executor: "local".into(),
            dask_scheduler: None,
            dask_in_flight: None,
            version: false,
        }
    }

    fn into_config(self) -> ServerConfig {
        let workers = self.workers.map_or_else(cores, |n| n as usize).max(1);
        let spare_workers = self.spare_workers as usize;
        ServerConfig {
            host: self.host,
            port: self.port,
            data_dir: self.data_dir.unwrap_or_else(default_data_dir),
            workers,
            python: self.python,
            cache_memory_mb: self.cache_memory_mb,
            timeout: self.timeout,
            max_timeout: self.max_timeout,
            worker_memory_mb: self
                .worker_memory_mb
                .unwrap_or_else(|| default_memory_limit(workers, spare_workers)),
            worker_max_tasks: self.worker_max_tasks,
            queue_size: self.queue_size as usize,
            spare_workers,
            shutdown_grace: self.shutdown_grace,
            log_format: self.log_format,
            basemap_style: self.basemap_style,
            executor: if self.executor == "dask" {
                ExecutorChoice::Dask {
                    scheduler: self.dask_scheduler,
                    in_flight: self
                        .dask_in_flight
                        .map_or(workers.saturating_mul(4), |n| n as usize),
                }
            } else {
                ExecutorChoice::Local
            },
        }
    }
}

/// `fused-server admin ...`.
#[derive(Debug, Parser)]
#[command(name = "fused-server admin", about = "administration")]
struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an account; prints its API key once, as the last line.
    CreateUser(CreateUser),
}

#[derive(Debug, Args)]
struct CreateUser {
    /// The account's email address.
    #[arg(value_name = "EMAIL", value_parser = email)]
    email: String,
    /// The server's data directory [default: ~/.fused/server].
    #[arg(long, env = "FUSED_SERVER_DATA_DIR", value_name = "DIR", value_parser = data_dir)]
    data_dir: Option<PathBuf>,
}

/// The help text of `fused-server [serve]`, under another program name (`fused serve`).
pub fn help(program: &'static str) -> String {
    ServeArgs::command()
        .name(program)
        .bin_name(program)
        .render_help()
        .to_string()
}

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
    let argv = std::iter::once("fused-server".to_string()).chain(rest.iter().cloned());
    let matches = match ServeArgs::command().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::DisplayHelp => {
            return Ok(Command::Help(help("fused-server")))
        }
        Err(e) => return Err(from_env_or_flag(config_error(&e), rest)),
    };
    let parsed = ServeArgs::from_arg_matches(&matches)
        .map_err(|e| from_env_or_flag(config_error(&e), rest))?;
    if parsed.version {
        return Ok(Command::Version);
    }
    if parsed.max_timeout < parsed.timeout {
        return Err(ConfigError(format!(
            "--max-timeout: expected at least --timeout ({} s), got {} s",
            parsed.timeout.as_secs_f64(),
            parsed.max_timeout.as_secs_f64()
        )));
    }
    for (flag, given) in [
        ("--dask-scheduler", parsed.dask_scheduler.is_some()),
        ("--dask-in-flight", parsed.dask_in_flight.is_some()),
    ] {
        if given && parsed.executor != "dask" {
            return Err(ConfigError(format!(
                "{flag}: needs --executor dask (the default executor runs tasks on this machine)"
            )));
        }
    }
    Ok(Command::Serve(parsed.into_config()))
}

fn parse_admin(args: &[String]) -> Result<Command, ConfigError> {
    let argv = std::iter::once("fused-server admin".to_string()).chain(args.iter().cloned());
    match AdminArgs::try_parse_from(argv) {
        Ok(AdminArgs {
            command: AdminCommand::CreateUser(c),
        }) => Ok(Command::CreateUser {
            email: c.email,
            data_dir: c.data_dir.unwrap_or_else(default_data_dir),
        }),
        Err(e) if e.kind() == ErrorKind::DisplayHelp => Ok(Command::Help(e.render().to_string())),
        Err(e) => Err(config_error(&e)),
    }
}

/// An error about `--flag` whose value came from the environment (the flag is not on the
/// command line) names the variable instead: `FUSED_LOG_FORMAT: expected json or text, ...`.
fn from_env_or_flag(error: ConfigError, args: &[String]) -> ConfigError {
    let Some((flag, rest)) = error.0.split_once(": ") else {
        return error;
    };
    let given = args
        .iter()
        .any(|a| a == flag || a.strip_prefix(flag).is_some_and(|r| r.starts_with('=')));
    if given || !flag.starts_with("--") {
        return error;
    }
    let command = ServeArgs::command();
    let env = command
        .get_arguments()
        .find(|a| a.get_long() == Some(&flag[2..]))
        .and_then(|a| a.get_env())
        .and_then(|name| name.to_str())
        .map(str::to_string);
    match env {
        Some(name) => ConfigError(format!("{name}: {rest}")),
        None => error,
    }
}

/// A clap error as one line that names the flag (or variable) and what was expected.
fn config_error(e: &clap::Error) -> ConfigError {
    let context = |kind: ContextKind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => Some(v.join(", ")),
        _ => None,
    };
    // "--port <PORT>" -> "--port"; an env var error names the variable.
    let flag = context(ContextKind::InvalidArg)
        .map(|a| a.split_whitespace().next().unwrap_or_default().to_string());
    let message = match e.kind() {
        ErrorKind::ValueValidation | ErrorKind::InvalidValue => {
            let flag = flag.unwrap_or_default();
            match std::error::Error::source(e) {
                Some(source) => format!("{flag}: {source}"),
                None => match context(ContextKind::InvalidValue) {
                    Some(v) if !v.is_empty() => format!("{flag}: invalid value {v:?}"),
                    _ => format!("{flag}: expected a value"),
                },
            }
        }
        ErrorKind::UnknownArgument => {
            let arg = context(ContextKind::InvalidArg).unwrap_or_default();
            if arg.starts_with('-') {
                format!("unknown option {arg}")
            } else {
                format!("unexpected argument {arg:?}")
            }
        }
        ErrorKind::NoEquals | ErrorKind::TooFewValues => {
            format!("{}: expected a value", flag.unwrap_or_default())
        }
        ErrorKind::MissingRequiredArgument => {
            format!(
                "expected {}",
                context(ContextKind::InvalidArg).unwrap_or_default()
            )
        }
        ErrorKind::InvalidSubcommand => format!(
            "unknown command {:?} (expected create-user)",
            context(ContextKind::InvalidSubcommand).unwrap_or_default()
        ),
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            "expected a command (create-user)".to_string()
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or_default();
            first.trim_start_matches("error: ").to_string()
        }
    };
    ConfigError(message)
}

// -- value parsers: each error says what was expected and what was given -------------------

fn non_empty(what: &'static str) -> impl Fn(&str) -> Result<String, String> + Clone {
    move |v: &str| {
        if v.trim().is_empty() {
            Err(format!("expected {what}, got \"\""))
        } else {
            Ok(v.to_string())
        }
    }
}

fn port(v: &str) -> Result<u16, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("expected a port number 0-65535, got {v:?}"))
}

fn integer(min: u64, max: u64) -> impl Fn(&str) -> Result<u64, String> + Clone {
    move |v: &str| {
        v.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| format!("expected an integer {min}-{max}, got {v:?}"))
    }
}

fn data_dir(v: &str) -> Result<PathBuf, String> {
    if v.is_empty() {
        return Err("expected a directory, got \"\"".into());
    }
    Ok(expand_tilde(v))
}

fn email(v: &str) -> Result<String, String> {
    if valid_email(v) {
        Ok(v.to_string())
    } else {
        Err(format!(
            "expected an email address like name@example.com, got {v:?}"
        ))
    }
}

fn basemap_style(v: &str) -> Result<String, String> {
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
        Err(format!(
            "expected an http(s) URL of a MapLibre style, got {v:?}"
        ))
    }
}

fn executor_kind(v: &str) -> Result<String, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        k @ ("local" | "dask") => Ok(k.to_string()),
        _ => Err(format!("expected local or dask, got {v:?}")),
    }
}

/// A Dask scheduler address: `tcp://HOST:PORT` (or `tls://`, `ucx://`, `inproc://`).
fn dask_address(v: &str) -> Result<String, String> {
    let ok = ["tcp://", "tls://", "ucx://", "inproc://"]
        .iter()
        .find_map(|scheme| v.strip_prefix(scheme))
        .and_then(|rest| rest.rsplit_once(':'))
        .is_some_and(|(host, port)| {
            !host.is_empty()
                && !host.contains(['/', '@', ' '])
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
    if ok {
        Ok(v.to_string())
    } else {
        Err(format!(
            "expected a Dask scheduler address such as tcp://HOST:8786, got {v:?}"
        ))
    }
}

fn log_format(v: &str) -> Result<LogFormat, String> {
    LogFormat::parse(v)
}

/// A positive number of seconds up to a year.
fn seconds(v: &str) -> Result<Duration, String> {
    positive_seconds(v)
        .filter(|s| *s <= 86400.0 * 365.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("expected a positive number of seconds, got {v:?}"))
}

/// Like [`seconds`], and 0 (no grace period).
fn grace(v: &str) -> Result<Duration, String> {
    if v.trim() == "0" {
        Ok(Duration::ZERO)
    } else {
        seconds(v)
    }
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
