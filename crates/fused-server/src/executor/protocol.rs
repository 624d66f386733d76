//! The worker protocol: length-prefixed frames on the worker's own stdin/stdout.
//!
//! A frame is a `u32` little-endian byte count followed by that many bytes. Every exchange:
//!
//! 1. at start the worker sends one *hello* frame, JSON `{"ready": true, "pid": .., "python": ..}`,
//!    once numpy, pandas, geopandas, shapely and pyarrow are imported;
//! 2. the server sends one *request* frame, JSON [`Request`];
//! 3. the worker answers with one *response header* frame, JSON [`ResponseHeader`], followed,
//!    when the header says `"payload": {"inline": true}`, by exactly one *payload* frame holding
//!    the raw result bytes. Payloads larger than the request's `inline_limit` are written by the
//!    worker to a file `<result_dir>/<task_id>.bin` instead (`"payload": {"file": path}`); the
//!    server reads and deletes it, so big results never cross the pipe.
//!
//! The payload bytes are: the Arrow IPC stream (`table`), the raw C-order array (`raster`), UTF-8
//! JSON text (`json`), or the bytes themselves (`bytes`). Pickle never crosses the boundary.

use std::borrow::Cow;

use fused_core::package::UdfPackage;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest frame accepted from a worker (header or inline payload).
pub const MAX_FRAME: u32 = 256 * 1024 * 1024;
/// Results up to this size come back inline (as a second frame); bigger ones through a file.
pub const DEFAULT_INLINE_LIMIT: usize = 1024 * 1024;

/// Framing failures. `Eof` at a frame boundary is how a dead worker shows itself.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the worker closed its pipe")]
    Eof,
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(u64),
    #[error("pipe I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed frame: {0}")]
    Json(#[from] serde_json::Error),
}

/// Write one frame (length prefix and bytes) and flush.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> Result<(), FrameError> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|n| *n <= MAX_FRAME)
        .ok_or(FrameError::TooLarge(bytes.len() as u64))?;
    w.write_all(&len.to_le_bytes()).await?;
    w.write_all(bytes).await?;
    w.flush().await?;
    Ok(())
}

/// Read one frame. A clean end of stream before the length prefix is [`FrameError::Eof`];
/// an end in the middle of a frame is an I/O error (`UnexpectedEof`).
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut len[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Err(FrameError::Eof)
            } else {
                Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into())
            };
        }
        got += n;
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(u64::from(len)));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Serialize `value` as JSON and write it as one frame.
pub async fn write_json<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    value: &T,
) -> Result<(), FrameError> {
    write_frame(w, &serde_json::to_vec(value)?).await
}

/// Read one frame and parse it as JSON.
pub async fn read_json<R: AsyncRead + Unpin, T: for<'de> Deserialize<'de>>(
    r: &mut R,
) -> Result<T, FrameError> {
    Ok(serde_json::from_slice(&read_frame(r).await?)?)
}

/// The worker's first frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub ready: bool,
    #[serde(default)]
    pub pid: u32,
    #[serde(default)]
    pub python: String,
    /// Many tasks in flight on the one pipe, answers in any order, cancels as frames
    /// (`fused._dask_bridge`; see [`super::mux`]).
    #[serde(default)]
    pub mux: bool,
}

/// A tile, as sent to the worker (already validated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TileXyz {
    pub x: u32,
    pub y: u32,
    pub z: u8,
}

/// One task for a worker (the server borrows the package it sends).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request<'a> {
    pub task_id: String,
    /// The UDF package.
    pub udf: Cow<'a, UdfPackage>,
    /// The content hash of the package (hex SHA-256): the worker keys its compiled code by it.
    pub udf_hash: String,
    /// Parameter values: strings (converted in the worker by the same Rust rules the
    /// server validated them with) or JSON values from a POST body.
    pub parameters: serde_json::Map<String, serde_json::Value>,
    pub tile: Option<TileXyz>,
    /// Where the worker writes payloads larger than `inline_limit`.
    pub result_dir: String,
    pub inline_limit: usize,
    /// The run-cache key of the call, when it has one: a Dask bridge uses it as the task key,
    /// so identical concurrent submissions run once on the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_key: Option<String>,
}

/// Where a response's payload is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Payload {
    /// The next frame holds the bytes.
    Inline(bool),
    /// A file in the request's `result_dir`, to be read and deleted by the server.
    File(String),
}

/// What kind of failure a worker reports (`WorkerError::kind`). The one list: the worker
/// (`fused._worker._describe`) takes its names from `fused._native.WORKER_ERROR_KINDS`,
/// which is [`WorkerErrorKind::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerErrorKind {
    /// The UDF raised (`UdfRuntimeError`).
    Runtime,
    /// A parameter value did not convert (`UdfParameterError`).
    Parameter,
    /// The call could not be made (missing parameter, no tile parameter, ...).
    Call,
    /// The return value has no canonical form.
    Result,
    /// The UDF called `sys.exit`.
    Exit,
    /// Interrupted because the client went away.
    Cancelled,
    /// The process that ran the task died (a Dask worker, reported by the bridge).
    WorkerCrash,
    /// The executor's backend cannot be reached (a Dask scheduler, reported by the bridge).
    Unavailable,
}

