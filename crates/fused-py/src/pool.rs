//! `WorkerPool`: the server's supervised pool of warm `python -m fused._worker` processes
//! ([`fused_server::executor::LocalPool`]), started in this process for `udf.map(engine="local")`.
//!
//! Python hands over batches of tasks (one UDF package, per-task parameters as JSON text, an
//! optional tile); each runs as a tokio task that first takes one of `workers` permits (so the
//! pool's queue never fills, and "holds a permit" is "running") and then awaits the pool.
//! Finished tasks are appended to a completion list that [`PyWorkerPool::wait`] drains with the
//! GIL released. Cancelling a task drops its future: the pool interrupts the worker (SIGUSR1,
//! then SIGKILL after its grace) exactly as for a server request whose client went away.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fused_core::package::UdfPackage;
use fused_core::result::CanonicalResult;
use fused_server::executor::{
    ExecError, Executor, LocalPool, PoolConfig, Task, TaskOutput, TileXyz,
};
use fused_server::prepared::PreparedUdf;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;

/// One task as Python sends it: id, parameters (JSON object text), tile (x, y, z), timeout (s).
type TaskSpec = (u64, String, Option<(u32, u32, u8)>, Option<f64>);

/// One finished task, as `wait` hands it to Python.
struct Done {
    id: u64,
    status: &'static str,
    output: Option<TaskOutput>,
    /// For pool-level failures (crash, timeout, memory, cancel): (error_type, message).
    failure: Option<(&'static str, String)>,
    seconds: f64,
}

#[derive(Default)]
struct State {
    done: VecDeque<Done>,
    /// Tasks submitted and not yet finished or cancelled, with their abort handles.
    live: HashMap<u64, AbortHandle>,
    /// Tasks holding a permit (handed to the pool: running or about to).
    running: HashSet<u64>,
}

struct Shared {
    state: Mutex<State>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Record a finished task unless it was cancelled first (then `cancel` reported it).
    fn finish(&self, done: Done) {
        let mut st = self.lock();
        st.running.remove(&done.id);
        if st.live.remove(&done.id).is_some() {
            st.done.push_back(done);
            drop(st);
            self.ready.notify_all();
        }
    }
}

/// The one place a [`Task`] is built from what Python sends.
fn make_task(
    task_id: String,
    udf: &Arc<PreparedUdf>,
    parameters: Map<String, Value>,
    tile: Option<(u32, u32, u8)>,
    timeout: Option<Duration>,
) -> Task {
    let mut task = Task::new(task_id, udf.clone(), parameters);
    task.tile = tile.map(|(x, y, z)| TileXyz { x, y, z });
    task.timeout = timeout;
    task
}

/// A warm local worker pool for `udf.map(engine="local")`.
#[pyclass(module = "fused._native", name = "WorkerPool", frozen)]
struct PyWorkerPool {
    /// Taken by `close` (the GIL is released while tasks are waited for, so `close` may run
    /// beside `wait` on another thread: no `&mut self`).
    parts: Mutex<Option<(tokio::runtime::Runtime, Arc<LocalPool>)>>,
    handle: tokio::runtime::Handle,
    permits: Arc<Semaphore>,
    shared: Arc<Shared>,
    workers: usize,
    prefix: String,
}

impl PyWorkerPool {
    fn pool(&self) -> Option<Arc<LocalPool>> {
        self.parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|(_, pool)| pool.clone())
    }
}

