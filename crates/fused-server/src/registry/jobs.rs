//! Server-side jobs in the registry: a `jobs` row (owner, spec JSON, state) and one
//! `job_tasks` row per task (its arguments, state, attempts, times, and where its result
//! record ends in the job's spool file). Results themselves are never stored here.
//!
//! Task states: `pending` -> `running` -> `ok` | `error`; `cancelled` when the job is
//! cancelled first. A job is `running` until every task is `ok` or `error` (`done`), or
//! until it is cancelled.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{db_now_ms, Registry, Result};

/// One job as listed and shown (the spec JSON only when asked for).
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub id: String,
    #[serde(skip)]
    pub owner_id: i64,
    #[serde(skip)]
    pub spec: String,
    pub state: String,
    pub n_tasks: i64,
    /// Unix milliseconds.
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// One task's status.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TaskRow {
    pub index: i64,
    pub state: String,
    pub attempts: i64,
    /// Unix milliseconds.
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    /// Served from the run result cache.
    pub cached: Option<bool>,
}

/// A task state change, applied in batches by the job writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskUpdate {
    Started {
        job: String,
        index: i64,
        at: i64,
    },
    /// Back to `pending` after a failed attempt (`attempts` so far).
    Retry {
        job: String,
        index: i64,
        attempts: i64,
        error: String,
    },
    /// `ok` or `error`, its record ending at `spool_end` in the job's spool file.
    Finished {
        job: String,
        index: i64,
        ok: bool,
        attempts: i64,
        at: i64,
        error: Option<String>,
        cached: bool,
        spool_end: u64,
    },
    /// Every task finished: the job is `done`.
    JobDone {
        job: String,
        at: i64,
    },
    /// The job is `cancelled`, with its unfinished tasks.
    JobCancelled {
        job: String,
        at: i64,
    },
}

const JOB_COLUMNS: &str = "id, owner_id, spec, state, n_tasks, created_at, finished_at";

fn job_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        owner_id: r.get(1)?,
        spec: r.get(2)?,
        state: r.get(3)?,
        n_tasks: r.get(4)?,
        created_at: r.get(5)?,
        finished_at: r.get(6)?,
    })
}

