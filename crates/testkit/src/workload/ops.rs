//! One operation each: a KV read, write or CAS, a session, an acquire, a
//! fenced write, each one HTTP exchange with a node under a timeout,
//! classified and recorded. Classification: an answer that says what
//! happened is `Ok`; a 4xx or a refused connection (the request never
//! reached a server) is `Failed`; a timeout, a lost connection or a 5xx is
//! `Unknown`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use super::record::{Kind, Mode, Record, Recorder, Target};
use crate::linearizability::{Call, Op, Outcome};

/// What an HTTP exchange gave.
enum Reply {
    Answer {
        status: u16,
        body: String,
        index: Option<u64>,
        known_leader: Option<bool>,
        last_contact_ms: Option<u64>,
    },
    /// The request never reached the node (connection refused).
    Refused(String),
    /// Sent, but no (complete) answer: a timeout or a lost connection.
    NoAnswer(String),
}

impl Reply {
    fn describe(&self) -> String {
        match self {
            Reply::Answer { status, body, .. } => {
                let body = body.trim();
                if *status == 200 || body.is_empty() {
                    status.to_string()
                } else {
                    format!("{status} {}", body.chars().take(80).collect::<String>())
                }
            }
            Reply::Refused(e) => format!("refused: {e}"),
            Reply::NoAnswer(e) => format!("no answer: {e}"),
        }
    }

    /// The outcome class of an answer that is not the success its caller
    /// looks for: 4xx and refused connections failed, the rest unknown.
    fn failure(&self) -> Outcome {
        match self {
            Reply::Answer { status, .. } if *status < 500 => Outcome::Failed,
            Reply::Refused(_) => Outcome::Failed,
            _ => Outcome::Unknown,
        }
    }
}

fn error_text(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timeout".into();
    }
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out = format!("{out}: {s}");
        source = s.source();
    }
    out
}

/// What a read found: the value, its ModifyIndex, the session holding it.
pub(super) struct Found {
    pub value: Option<String>,
    pub index: Option<u64>,
    pub session: Option<String>,
}

/// What an acquire did.
pub(super) enum Acquired {
    /// `true`, or no answer: read the lock to know.
    Maybe,
    /// `false` (held by another, or a lock-delay).
    No,
    /// The session is gone (a 4xx): start over with a new one.
    SessionGone,
}

/// A worker's HTTP client and recorder; cheap to clone into a task.
#[derive(Clone)]
pub(super) struct Client {
    worker: String,
    http: reqwest::Client,
    recorder: Arc<Recorder>,
}

