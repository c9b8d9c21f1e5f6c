//! Serf's key queries: a keyring operation (list, install, use, remove)
//! sent by one member to every alive member over the gossip TCP port,
//! sealed with the sender's primary key so that only holders of an
//! installed key are obeyed. Each member applies it to its own keyring,
//! persists it and answers with its keys; the sender gathers the answers
//! within a deadline into Consul's counts.
//!
//! Bounded everywhere: frames of at most [`MAX_FRAME_LEN`] bytes, at most
//! [`MAX_FANOUT`] queries in flight, one deadline for the whole operation.
//! A captured query cannot be replayed: it carries its send time and a
//! random id, and a member refuses one older than [`MAX_QUERY_AGE`] or
//! already seen.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

use crate::encryption::{Encryption, KeyOp};
use crate::push_pull::{
    header, invalid, read_frame, refuse, write_frame, KEY_ANSWER, KEY_QUERY, REFUSED,
};

/// The largest key query or answer (a few dozen keys).
pub(crate) const MAX_FRAME_LEN: usize = 16 * 1024;
/// How many members are asked at once.
pub(crate) const MAX_FANOUT: usize = 32;
/// How far a query's send time may be from the receiver's clock.
pub(crate) const MAX_QUERY_AGE: Duration = Duration::from_secs(120);
/// How many recently obeyed query ids a member remembers.
const SEEN_IDS: usize = 4096;

/// A key operation as it travels.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KeyQuery {
    pub(crate) id: u64,
    /// Milliseconds since the Unix epoch when sent.
    pub(crate) sent_ms: u64,
    pub(crate) op: KeyOp,
}

/// One member's answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KeyAnswer {
    pub(crate) node: String,
    /// `None`: applied; otherwise why not.
    pub(crate) error: Option<String>,
    pub(crate) keys: Vec<String>,
    pub(crate) primary: String,
}

/// What a keyring operation found across the pool, in Consul's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyResponse {
    /// Alive members asked, this one included.
    pub num_nodes: usize,
    /// Members that answered.
    pub num_resp: usize,
    /// Members that answered with an error.
    pub num_err: usize,
    /// Each installed key and how many members hold it.
    pub keys: BTreeMap<String, usize>,
    /// Each primary key and how many members use it.
    pub primary_keys: BTreeMap<String, usize>,
    /// Per member, what went wrong (an error it reported, or no answer).
    pub messages: BTreeMap<String, String>,
}

impl KeyResponse {
    /// Serf's verdict: `"N/M nodes reported failure"` when some member
    /// failed, `"N/M nodes reported success"` when some did not answer.
    #[must_use]
    pub fn error(&self) -> Option<String> {
        if self.num_err != 0 {
            Some(format!(
                "{}/{} nodes reported failure",
                self.num_err, self.num_nodes
            ))
        } else if self.num_resp != self.num_nodes {
            Some(format!(
                "{}/{} nodes reported success",
                self.num_resp, self.num_nodes
            ))
        } else {
            None
        }
    }

