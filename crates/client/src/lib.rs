//! A typed client of Praetor's (and Consul's) HTTP API, used by the CLI and
//! the tests. Every call has a timeout; errors carry the server's one-line
//! reason.

mod autopilot;
pub mod config;
pub mod error;
mod monitor;
pub mod session;
pub mod tls;
pub mod watch;

use std::time::Duration;

use futures::{Stream, StreamExt};
use praetor_api::agent::{AgentSelf, Member};
use praetor_api::kv::Compacted;
use praetor_api::{KvPair, WatchEvent};
use reqwest::{Method, StatusCode};

pub use config::{Config, TlsOptions};
pub use error::ClientError;

/// Default timeout of a non-blocking call.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Options of a read.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    pub datacenter: Option<String>,
    pub stale: bool,
    pub consistent: bool,
    pub index: Option<u64>,
    pub wait: Option<Duration>,
}

/// What a read's headers said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryMeta {
    pub last_index: u64,
    pub known_leader: bool,
    pub last_contact_ms: u64,
}

/// A client of one agent.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    /// `?dc=` on every request (Consul's `api.Config.Datacenter`).
    datacenter: Option<String>,
}

/// `/`-separated keys keep their slashes; everything else is escaped.
const KEY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode_key(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, KEY).to_string()
}

impl Client {
    /// A client of the agent at `addr` (`host:port`, `http://host:port` or
    /// `https://host:port`, the last verified against the system's roots).
    /// An address with another scheme makes every call fail to connect; use
    /// [`Client::with_config`] to have it refused up front.
    pub fn new(addr: &str, token: Option<String>) -> Client {
        let config = Config {
            address: addr.to_owned(),
            token,
            ..Config::default()
        };
        Client::with_config(&config).unwrap_or_else(|_| Client {
            base: addr.trim_end_matches('/').to_owned(),
            token: config.token.filter(|t| !t.is_empty()),
            datacenter: None,
            http: tls::client_config(&TlsOptions::default())
                .ok()
                .and_then(|tls| {
                    reqwest::Client::builder()
                        .tls_backend_preconfigured(tls)
                        .build()
                        .ok()
                })
                .unwrap_or_default(),
        })
    }

