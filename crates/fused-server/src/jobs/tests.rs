//! The scheduler with a real registry and spool, and a task function that records the order
//! tasks start in (the UDF side is the executor's, tested through HTTP in tests/test_jobs.py).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fused_core::result::CanonicalResult;
use serde_json::{json, Map};

use super::model::{Done, Failure, JobSpec, TaskArgs};
use super::{spool, Jobs, RunTask};
use crate::registry::Registry;

struct Dir(std::path::PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(name: &str) -> Dir {
    let p = std::env::temp_dir().join(format!(
        "fused-jobs-{name}-{}-{}",
        std::process::id(),
        fused_core::time::now_ms()
    ));
    std::fs::create_dir_all(&p).unwrap();
    Dir(p)
}

fn spec(max_retry: u32) -> JobSpec {
    JobSpec {
        udf: json!({"code": "x"}),
        saved: None,
        namespace: "ns".into(),
        fixed: Map::new(),
        max_retry,
        cache_max_age: None,
        timeout_ms: 1000,
    }
}

fn tasks(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut p = Map::new();
            p.insert("i".into(), json!(i));
            let args = TaskArgs {
                parameters: p,
                tile: None,
            };
            serde_json::to_string(&args).unwrap()
        })
        .collect()
}

/// An executor with nothing else to do.
fn idle() -> super::runner::ExecutorLoad {
    Arc::new(|| 0)
}

type Log = Arc<Mutex<Vec<(String, i64)>>>;

/// A task function: logs (job, index), sleeps a little, returns `{"i": index}`; tasks whose
/// index is in `fail_first` fail on their first attempt.
fn recorder(log: Log, fail_first: Vec<i64>) -> RunTask {
    Arc::new(move |_spec, task| {
        let log = log.clone();
        let fail = fail_first.contains(&task.index) && task.attempts == 0;
        Box::pin(async move {
            log.lock().unwrap().push((task.job.clone(), task.index));
            tokio::time::sleep(Duration::from_millis(2)).await;
            if fail {
                let mut error = Map::new();
                error.insert("error_type".into(), "udf_exception".into());
                error.insert("message".into(), "flaky".into());
                return Err(Failure {
                    error,
                    stdout: String::new(),
                    stderr: String::new(),
                });
            }
            Ok(Done {
                result: Arc::new(CanonicalResult::Json(json!({"i": task.index}))),
                stdout: String::new(),
                stderr: String::new(),
                cached: false,
            })
        })
    })
}

