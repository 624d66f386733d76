//! One cache entry and its binary form (the disk tier's file):
//!
//! ```text
//! "FRC1"  magic
//! u64     created_at (unix milliseconds)      u64  max_age (seconds)
//! u8      tile flag, then u32 z, x, y when 1
//! u8      kind: 0 table, 1 raster, 2 json, 3 bytes
//! u32+..  kind header: raster: dtype (numpy str), u32 ndim, u64 dims, u8 bounds flag + 4 f64;
//!         bytes: content type; table / json: empty
//! u64+..  payload (Arrow IPC / raw array bytes / JSON text / bytes)
//! [32]    SHA-256 of everything before it
//! ```
//! All integers little-endian. A short, long or altered entry fails [`Entry::decode`].

use std::sync::Arc;

use crate::time::now_ms;

use crate::result::{CanonicalResult, Dtype};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 4] = b"FRC1";

/// A cached result with its lifetime and tile.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub result: Arc<CanonicalResult>,
    /// Unix milliseconds.
    pub created_at: u64,
    /// Seconds.
    pub max_age: u64,
    /// `(z, x, y)` of a tile run.
    pub tile: Option<(u32, u32, u32)>,
}

/// Why bytes are not an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt cache entry: {0}")]
pub struct CorruptEntry(pub String);

impl Entry {
    /// True once `max_age` seconds have passed since `created_at` (at `now`, unix ms).
    pub fn expired_at(&self, now: u64) -> bool {
        now.saturating_sub(self.created_at) >= self.max_age.saturating_mul(1000)
    }

    pub fn expired(&self) -> bool {
        self.expired_at(now_ms())
    }

    /// True when, at `now` (unix ms), the entry is within its own lifetime and, when a
    /// reader gives one, younger than `max_age` seconds (a reader may ask for fresher
    /// results than the entry was stored for, never for older).
    pub fn fresh_at(&self, now: u64, max_age: Option<u64>) -> bool {
        let age_ms = now.saturating_sub(self.created_at);
        let lifetime = max_age.map_or(self.max_age, |m| m.min(self.max_age));
        age_ms < lifetime.saturating_mul(1000)
    }

    /// Approximate bytes held (payload plus a small fixed overhead).
    pub fn size(&self) -> usize {
        256 + match &*self.result {
            CanonicalResult::Table { ipc } => ipc.len(),
            CanonicalResult::Raster { data, shape, .. } => data.len() + 8 * shape.len(),
            CanonicalResult::Json(v) => v.to_string().len(),
            CanonicalResult::Bytes { data, content_type } => data.len() + content_type.len(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size() + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.created_at.to_le_bytes());
        out.extend_from_slice(&self.max_age.to_le_bytes());
        match self.tile {
            Some((z, x, y)) => {
                out.push(1);
                for v in [z, x, y] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            None => out.push(0),
        }
        let mut head = Vec::new();
        let json_text;
        let (kind, payload): (u8, &[u8]) = match &*self.result {
            CanonicalResult::Table { ipc } => (0, ipc),
            CanonicalResult::Raster {
                data,
                dtype,
                shape,
                bounds,
            } => {
                put_bytes32(&mut head, dtype.numpy_str().as_bytes());
                head.extend_from_slice(&(shape.len() as u32).to_le_bytes());
                for d in shape {
                    head.extend_from_slice(&(*d as u64).to_le_bytes());
                }
                match bounds {
                    Some(b) => {
                        head.push(1);
                        for v in b {
                            head.extend_from_slice(&v.to_le_bytes());
                        }
                    }
                    None => head.push(0),
                }
                (1, data)
            }
            CanonicalResult::Json(v) => {
                json_text = v.to_string();
                (2, json_text.as_bytes())
            }
            CanonicalResult::Bytes { data, content_type } => {
                put_bytes32(&mut head, content_type.as_bytes());
                (3, data)
            }
        };
        out.push(kind);
        put_bytes32(&mut out, &head);
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(payload);
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Entry, CorruptEntry> {
        let bad = |m: &str| CorruptEntry(m.to_string());
        if bytes.len() < MAGIC.len() + 32 {
            return Err(bad("truncated"));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != sum {
            return Err(bad("checksum mismatch"));
        }
        let mut r = Reader { buf: body, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(bad("not a cache entry (magic)"));
        }
        let created_at = r.u64()?;
        let max_age = r.u64()?;
        let tile = match r.u8()? {
            0 => None,
            1 => Some((r.u32()?, r.u32()?, r.u32()?)),
            _ => return Err(bad("tile flag")),
        };
        let kind = r.u8()?;
        let head_len = r.u32()? as usize;
        let mut h = Reader {
            buf: r.take(head_len)?,
            pos: 0,
        };
        let payload_len = usize::try_from(r.u64()?).map_err(|_| bad("payload length"))?;
        let payload = r.take(payload_len)?.to_vec();
        if r.pos != body.len() {
            return Err(bad("trailing bytes"));
        }
        let result = match kind {
            0 => CanonicalResult::Table { ipc: payload },
            1 => {
                let n = h.u32()? as usize;
                let dtype = std::str::from_utf8(h.take(n)?)
                    .ok()
                    .and_then(Dtype::from_numpy)
                    .ok_or_else(|| bad("dtype"))?;
                let ndim = h.u32()? as usize;
                let mut shape = Vec::with_capacity(ndim.min(64));
                for _ in 0..ndim {
                    shape.push(h.u64()? as usize);
                }
                let bounds = match h.u8()? {
                    0 => None,
                    1 => Some([h.f64()?, h.f64()?, h.f64()?, h.f64()?]),
                    _ => return Err(bad("bounds flag")),
                };
                let expected = shape
                    .iter()
                    .try_fold(dtype.size(), |a, d| a.checked_mul(*d));
                if expected != Some(payload.len()) {
                    return Err(bad("raster size does not match its shape"));
                }
                CanonicalResult::Raster {
                    data: payload,
                    dtype,
                    shape,
                    bounds,
                }
            }
            2 => CanonicalResult::Json(
                serde_json::from_slice(&payload).map_err(|_| bad("json payload"))?,
            ),
            3 => {
                let n = h.u32()? as usize;
                let content_type =
                    String::from_utf8(h.take(n)?.to_vec()).map_err(|_| bad("content type"))?;
                CanonicalResult::Bytes {
                    data: payload,
                    content_type,
                }
            }
            _ => return Err(bad("unknown kind")),
        };
        Ok(Entry {
            result: Arc::new(result),
            created_at,
            max_age,
            tile,
        })
    }
}

fn put_bytes32(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CorruptEntry> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| CorruptEntry("truncated".into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, CorruptEntry> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, CorruptEntry> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("take(4) gives 4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, CorruptEntry> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("take(8) gives 8 bytes"),
        ))
    }
    fn f64(&mut self) -> Result<f64, CorruptEntry> {
        Ok(f64::from_le_bytes(
            self.take(8)?.try_into().expect("take(8) gives 8 bytes"),
        ))
    }
}
