//! Asking a node: raw HTTP requests, the JSON endpoints tests read
//! (members, leader, peers, Raft configuration), KV writes and reads in
//! each consistency mode, and the CLI pointed at a node. Every call has a
//! deadline; none retries (the waits in [`formation`](super::formation) and
//! the tests do that).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use super::Cluster;
use crate::{Cli, KitError};

/// One gossip member as an agent's `/v1/agent/members` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its node name.
    pub name: String,
    /// Its gossip address.
    pub addr: String,
    /// Its gossip port.
    pub port: u16,
    /// `alive`, `leaving`, `left`, `failed` or `none` (Consul's codes 1-4, 0).
    pub status: String,
    /// Its Serf tags (`role`, `dc`, ...).
    pub tags: BTreeMap<String, String>,
}

impl Member {
    /// Whether its `role` tag says server (`consul`), as Consul's does.
    pub fn is_server(&self) -> bool {
        self.tags.get("role").is_some_and(|r| r == "consul")
    }
}

/// Read consistency modes, as Consul's query parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// No parameter: the leader answers.
    Default,
    /// `?stale`: the agent's server answers from its own state.
    Stale,
    /// `?consistent`: the leader answers after confirming it still leads.
    Consistent,
}

impl Consistency {
    fn param(self) -> &'static str {
        match self {
            Consistency::Default => "",
            Consistency::Stale => "&stale",
            Consistency::Consistent => "&consistent",
        }
    }
}

/// How a KV write went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// `200 true`, with the `X-Consul-Index` answered.
    Acked { index: u64 },
    /// Any other answer.
    Refused { status: u16, body: String },
    /// No answer at all (connection refused, timeout).
    NoAnswer { error: String },
}

impl Put {
    /// Whether the write was acknowledged.
    pub fn is_acked(&self) -> bool {
        matches!(self, Put::Acked { .. })
    }
}

/// An HTTP answer: status, body and `X-Consul-Index`.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body, as text.
    pub body: String,
    /// `X-Consul-Index`, when answered.
    pub index: Option<u64>,
    /// `X-Consul-Results-Filtered-By-ACLs: true` was answered.
    pub filtered: bool,
}

impl Cluster {
    /// `method path` on `via`'s HTTP API, with `body`, waiting at most
    /// `within` for the answer.
    ///
    /// # Errors
    /// `Request` when there is no answer; any status is an answer.
    pub async fn request(
        &self,
        via: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
        within: Duration,
    ) -> Result<Answer, KitError> {
        let token = self.spec.token.clone();
        self.request_as(via, token.as_deref(), method, path, body, within)
            .await
    }

    /// [`request`](Self::request) carrying `token` as `X-Consul-Token`
    /// (no token header at all for `None`) instead of the cluster's own.
    ///
    /// # Errors
    /// `Request` when there is no answer; any status is an answer.
    pub async fn request_as(
        &self,
        via: &str,
        token: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
        within: Duration,
    ) -> Result<Answer, KitError> {
        let node = self.node(via)?;
        let mut req = node
            .agent
            .http()
            .request(method.clone(), node.agent.url(path))
            .timeout(within);
        if let Some(token) = token {
            req = req.header("X-Consul-Token", token);
        }
        if let Some(body) = body {
            req = req.body(body.to_owned());
        }
        let fail = |detail: String| KitError::Request {
            name: via.into(),
            request: format!("{method} {path}"),
            detail,
        };
        let r = req.send().await.map_err(|e| fail(error_chain(&e)))?;
        let status = r.status().as_u16();
        let index = r
            .headers()
            .get("x-consul-index")
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let filtered = r
            .headers()
            .get("x-consul-results-filtered-by-acls")
            .is_some_and(|v| v.as_bytes() == b"true");
        let body = r.text().await.map_err(|e| fail(error_chain(&e)))?;
        Ok(Answer {
            status,
            body,
            index,
            filtered,
        })
    }

