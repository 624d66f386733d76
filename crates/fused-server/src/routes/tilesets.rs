//! Exported tilesets served without any worker: `.pmtiles` and `.mbtiles` files in
//! `<data-dir>/tilesets/` (placed there, or uploaded by a logged-in user).
//!
//! * `GET /tilesets`: the list (JSON);
//! * `GET /tilesets/{name}/{z}/{x}/{y}[.ext]`: a tile (stored bytes, `Content-Encoding: gzip`
//!   for gzipped vector tiles; 204 when the set has no such tile);
//! * `GET /tilesets/{name}/tilejson.json`: its TileJSON 3.0.0;
//! * `GET /tilesets/{name}.pmtiles|.mbtiles`: the file, with HTTP range requests (206,
//!   `Content-Range`; 416 for a range outside the file), so PMTiles clients read it directly;
//! * `PUT /api/v1/tilesets/{name}.pmtiles|.mbtiles` (Bearer login): upload or replace one's
//!   own tileset. The body is checked (PMTiles header and root directory; SQLite with the
//!   MBTiles tables) and renamed into place only when valid. A tileset placed by the
//!   administrator, or uploaded by someone else, is refused (403).

use std::io::SeekFrom;
use std::path::{Path as FsPath, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fused_core::tiles::Tile;
use fused_core::tileset::mbtiles::MbtilesReader;
use fused_core::tileset::pmtiles::{PmtilesReader, COMPRESSION_GZIP, TILE_TYPE_MVT, TILE_TYPE_PNG};
use fused_core::tileset::tilejson::WORLD_BOUNDS;
use fused_core::tileset::TilesetKind;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncSeekExt, ReadBuf};

use super::observe::RequestId;
use super::path::parse_tile;
use super::tilejson::{base_url, segment, FieldMemo};
use super::AppState;
use crate::auth::AuthUser;
use crate::error::{ErrorCode, HttpError};

/// Largest tileset upload accepted.
pub const MAX_UPLOAD_BYTES: u64 = 8 << 30;

/// The tilesets directory and what the tile documents remember.
#[derive(Default)]
pub struct Tilesets {
    /// `<data-dir>/tilesets` (`None`: no tilesets are served).
    pub dir: Option<PathBuf>,
    /// Vector fields per saved UDF version (see [`super::tilejson::record_fields`]).
    pub fields: FieldMemo,
    /// Serialises uploads (the owner check and the rename).
    upload: tokio::sync::Mutex<()>,
}

impl Tilesets {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Tilesets {
            dir,
            ..Default::default()
        }
    }
}

fn error(status: StatusCode, rid: &str, code: ErrorCode, msg: &str) -> Response {
    HttpError::new(status, code, msg)
        .for_request(rid)
        .into_response()
}

/// A tileset name: letters, digits, `_`, `-`, `.`; not starting with a dot; at most 128.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

fn kind_of(file: &str) -> Option<(&str, TilesetKind)> {
    let (stem, ext) = file.rsplit_once('.')?;
    let kind = match ext.to_ascii_lowercase().as_str() {
        "pmtiles" => TilesetKind::Pmtiles,
        "mbtiles" => TilesetKind::Mbtiles,
        _ => return None,
    };
    valid_name(stem).then_some((stem, kind))
}

/// The file of tileset `name` (`.pmtiles` first), or the 404 response.
fn find(state: &AppState, rid: &str, name: &str) -> Result<(PathBuf, TilesetKind), Box<Response>> {
    let missing = || {
        Box::new(error(
            StatusCode::NOT_FOUND,
            rid,
            ErrorCode::NotFound,
            &format!("no tileset named {name:?}"),
        ))
    };
    let Some(dir) = &state.tilesets.dir else {
        return Err(missing());
    };
    if !valid_name(name) {
        return Err(missing());
    }
    for kind in [TilesetKind::Pmtiles, TilesetKind::Mbtiles] {
        let p = dir.join(format!("{name}.{}", kind.extension()));
        if p.is_file() {
            return Ok((p, kind));
        }
    }
    Err(missing())
}

