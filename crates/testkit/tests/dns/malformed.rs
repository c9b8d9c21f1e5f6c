//! A dev agent's DNS interface under bad input: garbage, truncated
//! messages, responses, several questions, other opcodes, over UDP and TCP.
//! Each gets FORMERR (or NOTIMP), or nothing, and the agent keeps
//! answering; names outside the domain are refused without recursors.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_net::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_net::proto::rr::{Name, RecordType};
use praetor_testkit::{init_tracing, AgentProcess, Loopback};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tracing::info;

use super::dig;

fn query(id: u16, name: &str) -> Message {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    m
}

/// Sends `packet` over UDP; the answer, or `None` after 500 ms of silence.
async fn udp(server: SocketAddr, packet: &[u8]) -> anyhow::Result<Option<Message>> {
    let s = UdpSocket::bind("127.0.0.1:0").await?;
    s.send_to(packet, server).await?;
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(Duration::from_millis(500), s.recv_from(&mut buf)).await {
        Ok(r) => {
            let (n, _) = r?;
            Ok(Some(Message::from_vec(&buf[..n])?))
        }
        Err(_) => Ok(None),
    }
}

fn rcode(m: &Option<Message>) -> Option<ResponseCode> {
    m.as_ref().map(|m| m.metadata.response_code)
}

#[tokio::test]
async fn malformed_packets_get_formerr_or_nothing_and_the_agent_keeps_answering(
) -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    let agent = AgentProcess::dev(&lo)?.start().await?;
    let server = SocketAddr::from((lo.ip(), 8600));

    info!("--- garbage and short packets: nothing");
    for junk in [&b""[..], b"\x01", b"hello", &[0xff; 11]] {
        assert_eq!(rcode(&udp(server, junk).await?), None, "{junk:?}");
    }
    info!("--- a header with a broken question: FORMERR with the id");
    let mut broken = query(0x1234, "web.service.consul.").to_vec()?;
    broken.truncate(broken.len() - 4);
    let r = udp(server, &broken).await?;
    assert_eq!(rcode(&r), Some(ResponseCode::FormErr));
    assert_eq!(r.map(|m| m.metadata.id), Some(0x1234));
    let mut lying = query(7, "web.service.consul.").to_vec()?;
    lying[5] = 9; // nine questions announced, one sent
    assert_eq!(
        rcode(&udp(server, &lying).await?),
        Some(ResponseCode::FormErr)
    );
    info!("--- a response is never answered; two questions are FORMERR; NOTIFY is NOTIMP");
    let mut resp = query(8, "web.service.consul.");
    resp.metadata.message_type = MessageType::Response;
    assert_eq!(rcode(&udp(server, &resp.to_vec()?).await?), None);
    let mut two = query(9, "a.service.consul.");
    two.add_query(Query::query(
        Name::from_ascii("b.service.consul.")?,
        RecordType::A,
    ));
    assert_eq!(
        rcode(&udp(server, &two.to_vec()?).await?),
        Some(ResponseCode::FormErr)
    );
    let mut notify = query(10, "consul.");
    notify.metadata.op_code = OpCode::Notify;
    assert_eq!(
        rcode(&udp(server, &notify.to_vec()?).await?),
        Some(ResponseCode::NotImp)
    );

    info!("--- TCP: a garbage frame closes only that connection");
    let mut tcp = TcpStream::connect(server).await?;
    tcp.write_all(&[0, 3, 1, 2, 3]).await?;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut rest)).await;
    let mut tcp = TcpStream::connect(server).await?;
    tcp.write_all(&[0, 200, 1, 2]).await?; // announces more than it sends
    drop(tcp);

    info!("--- the agent still answers, and refuses names outside its domain");
    let d = dig(lo.ip(), &["consul", "SOA"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(
        (d.status.as_str(), d.answer.len()),
        ("NOERROR", 1),
        "{}",
        d.output
    );
    let d = dig(lo.ip(), &["+tcp", "dev.node.consul", "A"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(d.status, "NXDOMAIN", "{}", d.output);
    let d = dig(lo.ip(), &["example.com", "A"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(d.status, "REFUSED", "no recursors: {}", d.output);
    assert!(!d.flags.contains(&"ra".to_owned()));
    agent.shutdown().await?;
    Ok(())
}
