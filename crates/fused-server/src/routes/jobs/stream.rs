//! `GET /api/v1/jobs/{id}/results`: the job's spool file streamed as it grows. Only
//! committed bytes (complete records the registry knows) are sent; the stream ends when
//! the job is over and everything is sent, or at once with `?follow=false`.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};

use super::super::observe::RequestId;
use super::super::AppState;
use super::{answer, jobs_of, own_job, query_value, RECORDS_CONTENT_TYPE};
use crate::auth::AuthUser;
use crate::jobs::writer::Progress;

/// Bytes read from the spool per chunk.
const CHUNK: u64 = 256 * 1024;

/// A response body fed by a channel of chunks.
struct ChannelBody(mpsc::Receiver<std::io::Result<Bytes>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|c| c.map(|r| r.map(http_body::Frame::data)))
    }
}

pub async fn results(
    State(state): State<AppState>,
    RequestId(rid): RequestId,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let run = async {
        let jobs = jobs_of(&state)?;
        let follow = match query_value(&query, "follow").map(str::to_ascii_lowercase) {
            None => true,
            Some(v) => match v.as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => return Err(super::invalid_option("follow", "true or false", &v)),
            },
        };
        own_job(&state, &user, &id).await?;
        // subscribe before opening the file: a job that ends in between has a complete file
        let progress = jobs.progress(&id);
        let path = jobs.spool_path(&id);
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None, // no result yet
            Err(e) => return Err(super::internal(format!("{}: {e}", path.display()))),
        };
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(pump(file, progress, follow, tx));
        let mut resp = (StatusCode::OK, Body::new(ChannelBody(rx))).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(RECORDS_CONTENT_TYPE),
        );
        Ok(resp)
    };
    answer(run.await, &rid)
}

/// Copy the spool to the channel up to what is committed, following it until the job is
/// over (or only what is there now when not `follow`); stops when the client goes away.
async fn pump(
    file: Option<tokio::fs::File>,
    mut progress: Option<watch::Receiver<Progress>>,
    follow: bool,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
) {
    let Some(mut file) = file else {
        return;
    };
    let mut sent: u64 = 0;
    loop {
        let (limit, over) = match &progress {
            Some(p) => {
                let p = *p.borrow();
                (p.committed, p.finished)
            }
            None => (file.metadata().await.map_or(0, |m| m.len()), true),
        };
        while sent < limit {
            let want = usize::try_from((limit - sent).min(CHUNK)).unwrap_or(64 * 1024);
            let mut buf = vec![0u8; want];
            match file.read_exact(&mut buf).await {
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
            sent += want as u64;
            if tx.send(Ok(Bytes::from(buf))).await.is_err() {
                return; // the client went away
            }
        }
        if over || !follow {
            return;
        }
        if let Some(p) = progress.as_mut() {
            if p.changed().await.is_err() {
                // the writer let go of it: the job is over and its file complete
                progress = None;
            }
        }
    }
}