    /// `GET path` on `via`, expecting 200 and JSON.
    ///
    /// # Errors
    /// `Request` on no answer, another status, or a body that is not JSON.
    pub async fn get_json(&self, via: &str, path: &str) -> Result<Value, KitError> {
        let a = self
            .request(
                via,
                reqwest::Method::GET,
                path,
                None,
                Duration::from_secs(5),
            )
            .await?;
        let fail = |detail: String| KitError::Request {
            name: via.into(),
            request: format!("GET {path}"),
            detail,
        };
        if a.status != 200 {
            return Err(fail(format!("answered {}: {}", a.status, a.body.trim())));
        }
        serde_json::from_str(&a.body).map_err(|e| fail(format!("not JSON ({e}): {}", a.body)))
    }

    /// The members `via` knows, from `/v1/agent/members`.
    ///
    /// # Errors
    /// `Request` when it does not answer with a member list.
    pub async fn members(&self, via: &str) -> Result<Vec<Member>, KitError> {
        let v = self.get_json(via, "/v1/agent/members").await?;
        let list = v.as_array().ok_or_else(|| KitError::Request {
            name: via.into(),
            request: "GET /v1/agent/members".into(),
            detail: format!("not a list: {v}"),
        })?;
        Ok(list.iter().map(parse_member).collect())
    }

