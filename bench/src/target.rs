//! The two systems under test behind one interface, so every workload is
//! written once and runs identically against both, whether a side is one
//! server or a three-member cluster.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::tls_client::{ClientTls, HyperConn};
use crate::{etcd, praetor};

/// Bound on every single request.
pub const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on opening a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Praetor,
    Etcd,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Praetor => "praetor",
            Side::Etcd => "etcd",
        })
    }
}

/// Read consistency: each system's default, or its local (possibly stale) read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// praetor: Consul's default mode; etcd: linearizable.
    Default,
    /// praetor: `?stale`; etcd: serializable.
    Local,
}

/// How a target's clients reach it.
#[derive(Debug, Clone, Default)]
pub enum Scheme {
    /// praetor: reqwest over plain HTTP/1.1; etcd: plain gRPC. Every phase but tls.
    #[default]
    Default,
    /// The tls phase's plain mode: praetor through hyper-util's client over
    /// `http://`; etcd: plain gRPC.
    Http,
    /// The tls phase's TLS mode, presenting the client certificate: praetor
    /// through the same client over `https://`; etcd: gRPC over TLS.
    Https(Arc<ClientTls>),
}

/// Running servers of one system: where their client APIs listen (host:port)
/// and their PIDs, in the same order. One of each for a single server.
#[derive(Debug, Clone)]
pub struct Target {
    pub side: Side,
    pub addrs: Vec<String>,
    pub pids: Vec<u32>,
    /// (praetor) The ACL token every client sends, if any.
    pub token: Option<String>,
    /// How its clients reach it.
    pub scheme: Scheme,
}

/// One client of a target. A client of several servers spreads its requests
/// over all of them (see [`Target::connect`]).
#[derive(Clone)]
pub enum Conn {
    Praetor(praetor::Conn),
    /// praetor in the tls phase, plain or HTTPS.
    PraetorHyper(Box<HyperConn>),
    Etcd(Box<etcd::Conn>),
}

/// One open watch on a prefix.
pub enum Watch {
    Praetor(praetor::Watch),
    Etcd(Box<etcd::Watch>),
}

impl Target {
    /// One server.
    pub fn single(side: Side, addr: String, pid: u32) -> Self {
        Self {
            side,
            addrs: vec![addr],
            pids: vec![pid],
            token: None,
            scheme: Scheme::Default,
        }
    }

    /// The same servers, reached as `scheme` says.
    pub fn with_scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// The same servers, every praetor client sending `token`.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// A new client, the `client`th of its workload, with its own connections
    /// (one per server). With several servers, a praetor client sends its
    /// requests to them in turn, starting at server `client % n`; an etcd
    /// client is one `etcd-client` client given every endpoint, whose
    /// balancer (tonic's power-of-two-choices) picks one per request.
    pub async fn connect(&self, client: usize) -> anyhow::Result<Conn> {
        let tls = match &self.scheme {
            Scheme::Https(tls) => Some(tls.clone()),
            Scheme::Default | Scheme::Http => None,
        };
        Ok(match (self.side, &self.scheme) {
            (Side::Praetor, Scheme::Default) => Conn::Praetor(praetor::Conn::new(
                &self.addrs,
                client,
                self.token.as_deref(),
            )?),
            (Side::Praetor, _) => {
                anyhow::ensure!(
                    self.addrs.len() == 1 && self.token.is_none(),
                    "the tls phase's client talks to one server without a token"
                );
                Conn::PraetorHyper(Box::new(HyperConn::new(
                    &self.addrs[0],
                    tls.map(|t| t.with_cert.clone()),
                )?))
            }
            (Side::Etcd, _) => Conn::Etcd(Box::new(
                etcd::Conn::connect_with(&self.addrs, tls.as_deref()).await?,
            )),
        })
    }

    /// A new watch on `prefix`, on its own connection to the first server,
    /// ready once this returns.
    pub async fn watch(&self, prefix: &str) -> anyhow::Result<Watch> {
        let addr = &self.addrs[0];
        Ok(match self.side {
            Side::Praetor => Watch::Praetor(praetor::Watch::open(addr, prefix).await?),
            Side::Etcd => Watch::Etcd(Box::new(etcd::Watch::open(addr, prefix).await?)),
        })
    }

    /// How many keys start with `prefix`, by a read of the system's default
    /// consistency (through the first server).
    pub async fn count_keys(&self, prefix: &str) -> anyhow::Result<u64> {
        let addr = &self.addrs[0];
        match self.side {
            Side::Praetor => praetor::count_keys(addr, prefix).await,
            Side::Etcd => etcd::count_keys(addr, prefix).await,
        }
    }
}

impl Conn {
    /// One durable put, bounded by [`OP_TIMEOUT`].
    pub async fn put(&mut self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        self.put_within(key, value, OP_TIMEOUT).await
    }

    /// One durable put, bounded by `limit`.
    pub async fn put_within(
        &mut self,
        key: &str,
        value: &[u8],
        limit: Duration,
    ) -> anyhow::Result<()> {
        bounded(limit, async {
            match self {
                Conn::Praetor(c) => c.put(key, value).await,
                Conn::PraetorHyper(c) => c.put(key, value).await,
                Conn::Etcd(c) => c.put(key, value).await,
            }
        })
        .await
    }

    /// One read of an existing key, bounded by [`OP_TIMEOUT`].
    pub async fn get(&mut self, key: &str, read: Read) -> anyhow::Result<()> {
        bounded(OP_TIMEOUT, async {
            match self {
                Conn::Praetor(c) => c.get(key, read).await,
                Conn::PraetorHyper(c) => c.get(key, read).await,
                Conn::Etcd(c) => c.get(key, read).await,
            }
        })
        .await
    }
}

impl Watch {
    /// The keys of the next events; the caller bounds the wait.
    pub async fn next_keys(&mut self) -> anyhow::Result<Vec<String>> {
        match self {
            Watch::Praetor(w) => w.next_keys().await,
            Watch::Etcd(w) => w.next_keys().await,
        }
    }
}

async fn bounded<T>(
    limit: Duration,
    f: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => anyhow::bail!("no answer within {limit:?}"),
    }
}