    pub(crate) fn add(&mut self, answer: KeyAnswer) {
        self.num_resp += 1;
        if let Some(error) = answer.error {
            self.num_err += 1;
            self.messages.insert(answer.node, error);
            return;
        }
        for key in answer.keys {
            *self.keys.entry(key).or_default() += 1;
        }
        if !answer.primary.is_empty() {
            *self.primary_keys.entry(answer.primary).or_default() += 1;
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl KeyQuery {
    pub(crate) fn new(op: KeyOp, enc: &Encryption) -> KeyQuery {
        KeyQuery {
            id: enc.random_u64(),
            sent_ms: now_ms(),
            op,
        }
    }
}

/// Asks `peer` to apply `query`, within `timeout`.
pub(crate) async fn ask(
    peer: SocketAddr,
    query: &KeyQuery,
    enc: &Encryption,
    timeout: Duration,
) -> Result<KeyAnswer, String> {
    let run = async {
        let body = postcard::to_allocvec(query).map_err(|e| invalid(e.to_string()))?;
        let mut stream = TcpStream::connect(peer).await?;
        write_frame(&mut stream, KEY_QUERY, &body, Some(enc)).await?;
        let (kind, head, body) = read_frame(&mut stream, MAX_FRAME_LEN).await?;
        match &kind {
            KEY_ANSWER => {
                let plain = enc
                    .open(&body, &head)
                    .map_err(|e| invalid(format!("gossip encryption: the answer: {e}")))?;
                postcard::from_bytes(&plain)
                    .map_err(|e| invalid(format!("decoding the answer: {e}")))
            }
            REFUSED => Err(invalid(String::from_utf8_lossy(&body).into_owned())),
            _ => Err(invalid("unexpected answer to a key query".into())),
        }
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Answers a key query that arrived on the push/pull listener.
pub(crate) async fn serve(
    stream: &mut TcpStream,
    head: &[u8; 8],
    body: &[u8],
    enc: Option<&Encryption>,
    node: &str,
    peer: SocketAddr,
) -> std::io::Result<()> {
    let Some(enc) = enc else {
        refuse(stream, "No keyring to modify (encryption not enabled)").await;
        return Ok(());
    };
    let (query, opened_with): (KeyQuery, _) = match enc.open_keyed(body, head) {
        Ok((plain, ring)) => match postcard::from_bytes(&plain) {
            Ok(query) => (query, ring),
            Err(e) => {
                refuse(stream, &format!("decoding the key query: {e}")).await;
                return Ok(());
            }
        },
        Err(e) => {
            let reason = format!("gossip encryption: {e}");
            enc.note_drop(peer.ip(), "a key query", &reason);
            refuse(stream, &reason).await;
            return Ok(());
        }
    };
    if let Err(reason) = admit(enc, &query) {
        tracing::warn!(%peer, %reason, "key query refused");
        refuse(stream, &reason).await;
        return Ok(());
    }
    tracing::info!(%peer, operation = %query.op, "received a key query");
    let answer = answer(enc, node, &query.op).await;
    let body = postcard::to_allocvec(&answer).map_err(|e| invalid(e.to_string()))?;
    // Sealed with the key the query came under, which the asker holds
    // whatever the operation did to our primary key.
    let head = header(KEY_ANSWER, body.len() + crate::keyring::OVERHEAD)?;
    let sealed = enc.seal_with(&opened_with, &body, &head);
    write_frame(stream, KEY_ANSWER, &sealed, None).await
}

/// Applies `op` here and says how it went.
pub(crate) async fn answer(enc: &Encryption, node: &str, op: &KeyOp) -> KeyAnswer {
    match enc.apply(op).await {
        Ok((keys, primary)) => KeyAnswer {
            node: node.to_string(),
            error: None,
            keys,
            primary,
        },
        Err(e) => {
            tracing::warn!(operation = %op, error = %e, "key operation failed");
            KeyAnswer {
                node: node.to_string(),
                error: Some(e.to_string()),
                keys: Vec::new(),
                primary: String::new(),
            }
        }
    }
}

/// Refuses a stale, future or replayed query.
fn admit(enc: &Encryption, query: &KeyQuery) -> Result<(), String> {
    let age = now_ms().abs_diff(query.sent_ms);
    if u128::from(age) > MAX_QUERY_AGE.as_millis() {
        return Err(format!(
            "key query sent {age} ms away from this member's clock (limit {MAX_QUERY_AGE:?})"
        ));
    }
    let now = Instant::now();
    let mut seen = enc
        .seen_queries
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if seen.len() >= SEEN_IDS {
        seen.retain(|_, at| now.duration_since(*at) < MAX_QUERY_AGE * 2);
        if seen.len() >= SEEN_IDS {
            return Err("too many key queries; try again later".into());
        }
    }
    if seen.insert(query.id, now).is_some() {
        return Err("key query already applied (a replay)".into());
    }
    Ok(())
}

/// Applies `op` here, then asks every member in `peers` (name, address),
/// at most [`MAX_FANOUT`] at once, all within `timeout`.
pub(crate) async fn run(
    enc: &Encryption,
    node: &str,
    op: KeyOp,
    peers: Vec<(String, SocketAddr)>,
    io_timeout: Duration,
    timeout: Duration,
) -> KeyResponse {
    let mut response = KeyResponse {
        num_nodes: peers.len() + 1,
        ..KeyResponse::default()
    };
    response.add(answer(enc, node, &op).await);
    let query = KeyQuery::new(op, enc);
    let per_peer = io_timeout.min(timeout);
    let mut pending: BTreeMap<String, ()> = peers.iter().map(|(n, _)| (n.clone(), ())).collect();
    let mut answers = futures::stream::iter(peers)
        .map(|(name, addr)| {
            let query = &query;
            async move { (name, ask(addr, query, enc, per_peer).await) }
        })
        .buffer_unordered(MAX_FANOUT);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, answers.next()).await;
        let Ok(Some((name, result))) = next else {
            break;
        };
        pending.remove(&name);
        match result {
            Ok(answer) => response.add(answer),
            Err(reason) => {
                tracing::debug!(member = %name, %reason, "key query unanswered");
                response.messages.insert(name, reason);
            }
        }
    }
    for (name, ()) in pending {
        response
            .messages
            .insert(name, format!("no answer within {timeout:?}"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encryption::EncryptionConfig;
    use crate::keyring::Keyring;

    fn enc() -> Encryption {
        let ring = Keyring::new(&["pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="]).unwrap();
        Encryption::new(EncryptionConfig::new(ring))
    }

    #[test]
    fn a_query_is_obeyed_once_and_a_stale_or_future_one_never() {
        let e = enc();
        let q = KeyQuery::new(KeyOp::List, &e);
        admit(&e, &q).unwrap();
        let replay = admit(&e, &q).unwrap_err();
        assert!(replay.contains("replay"), "{replay}");
        let age = u64::try_from(MAX_QUERY_AGE.as_millis()).unwrap() + 1000;
        for sent_ms in [now_ms() - age, now_ms() + age] {
            let old = KeyQuery {
                id: e.random_u64(),
                sent_ms,
                op: KeyOp::List,
            };
            assert!(admit(&e, &old).is_err());
        }
    }

    /// Serves one key query on a loopback listener with `server`'s keys.
    async fn serve_once(server: std::sync::Arc<Encryption>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, peer) = listener.accept().await.unwrap();
            let (_, head, body) = read_frame(&mut stream, MAX_FRAME_LEN).await.unwrap();
            serve(&mut stream, &head, &body, Some(&server), "n1", peer)
                .await
                .unwrap();
        });
        addr
    }

    #[tokio::test]
    async fn only_a_holder_of_an_installed_key_is_obeyed_and_only_once() {
        const NEW: &str = "5Cm8A0jZoaFXX3GWyvD47g==";
        let server = std::sync::Arc::new(enc());
        let other = Keyring::new(&["AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]).unwrap();
        let stranger = Encryption::new(EncryptionConfig::new(other));
        let timeout = Duration::from_secs(5);

        let query = KeyQuery::new(KeyOp::Install(NEW.into()), &stranger);
        let addr = serve_once(server.clone()).await;
        let err = ask(addr, &query, &stranger, timeout).await.unwrap_err();
        assert!(err.contains("No installed keys could decrypt"), "{err}");
        assert_eq!(
            server.keyring().keys().len(),
            1,
            "the stranger changed nothing"
        );
        assert_eq!(server.dropped.load(std::sync::atomic::Ordering::Relaxed), 1);

        let holder = enc();
        let query = KeyQuery::new(KeyOp::Install(NEW.into()), &holder);
        let addr = serve_once(server.clone()).await;
        let answer = ask(addr, &query, &holder, timeout).await.unwrap();
        assert_eq!(answer.error, None);
        assert_eq!(answer.node, "n1");
        assert!(answer.keys.contains(&NEW.to_owned()));
        assert!(server.keyring().contains(NEW));

        let addr = serve_once(server.clone()).await;
        let replayed = ask(addr, &query, &holder, timeout).await.unwrap_err();
        assert!(replayed.contains("replay"), "{replayed}");
    }

    #[test]
    fn serfs_verdict_names_failures_before_silence() {
        let mut r = KeyResponse {
            num_nodes: 3,
            ..KeyResponse::default()
        };
        r.add(KeyAnswer {
            node: "a".into(),
            error: None,
            keys: vec!["k".into()],
            primary: "k".into(),
        });
        assert_eq!(r.error().unwrap(), "1/3 nodes reported success");
        r.add(KeyAnswer {
            node: "b".into(),
            error: Some("Requested key is not in the keyring".into()),
            keys: Vec::new(),
            primary: String::new(),
        });
        assert_eq!(r.error().unwrap(), "1/3 nodes reported failure");
        assert_eq!(r.keys.get("k"), Some(&1));
        assert_eq!(r.messages.len(), 1);
    }
}