/// `GET /tilesets`.
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let base = base_url(&headers).unwrap_or_default();
    let mut sets = Vec::new();
    if let Some(dir) = &state.tilesets.dir {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                if let Some((name, kind)) = kind_of(&file) {
                    let size = e.metadata().map_or(0, |m| m.len());
                    sets.push(json!({
                        "name": name,
                        "format": kind.extension(),
                        "size": size,
                        "tilejson": format!("{base}/tilesets/{}/tilejson.json", segment(name)),
                        "download": format!("{base}/tilesets/{}", segment(&file)),
                    }));
                }
            }
        }
    }
    sets.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    cors_json(json!({ "tilesets": sets }))
}

/// A JSON answer (CORS comes from the router's layer).
fn cors_json(v: Value) -> Response {
    axum::Json(v).into_response()
}

/// What a tile answer needs: bytes, content type, gzip.
struct StoredTile {
    data: Option<Vec<u8>>,
    content_type: &'static str,
    gzip: bool,
}

fn read_tile(path: &FsPath, kind: TilesetKind, tile: Tile) -> fused_core::Result<StoredTile> {
    match kind {
        TilesetKind::Pmtiles => {
            let mut r = PmtilesReader::open(path)?;
            let h = r.header().clone();
            let content_type = match h.tile_type {
                TILE_TYPE_MVT => "application/vnd.mapbox-vector-tile",
                TILE_TYPE_PNG => "image/png",
                3 => "image/jpeg",
                4 => "image/webp",
                5 => "image/avif",
                _ => "application/octet-stream",
            };
            Ok(StoredTile {
                data: r.get(tile)?,
                content_type,
                gzip: h.tile_compression == COMPRESSION_GZIP,
            })
        }
        TilesetKind::Mbtiles => {
            let r = MbtilesReader::open(path)?;
            let format = r.metadata()?.get("format").cloned().unwrap_or_default();
            let data = r.get(tile)?;
            let gzip = data.as_ref().is_some_and(|d| d.starts_with(&[0x1f, 0x8b]));
            let content_type = match format.as_str() {
                "pbf" | "mvt" => "application/vnd.mapbox-vector-tile",
                "png" => "image/png",
                "jpg" | "jpeg" => "image/jpeg",
                "webp" => "image/webp",
                _ => "application/octet-stream",
            };
            Ok(StoredTile {
                data,
                content_type,
                gzip,
            })
        }
    }
}

/// `GET /tilesets/{name}/{z}/{x}/{y}[.ext]`.
pub async fn tile(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    Path((name, z, x, y)): Path<(String, String, String, String)>,
) -> Response {
    let (tile, _ext) = match parse_tile(&z, &x, &y) {
        Ok(t) => t,
        Err(msg) => return error(StatusCode::BAD_REQUEST, &rid, ErrorCode::BadRequest, &msg),
    };
    let (path, kind) = match find(&state, &rid, &name) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let read = tokio::task::spawn_blocking(move || read_tile(&path, kind, tile)).await;
    let stored = match read {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::error!(request_id = rid, "tileset {name}: {e}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &rid,
                ErrorCode::TilesetError,
                &format!("tileset {name:?} cannot be read: {e}"),
            );
        }
        Err(e) => {
            let msg = format!("tileset read task failed: {e}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &rid,
                ErrorCode::Internal,
                &msg,
            );
        }
    };
    let mut resp = match stored.data {
        Some(d) => (StatusCode::OK, d).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    };
    let ok = resp.status() == StatusCode::OK;
    let h = resp.headers_mut();
    if ok {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(stored.content_type),
        );
        if stored.gzip {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
    }
    resp
}

