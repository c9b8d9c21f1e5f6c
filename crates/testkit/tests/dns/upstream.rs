//! A small upstream DNS server for the recursor tests, on a loopback
//! address of its own: `www.example.test.` has an A record (192.0.2.10),
//! every other name is NXDOMAIN. Counts what it is asked; stops with the
//! token.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use self::signal::Stop;
use hickory_net::proto::op::{Message, MessageType, ResponseCode};
use hickory_net::proto::rr::rdata::A;
use hickory_net::proto::rr::{RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// The address the upstream answers for `www.example.test.`.
pub const WWW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

/// A running upstream.
pub struct Upstream {
    pub addr: SocketAddr,
    pub asked: Arc<AtomicUsize>,
    stop: Stop,
}

impl Upstream {
    /// Serves UDP and TCP on `addr`.
    pub async fn start(addr: SocketAddr) -> std::io::Result<Upstream> {
        let udp = UdpSocket::bind(addr).await?;
        let tcp = TcpListener::bind(addr).await?;
        let asked = Arc::new(AtomicUsize::new(0));
        let stop = Stop::default();
        let (a, s) = (asked.clone(), stop.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let (n, peer) = tokio::select! {
                    () = s.wait() => return,
                    r = udp.recv_from(&mut buf) => match r { Ok(r) => r, Err(_) => continue },
                };
                a.fetch_add(1, Ordering::SeqCst);
                if let Some(out) = answer(&buf[..n]) {
                    let _ = udp.send_to(&out, peer).await;
                }
            }
        });
        let (a, s) = (asked.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let mut stream = tokio::select! {
                    () = s.wait() => return,
                    r = tcp.accept() => match r { Ok((st, _)) => st, Err(_) => continue },
                };
                a.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(len) = stream.read_u16().await else {
                        return;
                    };
                    let mut buf = vec![0u8; usize::from(len)];
                    if stream.read_exact(&mut buf).await.is_err() {
                        return;
                    }
                    if let Some(out) = answer(&buf) {
                        let mut framed = (out.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&out);
                        let _ = stream.write_all(&framed).await;
                    }
                });
            }
        });
        Ok(Upstream { addr, asked, stop })
    }

    pub fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.fire();
    }
}

fn answer(packet: &[u8]) -> Option<Vec<u8>> {
    let req = Message::from_vec(packet).ok()?;
    if req.metadata.message_type != MessageType::Query {
        return None;
    }
    let q = req.queries.first()?;
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_available = true;
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.add_query(q.clone());
    if let Some(e) = &req.edns {
        resp.set_edns(e.clone());
    }
    if q.name().to_lowercase().to_ascii() == "www.example.test." {
        if q.query_type() == RecordType::A {
            resp.add_answer(Record::from_rdata(q.name().clone(), 60, RData::A(A(WWW))));
        }
    } else {
        resp.metadata.response_code = ResponseCode::NXDomain;
    }
    resp.to_vec().ok()
}

/// A one-shot stop signal without more dependencies.
mod signal {
    use std::sync::Arc;
    use tokio::sync::watch;

    #[derive(Clone)]
    pub struct Stop(Arc<watch::Sender<bool>>);

    impl Default for Stop {
        fn default() -> Self {
            Stop(Arc::new(watch::channel(false).0))
        }
    }

    impl Stop {
        pub fn fire(&self) {
            let _ = self.0.send(true);
        }
        pub async fn wait(&self) {
            let mut rx = self.0.subscribe();
            let _ = rx.wait_for(|v| *v).await;
        }
    }
}