#[pymethods]
impl PyWorkerPool {
    /// Start `workers` worker processes of `python` (in the background: tasks wait for them).
    /// `timeout_s`: the default time limit of a task; `memory_mb`: a worker's resident memory
    /// limit; `env`: extra environment for the workers; `result_dir`: where large results are
    /// handed over (must exist or be creatable).
    #[new]
    #[pyo3(signature = (python, workers, result_dir, *, timeout_s=120.0, memory_mb=None, env=Vec::new(), spares=1))]
    fn new(
        python: String,
        workers: usize,
        result_dir: PathBuf,
        timeout_s: f64,
        memory_mb: Option<u64>,
        env: Vec<(String, String)>,
        spares: usize,
    ) -> PyResult<Self> {
        if workers == 0 {
            return Err(PyValueError::new_err("workers: expected at least 1, got 0"));
        }
        let timeout = duration("timeout_s", timeout_s)?;
        let mut cfg = PoolConfig::new(python, workers, result_dir);
        cfg.timeout = timeout;
        cfg.memory_limit = memory_mb.map(|mb| mb.saturating_mul(1024 * 1024));
        cfg.env = env;
        cfg.spares = spares;
        cfg.queue_size = workers.saturating_mul(4).max(64);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fused-map")
            .enable_all()
            .build()
            .map_err(|e| PyOSError::new_err(format!("cannot start the async runtime: {e}")))?;
        let pool = {
            let _guard = runtime.enter();
            LocalPool::start(cfg)
                .map_err(|e| PyOSError::new_err(format!("cannot start the worker pool: {e}")))?
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Ok(PyWorkerPool {
            handle: runtime.handle().clone(),
            parts: Mutex::new(Some((runtime, Arc::new(pool)))),
            permits: Arc::new(Semaphore::new(workers * 2)),
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                ready: Condvar::new(),
            }),
            workers,
            prefix: format!("map-{}-{nanos:x}", std::process::id()),
        })
    }

    /// Queue tasks of one UDF. `udf_json`: the package dict as JSON text; each task is
    /// `(id, parameters as a JSON object text, tile (x, y, z) or None, timeout_s or None)`.
    /// Ids are the caller's and must be unique among unfinished tasks.
    fn submit(&self, py: Python<'_>, udf_json: &str, tasks: Vec<TaskSpec>) -> PyResult<()> {
        let pool = self
            .pool()
            .ok_or_else(|| PyRuntimeError::new_err("the worker pool is closed"))?;
        let runtime = &self.handle;
        let package: UdfPackage = serde_json::from_str(udf_json)
            .map_err(|e| PyValueError::new_err(format!("udf_json: not a UDF package ({e})")))?;
        // typed once per submission: the content hash keys the worker's compiled code
        let udf = Arc::new(PreparedUdf::new(package));
        let mut prepared = Vec::with_capacity(tasks.len());
        for (id, params, tile, timeout) in tasks {
            let Ok(Value::Object(parameters)) = serde_json::from_str(&params) else {
                return Err(PyValueError::new_err(format!(
                    "task {id}: parameters must be a JSON object text"
                )));
            };
            let timeout = timeout.map(|t| duration("timeout_s", t)).transpose()?;
            let task_id = format!("{}-{id}", self.prefix);
            prepared.push((id, make_task(task_id, &udf, parameters, tile, timeout)));
        }
        py.detach(|| {
            let mut st = self.shared.lock();
            for (id, task) in prepared {
                let pool = pool.clone();
                let shared = self.shared.clone();
                let permits = self.permits.clone();
                let handle = runtime.spawn(async move {
                    let Ok(_permit) = permits.acquire_owned().await else {
                        return;
                    };
                    shared.lock().running.insert(id);
                    let started = Instant::now();
                    let outcome = pool.run(task).await;
                    shared.finish(done_from(id, outcome, started.elapsed().as_secs_f64()));
                });
                st.live.insert(id, handle.abort_handle());
            }
        });
        Ok(())
    }

    /// Finished tasks, waiting up to `timeout_s` for the first one (GIL released); at most
    /// `limit`. Each: `(id, status, result, error, stdout, stderr, seconds)` where status is
    /// `success`, `error`, `timeout` or `cancelled`; result is `("json", text)`,
    /// `("table", ipc)`, `("raster", bytes, dtype, shape, bounds)` or `("bytes", data,
    /// content_type)`; error a dict (kind, exception_class, errormsg, lineno, traceback,
    /// parameter, expected, value, error_type).
    #[pyo3(signature = (timeout_s, limit=100_000))]
    fn wait<'py>(
        &self,
        py: Python<'py>,
        timeout_s: f64,
        limit: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let timeout = duration("timeout_s", timeout_s)?;
        let batch: Vec<Done> = py.detach(|| {
            let deadline = Instant::now() + timeout;
            let mut st = self.shared.lock();
            loop {
                if !st.done.is_empty() || st.live.is_empty() {
                    break;
                }
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                st = self
                    .shared
                    .ready
                    .wait_timeout(st, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            let n = st.done.len().min(limit);
            st.done.drain(..n).collect()
        });
        let out = PyList::empty(py);
        for done in batch {
            out.append(done_to_py(py, done)?)?;
        }
        Ok(out)
    }

    /// Cancel tasks (all unfinished ones when `ids` is None): waiting ones never start,
    /// running ones are interrupted. Their `cancelled` completions are queued for `wait`.
    #[pyo3(signature = (ids=None))]
    fn cancel(&self, py: Python<'_>, ids: Option<Vec<u64>>) {
        py.detach(|| {
            let mut st = self.shared.lock();
            let targets: Vec<u64> = ids.unwrap_or_else(|| st.live.keys().copied().collect());
            for id in targets {
                if let Some(handle) = st.live.remove(&id) {
                    handle.abort();
                    st.running.remove(&id);
                    st.done.push_back(Done {
                        id,
                        status: "cancelled",
                        output: None,
                        failure: Some(("cancelled", "the task was cancelled".into())),
                        seconds: 0.0,
                    });
                }
            }
            drop(st);
            self.shared.ready.notify_all();
        });
    }

    /// Ids of the tasks handed to a worker now.
    fn running(&self) -> Vec<u64> {
        self.shared.lock().running.iter().copied().collect()
    }

    /// Number of unfinished tasks.
    fn unfinished(&self) -> usize {
        self.shared.lock().live.len()
    }

    /// The pool's counts: configured, alive, busy, queued, restarts, spares.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        if let Some(pool) = self.pool() {
            let s = pool.stats();
            d.set_item("configured", s.configured)?;
            d.set_item("alive", s.alive)?;
            d.set_item("busy", s.busy)?;
            d.set_item("queued", s.queued)?;
            d.set_item("restarts", s.restarts)?;
            d.set_item("spares", s.spares)?;
        }
        d.set_item("workers", self.workers)?;
        Ok(d)
    }

    /// True until `close`.
    #[getter]
    fn open(&self) -> bool {
        self.pool().is_some()
    }

    /// Cancel everything, stop the workers (idle ones exit, the rest are killed after
    /// `grace_s`) and the runtime. Safe to call twice.
    #[pyo3(signature = (grace_s=0.0))]
    fn close(&self, py: Python<'_>, grace_s: f64) -> PyResult<()> {
        let grace = duration("grace_s", grace_s)?;
        self.cancel(py, None);
        let taken = self
            .parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some((runtime, pool)) = taken else {
            return Ok(());
        };
        py.detach(|| {
            runtime.block_on(pool.shutdown(grace));
            drop(pool);
            runtime.shutdown_timeout(Duration::from_secs(2));
        });
        Ok(())
    }
}

