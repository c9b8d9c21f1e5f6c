//! `GET /v1/snapshot` saves the whole replicated state to a file;
//! `PUT /v1/snapshot` restores one on a running cluster. Both stream: the
//! state is saved by a server into a file of its own and read from it
//! piece by piece (`praetor_server::export`), and a restore is proposed as
//! pieces of a few megabytes then one commit (`praetor_store::restore`),
//! so neither the agent nor a server builds a state of any size in one
//! buffer or one message. A restore takes effect at one Raft index on
//! every server; the indexes of restored entries are those they had when
//! saved, and open blocking queries return at once so clients reset, as
//! Consul documents. Both act on this agent's datacenter only: `?dc=`
//! naming another is a 400 that says to ask an agent of that datacenter,
//! since a state of any size is never relayed across the WAN.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use praetor_api::snapshot::{parse_header, SnapshotMeta};
use praetor_server::export::{ExportPiece, ExportRequest};
use praetor_server::ServerError;
use praetor_store::restore::{MAX_CHUNK, MAX_STAGED};
use praetor_store::{Command, Response as StoreAnswer};

use super::error::ApiError;
use super::extract::Caller;
use super::query::{self, Params, ReadOpts};
use super::AppState;

/// Largest snapshot file `PUT /v1/snapshot` takes: the largest state a
/// restore may stage, with room for the header.
pub const MAX_SNAPSHOT: usize = MAX_STAGED as usize + 64 * 1024;

/// Bytes of state proposed in one restore piece: one Raft entry, as large
/// as one AppendEntries carries (`REPLICATION_BYTES`), so that a loaded
/// follower writes it within a heartbeat interval.
const PIECE: usize = praetor_server::raft::log_store::REPLICATION_BYTES;
const _: () = assert!(PIECE <= MAX_CHUNK);

/// `GET /v1/snapshot` (`?stale` lets any server answer).
pub async fn save(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    query::only_local_dc(&p, &state, "saving a snapshot")?;
    let consistency = ReadOpts::from_params(&p, &state)?.consistency;
    let token = caller.token().clone();
    let ask = move |id, offset| ExportRequest {
        id,
        offset,
        consistency,
    };
    let first = state.backend.snapshot_export(&token, ask(None, 0)).await?;
    let headers = query::read_headers(&first.meta, first.index, false, consistency);
    let term = state.backend.status().await.map(|s| s.term).unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let head = SnapshotMeta::new(first.index, term, now, first.size, first.crc32).header();

    // The header, the first piece, then each next piece as the client
    // reads: at most one piece is held here at a time.
    let (id, size) = (first.id, first.size);
    let after_first = first.offset + first.data.len() as u64;
    let rest = futures::stream::unfold(Some((state, after_first)), move |at| {
        let token = token.clone();
        async move {
            let (state, next) = at?;
            if next >= size {
                return None;
            }
            match state
                .backend
                .snapshot_export(&token, ask(Some(id), next))
                .await
            {
                Ok(piece) if piece.offset == next && !piece.data.is_empty() => {
                    let after = next + piece.data.len() as u64;
                    Some((Ok(piece.data), Some((state, after))))
                }
                Ok(piece) => Some((Err(cut_short(&piece_error(&piece, next))), None)),
                Err(e) => Some((Err(cut_short(&e.to_string())), None)),
            }
        }
    });
    let body = futures::stream::iter([Ok(Bytes::from(head)), Ok(first.data)]).chain(rest);
    Ok((
        headers,
        [("content-type", "application/octet-stream")],
        Body::from_stream(body),
    )
        .into_response())
}

fn piece_error(piece: &ExportPiece, expected: u64) -> String {
    format!(
        "the server answered {} bytes at offset {} where offset {expected} was asked",
        piece.data.len(),
        piece.offset
    )
}

/// Ends a snapshot download that cannot go on: the client sees the body
/// cut off (and a snapshot file that fails its size or checksum).
fn cut_short(reason: &str) -> std::io::Error {
    tracing::warn!(reason, "a snapshot download was cut short");
    std::io::Error::other(reason.to_owned())
}

/// `PUT /v1/snapshot`: the body is a file `GET /v1/snapshot` returned.
pub async fn restore(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let mut upload = Upload {
        stream: body.into_data_stream(),
        buf: BytesMut::new(),
        ended: false,
    };
    let answer =
        match query::only_local_dc(&Params::parse(q.as_deref()), &state, "restoring a snapshot") {
            Ok(()) => restore_from(&state, &caller, &mut upload).await,
            Err(e) => Err(e),
        };
    if answer.is_err() {
        upload.drain().await;
    }
    answer
}

/// Bytes of a refused upload read and dropped so its sender gets the
/// answer rather than a broken pipe; past these the connection closes.
const DRAIN_BYTES: usize = 64 * 1024 * 1024;
/// How long a refused upload is read for at most.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