    /// A client as `config` describes it: HTTP, or HTTPS verified and
    /// authenticated as its TLS options say (Consul's `api.NewClient`).
    ///
    /// # Errors
    /// An unknown address scheme, or TLS settings that cannot be used (a
    /// file that cannot be read, a certificate without its key), named.
    pub fn with_config(config: &Config) -> Result<Client, ClientError> {
        let base = config.base_url()?;
        let tls = tls::client_config(&config.tls)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| ClientError::Tls(error::reason(&e)))?;
        Ok(Client {
            base,
            token: config.token.clone().filter(|t| !t.is_empty()),
            http,
            datacenter: None,
        })
    }

    /// This client, asking datacenter `dc` on every request (`?dc=`, as
    /// Consul's client with `Datacenter` set: the agent forwards reads and
    /// writes to a server of that datacenter); `None` or empty: the agent's.
    #[must_use]
    pub fn with_datacenter(mut self, dc: Option<String>) -> Client {
        self.datacenter = dc.filter(|d| !d.is_empty());
        self
    }

    /// The agent's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request<K: serde::Serialize>(
        &self,
        method: Method,
        path: &str,
        query: &[(K, String)],
        timeout: Duration,
    ) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .timeout(timeout);
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(dc) = &self.datacenter {
            req = req.query(&[("dc", dc)]);
        }
        if let Some(t) = &self.token {
            req = req.header("X-Consul-Token", t);
        }
        req
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let resp = req.send().await.map_err(|e| ClientError::Connect {
            addr: self.base.clone(),
            reason: error::reason(&e),
        })?;
        Ok(resp)
    }

    async fn check(&self, resp: reqwest::Response) -> Result<reqwest::Response, ClientError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        Err(ClientError::Http {
            status: status.as_u16(),
            body: body.trim().to_owned(),
        })
    }

    fn read_query(
        opts: &QueryOptions,
        extra: &[(&str, String)],
    ) -> (Vec<(String, String)>, Duration) {
        let mut q: Vec<(String, String)> = Vec::new();
        if let Some(dc) = &opts.datacenter {
            q.push(("dc".into(), dc.clone()));
        }
        if opts.stale {
            q.push(("stale".into(), String::new()));
        }
        if opts.consistent {
            q.push(("consistent".into(), String::new()));
        }
        let mut timeout = TIMEOUT;
        if let Some(i) = opts.index {
            q.push(("index".into(), i.to_string()));
            let wait = opts.wait.unwrap_or(Duration::from_secs(300));
            q.push(("wait".into(), format!("{}ms", wait.as_millis())));
            timeout = wait + wait / 16 + Duration::from_secs(10);
        }
        for (k, v) in extra {
            q.push(((*k).to_owned(), v.clone()));
        }
        (q, timeout)
    }

    fn meta(resp: &reqwest::Response) -> QueryMeta {
        let h = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        QueryMeta {
            last_index: h("x-consul-index")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            known_leader: h("x-consul-knownleader").is_some_and(|v| v == "true"),
            last_contact_ms: h("x-consul-lastcontact")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        }
    }

    async fn kv_read<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        opts: &QueryOptions,
        extra: &[(&str, String)],
    ) -> Result<(Option<T>, QueryMeta), ClientError> {
        self.read(&format!("/v1/kv/{}", encode_key(key)), opts, extra)
            .await
    }

    /// A read of any endpoint (`path` with its query options, blocking when
    /// `opts.index` is set): the decoded body, or `None` on a 404.
    ///
    /// # Errors
    /// Connection failures and non-2xx answers other than 404.
    pub async fn read<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        opts: &QueryOptions,
        extra: &[(&str, String)],
    ) -> Result<(Option<T>, QueryMeta), ClientError> {
        let (q, timeout) = Self::read_query(opts, extra);
        let resp = self
            .send(self.request(Method::GET, path, &q, timeout))
            .await?;
        let meta = Self::meta(&resp);
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok((None, meta));
        }
        let resp = self.check(resp).await?;
        let body = resp
            .json()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok((Some(body), meta))
    }

    /// `GET /v1/kv/<key>`: the entry, or `None` when the key does not exist.
    ///
    /// # Errors
    /// Connection failures and non-2xx answers other than 404.
    pub async fn kv_get(
        &self,
        key: &str,
        opts: &QueryOptions,
    ) -> Result<(Option<KvPair>, QueryMeta), ClientError> {
        let (list, meta) = self.kv_read::<Vec<KvPair>>(key, opts, &[]).await?;
        Ok((list.and_then(|l| l.into_iter().next()), meta))
    }

    /// `GET /v1/kv/<prefix>?recurse`: every entry under the prefix.
    ///
    /// # Errors
    /// As `kv_get`.
    pub async fn kv_list(
        &self,
        prefix: &str,
        opts: &QueryOptions,
    ) -> Result<(Vec<KvPair>, QueryMeta), ClientError> {
        let (list, meta) = self
            .kv_read::<Vec<KvPair>>(prefix, opts, &[("recurse", String::new())])
            .await?;
        Ok((list.unwrap_or_default(), meta))
    }

    /// `GET /v1/kv/<prefix>?keys[&separator=]`.
    ///
    /// # Errors
    /// As `kv_get`.
    pub async fn kv_keys(
        &self,
        prefix: &str,
        separator: Option<&str>,
        opts: &QueryOptions,
    ) -> Result<(Vec<String>, QueryMeta), ClientError> {
        let mut extra = vec![("keys", String::new())];
        if let Some(s) = separator {
            extra.push(("separator", s.to_owned()));
        }
        let (list, meta) = self.kv_read::<Vec<String>>(prefix, opts, &extra).await?;
        Ok((list.unwrap_or_default(), meta))
    }

    /// `PUT /v1/kv/<key>`: `true` when written, `false` when a cas failed.
    ///
    /// # Errors
    /// Connection failures and non-2xx answers (e.g. 413 for a large value).
    pub async fn kv_put(
        &self,
        key: &str,
        value: Vec<u8>,
        flags: Option<u64>,
        cas: Option<u64>,
    ) -> Result<bool, ClientError> {
        let mut q = Vec::new();
        if let Some(f) = flags {
            q.push(("flags", f.to_string()));
        }
        if let Some(c) = cas {
            q.push(("cas", c.to_string()));
        }
        self.kv_put_with(key, &q, value).await
    }

    /// `PUT /v1/kv/<key>?<q>` with `value`: the `true`/`false` it answers.
    pub(crate) async fn kv_put_with(
        &self,
        key: &str,
        q: &[(&str, String)],
        value: Vec<u8>,
    ) -> Result<bool, ClientError> {
        let req = self
            .request(
                Method::PUT,
                &format!("/v1/kv/{}", encode_key(key)),
                q,
                TIMEOUT,
            )
            .body(value);
        let resp = self.check(self.send(req).await?).await?;
        resp.json()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `DELETE /v1/kv/<key>[?recurse][&cas=]`.
    ///
    /// # Errors
    /// As `kv_put`.
    pub async fn kv_delete(
        &self,
        key: &str,
        recurse: bool,
        cas: Option<u64>,
    ) -> Result<bool, ClientError> {
        let mut q = Vec::new();
        if recurse {
            q.push(("recurse", String::new()));
        }
        if let Some(c) = cas {
            q.push(("cas", c.to_string()));
        }
        let req = self.request(
            Method::DELETE,
            &format!("/v1/kv/{}", encode_key(key)),
            &q,
            TIMEOUT,
        );
        let resp = self.check(self.send(req).await?).await?;
        resp.json()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET /v1/watch/kv/<prefix>[?index=N]`: every change from N on, as a
    /// stream; `Compacted` when N is older than the history kept.
    ///
    /// # Errors
    /// Connection failures, `Compacted`, other non-2xx answers; items fail on
    /// a broken stream or a line that is not an event.
    pub async fn kv_watch(
        &self,
        prefix: &str,
        index: Option<u64>,
    ) -> Result<impl Stream<Item = Result<WatchEvent, ClientError>>, ClientError> {
        let q: Vec<(&str, String)> = index
            .map(|i| vec![("index", i.to_string())])
            .unwrap_or_default();
        let mut req = self
            .http
            .get(format!("{}/v1/watch/kv/{}", self.base, encode_key(prefix)))
            .query(&q);
        if let Some(t) = &self.token {
            req = req.header("X-Consul-Token", t);
        }
        let resp = self.send(req).await?;
        if resp.status() == StatusCode::GONE {
            let c: Compacted = resp
                .json()
                .await
                .map_err(|e| ClientError::Decode(e.to_string()))?;
            return Err(ClientError::Compacted {
                oldest_index: c.oldest_index,
                current_index: c.current_index,
            });
        }
        let resp = self.check(resp).await?;
        let bytes = resp.bytes_stream();
        Ok(lines(bytes))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        q: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let resp = self
            .check(
                self.send(self.request(Method::GET, path, q, TIMEOUT))
                    .await?,
            )
            .await?;
        resp.json()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET /v1/agent/self`.
    ///
    /// # Errors
    /// Connection failures and non-2xx answers.
    pub async fn agent_self(&self) -> Result<AgentSelf, ClientError> {
        self.get_json("/v1/agent/self", &[]).await
    }

    /// `GET /v1/agent/members`.
    ///
    /// # Errors
    /// As `agent_self`.
    pub async fn agent_members(&self) -> Result<Vec<Member>, ClientError> {
        self.get_json("/v1/agent/members", &[]).await
    }

    /// `GET /v1/agent/members?wan=1`: the WAN pool's servers of every
    /// datacenter (empty on a client agent, which is in none).
    ///
    /// # Errors
    /// As `agent_self`.
    pub async fn agent_members_wan(&self) -> Result<Vec<Member>, ClientError> {
        self.get_json("/v1/agent/members", &[("wan", "1".to_owned())])
            .await
    }

    /// `GET /v1/status/leader`.
    ///
    /// # Errors
    /// As `agent_self`.
    pub async fn status_leader(&self) -> Result<String, ClientError> {
        self.get_json("/v1/status/leader", &[]).await
    }

    /// `GET /v1/status/peers`.
    ///
    /// # Errors
    /// As `agent_self`.
    pub async fn status_peers(&self) -> Result<Vec<String>, ClientError> {
        self.get_json("/v1/status/peers", &[]).await
    }

    /// `GET /v1/operator/raft/configuration`.
    ///
    /// # Errors
    /// As `agent_self`.
    pub async fn operator_raft_configuration(
        &self,
        stale: bool,
    ) -> Result<praetor_api::operator::RaftConfiguration, ClientError> {
        let q: Vec<(&str, String)> = if stale {
            vec![("stale", String::new())]
        } else {
            vec![]
        };
        self.get_json("/v1/operator/raft/configuration", &q).await
    }

    /// `PUT` (any method) without a body to `path`, expecting a 2xx.
    async fn put_empty(
        &self,
        method: Method,
        path: &str,
        q: &[(&str, String)],
    ) -> Result<(), ClientError> {
        self.check(self.send(self.request(method, path, q, TIMEOUT)).await?)
            .await?;
        Ok(())
    }

    /// `GET /v1/snapshot`, written to `out` as it arrives (a snapshot of
    /// a large store is hundreds of megabytes); the bytes written.
    ///
    /// # Errors
    /// As `agent_self`; `Decode` when the body breaks off or `out` fails.
    pub async fn snapshot_save_to(
        &self,
        stale: bool,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<u64, ClientError> {
        let q: Vec<(&str, String)> = if stale {
            vec![("stale", String::new())]
        } else {
            vec![]
        };
        let req = self.request(Method::GET, "/v1/snapshot", &q, Duration::from_secs(600));
        let mut resp = self.check(self.send(req).await?).await?;
        let mut written = 0u64;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| ClientError::Decode(format!("the snapshot broke off: {e}")))?
        {
            out.write_all(&chunk)
                .map_err(|e| ClientError::Decode(format!("writing the snapshot: {e}")))?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }

    /// `GET /v1/snapshot`: the snapshot file's bytes.
    ///
    /// # Errors
    /// As `snapshot_save_to`.
    pub async fn snapshot_save(&self, stale: bool) -> Result<Vec<u8>, ClientError> {
        let mut file = Vec::new();
        self.snapshot_save_to(stale, &mut file).await?;
        Ok(file)
    }

    /// `PUT /v1/snapshot` with a file `snapshot_save` returned.
    ///
    /// # Errors
    /// As `agent_self`; a 400 when the file is damaged.
    pub async fn snapshot_restore(&self, file: Vec<u8>) -> Result<(), ClientError> {
        self.snapshot_restore_body(file.into()).await
    }

    /// `PUT /v1/snapshot` with the snapshot file at `path`, streamed from
    /// the disk.
    ///
    /// # Errors
    /// As `snapshot_restore`; `Decode` when the file cannot be opened.
    pub async fn snapshot_restore_file(&self, path: &std::path::Path) -> Result<(), ClientError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| ClientError::Decode(format!("opening {}: {e}", path.display())))?;
        self.snapshot_restore_body(file.into()).await
    }

    async fn snapshot_restore_body(&self, body: reqwest::Body) -> Result<(), ClientError> {
        let empty: [(&str, String); 0] = [];
        let req = self
            .request(
                Method::PUT,
                "/v1/snapshot",
                &empty,
                Duration::from_secs(600),
            )
            .body(body);
        self.check(self.send(req).await?).await?;
        Ok(())
    }

    /// `PUT /v1/event/fire/<name>`: the event as fired.
    ///
    /// # Errors
    /// As `agent_self`.
    pub async fn event_fire(
        &self,
        name: &str,
        payload: Vec<u8>,
        filters: &[(&str, String)],
    ) -> Result<praetor_api::event::UserEvent, ClientError> {
        let path = format!("/v1/event/fire/{}", encode_key(name));
        let req = self
            .request(Method::PUT, &path, filters, TIMEOUT)
            .body(payload);
        let resp = self.check(self.send(req).await?).await?;
        resp.json()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET` a JSON endpoint with query parameters (`?tag=`, `?filter=`, …).
    ///
    /// # Errors
    /// As `agent_self`.
    pub async fn get_value(
        &self,
        path: &str,
        q: &[(&str, String)],
    ) -> Result<serde_json::Value, ClientError> {
        self.get_json(path, q).await
    }

    /// `PUT` a JSON body to `path`, expecting a 2xx.
    ///
    /// # Errors
    /// As `agent_self`; a 400 with the agent's reason for a bad body.
    pub async fn put_value(&self, path: &str, body: &serde_json::Value) -> Result<(), ClientError> {
        let empty: [(&str, String); 0] = [];
        let req = self.request(Method::PUT, path, &empty, TIMEOUT).json(body);
        self.check(self.send(req).await?).await?;
        Ok(())
    }

    /// `GET` a JSON endpoint and decode its body into `T` (a 404 is an
    /// error here, with the agent's reason, unlike [`Client::read`]).
    ///
    /// # Errors
    /// As `agent_self`.
    pub async fn get_typed<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        q: &[(&str, String)],
    ) -> Result<T, ClientError> {
        self.get_json(path, q).await
    }

    /// `PUT` `body` as JSON to `path` with query parameters `q`, and decode
    /// the answer into `R` (Consul's create and update endpoints answer with
    /// the object as stored).
    ///
    /// # Errors
    /// As `agent_self`; a 4xx with the agent's reason for a refused body.
    pub async fn put_typed<B: serde::Serialize + ?Sized, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        q: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<R, ClientError> {
        let mut req = self.request(Method::PUT, path, q, TIMEOUT);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = self.check(self.send(req).await?).await?;
        resp.json()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `DELETE path` with query parameters `q`, expecting a 2xx (Consul's
    /// ACL deletes answer `true`; the body is not needed).
    ///
    /// # Errors
    /// As `agent_self`.
    pub async fn delete_path(&self, path: &str, q: &[(&str, String)]) -> Result<(), ClientError> {
        self.put_empty(Method::DELETE, path, q).await
    }

    /// `PUT /v1/agent/join/<address>`.
    ///
    /// # Errors
    /// As `agent_self`; a 500 naming the address when nobody answered there.
    pub async fn agent_join(&self, address: &str) -> Result<(), ClientError> {
        self.put_empty(Method::PUT, &format!("/v1/agent/join/{address}"), &[])
            .await
    }

    /// `PUT /v1/agent/join/<address>?wan=1`: a server joins the WAN pool
    /// through a server of another datacenter.
    ///
    /// # Errors
    /// As `agent_join`; a 500 "Must be a server to join WAN cluster" from
    /// a client agent.
    pub async fn agent_join_wan(&self, address: &str) -> Result<(), ClientError> {
        self.put_empty(
            Method::PUT,
            &format!("/v1/agent/join/{address}"),
            &[("wan", "1".to_owned())],
        )
        .await
    }

    /// `PUT /v1/agent/leave`: the agent leaves the cluster and shuts down.
    ///
    /// # Errors
    /// As `agent_self`.
    pub async fn agent_leave(&self) -> Result<(), ClientError> {
        self.put_empty(Method::PUT, "/v1/agent/leave", &[]).await
    }

    /// `PUT /v1/agent/reload`: the agent loads its config files again.
    ///
    /// # Errors
    /// As `agent_self`; a 500 with the reason the configuration was not
    /// applied.
    pub async fn agent_reload(&self) -> Result<(), ClientError> {
        self.put_empty(Method::PUT, "/v1/agent/reload", &[]).await
    }

    /// `PUT /v1/agent/force-leave/<node>` (`?prune` with `prune`).
    ///
    /// # Errors
    /// As `agent_self`; a 500 when the node is unknown.
    pub async fn agent_force_leave(&self, node: &str, prune: bool) -> Result<(), ClientError> {
        let q: &[(&str, String)] = if prune {
            &[("prune", String::new())]
        } else {
            &[]
        };
        self.put_empty(
            Method::PUT,
            &format!("/v1/agent/force-leave/{}", encode_key(node)),
            q,
        )
        .await
    }

    /// `DELETE /v1/operator/raft/peer?id=` or `?address=`.
    ///
    /// # Errors
    /// As `agent_self`; a 400 when the peer is not in the configuration.
    pub async fn operator_raft_remove_peer(
        &self,
        id: Option<&str>,
        address: Option<&str>,
    ) -> Result<(), ClientError> {
        let mut q = Vec::new();
        if let Some(id) = id {
            q.push(("id", id.to_owned()));
        }
        if let Some(a) = address {
            q.push(("address", a.to_owned()));
        }
        self.put_empty(Method::DELETE, "/v1/operator/raft/peer", &q)
            .await
    }

    /// `GET /v1/operator/keyring`: the gossip keys every member holds, per
    /// pool (`?relay-factor`, `?local-only` as given).
    ///
    /// # Errors
    /// As `agent_self`; a 400 when gossip is not encrypted, a 500 naming the
    /// members that failed or did not answer.
    pub async fn operator_keyring_list(
        &self,
        relay_factor: u8,
        local_only: bool,
    ) -> Result<Vec<praetor_api::operator::KeyringResponse>, ClientError> {
        let mut q = Vec::new();
        if relay_factor > 0 {
            q.push(("relay-factor", relay_factor.to_string()));
        }
        if local_only {
            q.push(("local-only", "true".to_owned()));
        }
        self.get_json("/v1/operator/keyring", &q).await
    }

    /// `POST` (install), `PUT` (use) or `DELETE` (remove)
    /// `/v1/operator/keyring` with `{"Key": key}`.
    ///
    /// # Errors
    /// As `agent_self`; a 400 with the reason for a refused key (nothing
    /// changed), a 500 naming the members that failed or did not answer.
    pub async fn operator_keyring(
        &self,
        op: KeyringOp,
        key: &str,
        relay_factor: u8,
    ) -> Result<(), ClientError> {
        let method = match op {
            KeyringOp::Install => Method::POST,
            KeyringOp::Use => Method::PUT,
            KeyringOp::Remove => Method::DELETE,
        };
        let mut q = Vec::new();
        if relay_factor > 0 {
            q.push(("relay-factor", relay_factor.to_string()));
        }
        let body = praetor_api::operator::KeyringRequest {
            key: key.to_owned(),
        };
        let req = self
            .request(method, "/v1/operator/keyring", &q, TIMEOUT)
            .json(&body);
        self.check(self.send(req).await?).await?;
        Ok(())
    }

    /// `PUT path` with query parameters `q` and no body, expecting a 2xx
    /// (`/v1/agent/maintenance?enable=true&reason=…`).
    ///
    /// # Errors
    /// As `agent_self`; a 4xx with the agent's reason.
    pub async fn put_query(&self, path: &str, q: &[(&str, String)]) -> Result<(), ClientError> {
        self.put_empty(Method::PUT, path, q).await
    }
}

/// A change to the gossip keyring ([`Client::operator_keyring`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringOp {
    /// Install a key beside the others.
    Install,
    /// Make an installed key the primary one.
    Use,
    /// Remove a key that is not primary.
    Remove,
}

/// Splits a byte stream into newline-delimited JSON events.
fn lines(
    bytes: impl Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
) -> impl Stream<Item = Result<WatchEvent, ClientError>> {
    futures::stream::unfold(
        (bytes, Vec::<u8>::new(), false),
        |(mut bytes, mut buf, done)| async move {
            if done {
                return None;
            }
            loop {
                if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let item = match serde_json::from_slice::<WatchEvent>(&line) {
                        Ok(ev) => Ok(ev),
                        Err(_) => match serde_json::from_slice::<Compacted>(&line) {
                            Ok(c) => {
                                return Some((
                                    Err(ClientError::Compacted {
                                        oldest_index: c.oldest_index,
                                        current_index: c.current_index,
                                    }),
                                    (bytes, buf, true),
                                ))
                            }
                            Err(e) => Err(ClientError::Decode(e.to_string())),
                        },
                    };
                    return Some((item, (bytes, buf, false)));
                }
                match bytes.next().await {
                    Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                    Some(Err(e)) => {
                        return Some((Err(ClientError::Decode(e.to_string())), (bytes, buf, true)))
                    }
                    None => return None,
                }
            }
        },
    )
}