    /// The leader `via` names on `/v1/status/leader`, as a node name when it
    /// is one of ours (else the address); `None` for `""`.
    ///
    /// # Errors
    /// `Request` when it does not answer with a string.
    pub async fn leader_seen_by(&self, via: &str) -> Result<Option<String>, KitError> {
        let a = self
            .request(
                via,
                reqwest::Method::GET,
                "/v1/status/leader",
                None,
                Duration::from_secs(2),
            )
            .await?;
        let addr: String = serde_json::from_str(&a.body)
            .ok()
            .filter(|_| a.status == 200)
            .ok_or_else(|| KitError::Request {
                name: via.into(),
                request: "GET /v1/status/leader".into(),
                detail: format!("answered {}: {}", a.status, a.body.trim()),
            })?;
        if addr.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.name_of(&addr).unwrap_or(addr)))
    }

    /// The RPC addresses `/v1/status/peers` lists on `via`.
    ///
    /// # Errors
    /// `Request` when it does not answer with a list of strings.
    pub async fn peers(&self, via: &str) -> Result<Vec<String>, KitError> {
        let v = self.get_json(via, "/v1/status/peers").await?;
        serde_json::from_value(v.clone()).map_err(|_| KitError::Request {
            name: via.into(),
            request: "GET /v1/status/peers".into(),
            detail: format!("not a list of strings: {v}"),
        })
    }

    /// `/v1/operator/raft/configuration` on `via`.
    ///
    /// # Errors
    /// `Request` when it does not answer 200 with JSON.
    pub async fn raft_configuration(&self, via: &str) -> Result<Value, KitError> {
        self.get_json(via, "/v1/operator/raft/configuration").await
    }

    /// `PUT /v1/kv/<key>` through `via` (20 s for an answer: a server with no
    /// leader is expected to give up sooner).
    ///
    /// # Errors
    /// `NoSuchNode` only; every outcome of the write is a [`Put`].
    pub async fn put(&self, via: &str, key: &str, value: &str) -> Result<Put, KitError> {
        let path = format!("/v1/kv/{key}");
        let answer = self
            .request(
                via,
                reqwest::Method::PUT,
                &path,
                Some(value),
                Duration::from_secs(20),
            )
            .await;
        Ok(match answer {
            Ok(a) if a.status == 200 && a.body.trim() == "true" => Put::Acked {
                index: a.index.unwrap_or(0),
            },
            Ok(a) => Put::Refused {
                status: a.status,
                body: a.body,
            },
            Err(KitError::Request { detail, .. }) => Put::NoAnswer { error: detail },
            Err(e) => return Err(e),
        })
    }

    /// [`put`](Self::put) that must be acknowledged; returns its index.
    ///
    /// # Errors
    /// `Request` describing any other outcome.
    pub async fn put_acked(&self, via: &str, key: &str, value: &str) -> Result<u64, KitError> {
        match self.put(via, key, value).await? {
            Put::Acked { index } => Ok(index),
            other => Err(KitError::Request {
                name: via.into(),
                request: format!("PUT /v1/kv/{key}"),
                detail: format!("not acknowledged: {other:?}"),
            }),
        }
    }

    /// `GET /v1/kv/<key>?raw` through `via`: `Some(value)` on 200, `None` on
    /// 404.
    ///
    /// # Errors
    /// `Request` on no answer or another status.
    pub async fn get(
        &self,
        via: &str,
        key: &str,
        mode: Consistency,
    ) -> Result<Option<String>, KitError> {
        let path = format!("/v1/kv/{key}?raw{}", mode.param());
        let a = self
            .request(
                via,
                reqwest::Method::GET,
                &path,
                None,
                Duration::from_secs(10),
            )
            .await?;
        match a.status {
            200 => Ok(Some(a.body)),
            404 => Ok(None),
            other => Err(KitError::Request {
                name: via.into(),
                request: format!("GET {path}"),
                detail: format!("answered {other}: {}", a.body.trim()),
            }),
        }
    }

    /// Every key under `prefix` with its value, through `via`
    /// (`?recurse`); empty on 404.
    ///
    /// # Errors
    /// `Request` on no answer, another status, or an unreadable body.
    pub async fn kv_list(
        &self,
        via: &str,
        prefix: &str,
        mode: Consistency,
    ) -> Result<BTreeMap<String, String>, KitError> {
        let path = format!("/v1/kv/{prefix}?recurse{}", mode.param());
        let a = self
            .request(
                via,
                reqwest::Method::GET,
                &path,
                None,
                Duration::from_secs(10),
            )
            .await?;
        let fail = |detail: String| KitError::Request {
            name: via.into(),
            request: format!("GET {path}"),
            detail,
        };
        match a.status {
            404 => return Ok(BTreeMap::new()),
            200 => {}
            other => return Err(fail(format!("answered {other}: {}", a.body.trim()))),
        }
        let v: Value = serde_json::from_str(&a.body).map_err(|e| fail(format!("{e}")))?;
        let mut out = BTreeMap::new();
        for entry in v.as_array().into_iter().flatten() {
            let key = entry["Key"].as_str().unwrap_or_default().to_owned();
            let value = match entry["Value"].as_str() {
                Some(b64) => base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .map_err(|e| fail(format!("value of {key}: {e}")))?,
                None => String::new(),
            };
            out.insert(key, value);
        }
        Ok(out)
    }

    // --- processes ------------------------------------------------------------

    /// `praetor ARGS` with `CONSUL_HTTP_ADDR` pointing at `via`.
    ///
    /// # Errors
    /// `NoSuchNode`.
    pub fn cli(&self, via: &str, args: &[&str]) -> Result<Cli, KitError> {
        let addr = self.node(via)?.http_addr();
        Ok(Cli::new(args.iter().copied()).env("CONSUL_HTTP_ADDR", &addr))
    }
}

fn parse_member(m: &Value) -> Member {
    let status = match m["Status"].as_u64() {
        Some(1) => "alive",
        Some(2) => "leaving",
        Some(3) => "left",
        Some(4) => "failed",
        _ => "none",
    };
    Member {
        name: m["Name"].as_str().unwrap_or_default().to_owned(),
        addr: m["Addr"].as_str().unwrap_or_default().to_owned(),
        port: m["Port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0),
        status: status.to_owned(),
        tags: m["Tags"]
            .as_object()
            .map(|t| {
                t.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// An error and its causes on one line (reqwest hides the interesting part
/// in its sources).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(out, ": {s}");
        source = s.source();
    }
    out
}