impl Client {
    pub(super) fn new(worker: &str, recorder: Arc<Recorder>) -> Client {
        let http = crate::http_client_builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(1))
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Client {
            worker: worker.to_owned(),
            http,
            recorder,
        }
    }

    pub(super) fn worker(&self) -> &str {
        &self.worker
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<String>,
        within: Duration,
    ) -> Reply {
        let mut req = self.http.request(method, url).timeout(within);
        if let Some(b) = body {
            req = req.body(b);
        }
        let r = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Reply::Refused(error_text(&e)),
            Err(e) => return Reply::NoAnswer(error_text(&e)),
        };
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let index = header("x-consul-index").and_then(|v| v.parse().ok());
        let known_leader = header("x-consul-knownleader").map(|v| v == "true");
        let last_contact_ms = header("x-consul-lastcontact").and_then(|v| v.parse().ok());
        let status = r.status().as_u16();
        match r.text().await {
            Ok(body) => Reply::Answer {
                status,
                body,
                index,
                known_leader,
                last_contact_ms,
            },
            Err(e) => Reply::NoAnswer(error_text(&e)),
        }
    }

    /// Builds the op (completing now) and records it.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        key: &str,
        call: Call,
        outcome: Outcome,
        invoke: Duration,
        label: String,
        kind: Kind,
        node: &str,
        reply: &Reply,
        index: Option<u64>,
        token: Option<u64>,
    ) {
        let (known_leader, last_contact_ms) = match reply {
            Reply::Answer {
                known_leader,
                last_contact_ms,
                ..
            } => (*known_leader, *last_contact_ms),
            _ => (None, None),
        };
        let op = Op {
            id: self.recorder.next_id(),
            key: key.to_owned(),
            call,
            outcome,
            invoke,
            complete: self.recorder.now(),
            label,
        };
        self.recorder.push(Record {
            op,
            kind,
            node: node.to_owned(),
            worker: self.worker.clone(),
            index,
            known_leader,
            last_contact_ms,
            answer: reply.describe(),
            token,
        });
    }

    /// `GET /v1/kv/<key>` in `mode` on `t`, recorded as `kind`; what it
    /// found when it answered 200 or 404.
    pub(super) async fn read(
        &self,
        t: &Target,
        key: &str,
        mode: Mode,
        within: Duration,
        kind: Kind,
    ) -> Option<Found> {
        let url = format!("{}/v1/kv/{key}{}", t.url, mode.param());
        let invoke = self.recorder.now();
        let reply = self.send(reqwest::Method::GET, url, None, within).await;
        let found = match &reply {
            Reply::Answer {
                status: 404, index, ..
            } => Ok(Found {
                value: None,
                index: *index,
                session: None,
            }),
            Reply::Answer {
                status: 200, body, ..
            } => parse_entry(body),
            other => Err(other.failure()),
        };
        let outcome = match &found {
            Ok(f) => Outcome::Read(f.value.clone()),
            Err(o) => o.clone(),
        };
        let entry_index = match (&reply, &found) {
            (Reply::Answer { status: 200, .. }, Ok(f)) => f.index,
            _ => None,
        };
        let label = format!(
            "{} via {} {}: {}{}",
            self.worker,
            t.name,
            mode.word(),
            reply.describe(),
            headers_note(&reply, entry_index)
        );
        let (call, node) = (Call::Read, t.name.as_str());
        self.record(
            key,
            call,
            outcome,
            invoke,
            label,
            kind,
            node,
            &reply,
            entry_index,
            None,
        );
        found.ok()
    }

    /// `PUT /v1/kv/<key>` of `value` on `t` (with `?cas=<index>` when `cas`
    /// is set: the value and index a read returned), recorded.
    pub(super) async fn write(
        &self,
        t: &Target,
        key: &str,
        value: String,
        cas: Option<(Option<String>, u64)>,
        within: Duration,
    ) {
        let (url, call, kind) = match &cas {
            None => (
                format!("{}/v1/kv/{key}", t.url),
                Call::Write {
                    value: value.clone(),
                },
                Kind::Write,
            ),
            Some((expect, index)) => (
                format!("{}/v1/kv/{key}?cas={index}", t.url),
                Call::Cas {
                    expect: expect.clone(),
                    new: value.clone(),
                },
                Kind::Cas,
            ),
        };
        let invoke = self.recorder.now();
        let reply = self
            .send(reqwest::Method::PUT, url, Some(value), within)
            .await;
        let (outcome, index) = match &reply {
            Reply::Answer {
                status: 200,
                body,
                index,
                ..
            } => match (body.trim(), kind) {
                ("true", Kind::Write) => (Outcome::Written, *index),
                ("true", _) => (Outcome::Swapped(true), *index),
                ("false", Kind::Cas) => (Outcome::Swapped(false), None),
                _ => (Outcome::Unknown, None),
            },
            other => (other.failure(), None),
        };
        let label = format!(
            "{} via {}: {}{}",
            self.worker,
            t.name,
            reply.describe(),
            index.map(|i| format!(" at index {i}")).unwrap_or_default()
        );
        let node = t.name.as_str();
        self.record(
            key, call, outcome, invoke, label, kind, node, &reply, index, None,
        );
    }

    /// `PUT /v1/session/create` (TTL 10 s, lock-delay 1 s, release) on `t`.
    pub(super) async fn create_session(&self, t: &Target, within: Duration) -> Option<String> {
        let body = json!({
            "Name": format!("faults {}", self.worker),
            "TTL": "10s",
            "LockDelay": "1s",
            "Behavior": "release",
        });
        let url = format!("{}/v1/session/create", t.url);
        let reply = self
            .send(reqwest::Method::PUT, url, Some(body.to_string()), within)
            .await;
        match reply {
            Reply::Answer {
                status: 200, body, ..
            } => serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["ID"].as_str().map(str::to_owned)),
            _ => None,
        }
    }

    /// `PUT /v1/kv/<lock>?acquire=<session>` on `t`, recorded.
    pub(super) async fn acquire(
        &self,
        t: &Target,
        lock_key: &str,
        session: &str,
        within: Duration,
    ) -> Acquired {
        let url = format!("{}/v1/kv/{lock_key}?acquire={session}", t.url);
        let invoke = self.recorder.now();
        let reply = self
            .send(reqwest::Method::PUT, url, Some(self.worker.clone()), within)
            .await;
        let (outcome, acquired) = match &reply {
            Reply::Answer {
                status: 200, body, ..
            } if body.trim() == "true" => (Outcome::Swapped(true), Acquired::Maybe),
            Reply::Answer {
                status: 200, body, ..
            } if body.trim() == "false" => (Outcome::Swapped(false), Acquired::No),
            Reply::Answer { status, .. } if (400..500).contains(status) => {
                (Outcome::Failed, Acquired::SessionGone)
            }
            Reply::Refused(_) => (Outcome::Failed, Acquired::No),
            _ => (Outcome::Unknown, Acquired::Maybe),
        };
        let label = format!("{} via {}: {}", self.worker, t.name, reply.describe());
        let call = Call::Cas {
            expect: None,
            new: session.to_owned(),
        };
        self.record(
            lock_key,
            call,
            outcome,
            invoke,
            label,
            Kind::Acquire,
            &t.name,
            &reply,
            None,
            None,
        );
        acquired
    }

    /// One fenced write on `t`: a txn that sets `fenced_key` to `value`
    /// only if `lock_key` is still held by `session` at ModifyIndex `token`.
    /// `false` when the hold is over (the txn was refused).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn fenced_write(
        &self,
        t: &Target,
        lock_key: &str,
        fenced_key: &str,
        session: &str,
        token: u64,
        value: String,
        within: Duration,
    ) -> bool {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&value);
        let body = json!([
            {"KV": {"Verb": "check-session", "Key": lock_key, "Session": session}},
            {"KV": {"Verb": "check-index", "Key": lock_key, "Index": token}},
            {"KV": {"Verb": "set", "Key": fenced_key, "Value": b64}},
        ]);
        let url = format!("{}/v1/txn", t.url);
        let invoke = self.recorder.now();
        let reply = self
            .send(reqwest::Method::PUT, url, Some(body.to_string()), within)
            .await;
        let (outcome, index) = match &reply {
            Reply::Answer {
                status: 200, index, ..
            } => (Outcome::Written, *index),
            other => (other.failure(), None),
        };
        let refused = matches!(&reply, Reply::Answer { status, .. } if (400..500).contains(status));
        let label = format!(
            "{} token {token} via {}: {}{}",
            self.worker,
            t.name,
            reply.describe(),
            index.map(|i| format!(" at index {i}")).unwrap_or_default()
        );
        self.record(
            fenced_key,
            Call::Write { value },
            outcome,
            invoke,
            label,
            Kind::Fenced,
            &t.name,
            &reply,
            index,
            Some(token),
        );
        !refused
    }

    /// An unrecorded `PUT` (a release, a session destroy): whether it was
    /// answered 200.
    pub(super) async fn put_ok(&self, url: &str, within: Duration) -> bool {
        let reply = self
            .send(reqwest::Method::PUT, url.to_owned(), None, within)
            .await;
        matches!(reply, Reply::Answer { status: 200, .. })
    }
}