fn tileset_tilejson(
    path: &FsPath,
    kind: TilesetKind,
    name: &str,
    tiles_url: String,
) -> fused_core::Result<Value> {
    let (mut doc, format) = match kind {
        TilesetKind::Pmtiles => {
            let mut r = PmtilesReader::open(path)?;
            let h = r.header().clone();
            let meta: Value = serde_json::from_str(&r.metadata()?).unwrap_or(Value::Null);
            let mut doc = match meta {
                Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            doc.insert("minzoom".into(), h.min_zoom.into());
            doc.insert("maxzoom".into(), h.max_zoom.into());
            doc.insert("bounds".into(), json!(h.bounds));
            doc.insert(
                "center".into(),
                json!([h.center[0], h.center[1], h.center_zoom]),
            );
            let format = match h.tile_type {
                TILE_TYPE_MVT => "pbf",
                TILE_TYPE_PNG => "png",
                3 => "jpg",
                4 => "webp",
                _ => "unknown",
            };
            (doc, format.to_string())
        }
        TilesetKind::Mbtiles => {
            let r = MbtilesReader::open(path)?;
            let meta = r.metadata()?;
            let mut doc = serde_json::Map::new();
            let nums = |k: &str| -> Option<Vec<f64>> {
                let v: Option<Vec<f64>> = meta
                    .get(k)?
                    .split(',')
                    .map(|p| p.trim().parse().ok())
                    .collect();
                v
            };
            for k in ["name", "description", "attribution"] {
                if let Some(v) = meta.get(k) {
                    doc.insert(k.into(), v.clone().into());
                }
            }
            for k in ["minzoom", "maxzoom"] {
                if let Some(z) = meta.get(k).and_then(|v| v.parse::<u8>().ok()) {
                    doc.insert(k.into(), z.into());
                }
            }
            if let Some(b) = nums("bounds").filter(|b| b.len() == 4) {
                doc.insert("bounds".into(), json!(b));
            }
            if let Some(c) = nums("center").filter(|c| c.len() == 3) {
                doc.insert("center".into(), json!(c));
            }
            if let Some(Value::Object(j)) =
                meta.get("json").and_then(|j| serde_json::from_str(j).ok())
            {
                if let Some(layers) = j.get("vector_layers") {
                    doc.insert("vector_layers".into(), layers.clone());
                }
            }
            (doc, meta.get("format").cloned().unwrap_or_default())
        }
    };
    doc.insert("tilejson".into(), "3.0.0".into());
    doc.insert("tiles".into(), json!([tiles_url]));
    doc.insert("scheme".into(), "xyz".into());
    doc.insert("format".into(), format.clone().into());
    doc.entry("name").or_insert_with(|| name.into());
    doc.entry("bounds").or_insert_with(|| json!(WORLD_BOUNDS));
    if format == "pbf" {
        doc.entry("vector_layers").or_insert_with(|| json!([]));
    }
    // Keys TileJSON does not define stay (they are allowed), except these internal ones.
    doc.remove("generator");
    doc.remove("type");
    Ok(Value::Object(doc))
}

/// `GET /tilesets/{name}/tilejson.json`.
pub async fn tilejson(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let base = match base_url(&headers) {
        Ok(b) => b,
        Err(msg) => return error(StatusCode::BAD_REQUEST, &rid, ErrorCode::BadRequest, &msg),
    };
    let (path, kind) = match find(&state, &rid, &name) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let url = format!("{base}/tilesets/{}/{{z}}/{{x}}/{{y}}", segment(&name));
    let n = name.clone();
    match tokio::task::spawn_blocking(move || tileset_tilejson(&path, kind, &n, url)).await {
        Ok(Ok(doc)) => cors_json(doc),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &rid,
            ErrorCode::TilesetError,
            &format!("tileset {name:?} cannot be read: {e}"),
        ),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &rid,
            ErrorCode::Internal,
            &format!("tileset read task failed: {e}"),
        ),
    }
}

/// A parsed `Range: bytes=...` header: `Ok(None)` = whole file (no header, another unit, or
/// several ranges, which are answered whole), `Err(())` = unsatisfiable or malformed.
fn parse_range(value: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(v) = value.map(str::trim) else {
        return Ok(None);
    };
    let Some(spec) = v.strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        // The last `b` bytes.
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 || size == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end: u64 = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse().map_err(|_| ())?
        };
        if start >= size || end < start {
            return Err(());
        }
        (start, end.min(size - 1))
    };
    Ok(Some(range))
}

/// A response body read from a file, `remaining` bytes from its current position.
struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    buf: Vec<u8>,
}

