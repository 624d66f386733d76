//! The results of a job on disk: `<data_dir>/jobs/<job id>.records`, one record per finished
//! task appended in the order tasks finish. The file *is* the wire format of
//! `GET /api/v1/jobs/{id}/results` (see `routes/jobs.rs`), so streaming is copying bytes.
//!
//! A record:
//! ```text
//! u32 little endian   header length H
//! H bytes             header, UTF-8 JSON:
//!                     {"index", "status": "ok" | "error", "kind": "table" | "raster" |
//!                      "json" | "bytes" | null, "attempts", "cached", "metadata": {...}}
//! u64 little endian   payload length P
//! P bytes             the canonical payload: Arrow IPC stream (table), raw C-order array
//!                     bytes (raster; dtype, shape, bounds in metadata), JSON text (json),
//!                     the bytes (bytes; content_type in metadata), nothing (error)
//! ```
//! `metadata` has `stdout` and `stderr`, and for an error the `error` object
//! (`error_type`, `message`, and the UDF's exception fields when it raised).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use fused_core::result::CanonicalResult;
use serde_json::{json, Map, Value};

use super::model::{Done, Failure};

/// Largest header accepted when reading records back.
const MAX_HEADER: u32 = 64 << 20;

/// The spool file of job `id` under `dir`.
pub fn path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.records"))
}

/// One record as bytes.
pub fn encode(header: &Value, payload: &[u8]) -> Vec<u8> {
    let head = serde_json::to_vec(header).unwrap_or_else(|_| b"{}".to_vec());
    let mut out = Vec::with_capacity(12 + head.len() + payload.len());
    out.extend_from_slice(&u32::try_from(head.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The record of a successful task.
pub fn ok_record(index: i64, attempts: u32, done: &Done) -> Vec<u8> {
    let mut meta = Map::new();
    meta.insert("stdout".into(), done.stdout.clone().into());
    meta.insert("stderr".into(), done.stderr.clone().into());
    let json_text;
    let payload: &[u8] = match done.result.as_ref() {
        CanonicalResult::Table { ipc } => ipc,
        CanonicalResult::Raster {
            data,
            dtype,
            shape,
            bounds,
        } => {
            meta.insert("dtype".into(), dtype.numpy_str().into());
            meta.insert("shape".into(), json!(shape));
            meta.insert("bounds".into(), json!(bounds));
            data
        }
        CanonicalResult::Json(v) => {
            json_text = serde_json::to_vec(v).unwrap_or_default();
            &json_text
        }
        CanonicalResult::Bytes { data, content_type } => {
            meta.insert("content_type".into(), content_type.clone().into());
            data
        }
    };
    let header = json!({
        "index": index,
        "status": "ok",
        "kind": done.result.kind(),
        "attempts": attempts,
        "cached": done.cached,
        "metadata": meta,
    });
    encode(&header, payload)
}

/// The record of a task whose last attempt failed.
pub fn error_record(index: i64, attempts: u32, failure: &Failure) -> Vec<u8> {
    let header = json!({
        "index": index,
        "status": "error",
        "kind": null,
        "attempts": attempts,
        "cached": false,
        "metadata": {
            "stdout": failure.stdout,
            "stderr": failure.stderr,
            "error": failure.error,
        },
    });
    encode(&header, &[])
}

/// The records in `bytes`: (header, payload range). Stops at the first incomplete or
/// malformed record; the second value is where the complete records end.
pub fn decode(bytes: &[u8]) -> (Vec<(Value, std::ops::Range<usize>)>, usize) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(h) = bytes.get(at..at + 4) {
        let hlen = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        if hlen > MAX_HEADER {
            break;
        }
        let hstart = at + 4;
        let hend = hstart + hlen as usize;
        let Some(head) = bytes.get(hstart..hend) else {
            break;
        };
        let Some(p) = bytes.get(hend..hend + 8) else {
            break;
        };
        let plen = u64::from_le_bytes([p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]]);
        let pstart = hend + 8;
        let Some(pend) = usize::try_from(plen)
            .ok()
            .and_then(|l| pstart.checked_add(l))
        else {
            break;
        };
        if pend > bytes.len() {
            break;
        }
        let Ok(header) = serde_json::from_slice::<Value>(head) else {
            break;
        };
        out.push((header, pstart..pend));
        at = pend;
    }
    (out, at)
}

/// Cut `path` to `len` bytes (a restart drops records the registry never saw finish);
/// a missing file is created empty.
pub fn truncate(path: &Path, len: u64) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)?;
    let have = f.metadata()?.len();
    if have > len {
        f.set_len(len)?;
    } else if have < len {
        return Err(std::io::Error::other(format!(
            "{}: {have} bytes, but the registry has records up to {len}",
            path.display()
        )));
    }
    Ok(())
}

