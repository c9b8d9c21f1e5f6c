//! Praetor's side: Consul's KV HTTP API over keep-alive HTTP/1.1, and
//! Praetor's own `/v1/watch/kv/<prefix>` newline-delimited event stream.
//! Each `Conn` is its own reqwest client, so each holds its own connection.

use std::time::Duration;

use anyhow::{bail, ensure, Context as _};
use serde::Deserialize;

use crate::target::{Read, CONNECT_TIMEOUT, OP_TIMEOUT};

/// One client with one pooled keep-alive connection.
pub struct Conn {
    http: reqwest::Client,
    base: String,
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
    pub fn new(addr: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: client(Some(OP_TIMEOUT))?,
            base: format!("http://{addr}"),
        })
    }

    /// `PUT /v1/kv/<key>`; succeeds only on `200` with body `true`.
    pub async fn put(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        let resp = self
            .http
            .put(format!("{}/v1/kv/{key}", self.base))
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
    pub async fn get(&self, key: &str, read: Read) -> anyhow::Result<()> {
        let url = match read {
            Read::Default => format!("{}/v1/kv/{key}", self.base),
            Read::Local => format!("{}/v1/kv/{key}?stale", self.base),
        };
        let resp = self.http.get(url).send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        ensure!(
            status.is_success() && !body.is_empty(),
            "get {key}: {status}"
        );
        Ok(())
    }
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