impl HttpBody for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = this.remaining.min(256 * 1024) as usize;
        this.buf.resize(want, 0);
        let mut rb = ReadBuf::new(&mut this.buf);
        match Pin::new(&mut this.file).poll_read(cx, &mut rb) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                if n == 0 {
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "tileset file shrank while being sent",
                    ))));
                }
                this.remaining -= n as u64;
                let chunk = Bytes::copy_from_slice(&this.buf[..n]);
                Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
            }
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}

/// `GET /tilesets/{file}`: download `name.pmtiles` / `name.mbtiles`, with ranges.
pub async fn download(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((name, kind)) = kind_of(&file) else {
        let msg = format!("no tileset file {file:?} (expected NAME.pmtiles or NAME.mbtiles)");
        return error(StatusCode::NOT_FOUND, &rid, ErrorCode::NotFound, &msg);
    };
    let (path, found) = match find(&state, &rid, name) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if found != kind {
        let msg = format!("tileset {name:?} is a .{} file", found.extension());
        return error(StatusCode::NOT_FOUND, &rid, ErrorCode::NotFound, &msg);
    }
    let mut f = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("tileset {name:?} cannot be opened: {e}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &rid,
                ErrorCode::TilesetError,
                &msg,
            );
        }
    };
    let size = match f.metadata().await {
        Ok(m) => m.len(),
        Err(e) => {
            let msg = format!("tileset {name:?}: {e}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &rid,
                ErrorCode::TilesetError,
                &msg,
            );
        }
    };
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let Ok(range) = parse_range(range_header, size) else {
        let msg = format!(
            "unsatisfiable range {:?} for a file of {size} bytes",
            range_header.unwrap_or("")
        );
        let mut resp = error(
            StatusCode::RANGE_NOT_SATISFIABLE,
            &rid,
            ErrorCode::RangeNotSatisfiable,
            &msg,
        );
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return resp;
    };
    let (status, start, len) = match range {
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        None => (StatusCode::OK, 0, size),
    };
    if start > 0 {
        if let Err(e) = f.seek(SeekFrom::Start(start)).await {
            let msg = format!("tileset {name:?}: {e}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &rid,
                ErrorCode::TilesetError,
                &msg,
            );
        }
    }
    let body = Body::new(FileBody {
        file: f,
        remaining: len,
        buf: Vec::new(),
    });
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Content-Range, Content-Length, Accept-Ranges, ETag"),
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        let v = format!("bytes {start}-{}/{size}", start + len - 1);
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    resp
}

fn owner_file(dir: &FsPath, name: &str) -> PathBuf {
    dir.join(format!(".{name}.owner"))
}

/// Check an uploaded file: a PMTiles v3 archive whose root directory reads, or an SQLite
/// database with the MBTiles tables.
fn validate(path: &FsPath, kind: TilesetKind) -> fused_core::Result<()> {
    match kind {
        TilesetKind::Pmtiles => {
            let mut r = PmtilesReader::open(path)?;
            r.metadata()?;
            Ok(())
        }
        TilesetKind::Mbtiles => MbtilesReader::open(path).map(|_| ()),
    }
}

