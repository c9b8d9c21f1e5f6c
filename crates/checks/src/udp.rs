//! UDP checks, as Consul's: send a datagram, then wait up to the timeout for
//! anything back. A receive error (the ICMP port unreachable a closed port
//! answers with) is critical; an answer, or silence until the timeout, is
//! passing (`UDP connect <addr>: Success`). So a passing UDP check takes its
//! whole timeout, as in Consul.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::{timeout_at, Instant};

use crate::definition::Status;

/// What Consul sends: its check's `Message`, which the agent leaves empty.
const MESSAGE: &[u8] = b"";

pub(crate) async fn probe(addr: &str, timeout: Duration) -> (Status, String) {
    let deadline = Instant::now() + timeout;
    let success = || (Status::Passing, format!("UDP connect {addr}: Success"));
    let socket = match timeout_at(deadline, connect(addr)).await {
        // As Consul: a dial that times out counts as success.
        Err(_) => return success(),
        Ok(Err(why)) => return (Status::Critical, why),
        Ok(Ok(socket)) => socket,
    };
    let peer = socket
        .peer_addr()
        .map_or_else(|_| addr.to_owned(), |a| a.to_string());
    let local = socket
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    if let Err(e) = socket.send(MESSAGE).await {
        return (Status::Critical, format!("write udp {local}->{peer}: {e}"));
    }
    let mut buf = [0u8; 1];
    match timeout_at(deadline, socket.recv(&mut buf)).await {
        Err(_) | Ok(Ok(_)) => success(),
        Ok(Err(e)) => (Status::Critical, format!("read udp {local}->{peer}: {e}")),
    }
}

/// A socket connected to `addr`'s first address, bound to the matching
/// wildcard address.
async fn connect(addr: &str) -> Result<UdpSocket, String> {
    let target = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("dial udp {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("dial udp {addr}: no addresses"))?;
    let any: SocketAddr = if target.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(any)
        .await
        .map_err(|e| format!("dial udp {addr}: {e}"))?;
    socket
        .connect(target)
        .await
        .map_err(|e| format!("dial udp {addr}: {e}"))?;
    Ok(socket)
}
