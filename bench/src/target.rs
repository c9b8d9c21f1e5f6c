//! The two systems under test behind one interface, so every workload is
//! written once and runs identically against both.

use std::fmt;
use std::future::Future;
use std::time::Duration;

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

/// A running server: which system, where its client API listens, its PID.
#[derive(Debug, Clone)]
pub struct Target {
    pub side: Side,
    pub addr: String,
    pub pid: u32,
}

/// One client connection to a target.
pub enum Conn {
    Praetor(praetor::Conn),
    Etcd(Box<etcd::Conn>),
}

/// One open watch on a prefix.
pub enum Watch {
    Praetor(praetor::Watch),
    Etcd(Box<etcd::Watch>),
}

impl Target {
    /// A new client with its own connection.
    pub async fn connect(&self) -> anyhow::Result<Conn> {
        Ok(match self.side {
            Side::Praetor => Conn::Praetor(praetor::Conn::new(&self.addr)?),
            Side::Etcd => Conn::Etcd(Box::new(etcd::Conn::connect(&self.addr).await?)),
        })
    }

    /// A new watch on `prefix`, on its own connection, ready once this returns.
    pub async fn watch(&self, prefix: &str) -> anyhow::Result<Watch> {
        Ok(match self.side {
            Side::Praetor => Watch::Praetor(praetor::Watch::open(&self.addr, prefix).await?),
            Side::Etcd => Watch::Etcd(Box::new(etcd::Watch::open(&self.addr, prefix).await?)),
        })
    }
}

impl Conn {
    /// One durable put, bounded by [`OP_TIMEOUT`].
    pub async fn put(&mut self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        bounded(async {
            match self {
                Conn::Praetor(c) => c.put(key, value).await,
                Conn::Etcd(c) => c.put(key, value).await,
            }
        })
        .await
    }

    /// One read of an existing key, bounded by [`OP_TIMEOUT`].
    pub async fn get(&mut self, key: &str, read: Read) -> anyhow::Result<()> {
        bounded(async {
            match self {
                Conn::Praetor(c) => c.get(key, read).await,
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

async fn bounded<T>(f: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    match tokio::time::timeout(OP_TIMEOUT, f).await {
        Ok(r) => r,
        Err(_) => anyhow::bail!("no answer within {OP_TIMEOUT:?}"),
    }
}