async fn restore_from(
    state: &AppState,
    caller: &Caller,
    upload: &mut Upload,
) -> Result<Response, ApiError> {
    let meta = upload.header().await?;
    if meta.size == 0 {
        return Err(ApiError::BadRequest(
            "the snapshot holds no state (its header says 0 bytes)".into(),
        ));
    }
    if meta.size > MAX_STAGED {
        return Err(ApiError::TooLarge(format!(
            "the snapshot holds {} bytes of state, at most {MAX_STAGED} can be restored",
            meta.size
        )));
    }
    let id = rand::random::<u64>();
    let token = caller.token();
    let mut sent = 0u64;
    let mut seq = 0u32;
    let mut crc = crc32fast::Hasher::new();
    let staged = async {
        while let Some(piece) = upload.next_piece().await? {
            sent += piece.len() as u64;
            if sent > meta.size {
                return Err(ApiError::BadRequest(format!(
                    "the snapshot holds more than the {} bytes of state its header says",
                    meta.size
                )));
            }
            crc.update(&piece);
            let cmd = Command::RestoreChunk {
                id,
                seq,
                data: piece,
            };
            match state.backend.write(token, cmd).await {
                Ok((_, StoreAnswer::Applied(true))) => {}
                Ok((_, StoreAnswer::Refused(reason))) => return Err(ApiError::BadRequest(reason)),
                Ok((_, other)) => {
                    return Err(ApiError::Failed(format!(
                        "the store answered a snapshot piece with {other:?}"
                    )))
                }
                Err(ServerError::OutcomeUnknown(why)) => {
                    return Err(ApiError::Failed(format!(
                        "the snapshot upload was interrupted ({why}); nothing was restored"
                    )))
                }
                Err(e) => return Err(e.into()),
            }
            seq += 1;
        }
        if sent != meta.size {
            return Err(ApiError::BadRequest(format!(
                "snapshot is truncated or padded: {sent} bytes of data, the header says {}",
                meta.size
            )));
        }
        if crc.clone().finalize() != meta.crc32 {
            return Err(ApiError::BadRequest(
                "snapshot data does not match its checksum".into(),
            ));
        }
        Ok(())
    }
    .await;
    if let Err(e) = staged {
        if seq > 0 {
            // Frees what the servers staged; a failure here only leaves
            // it staged until the next restore begins.
            if let Err(why) = state
                .backend
                .write(token, Command::RestoreAbort { id })
                .await
            {
                tracing::warn!(error = %why, "dropping a failed snapshot upload");
            }
        }
        return Err(e);
    }
    let commit = Command::RestoreCommit {
        id,
        size: meta.size,
        crc32: meta.crc32,
    };
    match state.backend.write(token, commit).await? {
        (index, StoreAnswer::Applied(true)) => {
            tracing::info!(index, bytes = meta.size, "snapshot restored");
            Ok(([("X-Consul-Index", index.to_string())], "").into_response())
        }
        (_, StoreAnswer::Refused(reason)) => Err(ApiError::BadRequest(reason)),
        (_, other) => Err(ApiError::Failed(format!(
            "the store answered a snapshot restore with {other:?}"
        ))),
    }
}

/// A snapshot file arriving as a request body.
struct Upload {
    stream: axum::body::BodyDataStream,
    buf: BytesMut,
    ended: bool,
}

impl Upload {
    /// Reads more of the body into `buf`; `false` at its end.
    async fn fill(&mut self) -> Result<bool, ApiError> {
        if self.ended {
            return Ok(false);
        }
        match self.stream.next().await {
            Some(Ok(bytes)) => {
                self.buf.extend_from_slice(&bytes);
                Ok(true)
            }
            Some(Err(e)) => Err(ApiError::BadRequest(format!(
                "reading the snapshot failed: {e}"
            ))),
            None => {
                self.ended = true;
                Ok(false)
            }
        }
    }

    /// Reads and drops what is left of the body, up to `DRAIN_BYTES` and
    /// `DRAIN_TIME`, so that an answer sent before its end reaches the
    /// client.
    async fn drain(&mut self) {
        self.buf.clear();
        let mut read = 0usize;
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            while read < DRAIN_BYTES && !self.ended {
                match self.stream.next().await {
                    Some(Ok(bytes)) => read += bytes.len(),
                    _ => self.ended = true,
                }
            }
        })
        .await;
    }

    /// The file's header; `buf` keeps what follows it.
    async fn header(&mut self) -> Result<SnapshotMeta, ApiError> {
        loop {
            if let Some((meta, len)) = parse_header(&self.buf).map_err(ApiError::BadRequest)? {
                let _ = self.buf.split_to(len);
                return Ok(meta);
            }
            if !self.fill().await? {
                return Err(ApiError::BadRequest(
                    "not a Praetor snapshot (it ends inside its header)".into(),
                ));
            }
        }
    }

    /// The next `PIECE` bytes of state (fewer at the end); `None` once
    /// the body has ended and all of it was handed out.
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ApiError> {
        while self.buf.len() < PIECE && self.fill().await? {}
        if self.buf.is_empty() {
            return Ok(None);
        }
        let take = self.buf.len().min(PIECE);
        Ok(Some(self.buf.split_to(take).freeze()))
    }
}
