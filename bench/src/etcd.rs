//! etcd's side: the v3 gRPC API through the `etcd-client` crate, plain or
//! (the tls phase) over TLS with a client certificate. Each `Conn` is its own
//! client, so each holds its own HTTP/2 connection to each member it was
//! given. Also the maintenance status the cluster benchmark uses to
//! find the leader, and the maintenance snapshot the scale phase times.

use std::time::Duration;

use anyhow::{bail, ensure, Context as _};
use etcd_client::{
    Certificate, Client, ConnectOptions, GetOptions, Identity, KvClient, TlsOptions, WatchOptions,
    WatchStream,
};

use crate::target::{Read, CONNECT_TIMEOUT, OP_TIMEOUT};
use crate::tls_client::ClientTls;

/// One client with one connection per member; `etcd-client`'s balancer picks
/// the member of each request.
#[derive(Clone)]
pub struct Conn {
    kv: KvClient,
}

impl Conn {
    pub async fn connect(addrs: &[String]) -> anyhow::Result<Self> {
        Self::connect_with(addrs, None).await
    }

    /// A client of the members at `addrs`: over TLS presenting `tls`'s client
    /// certificate (and trusting its CA) when given, else plain.
    pub async fn connect_with(addrs: &[String], tls: Option<&ClientTls>) -> anyhow::Result<Self> {
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(OP_TIMEOUT);
        let scheme = match tls {
            Some(t) => {
                opts = opts.with_tls(
                    TlsOptions::new()
                        .ca_certificate(Certificate::from_pem(&t.ca_pem))
                        .identity(Identity::from_pem(&t.cert_pem, &t.key_pem)),
                );
                "https"
            }
            None => "http",
        };
        let endpoints: Vec<String> = addrs.iter().map(|a| format!("{scheme}://{a}")).collect();
        let client = Client::connect(endpoints, Some(opts))
            .await
            .context("connecting to etcd")?;
        Ok(Self {
            kv: client.kv_client(),
        })
    }

    pub async fn put(&mut self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        self.kv.put(key, value, None).await?;
        Ok(())
    }

    /// A linearizable range read (etcd's default) or a serializable one.
    pub async fn get(&mut self, key: &str, read: Read) -> anyhow::Result<()> {
        let opts = match read {
            Read::Default => None,
            Read::Local => Some(GetOptions::new().with_serializable()),
        };
        let resp = self.kv.get(key, opts).await?;
        ensure!(
            resp.kvs().len() == 1,
            "get {key}: {} keys",
            resp.kvs().len()
        );
        Ok(())
    }
}

/// How many keys start with `prefix`: a linearizable count-only range read.
pub async fn count_keys(addr: &str, prefix: &str) -> anyhow::Result<u64> {
    let mut c = Conn::connect(&[addr.to_owned()]).await?;
    let resp =
        c.kv.get(
            prefix,
            Some(GetOptions::new().with_prefix().with_count_only()),
        )
        .await?;
    Ok(u64::try_from(resp.count())?)
}

/// The maintenance Snapshot of the member at `addr` (what `etcdctl
/// snapshot save` reads), read to the end and dropped: its bytes, bounded
/// by `limit`.
pub async fn snapshot_bytes(addr: &str, limit: Duration) -> anyhow::Result<u64> {
    let opts = ConnectOptions::new()
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_timeout(limit);
    tokio::time::timeout(limit, async {
        let mut client = Client::connect([format!("http://{addr}")], Some(opts)).await?;
        let mut stream = client.snapshot().await?;
        let mut bytes = 0u64;
        while let Some(m) = stream.message().await? {
            bytes += m.blob().len() as u64;
        }
        anyhow::Ok(bytes)
    })
    .await
    .context("etcd snapshot timed out")?
}

/// One member's view, from the maintenance Status call.
#[derive(Debug, Clone, Copy)]
pub struct Status {
    /// This member's ID.
    pub member_id: u64,
    /// The leader's member ID as this member sees it; 0 when it knows none.
    pub leader: u64,
}

/// The maintenance Status of the member at `addr`, bounded by `limit`.
pub async fn status(addr: &str, limit: Duration) -> anyhow::Result<Status> {
    let opts = ConnectOptions::new()
        .with_connect_timeout(limit)
        .with_timeout(limit);
    let r = tokio::time::timeout(limit, async {
        let mut client = Client::connect([format!("http://{addr}")], Some(opts)).await?;
        client.status().await
    })
    .await
    .context("etcd status timed out")??;
    Ok(Status {
        member_id: r.header().map_or(0, |h| h.member_id()),
        leader: r.leader(),
    })
}

/// A watch on a prefix, on its own client.
pub struct Watch {
    stream: WatchStream,
    /// Held so that the connection outlives the stream.
    _client: Client,
}

impl Watch {
    /// Opens the watch; returns once etcd confirmed it was created, so every
    /// later change is delivered.
    pub async fn open(addr: &str, prefix: &str) -> anyhow::Result<Self> {
        // No request timeout: it would also bound the open stream; the caller bounds every read.
        let opts = ConnectOptions::new().with_connect_timeout(CONNECT_TIMEOUT);
        let mut client = Client::connect([format!("http://{addr}")], Some(opts))
            .await
            .context("connecting to etcd")?;
        let stream = tokio::time::timeout(OP_TIMEOUT, async {
            let mut stream = client
                .watch(prefix, Some(WatchOptions::new().with_prefix()))
                .await?;
            let first = stream.message().await?;
            ensure!(
                first.is_some_and(|m| m.created()),
                "etcd did not confirm the watch on {prefix}"
            );
            Ok(stream)
        })
        .await
        .context("opening the watch timed out")??;
        Ok(Self {
            stream,
            _client: client,
        })
    }

    /// The keys of the next events, waiting for at least one.
    pub async fn next_keys(&mut self) -> anyhow::Result<Vec<String>> {
        loop {
            let Some(msg) = self.stream.message().await? else {
                bail!("the watch stream ended")
            };
            ensure!(!msg.canceled(), "etcd cancelled the watch");
            let keys: Vec<String> = msg
                .events()
                .iter()
                .filter_map(|e| e.kv())
                .map(|kv| kv.key_str().map(str::to_owned))
                .collect::<Result<_, _>>()?;
            if !keys.is_empty() {
                return Ok(keys);
            }
        }
    }
}