/// `PUT /api/v1/tilesets/{file}`: upload `name.pmtiles` / `name.mbtiles` (Bearer login).
pub async fn upload(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    AuthUser(user): AuthUser,
    Path(file): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(dir) = state.tilesets.dir.clone() else {
        let msg = "this server has no tilesets directory";
        return error(StatusCode::NOT_FOUND, &rid, ErrorCode::NotFound, msg);
    };
    let Some((name, kind)) = kind_of(&file) else {
        let msg = format!(
            "invalid tileset file name {file:?}: expected NAME.pmtiles or NAME.mbtiles, NAME \
             of letters, digits, '_', '-', '.' (not starting with '.')"
        );
        return error(StatusCode::BAD_REQUEST, &rid, ErrorCode::BadRequest, &msg);
    };
    let name = name.to_string();
    if let Err(e) = tokio::fs::create_dir_all(&dir).await {
        let msg = format!("cannot create the tilesets directory: {e}");
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &rid,
            ErrorCode::Internal,
            &msg,
        );
    }
    let forbidden = |owner: Option<String>| {
        let who = match owner {
            Some(_) => "another user",
            None => "the administrator (placed in the tilesets directory)",
        };
        error(
            StatusCode::FORBIDDEN,
            &rid,
            ErrorCode::Forbidden,
            &format!("tileset {name:?} belongs to {who}; choose another name"),
        )
    };
    let owner_of = |dir: &FsPath| -> Option<Option<String>> {
        let exists = [TilesetKind::Pmtiles, TilesetKind::Mbtiles]
            .iter()
            .any(|k| dir.join(format!("{name}.{}", k.extension())).exists());
        exists.then(|| {
            std::fs::read_to_string(owner_file(dir, &name))
                .ok()
                .map(|s| s.trim().to_string())
        })
    };
    // Refuse early, before reading the body; checked again under the lock.
    if let Some(owner) = owner_of(&dir) {
        if !owner
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case(&user.email))
        {
            return forbidden(owner);
        }
    }
    let tmp = dir.join(format!(".upload-{rid}.part"));
    if let Err(resp) = receive(body, &tmp, &rid).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return *resp;
    }
    let t = tmp.clone();
    let checked = tokio::task::spawn_blocking(move || validate(&t, kind)).await;
    match checked {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            let msg = format!("the upload is not a valid .{} file: {e}", kind.extension())
                .replace(&tmp.display().to_string(), &file);
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &rid,
                ErrorCode::InvalidTileset,
                &msg,
            );
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            let msg = format!("validation task failed: {e}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &rid,
                ErrorCode::Internal,
                &msg,
            );
        }
    }
    let _guard = state.tilesets.upload.lock().await;
    if let Some(owner) = owner_of(&dir) {
        if !owner
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case(&user.email))
        {
            let _ = tokio::fs::remove_file(&tmp).await;
            return forbidden(owner);
        }
    }
    let target = dir.join(format!("{name}.{}", kind.extension()));
    let other = dir.join(format!(
        "{name}.{}",
        match kind {
            TilesetKind::Pmtiles => "mbtiles",
            TilesetKind::Mbtiles => "pmtiles",
        }
    ));
    let replaced = target.exists() || other.exists();
    let (owner_path, email) = (owner_file(&dir, &name), user.email.clone());
    let renamed = async {
        tokio::task::spawn_blocking(move || {
            fused_core::fsutil::write_atomic(&owner_path, email.as_bytes())
        })
        .await
        .map_err(std::io::Error::other)??;
        tokio::fs::rename(&tmp, &target).await?;
        if other.exists() {
            tokio::fs::remove_file(&other).await?;
        }
        Ok::<(), std::io::Error>(())
    }
    .await;
    if let Err(e) = renamed {
        let _ = tokio::fs::remove_file(&tmp).await;
        let msg = format!("cannot store tileset {name:?}: {e}");
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &rid,
            ErrorCode::Internal,
            &msg,
        );
    }
    let base = base_url(&headers).unwrap_or_default();
    let mut resp = cors_json(json!({
        "name": name,
        "format": kind.extension(),
        "owner": user.email,
        "tilejson": format!("{base}/tilesets/{}/tilejson.json", segment(&name)),
        "download": format!("{base}/tilesets/{}", segment(&file)),
    }));
    *resp.status_mut() = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    resp
}

/// Stream the request body into `tmp` (at most [`MAX_UPLOAD_BYTES`]).
async fn receive(mut body: Body, tmp: &FsPath, rid: &str) -> Result<(), Box<Response>> {
    use tokio::io::AsyncWriteExt;
    let io_err = |e: std::io::Error| {
        let msg = format!("cannot write the upload: {e}");
        Box::new(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            rid,
            ErrorCode::Internal,
            &msg,
        ))
    };
    let mut out = tokio::fs::File::create(tmp).await.map_err(io_err)?;
    let mut total: u64 = 0;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| {
            let msg = format!("the upload was interrupted: {e}");
            Box::new(error(
                StatusCode::BAD_REQUEST,
                rid,
                ErrorCode::BadRequest,
                &msg,
            ))
        })?;
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            if total > MAX_UPLOAD_BYTES {
                let msg = format!("the upload is larger than {MAX_UPLOAD_BYTES} bytes");
                return Err(Box::new(error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    rid,
                    ErrorCode::TooLarge,
                    &msg,
                )));
            }
            out.write_all(&data).await.map_err(io_err)?;
        }
    }
    out.sync_all().await.map_err(io_err)?;
    if total == 0 {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            rid,
            ErrorCode::BadRequest,
            "the upload is empty (send the file as the request body)",
        )));
    }
    Ok(())
}