async fn wait_over(jobs: &Jobs, id: &str) {
    for _ in 0..2000 {
        if jobs.progress(id).is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("job {id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_share_the_slots_round_robin() {
    let d = dir("rr");
    let registry = Arc::new(Registry::open(&d.0).unwrap());
    let (user, _) = registry.create_user("a@example.com").unwrap();
    let log: Log = Arc::default();
    let jobs = Jobs::start(
        registry.clone(),
        d.0.join("jobs"),
        1,
        recorder(log.clone(), vec![]),
        idle(),
    )
    .unwrap();
    // submitted together: a big job and a small one
    let (big, small) = (tasks(40), tasks(10));
    let j = jobs.clone();
    tokio::task::spawn_blocking(move || {
        j.submit("big", user.id, spec(0), &big).unwrap();
        j.submit("small", user.id, spec(0), &small).unwrap();
    })
    .await
    .unwrap();
    wait_over(&jobs, "big").await;
    wait_over(&jobs, "small").await;
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 50);
    // once both are queued, the small job's 10 tasks alternate with the big one's: all of
    // them start within the first 10 + 10 + (tasks the big one ran before small arrived)
    let first_small = log.iter().position(|(j, _)| j == "small").unwrap();
    let last_small = log.iter().rposition(|(j, _)| j == "small").unwrap();
    assert!(last_small - first_small <= 20, "not round robin: {log:?}");
    let window = &log[first_small..=last_small];
    let bigs = window.iter().filter(|(j, _)| j == "big").count();
    assert!((9..=10).contains(&bigs), "not round robin: {log:?}");
    // every result is in the spool, in the registry's counts
    let bytes = std::fs::read(jobs.spool_path("big")).unwrap();
    let (records, end) = spool::decode(&bytes);
    assert_eq!((records.len(), end), (40, bytes.len()));
    let counts = registry.job_counts("big").unwrap();
    assert_eq!(counts.get("ok"), Some(&40));
    assert_eq!(registry.get_job("small").unwrap().unwrap().state, "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_then_gives_up_and_resumes_after_restart() {
    let d = dir("retry");
    let registry = Arc::new(Registry::open(&d.0).unwrap());
    let (user, _) = registry.create_user("a@example.com").unwrap();
    let log: Log = Arc::default();
    // task 1 fails its first attempt (retried: ok), task 2 fails with max_retry 0
    let jobs = Jobs::start(
        registry.clone(),
        d.0.join("jobs"),
        2,
        recorder(log.clone(), vec![1]),
        idle(),
    )
    .unwrap();
    let j = jobs.clone();
    let uid = user.id;
    tokio::task::spawn_blocking(move || j.submit("r", uid, spec(1), &tasks(3)).unwrap())
        .await
        .unwrap();
    wait_over(&jobs, "r").await;
    let t = registry.job_tasks("r", 0, 10, None).unwrap();
    assert_eq!(
        t.iter().map(|t| t.state.as_str()).collect::<Vec<_>>(),
        ["ok", "ok", "ok"]
    );
    assert_eq!(t[1].attempts, 2);
    assert_eq!(log.lock().unwrap().len(), 4);

    // a stored job with one finished task, as a killed server leaves it: resumed on start
    let log2: Log = Arc::default();
    let jobs2_dir = d.0.join("jobs");
    registry
        .create_job(
            "killed",
            uid,
            &serde_json::to_string(&spec(0)).unwrap(),
            &["{}".into(), "{}".into(), "{}".into()],
        )
        .unwrap();
    let done = Done {
        result: Arc::new(CanonicalResult::Json(json!("kept"))),
        stdout: String::new(),
        stderr: String::new(),
        cached: false,
    };
    let rec = spool::ok_record(0, 1, &done);
    let mut file = rec.clone();
    file.extend_from_slice(&rec[..7]); // a torn record after it
    std::fs::write(spool::path(&jobs2_dir, "killed"), &file).unwrap();
    registry
        .apply_job_updates(&[
            crate::registry::jobs::TaskUpdate::Started {
                job: "killed".into(),
                index: 0,
                at: 1,
            },
            crate::registry::jobs::TaskUpdate::Finished {
                job: "killed".into(),
                index: 0,
                ok: true,
                attempts: 1,
                at: 2,
                error: None,
                cached: false,
                spool_end: rec.len() as u64,
            },
            crate::registry::jobs::TaskUpdate::Started {
                job: "killed".into(),
                index: 1,
                at: 1,
            },
        ])
        .unwrap();
    let jobs2 = Jobs::start(
        registry.clone(),
        jobs2_dir.clone(),
        2,
        recorder(log2.clone(), vec![]),
        idle(),
    )
    .unwrap();
    wait_over(&jobs2, "killed").await;
    let mut ran: Vec<i64> = log2.lock().unwrap().iter().map(|(_, i)| *i).collect();
    ran.sort_unstable();
    assert_eq!(ran, [1, 2]); // the finished task did not run again
    let bytes = std::fs::read(spool::path(&jobs2_dir, "killed")).unwrap();
    let (records, end) = spool::decode(&bytes);
    assert_eq!(end, bytes.len());
    let mut idx: Vec<i64> = records
        .iter()
        .map(|(h, _)| h["index"].as_i64().unwrap())
        .collect();
    assert_eq!(idx[0], 0);
    idx.sort_unstable();
    assert_eq!(idx, [0, 1, 2]);
    assert_eq!(registry.get_job("killed").unwrap().unwrap().state, "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_pending_tasks() {
    let d = dir("cancel");
    let registry = Arc::new(Registry::open(&d.0).unwrap());
    let (user, _) = registry.create_user("a@example.com").unwrap();
    let log: Log = Arc::default();
    let jobs = Jobs::start(
        registry.clone(),
        d.0.join("jobs"),
        1,
        recorder(log.clone(), vec![]),
        idle(),
    )
    .unwrap();
    let j = jobs.clone();
    tokio::task::spawn_blocking(move || j.submit("c", user.id, spec(0), &tasks(500)).unwrap())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(jobs.cancel("c"));
    assert!(!jobs.cancel("c"));
    wait_over(&jobs, "c").await;
    let started = log.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(
        log.lock().unwrap().len(),
        started,
        "tasks ran after the cancel"
    );
    assert!(started < 500);
    let counts = registry.job_counts("c").unwrap();
    assert_eq!(registry.get_job("c").unwrap().unwrap().state, "cancelled");
    assert!(counts["cancelled"] > 0);
    assert_eq!(counts.get("pending"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_results_file_is_gone_is_cancelled_not_fatal() {
    let d = dir("lost");
    let registry = Arc::new(Registry::open(&d.0).unwrap());
    let (user, _) = registry.create_user("a@example.com").unwrap();
    let spec_text = serde_json::to_string(&spec(0)).unwrap();
    registry
        .create_job("lost", user.id, &spec_text, &["{}".into(), "{}".into()])
        .unwrap();
    registry
        .apply_job_updates(&[crate::registry::jobs::TaskUpdate::Finished {
            job: "lost".into(),
            index: 0,
            ok: true,
            attempts: 1,
            at: 2,
            error: None,
            cached: false,
            spool_end: 100, // but there is no file
        }])
        .unwrap();
    let log: Log = Arc::default();
    let jobs = Jobs::start(
        registry.clone(),
        d.0.join("jobs"),
        1,
        recorder(log.clone(), vec![]),
        idle(),
    )
    .unwrap();
    assert!(jobs.progress("lost").is_none());
    assert_eq!(
        registry.get_job("lost").unwrap().unwrap().state,
        "cancelled"
    );
    assert!(log.lock().unwrap().is_empty());
}