fn duration(name: &str, seconds: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        PyValueError::new_err(format!(
            "{name}: expected a number of seconds >= 0, got {seconds}"
        ))
    })
}

fn done_from(id: u64, outcome: Result<TaskOutput, ExecError>, seconds: f64) -> Done {
    match outcome {
        Ok(out) => Done {
            id,
            status: if out.result.is_ok() {
                "success"
            } else {
                "error"
            },
            output: Some(out),
            failure: None,
            seconds,
        },
        Err(err) => {
            let status = match err {
                ExecError::Timeout(_) => "timeout",
                ExecError::Cancelled => "cancelled",
                _ => "error",
            };
            Done {
                id,
                status,
                output: None,
                failure: Some((err.error_type(), err.to_string())),
                seconds,
            }
        }
    }
}

fn done_to_py(py: Python<'_>, done: Done) -> PyResult<Bound<'_, PyTuple>> {
    let none = || py.None().into_bound(py);
    let (result, error, stdout, stderr) = match (done.output, done.failure) {
        (Some(out), _) => {
            let (result, error) = match out.result {
                Ok(canonical) => (canonical_to_py(py, canonical)?.into_any(), none()),
                Err(e) => {
                    let d = PyDict::new(py);
                    d.set_item("error_type", "udf")?;
                    d.set_item("kind", e.kind)?;
                    d.set_item("exception_class", e.exception_class)?;
                    d.set_item("errormsg", e.errormsg)?;
                    d.set_item("lineno", e.lineno)?;
                    d.set_item("traceback", e.traceback)?;
                    d.set_item("parameter", e.parameter)?;
                    d.set_item("expected", e.expected)?;
                    d.set_item("value", e.value)?;
                    (none(), d.into_any())
                }
            };
            (result, error, out.stdout, out.stderr)
        }
        (None, failure) => {
            let (error_type, msg) = failure.unwrap_or(("error", String::new()));
            let d = PyDict::new(py);
            d.set_item("error_type", error_type)?;
            d.set_item("kind", error_type)?;
            d.set_item("errormsg", msg)?;
            (none(), d.into_any(), String::new(), String::new())
        }
    };
    PyTuple::new(
        py,
        [
            done.id.into_pyobject(py)?.into_any(),
            done.status.into_pyobject(py)?.into_any(),
            result,
            error,
            stdout.into_pyobject(py)?.into_any(),
            stderr.into_pyobject(py)?.into_any(),
            done.seconds.into_pyobject(py)?.into_any(),
        ],
    )
}

fn canonical_to_py(py: Python<'_>, c: CanonicalResult) -> PyResult<Bound<'_, PyTuple>> {
    match c {
        CanonicalResult::Json(v) => {
            let text = serde_json::to_string(&v)
                .map_err(|e| PyValueError::new_err(format!("JSON result: {e}")))?;
            PyTuple::new(
                py,
                [
                    "json".into_pyobject(py)?.into_any(),
                    text.into_pyobject(py)?.into_any(),
                ],
            )
        }
        CanonicalResult::Table { ipc } => PyTuple::new(
            py,
            [
                "table".into_pyobject(py)?.into_any(),
                PyBytes::new(py, &ipc).into_any(),
            ],
        ),
        CanonicalResult::Raster {
            data,
            dtype,
            shape,
            bounds,
        } => PyTuple::new(
            py,
            [
                "raster".into_pyobject(py)?.into_any(),
                PyBytes::new(py, &data).into_any(),
                dtype.numpy_str().into_pyobject(py)?.into_any(),
                shape.into_pyobject(py)?.into_any(),
                bounds.map(|b| b.to_vec()).into_pyobject(py)?.into_any(),
            ],
        ),
        CanonicalResult::Bytes { data, content_type } => PyTuple::new(
            py,
            [
                "bytes".into_pyobject(py)?.into_any(),
                PyBytes::new(py, &data).into_any(),
                content_type.into_pyobject(py)?.into_any(),
            ],
        ),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyWorkerPool>()?;
    Ok(())
}
