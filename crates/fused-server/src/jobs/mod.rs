//! Server-side jobs (`/api/v1/jobs`): one UDF over a list of tasks (parameter sets or tiles),
//! run on the server's executor next to interactive requests, surviving the client that
//! started it and a restart of the server.
//!
//! * [`model`]: the job spec, a task's arguments, an attempt's outcome.
//! * [`runner`]: [`Jobs`]: submission, cancellation, resumption, and the scheduler (a bounded
//!   share of the pool, round robin between jobs, retries).
//! * [`writer`]: the thread that appends result records and applies task states in batches.
//! * [`spool`]: the record format of the results file (also the wire format).
//!
//! The HTTP side (validation, the run through the result cache, streaming) is
//! `routes/jobs.rs`.

pub mod model;
pub mod runner;
pub mod spool;
pub mod writer;

pub use runner::{Jobs, RunTask};

#[cfg(test)]
mod tests;
