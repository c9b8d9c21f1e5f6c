//! The links between in-process servers, which a test can cut. Every server
//! dials its peers through a [`Links`] dialer (`praetor_server::rpc::Dial`):
//! each connection is relayed by a task of its own over loopback, so a cut
//! both refuses new connections between two servers and closes the ones
//! already open (each end sees its connection end, as after a reset). A
//! cut is symmetric and lasts until healed. Needs no privilege and touches
//! nothing outside the test process; the test's own calls on a
//! `Server` value never cross a link, so both sides can still be asked what
//! they think.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use praetor_server::rpc::{Dial, Dialer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// One link, named by its two ends in order.
type Pair = (String, String);

fn pair(a: &str, b: &str) -> Pair {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

/// The links of one in-process cluster; clones share them.
#[derive(Clone, Default)]
pub struct Links {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Which server listens where.
    names: HashMap<SocketAddr, String>,
    /// The links cut now.
    cut: BTreeSet<Pair>,
    /// The relays of each link's open connections (finished ones are
    /// swept as new ones open).
    relays: HashMap<Pair, Vec<AbortHandle>>,
    /// Connections refused because their link was cut, for diagnostics.
    refused: u64,
}

impl Links {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Names the server whose RPC listens on `addr`.
    pub fn register(&self, name: &str, addr: SocketAddr) {
        self.state().names.insert(addr, name.to_owned());
    }

    /// The dialer for server `from`: its connections to registered servers
    /// go through these links; to any other address, straight through.
    pub fn dialer(&self, from: &str) -> Dialer {
        Dialer::custom(LinkDialer {
            from: from.to_owned(),
            links: self.clone(),
        })
    }

    /// Cuts the link between `a` and `b`: closes its open connections and
    /// refuses new ones until [`heal`](Self::heal)ed.
    pub fn cut(&self, a: &str, b: &str) {
        let p = pair(a, b);
        let relays = {
            let mut s = self.state();
            s.cut.insert(p.clone());
            s.relays.remove(&p).unwrap_or_default()
        };
        let open = relays.iter().filter(|r| !r.is_finished()).count();
        for relay in relays {
            relay.abort();
        }
        tracing::info!(link = %format!("{}-{}", p.0, p.1), closed = open, "link cut");
    }

    /// Restores the link between `a` and `b` (new connections only: the
    /// ones the cut closed stay closed, and the servers reconnect).
    pub fn heal(&self, a: &str, b: &str) {
        let p = pair(a, b);
        self.state().cut.remove(&p);
        tracing::info!(link = %format!("{}-{}", p.0, p.1), "link healed");
    }

    /// Restores every link.
    pub fn heal_all(&self) {
        std::mem::take(&mut self.state().cut);
        tracing::info!("every link healed");
    }

    /// Whether the link between `a` and `b` is cut.
    pub fn is_cut(&self, a: &str, b: &str) -> bool {
        self.state().cut.contains(&pair(a, b))
    }

    /// `s1-s2 s1-s3`: the links cut now, for failure messages.
    pub fn describe(&self) -> String {
        let s = self.state();
        let cut: Vec<String> = s.cut.iter().map(|(a, b)| format!("{a}-{b}")).collect();
        format!(
            "cut: [{}], connections refused so far: {}",
            cut.join(" "),
            s.refused
        )
    }

    /// Closes every open connection (at the end of a test).
    pub fn close_all(&self) {
        let relays = std::mem::take(&mut self.state().relays);
        for relay in relays.into_values().flatten() {
            relay.abort();
        }
    }

    /// The name of `addr`'s server, and whether the link to it from `from`
    /// is cut (counting the refusal).
    fn lookup(&self, from: &str, addr: SocketAddr) -> (Option<String>, bool) {
        let mut s = self.state();
        let to = s.names.get(&addr).cloned();
        let cut = to
            .as_ref()
            .is_some_and(|to| s.cut.contains(&pair(from, to)));
        if cut {
            s.refused += 1;
        }
        (to, cut)
    }

    /// Adds a relay to the link `from-to`, unless it was cut meanwhile.
    fn add_relay(&self, from: &str, to: &str, relay: AbortHandle) -> bool {
        let p = pair(from, to);
        let mut s = self.state();
        if s.cut.contains(&p) {
            return false;
        }
        let open = s.relays.entry(p).or_default();
        open.retain(|r| !r.is_finished());
        open.push(relay);
        true
    }
}

/// One server's way to its peers through the links.
struct LinkDialer {
    from: String,
    links: Links,
}

fn refused(from: &str, to: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionRefused,
        format!("the link {from}-{to} is cut by the test"),
    )
}

impl Dial for LinkDialer {
    fn dial(
        &self,
        addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send + 'static>> {
        let (from, links) = (self.from.clone(), self.links.clone());
        Box::pin(async move {
            let (to, cut) = links.lookup(&from, addr);
            let Some(to) = to else {
                return TcpStream::connect(addr).await;
            };
            if cut {
                return Err(refused(&from, &to));
            }
            let upstream = TcpStream::connect(addr).await?;
            // A loopback pair: the server gets one end, the relay the other.
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let local = listener.local_addr()?;
            let (ours, (theirs, _)) =
                tokio::try_join!(TcpStream::connect(local), listener.accept())?;
            let relay = tokio::spawn(relay(theirs, upstream));
            if !links.add_relay(&from, &to, relay.abort_handle()) {
                relay.abort();
                return Err(refused(&from, &to));
            }
            Ok(ours)
        })
    }
}

/// Copies both ways until either side closes; aborted when the link is cut,
/// which drops (closes) both connections.
async fn relay(mut a: TcpStream, mut b: TcpStream) {
    let _ = a.set_nodelay(true);
    let _ = b.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    /// An echo server; returns its address.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> io::Result<()> {
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ping");
        Ok(())
    }

    #[tokio::test]
    async fn a_cut_closes_open_connections_and_refuses_new_ones_until_healed() {
        let links = Links::default();
        let addr = echo().await;
        links.register("s2", addr);
        let dialer = links.dialer("s1");
        let mut open = dialer.connect(addr).await.unwrap();
        round_trip(&mut open).await.unwrap();

        links.cut("s2", "s1");
        assert!(links.is_cut("s1", "s2"));
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), open.read(&mut buf))
            .await
            .expect("the cut closes the open connection at once");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        let e = dialer.connect(addr).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
        assert!(links.describe().contains("s1-s2"), "{}", links.describe());

        links.heal("s1", "s2");
        let mut again = dialer.connect(addr).await.unwrap();
        round_trip(&mut again).await.unwrap();
        links.close_all();
    }

    #[tokio::test]
    async fn an_address_of_no_registered_server_is_dialled_straight() {
        let links = Links::default();
        let addr = echo().await;
        links.cut("s1", "s2");
        let mut s = links.dialer("s1").connect(addr).await.unwrap();
        round_trip(&mut s).await.unwrap();
    }
}