/// An open spool file being appended to, and its length.
pub struct Appender {
    file: std::fs::File,
    pub len: u64,
}

impl Appender {
    pub fn open(path: &Path) -> std::io::Result<Appender> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let len = file.metadata()?.len();
        Ok(Appender { file, len })
    }

    /// Append one record; the file's new length (where the record ends).
    pub fn append(&mut self, record: &[u8]) -> std::io::Result<u64> {
        self.file.write_all(record)?;
        self.len += record.len() as u64;
        Ok(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn records_round_trip_and_stop_at_a_torn_one() {
        let done = Done {
            result: Arc::new(CanonicalResult::Json(json!({"a": [1, 2]}))),
            stdout: "hi\n".into(),
            stderr: String::new(),
            cached: true,
        };
        let mut bytes = ok_record(3, 1, &done);
        let mut err = Map::new();
        err.insert("error_type".into(), "udf_exception".into());
        err.insert("message".into(), "ValueError: no".into());
        let failure = Failure {
            error: err,
            stdout: String::new(),
            stderr: "oops".into(),
        };
        bytes.extend(error_record(7, 3, &failure));
        let whole = bytes.len();
        bytes.extend(&ok_record(9, 1, &done)[..10]); // torn
        let (records, end) = decode(&bytes);
        assert_eq!(end, whole);
        assert_eq!(records.len(), 2);
        let (h, r) = &records[0];
        assert_eq!(h["index"], 3);
        assert_eq!(h["kind"], "json");
        assert_eq!(h["cached"], true);
        assert_eq!(h["metadata"]["stdout"], "hi\n");
        let v: Value = serde_json::from_slice(&bytes[r.clone()]).unwrap();
        assert_eq!(v, json!({"a": [1, 2]}));
        let (h, r) = &records[1];
        assert_eq!(h["status"], "error");
        assert_eq!(h["attempts"], 3);
        assert_eq!(h["metadata"]["error"]["message"], "ValueError: no");
        assert!(r.is_empty());
    }

    #[test]
    fn raster_metadata_and_truncate() {
        let done = Done {
            result: Arc::new(CanonicalResult::Raster {
                data: vec![1, 2, 3, 4],
                dtype: fused_core::result::Dtype::U8,
                shape: vec![2, 2],
                bounds: Some([0.0, 1.0, 2.0, 3.0]),
            }),
            stdout: String::new(),
            stderr: String::new(),
            cached: false,
        };
        let rec = ok_record(0, 1, &done);
        let (records, _) = decode(&rec);
        assert_eq!(records[0].0["metadata"]["dtype"], "|u1");
        assert_eq!(records[0].0["metadata"]["shape"], json!([2, 2]));
        assert_eq!(&rec[records[0].1.clone()], &[1, 2, 3, 4]);

        let dir = std::env::temp_dir().join(format!("fused-spool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = path(&dir, "j");
        let mut a = Appender::open(&p).unwrap();
        let end1 = a.append(&rec).unwrap();
        a.append(&rec).unwrap();
        drop(a);
        truncate(&p, end1).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), end1);
        assert!(truncate(&p, end1 + 5).is_err());
        let a = Appender::open(&p).unwrap();
        assert_eq!(a.len, end1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