/// ` (ModifyIndex 12, KnownLeader true, LastContact 0ms)` for a read.
fn headers_note(reply: &Reply, entry_index: Option<u64>) -> String {
    let Reply::Answer {
        known_leader,
        last_contact_ms,
        ..
    } = reply
    else {
        return String::new();
    };
    let mut parts = Vec::new();
    if let Some(i) = entry_index {
        parts.push(format!("ModifyIndex {i}"));
    }
    if let Some(k) = known_leader {
        parts.push(format!("KnownLeader {k}"));
    }
    if let Some(c) = last_contact_ms {
        parts.push(format!("LastContact {c}ms"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// The value, ModifyIndex and session of the one entry of a `GET
/// /v1/kv/<key>` answer; `Unknown` when the body cannot be read.
fn parse_entry(body: &str) -> Result<Found, Outcome> {
    let v: Value = serde_json::from_str(body).map_err(|_| Outcome::Unknown)?;
    let e = v.get(0).ok_or(Outcome::Unknown)?;
    let value = match e["Value"].as_str() {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|_| Outcome::Unknown)?,
        None => String::new(),
    };
    Ok(Found {
        value: Some(value),
        index: e["ModifyIndex"].as_u64(),
        session: e["Session"].as_str().map(str::to_owned),
    })
}

/// One version of a key, from `GET /v1/history/kv/<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The index it was written at.
    pub index: u64,
    /// `None` for a delete.
    pub value: Option<String>,
}

/// Every kept version of `key` (oldest first), read with `?consistent`
/// from `target`: Praetor's KV history, the order in which writes were
/// applied, including those whose client never learned the outcome.
///
/// # Errors
/// No answer, or not a list of versions.
pub async fn history(target: &Target, key: &str) -> Result<Vec<Version>, String> {
    let http = crate::http_client_builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/v1/history/kv/{key}?consistent&limit=10000", target.url);
    let r = http
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", error_text(&e)))?;
    let status = r.status().as_u16();
    let body = r.text().await.map_err(|e| error_text(&e))?;
    match status {
        404 => return Ok(Vec::new()),
        200 => {}
        other => return Err(format!("GET {url} answered {other}: {}", body.trim())),
    }
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    let mut out = Vec::new();
    for e in v.as_array().into_iter().flatten() {
        let value = match e["Value"].as_str() {
            Some(b64) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .map_err(|e| e.to_string())?,
            ),
            None if e["Op"].as_str() == Some("delete") => None,
            None => Some(String::new()),
        };
        out.push(Version {
            index: e["Index"].as_u64().unwrap_or(0),
            value,
        });
    }
    // Newest first as answered; several changes of one entry (a batch)
    // share its index and keep their order.
    out.reverse();
    out.sort_by_key(|v| v.index);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_gives_its_value_index_and_session() {
        let body = r#"[{"Key":"k","Value":"YWJj","ModifyIndex":12,"Session":"s"}]"#;
        let f = parse_entry(body).unwrap();
        assert_eq!(f.value.as_deref(), Some("abc"));
        assert_eq!(f.index, Some(12));
        assert_eq!(f.session.as_deref(), Some("s"));
        assert!(parse_entry("not json").is_err());
    }

    #[test]
    fn a_4xx_or_a_refused_connection_failed_and_the_rest_is_unknown() {
        let answer = |status| Reply::Answer {
            status,
            body: String::new(),
            index: None,
            known_leader: None,
            last_contact_ms: None,
        };
        assert_eq!(answer(409).failure(), Outcome::Failed);
        assert_eq!(answer(500).failure(), Outcome::Unknown);
        assert_eq!(Reply::Refused("x".into()).failure(), Outcome::Failed);
        assert_eq!(
            Reply::NoAnswer("timeout".into()).failure(),
            Outcome::Unknown
        );
    }
}