fn spool_offset(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Registry {
    /// Store a new `running` job of `owner_id` with its tasks' argument JSON texts (task
    /// `i` is `tasks[i]`), all `pending`, in one transaction.
    pub fn create_job(&self, id: &str, owner_id: i64, spec: &str, tasks: &[String]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO jobs (id, owner_id, spec, state, n_tasks, created_at)
             VALUES (?1, ?2, ?3, 'running', ?4, ?5)",
            params![id, owner_id, spec, tasks.len() as i64, db_now_ms()],
        )?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO job_tasks (job_id, idx, args, state) VALUES (?1, ?2, ?3, 'pending')",
            )?;
            for (i, args) in tasks.iter().enumerate() {
                stmt.execute(params![id, i as i64, args])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn get_job(&self, id: &str) -> Result<Option<JobRow>> {
        Ok(self
            .conn()
            .prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"))?
            .query_row([id], job_from_row)
            .optional()?)
    }

    /// `owner_id`'s jobs, newest first (at most `limit`).
    pub fn list_jobs(&self, owner_id: i64, limit: i64) -> Result<Vec<JobRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE owner_id = ?1
             ORDER BY created_at DESC, id DESC LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![owner_id, limit], job_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Jobs still `running` (to resume after a restart).
    pub fn unfinished_jobs(&self) -> Result<Vec<JobRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE state = 'running' ORDER BY created_at"
        ))?;
        let rows = stmt
            .query_map([], job_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Number of tasks per state (states with none are left out).
    pub fn job_counts(&self, id: &str) -> Result<BTreeMap<String, i64>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT state, COUNT(*) FROM job_tasks WHERE job_id = ?1 GROUP BY state",
        )?;
        let rows = stmt
            .query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
            .collect::<rusqlite::Result<BTreeMap<_, _>>>()?;
        Ok(rows)
    }

    /// Tasks of a job by index from `offset` (at most `limit`), optionally only in `state`.
    pub fn job_tasks(
        &self,
        id: &str,
        offset: i64,
        limit: i64,
        state: Option<&str>,
    ) -> Result<Vec<TaskRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT idx, state, attempts, started_at, finished_at, error, cached FROM job_tasks
             WHERE job_id = ?1 AND idx >= ?2 AND (?3 IS NULL OR state = ?3)
             ORDER BY idx LIMIT ?4",
        )?;
        let rows = stmt
            .query_map(params![id, offset, state, limit], |r| {
                Ok(TaskRow {
                    index: r.get(0)?,
                    state: r.get(1)?,
                    attempts: r.get(2)?,
                    started_at: r.get(3)?,
                    finished_at: r.get(4)?,
                    error: r.get(5)?,
                    cached: r.get::<_, Option<i64>>(6)?.map(|c| c != 0),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Up to `limit` `pending` tasks with an index above `after`: (index, args JSON, attempts).
    pub fn pending_tasks(
        &self,
        id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, i64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT idx, args, attempts FROM job_tasks
             WHERE job_id = ?1 AND idx > ?2 AND state = 'pending' ORDER BY idx LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(params![id, after, limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// After a restart: tasks left `running` go back to `pending` (they run again), and the
    /// spool length every finished task's record fits in is returned (the file is cut
    /// there: anything after it was written by a task the registry never saw finish).
    /// Also returns how many tasks are not finished.
    pub fn resume_job(&self, id: &str) -> Result<(u64, i64)> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE job_tasks SET state = 'pending', started_at = NULL
             WHERE job_id = ?1 AND state = 'running'",
            [id],
        )?;
        let end: i64 = tx.query_row(
            "SELECT COALESCE(MAX(spool_end), 0) FROM job_tasks
             WHERE job_id = ?1 AND state IN ('ok', 'error')",
            [id],
            |r| r.get(0),
        )?;
        let unfinished: i64 = tx.query_row(
            "SELECT COUNT(*) FROM job_tasks WHERE job_id = ?1 AND state IN ('pending', 'running')",
            [id],
            |r| r.get(0),
        )?;
        tx.commit()?;
        Ok((u64::try_from(end).unwrap_or(0), unfinished))
    }

    /// Apply a batch of task and job updates in one transaction.
    pub fn apply_job_updates(&self, updates: &[TaskUpdate]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for u in updates {
            match u {
                TaskUpdate::Started { job, index, at } => {
                    tx.prepare_cached(
                        "UPDATE job_tasks SET state = 'running', started_at = ?3
                         WHERE job_id = ?1 AND idx = ?2 AND state = 'pending'",
                    )?
                    .execute(params![job, index, at])?;
                }
                TaskUpdate::Retry {
                    job,
                    index,
                    attempts,
                    error,
                } => {
                    tx.prepare_cached(
                        "UPDATE job_tasks SET state = 'pending', attempts = ?3, error = ?4
                         WHERE job_id = ?1 AND idx = ?2 AND state = 'running'",
                    )?
                    .execute(params![job, index, attempts, error])?;
                }
                TaskUpdate::Finished {
                    job,
                    index,
                    ok,
                    attempts,
                    at,
                    error,
                    cached,
                    spool_end,
                } => {
                    tx.prepare_cached(
                        "UPDATE job_tasks SET state = ?3, attempts = ?4, finished_at = ?5,
                         error = ?6, cached = ?7, spool_end = ?8
                         WHERE job_id = ?1 AND idx = ?2",
                    )?
                    .execute(params![
                        job,
                        index,
                        if *ok { "ok" } else { "error" },
                        attempts,
                        at,
                        error,
                        i64::from(*cached),
                        spool_offset(*spool_end)
                    ])?;
                }
                TaskUpdate::JobDone { job, at } => {
                    tx.prepare_cached(
                        "UPDATE jobs SET state = 'done', finished_at = ?2
                         WHERE id = ?1 AND state = 'running'",
                    )?
                    .execute(params![job, at])?;
                }
                TaskUpdate::JobCancelled { job, at } => {
                    tx.prepare_cached(
                        "UPDATE jobs SET state = 'cancelled', finished_at = ?2
                         WHERE id = ?1 AND state = 'running'",
                    )?
                    .execute(params![job, at])?;
                    tx.prepare_cached(
                        "UPDATE job_tasks SET state = 'cancelled', finished_at = ?2
                         WHERE job_id = ?1 AND state IN ('pending', 'running')",
                    )?
                    .execute(params![job, at])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> (tempdir::Dir, Registry, i64) {
        let dir = tempdir::Dir::new();
        let r = Registry::open(&dir.0).unwrap();
        let (user, _) = r.create_user("a@example.com").unwrap();
        (dir, r, user.id)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let p = std::env::temp_dir().join(format!(
                    "fused-jobs-store-{}-{}",
                    std::process::id(),
                    fused_core::time::now_ms()
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn finished(job: &str, index: i64, ok: bool, end: u64) -> TaskUpdate {
        TaskUpdate::Finished {
            job: job.into(),
            index,
            ok,
            attempts: 1,
            at: 5,
            error: (!ok).then(|| "boom".into()),
            cached: false,
            spool_end: end,
        }
    }

    #[test]
    fn lifecycle_counts_pending_and_resume() {
        let (_d, r, owner) = registry();
        let args: Vec<String> = (0..5).map(|i| format!("{{\"n\":{i}}}")).collect();
        r.create_job("j1", owner, "{}", &args).unwrap();
        let job = r.get_job("j1").unwrap().unwrap();
        assert_eq!(
            (job.state.as_str(), job.n_tasks, job.owner_id),
            ("running", 5, owner)
        );
        assert_eq!(r.job_counts("j1").unwrap()["pending"], 5);
        let p = r.pending_tasks("j1", 1, 2).unwrap();
        assert_eq!(
            p,
            vec![(2, "{\"n\":2}".into(), 0), (3, "{\"n\":3}".into(), 0)]
        );

        r.apply_job_updates(&[
            TaskUpdate::Started {
                job: "j1".into(),
                index: 0,
                at: 1,
            },
            TaskUpdate::Started {
                job: "j1".into(),
                index: 1,
                at: 1,
            },
            TaskUpdate::Started {
                job: "j1".into(),
                index: 2,
                at: 1,
            },
            finished("j1", 0, true, 100),
            finished("j1", 1, false, 180),
            TaskUpdate::Retry {
                job: "j1".into(),
                index: 2,
                attempts: 1,
                error: "x".into(),
            },
            TaskUpdate::Started {
                job: "j1".into(),
                index: 3,
                at: 2,
            },
        ])
        .unwrap();
        let counts = r.job_counts("j1").unwrap();
        assert_eq!(counts["ok"], 1);
        assert_eq!(counts["error"], 1);
        assert_eq!(counts["pending"], 2);
        assert_eq!(counts["running"], 1);
        let t = r.job_tasks("j1", 0, 10, Some("error")).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].index, 1);
        assert_eq!(t[0].error.as_deref(), Some("boom"));
        // restart: the running task is pending again; the spool is cut after task 1's record
        assert_eq!(r.resume_job("j1").unwrap(), (180, 3));
        assert_eq!(r.job_counts("j1").unwrap()["pending"], 3);
        assert_eq!(
            r.pending_tasks("j1", -1, 10).unwrap()[0],
            (2, "{\"n\":2}".into(), 1)
        );
        assert_eq!(r.unfinished_jobs().unwrap().len(), 1);

        r.apply_job_updates(&[TaskUpdate::JobCancelled {
            job: "j1".into(),
            at: 9,
        }])
        .unwrap();
        let counts = r.job_counts("j1").unwrap();
        assert_eq!(counts["cancelled"], 3);
        assert_eq!(r.get_job("j1").unwrap().unwrap().state, "cancelled");
        assert!(r.unfinished_jobs().unwrap().is_empty());
        // a finished job stays as it was
        r.apply_job_updates(&[TaskUpdate::JobDone {
            job: "j1".into(),
            at: 10,
        }])
        .unwrap();
        assert_eq!(r.get_job("j1").unwrap().unwrap().state, "cancelled");
    }

    #[test]
    fn jobs_are_listed_per_owner() {
        let (_d, r, owner) = registry();
        let (other, _) = r.create_user("b@example.com").unwrap();
        r.create_job("j1", owner, "{}", &["{}".into()]).unwrap();
        r.create_job("j2", owner, "{}", &[]).unwrap();
        r.create_job("j3", other.id, "{}", &["{}".into()]).unwrap();
        let mine: Vec<String> = r
            .list_jobs(owner, 10)
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(mine.len(), 2);
        assert!(mine.contains(&"j1".to_string()) && mine.contains(&"j2".to_string()));
        assert_eq!(r.list_jobs(other.id, 10).unwrap()[0].id, "j3");
        assert!(r.get_job("nope").unwrap().is_none());
    }
}
