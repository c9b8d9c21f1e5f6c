//! Forwarding names outside the agent's domains to the configured
//! `recursors`, as Consul does: the client's query is sent as it came, over
//! the transport it came on, to each recursor in turn (configured order, or
//! random with `recursor_strategy = "random"`), each with
//! `recursor_timeout`; the first answer that is not a server failure is
//! relayed unchanged (a truncated one too: the client retries over TCP).
//! Never answers from its own data.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use rand::seq::SliceRandom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::Transport;
use crate::config::RecursorStrategy;

/// The first usable answer from `recursors`, or `None` when each failed,
/// timed out or answered with an error other than NXDOMAIN.
pub async fn forward(
    packet: &[u8],
    transport: Transport,
    recursors: &[SocketAddr],
    strategy: RecursorStrategy,
    timeout: Duration,
) -> Option<Vec<u8>> {
    let mut order: Vec<SocketAddr> = recursors.to_vec();
    if strategy == RecursorStrategy::Random {
        order.shuffle(&mut rand::thread_rng());
    }
    for upstream in order {
        let exchange = async {
            match transport {
                Transport::Udp => exchange_udp(packet, upstream).await,
                Transport::Tcp => exchange_tcp(packet, upstream).await,
            }
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(answer)) if usable(packet, &answer) => return Some(answer),
            Ok(Ok(answer)) => {
                tracing::debug!(%upstream, rcode = answer.get(3).map_or(0, |b| b & 0x0f), "recursor answered with an error; trying the next");
            }
            Ok(Err(e)) => tracing::debug!(%upstream, error = %e, "recursor failed"),
            Err(_) => tracing::debug!(%upstream, ?timeout, "recursor timed out"),
        }
    }
    None
}

/// An answer to relay: a response to this query's ID whose code is
/// NOERROR or NXDOMAIN, or one that is truncated.
fn usable(query: &[u8], answer: &[u8]) -> bool {
    if answer.len() < 12 || query.len() < 2 || answer[..2] != query[..2] || answer[2] & 0x80 == 0 {
        return false;
    }
    let truncated = answer[2] & 0x02 != 0;
    let rcode = answer[3] & 0x0f;
    truncated || rcode == 0 || rcode == 3
}

async fn exchange_udp(packet: &[u8], upstream: SocketAddr) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = if upstream.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    // Connected: datagrams from anyone else are not taken as the answer.
    socket.connect(upstream).await?;
    socket.send(packet).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = socket.recv(&mut buf).await?;
        // Skip a stray datagram for another ID; the timeout bounds the wait.
        if n >= 2 && buf[..2] == packet[..2] {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn exchange_tcp(packet: &[u8], upstream: SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await?;
    let len = u16::try_from(packet.len())
        .map_err(|_| std::io::Error::other("query longer than 65535 bytes"))?;
    let mut framed = Vec::with_capacity(packet.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(packet);
    stream.write_all(&framed).await?;
    let len = stream.read_u16().await?;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}
