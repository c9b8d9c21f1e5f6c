//! Praetor's side: Consul's KV HTTP API over keep-alive HTTP/1.1, and
//! Praetor's own `/v1/watch/kv/<prefix>` newline-delimited event stream.
//! Each `Conn` is its own reqwest client, so each holds its own connection to
//! each server it talks to. Also the status endpoints the cluster benchmark
//! uses to find the leader. A client may carry an ACL token, sent as
//! `X-Consul-Token` on every KV request.

use std::time::Duration;

use anyhow::{bail, ensure, Context as _};
use serde::Deserialize;

use crate::target::{Read, CONNECT_TIMEOUT, OP_TIMEOUT};

/// One client with one pooled keep-alive connection per server; requests go
/// to the servers in turn.
#[derive(Clone)]
pub struct Conn {
    http: reqwest::Client,
    bases: Vec<String>,
    /// Index into `bases` of the next request's server.
    next: usize,
    /// The ACL token sent with every request, if any.
    token: Option<String>,
}

fn client(total: Option<Duration>) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .connect_timeout(CONNECT_TIMEOUT);
    if let Some(t) = total {
        b = b.timeout(t);
    }
    b.build().context("building the HTTP client")
}

impl Conn {
    /// A client of the servers at `addrs` whose first request goes to
    /// `addrs[first % addrs.len()]`, sending `token` (if any) as
    /// `X-Consul-Token` with every request.
    pub fn new(addrs: &[String], first: usize, token: Option<&str>) -> anyhow::Result<Self> {
        ensure!(!addrs.is_empty(), "no praetor address");
        Ok(Self {
            http: client(Some(OP_TIMEOUT))?,
            bases: addrs.iter().map(|a| format!("http://{a}")).collect(),
            next: first % addrs.len(),
            token: token.map(str::to_owned),
        })
    }

    /// `req` with the client's token, if it has one.
    fn with_token(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.header("X-Consul-Token", t),
            None => req,
        }
    }

    /// The base URL of the next request's server.
    fn base(&mut self) -> String {
        let base = self.bases[self.next].clone();
        self.next = (self.next + 1) % self.bases.len();
        base
    }

    /// `PUT /v1/kv/<key>`; succeeds only on `200` with body `true`.
    pub async fn put(&mut self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        let base = self.base();
        let resp = self
            .with_token(self.http.put(format!("{base}/v1/kv/{key}")))
            .body(value.to_vec())
            .send()
            .await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        ensure!(
            status.is_success() && body.trim_ascii() == b"true",
            "put {key}: {status} {:?}",
            String::from_utf8_lossy(&body)
        );
        Ok(())
    }

    /// `GET /v1/kv/<key>` (default consistency) or with `?stale`; succeeds on
    /// `200` with a non-empty body, read to its end.
    pub async fn get(&mut self, key: &str, read: Read) -> anyhow::Result<()> {
        let base = self.base();
        let url = match read {
            Read::Default => format!("{base}/v1/kv/{key}"),
            Read::Local => format!("{base}/v1/kv/{key}?stale"),
        };
        let resp = self.with_token(self.http.get(url)).send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        ensure!(
            status.is_success() && !body.is_empty(),
            "get {key}: {status}"
        );
        Ok(())
    }
}

/// How many keys start with `prefix`: `GET /v1/kv/<prefix>?keys` in the
/// default consistency mode (a 404 means none).
pub async fn count_keys(addr: &str, prefix: &str) -> anyhow::Result<u64> {
    let resp = client(Some(LIST_TIMEOUT))?
        .get(format!("http://{addr}/v1/kv/{prefix}?keys"))
        .send()
        .await?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(0);
    }
    ensure!(
        resp.status().is_success(),
        "list {prefix}: {}",
        resp.status()
    );
    let keys: Vec<String> = resp.json().await.context("reading the key list")?;
    Ok(keys.len() as u64)
}

/// Bound on listing every key a row wrote.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on a status request.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /v1/status/leader` on `addr`: the leader's `ip:port` as this server
/// sees it, or `""` when it knows none.
pub async fn status_leader(addr: &str) -> anyhow::Result<String> {
    let resp = client(Some(STATUS_TIMEOUT))?
        .get(format!("http://{addr}/v1/status/leader"))
        .send()
        .await?;
    ensure!(
        resp.status().is_success(),
        "status/leader: {}",
        resp.status()
    );
    resp.json().await.context("reading status/leader")
}

/// `GET /v1/status/peers` on `addr`: the Raft voters' `ip:port`s.
pub async fn status_peers(addr: &str) -> anyhow::Result<Vec<String>> {
    let resp = client(Some(STATUS_TIMEOUT))?
        .get(format!("http://{addr}/v1/status/peers"))
        .send()
        .await?;
    ensure!(
        resp.status().is_success(),
        "status/peers: {}",
        resp.status()
    );
    resp.json().await.context("reading status/peers")
}

/// An open `GET /v1/watch/kv/<prefix>` stream.
pub struct Watch {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "Key")]
    key: String,
}

impl Watch {
    /// Opens the stream; returns once the response headers arrived, by which
    /// time the server has subscribed (every later change is delivered).
    pub async fn open(addr: &str, prefix: &str) -> anyhow::Result<Self> {
        // No total timeout: the stream stays open; the caller bounds every read.
        let http = client(None)?;
        let resp = tokio::time::timeout(
            OP_TIMEOUT,
            http.get(format!("http://{addr}/v1/watch/kv/{prefix}"))
                .send(),
        )
        .await
        .context("opening the watch stream timed out")??;
        ensure!(
            resp.status().is_success(),
            "watch {prefix}: {}",
            resp.status()
        );
        Ok(Self {
            resp,
            buf: Vec::new(),
        })
    }

    /// The keys of the next events, waiting for at least one.
    pub async fn next_keys(&mut self) -> anyhow::Result<Vec<String>> {
        loop {
            if let Some(end) = self.buf.iter().rposition(|&b| b == b'\n') {
                let lines: Vec<u8> = self.buf.drain(..=end).collect();
                let mut keys = Vec::new();
                for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    let ev: Event = serde_json::from_slice(line).with_context(|| {
                        format!("not a watch event: {}", String::from_utf8_lossy(line))
                    })?;
                    keys.push(ev.key);
                }
                if !keys.is_empty() {
                    return Ok(keys);
                }
            }
            match self.resp.chunk().await? {
                Some(chunk) => self.buf.extend_from_slice(&chunk),
                None => bail!("the watch stream ended"),
            }
        }
    }
}