/// The OpenAPI paths of the TileJSON / style documents and the tileset endpoints.
pub fn openapi_paths() -> Value {
    let bearer = json!([{"bearer": []}]);
    let p = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}});
    let saved = json!([p("email"), p("name")]);
    let token = json!([p("token")]);
    let doc = |what: &str| json!({"200": {"description": what}, "401": {"description": "missing or invalid login"}, "404": {"description": "unknown UDF or token"}, "422": {"description": "malformed meta.json metadata (the key is named)"}});
    let query_note = "query parameters (UDF parameters, format) are carried into the tile URL template; format=png gives a raster document";
    json!({
        "/api/v1/run/udf/saved/{email}/{name}/tilejson.json": {"get": {"summary": "TileJSON 3.0.0 of the caller's saved UDF's tiles", "description": query_note, "security": bearer, "parameters": saved, "responses": doc("TileJSON")}},
        "/api/v1/run/udf/saved/{email}/{name}/style.json": {"get": {"summary": "MapLibre style (version 8) of the caller's saved UDF's tiles", "description": query_note, "security": bearer, "parameters": saved, "responses": doc("style")}},
        "/shared/{token}/tilejson.json": {"get": {"summary": "TileJSON 3.0.0 of a shared UDF's tiles (no login)", "description": query_note, "parameters": token, "responses": doc("TileJSON")}},
        "/shared/{token}/style.json": {"get": {"summary": "MapLibre style (version 8) of a shared UDF's tiles (no login)", "description": query_note, "parameters": token, "responses": doc("style")}},
        "/tilesets": {"get": {"summary": "the tilesets served from <data-dir>/tilesets", "responses": {"200": {"description": "{\"tilesets\": [{name, format, size, tilejson, download}]}"}}}},
        "/tilesets/{name}/{z}/{x}/{y}": {"get": {"summary": "a tile of a tileset (stored bytes; gzip Content-Encoding for MVT)", "parameters": [p("name"), p("z"), p("x"), p("y")], "responses": {"200": {"description": "the tile"}, "204": {"description": "the set has no such tile"}, "400": {"description": "bad tile"}, "404": {"description": "no such tileset"}}}},
        "/tilesets/{name}/tilejson.json": {"get": {"summary": "TileJSON 3.0.0 of a tileset", "parameters": [p("name")], "responses": {"200": {"description": "TileJSON"}, "404": {"description": "no such tileset"}}}},
        "/tilesets/{file}": {"get": {"summary": "download NAME.pmtiles / NAME.mbtiles (HTTP range requests)", "parameters": [p("file"), {"name": "Range", "in": "header", "schema": {"type": "string"}}], "responses": {"200": {"description": "the file"}, "206": {"description": "the range (Content-Range)"}, "404": {"description": "no such tileset"}, "416": {"description": "range outside the file"}}}},
        "/api/v1/tilesets/{file}": {"put": {"summary": "upload or replace one's own NAME.pmtiles / NAME.mbtiles (the body is the file)", "security": bearer, "parameters": [p("file")], "requestBody": {"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}, "responses": {"200": {"description": "replaced"}, "201": {"description": "created"}, "401": {"description": "missing or invalid login"}, "403": {"description": "the name belongs to another user or the administrator"}, "422": {"description": "not a valid PMTiles / MBTiles file"}}}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 100), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(Some("bytes=50-500"), 100), Ok(Some((50, 99))));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(parse_range(Some("bytes=9-3"), 100), Err(()));
        assert_eq!(parse_range(Some("bytes=x-3"), 100), Err(()));
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(parse_range(Some("items=0-1"), 100), Ok(None));
    }

    #[test]
    fn names() {
        assert!(kind_of("city.pmtiles").is_some());
        assert!(kind_of("a.b.mbtiles").is_some());
        assert!(kind_of(".x.pmtiles").is_none());
        assert!(kind_of("../x.pmtiles").is_none());
        assert!(kind_of("x.zip").is_none());
    }
}