impl WorkerErrorKind {
    pub const ALL: [WorkerErrorKind; 8] = [
        WorkerErrorKind::Runtime,
        WorkerErrorKind::Parameter,
        WorkerErrorKind::Call,
        WorkerErrorKind::Result,
        WorkerErrorKind::Exit,
        WorkerErrorKind::Cancelled,
        WorkerErrorKind::WorkerCrash,
        WorkerErrorKind::Unavailable,
    ];

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerErrorKind::Runtime => "runtime",
            WorkerErrorKind::Parameter => "parameter",
            WorkerErrorKind::Call => "call",
            WorkerErrorKind::Result => "result",
            WorkerErrorKind::Exit => "exit",
            WorkerErrorKind::Cancelled => "cancelled",
            WorkerErrorKind::WorkerCrash => "worker_crash",
            WorkerErrorKind::Unavailable => "unavailable",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// The error a failed task reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerError {
    /// A [`WorkerErrorKind`] name (`runtime`, `parameter`, `call`, `result`, `exit`,
    /// `cancelled`); see [`WorkerError::kind`].
    pub kind: String,
    #[serde(default)]
    pub exception_class: String,
    #[serde(default)]
    pub errormsg: String,
    #[serde(default)]
    pub lineno: Option<i64>,
    #[serde(default)]
    pub traceback: String,
    /// For `parameter` errors: the parameter, expected type and offending value.
    #[serde(default)]
    pub parameter: Option<String>,
    #[serde(default)]
    pub expected: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

impl WorkerError {
    /// The kind, when it is one of [`WorkerErrorKind::ALL`].
    pub fn kind(&self) -> Option<WorkerErrorKind> {
        WorkerErrorKind::from_name(&self.kind)
    }
}

/// The header frame of a worker's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseHeader {
    pub task_id: String,
    pub ok: bool,
    /// `table`, `raster`, `json` or `bytes` when `ok`.
    #[serde(default)]
    pub kind: Option<String>,
    /// numpy `dtype.str` of a raster.
    #[serde(default)]
    pub dtype: Option<String>,
    #[serde(default)]
    pub shape: Option<Vec<usize>>,
    #[serde(default)]
    pub bounds: Option<[f64; 4]>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub payload: Option<Payload>,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    #[serde(default)]
    pub error: Option<WorkerError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            write_frame(&mut a, b"hello").await.unwrap();
            write_frame(&mut a, b"").await.unwrap();
            write_frame(&mut a, &vec![7u8; 1000]).await.unwrap();
        });
        assert_eq!(read_frame(&mut b).await.unwrap(), b"hello");
        assert_eq!(read_frame(&mut b).await.unwrap(), b"");
        assert_eq!(read_frame(&mut b).await.unwrap(), vec![7u8; 1000]);
        writer.await.unwrap();
        assert!(matches!(read_frame(&mut b).await, Err(FrameError::Eof)));
    }

    #[tokio::test]
    async fn truncated_frame_is_an_error_not_eof() {
        let data = [10u8, 0, 0, 0, 1, 2, 3];
        let mut r = &data[..];
        match read_frame(&mut r).await {
            Err(FrameError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof),
            other => panic!("{other:?}"),
        }
        let mut r = &[1u8, 0][..];
        assert!(matches!(read_frame(&mut r).await, Err(FrameError::Io(_))));
    }

    #[tokio::test]
    async fn oversized_length_refused() {
        let data = (MAX_FRAME + 1).to_le_bytes();
        let mut r = &data[..];
        assert!(matches!(
            read_frame(&mut r).await,
            Err(FrameError::TooLarge(_))
        ));
    }

    #[test]
    fn payload_json_shape() {
        let p: Payload = serde_json::from_str(r#"{"inline": true}"#).unwrap();
        assert_eq!(p, Payload::Inline(true));
        let p: Payload = serde_json::from_str(r#"{"file": "/tmp/x.bin"}"#).unwrap();
        assert_eq!(p, Payload::File("/tmp/x.bin".into()));
        let h: ResponseHeader = serde_json::from_str(
            r#"{"task_id":"t","ok":false,"stdout":"a","stderr":"",
                "error":{"kind":"runtime","exception_class":"ValueError","errormsg":"x","lineno":3}}"#,
        )
        .unwrap();
        let err = h.error.unwrap();
        assert_eq!(err.lineno, Some(3));
        assert_eq!(err.kind(), Some(WorkerErrorKind::Runtime));
        for k in WorkerErrorKind::ALL {
            assert_eq!(WorkerErrorKind::from_name(k.as_str()), Some(k));
        }
        assert_eq!(WorkerErrorKind::from_name("nope"), None);
    }
}
