//! DNS intake is bounded (issue 12), on a client agent whose reads go to
//! its server: a flood of names that do not exist leaves a real name cached
//! (it is answered while every lookup slot is taken), and with
//! `MAX_UDP_PENDING` lookups waiting on a recursor that never answers,
//! further lookups that would wait get SERVFAIL at once.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_net::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_net::proto::rr::{Name, RData, RecordType};
use praetor_testkit::{init_tracing, secs, wait_for, Cluster, Loopback, Spec};
use reqwest::Method;
use tokio::net::UdpSocket;
use tracing::info;

/// `praetor_agent::dns::cache::MAX_WATCHED`.
const MAX_WATCHED: u16 = 4096;
/// `praetor_agent::dns::MAX_UDP_PENDING`.
const MAX_UDP_PENDING: u16 = 512;
/// The address `web` is registered with.
const WEB: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);

/// What came back for one query ID.
#[derive(Debug, Clone)]
struct Reply {
    rcode: ResponseCode,
    a: Vec<Ipv4Addr>,
}

/// One UDP socket asking the agent, and every reply it got, by ID.
struct Asker {
    socket: Arc<UdpSocket>,
    server: SocketAddr,
    replies: Arc<Mutex<HashMap<u16, Reply>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Asker {
    async fn new(server: SocketAddr) -> anyhow::Result<Asker> {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let replies = Arc::new(Mutex::new(HashMap::new()));
        let (s, r) = (socket.clone(), replies.clone());
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, _)) = s.recv_from(&mut buf).await {
                let Ok(m) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let a = m
                    .answers
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::A(a) => Some(a.0),
                        _ => None,
                    })
                    .collect();
                let reply = Reply {
                    rcode: m.metadata.response_code,
                    a,
                };
                r.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(m.metadata.id, reply);
            }
        });
        Ok(Asker {
            socket,
            server,
            replies,
            reader,
        })
    }

    async fn send(&self, id: u16, name: &str) -> anyhow::Result<()> {
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name)?, RecordType::A));
        self.socket.send_to(&m.to_vec()?, self.server).await?;
        Ok(())
    }

    fn reply(&self, id: u16) -> Option<Reply> {
        self.replies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    fn count(&self, ids: impl Iterator<Item = u16>, rcode: ResponseCode) -> usize {
        let replies = self.replies.lock().unwrap_or_else(|e| e.into_inner());
        ids.filter(|id| replies.get(id).is_some_and(|r| r.rcode == rcode))
            .count()
    }

    /// Waits until every ID in `ids` has a reply.
    async fn answered(&self, ids: std::ops::Range<u16>, what: &str) -> anyhow::Result<()> {
        wait_for(secs(30), what, || {
            let missing = ids.clone().filter(|id| self.reply(*id).is_none()).count();
            async move {
                if missing == 0 {
                    Ok(())
                } else {
                    Err(format!("{missing} without a reply"))
                }
            }
        })
        .await?;
        Ok(())
    }

    /// Asks for `web.service.consul.` as `id` and waits for the reply.
    async fn web(&self, id: u16) -> anyhow::Result<Reply> {
        self.send(id, "web.service.consul.").await?;
        self.answered(id..id + 1, "the reply for web").await?;
        self.reply(id)
            .ok_or_else(|| anyhow::anyhow!("no reply for web"))
    }
}

#[tokio::test]
async fn random_names_leave_real_ones_cached_and_waiting_lookups_are_bounded() -> anyhow::Result<()>
{
    init_tracing();
    // A recursor that never answers: every forwarded lookup waits on it.
    let lo = Loopback::allocate()?;
    let silent = UdpSocket::bind((lo.ip(), 8301)).await?;
    let cluster = Cluster::start(
        Spec::servers(1)
            .clients(1)
            .config("recursors", &format!("[\"{}:8301\"]", lo.ip()))
            .config("dns_config", r#"{"recursor_timeout": "120s"}"#),
    )
    .await?;
    let r = cluster
        .request(
            "c1",
            Method::PUT,
            "/v1/agent/service/register",
            Some(&format!(
                r#"{{"ID": "web1", "Name": "web", "Port": 80, "Address": "{WEB}"}}"#
            )),
            secs(10),
        )
        .await?;
    anyhow::ensure!(r.status == 200, "register: {r:?}");
    wait_for(secs(20), "web in the catalog", || async {
        let v = cluster
            .get_json("c1", "/v1/health/service/web")
            .await
            .map_err(|e| e.to_string())?;
        if v.as_array().is_some_and(|l| l.len() == 1) {
            Ok(())
        } else {
            Err(v.to_string())
        }
    })
    .await?;
    let asker = Asker::new(SocketAddr::from((cluster.node("c1")?.ip(), 8600))).await?;

    info!("--- a flood of names that do not exist, more than the cache holds");
    let flood = MAX_WATCHED + 100;
    for start in (0..flood).step_by(64) {
        let end = (start + 64).min(flood);
        for id in start..end {
            asker.send(id, &format!("r{id:x}.service.consul.")).await?;
        }
        asker.answered(start..end, "the flood's replies").await?;
    }
    assert_eq!(
        asker.count(0..flood, ResponseCode::NXDomain),
        usize::from(flood),
        "every random name is NXDOMAIN"
    );

    info!("--- a real name looked up after the flood is answered (and cached)");
    let mut id = flood;
    let web = asker.web(id).await?;
    assert_eq!(
        (web.rcode, web.a.as_slice()),
        (ResponseCode::NoError, &[WEB][..])
    );

    info!("--- fill every lookup slot with names for the silent recursor");
    let waiting_from = id + 1;
    let waiting_to = waiting_from + MAX_UDP_PENDING;
    for start in (waiting_from..waiting_to).step_by(64) {
        for id in start..(start + 64).min(waiting_to) {
            asker.send(id, &format!("x{id}.example.org.")).await?;
        }
        // The real name is answered from memory meanwhile, and its reply
        // shows the agent has read the batch before it.
        id = waiting_to + 1 + (start - waiting_from) / 64;
        let web = asker.web(id).await?;
        assert_eq!(
            (web.rcode, web.a.as_slice()),
            (ResponseCode::NoError, &[WEB][..])
        );
    }

    info!("--- every slot taken: lookups that would wait get SERVFAIL at once");
    let over_from = id + 1;
    let over_to = over_from + 32;
    for id in over_from..over_to {
        asker.send(id, &format!("y{id}.example.org.")).await?;
    }
    asker
        .answered(over_from..over_to, "SERVFAIL for lookups over the bound")
        .await?;
    assert_eq!(
        asker.count(over_from..over_to, ResponseCode::ServFail),
        32,
        "over the bound"
    );
    let uncached = over_to;
    asker.send(uncached, "db.service.consul.").await?;
    asker
        .answered(uncached..uncached + 1, "the uncached name's reply")
        .await?;
    assert_eq!(
        asker.reply(uncached).map(|r| r.rcode),
        Some(ResponseCode::ServFail),
        "an uncached name needs a slot too"
    );
    let web = asker.web(uncached + 1).await?;
    assert_eq!(
        (web.rcode, web.a.as_slice()),
        (ResponseCode::NoError, &[WEB][..]),
        "the cached real name is still answered"
    );
    let waiting = (waiting_from..waiting_to)
        .filter(|id| asker.reply(*id).is_some())
        .count();
    assert_eq!(waiting, 0, "the waiting lookups are still waiting");

    info!("--- shutdown does not wait for the waiting lookups");
    tokio::time::timeout(Duration::from_secs(60), cluster.shutdown()).await??;
    asker.reader.abort();
    drop(silent);
    Ok(())
}
