//! The DNS interface through real resolvers: `dig` (BIND's, installed by
//! the test command) and hickory's client, against a three-server cluster
//! with a client agent, and against a dev agent for malformed packets.
//! Each test holds its own loopback addresses (the agents' DNS on port
//! 8600 there), so the suites run in parallel.

mod acl;
mod cluster;
mod intake;
mod malformed;
mod servers;
mod upstream;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::Message;
use hickory_net::proto::rr::{DNSClass, Name, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;

/// One resource record as dig prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rr {
    pub name: String,
    pub ttl: u32,
    pub rtype: String,
    pub data: String,
}

/// The last answer dig printed (after a TCP retry, the TCP one).
#[derive(Debug, Clone)]
pub struct Dig {
    pub status: String,
    pub flags: Vec<String>,
    pub answer: Vec<Rr>,
    pub authority: Vec<Rr>,
    pub additional: Vec<Rr>,
    /// dig saw the TC bit and asked again over TCP.
    pub retried_tcp: bool,
    pub output: String,
}

impl Dig {
    /// The data of the answer records of `rtype`, sorted.
    pub fn data(&self, rtype: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .answer
            .iter()
            .filter(|r| r.rtype == rtype)
            .map(|r| r.data.clone())
            .collect();
        v.sort();
        v
    }
}

/// Runs `dig @server -p 8600 <args>` (one try, 3 s) and parses its output.
pub async fn dig(server: Ipv4Addr, args: &[&str]) -> Result<Dig, String> {
    let out = tokio::process::Command::new("dig")
        .arg(format!("@{server}"))
        .args(["-p", "8600", "+tries=1", "+time=3"])
        .args(args)
        .output()
        .await
        .map_err(|e| format!("running dig (is dnsutils installed?): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("dig {args:?} failed: {text}"));
    }
    parse_dig(&text).ok_or_else(|| format!("dig {args:?}: no answer in {text}"))
}

fn parse_dig(text: &str) -> Option<Dig> {
    let retried_tcp = text.contains("Truncated, retrying in TCP mode");
    // Only the last message dig printed.
    let last = &text[text.rfind("->>HEADER<<-")?..];
    let status = last
        .split("status: ")
        .nth(1)?
        .split(',')
        .next()?
        .trim()
        .to_owned();
    let flags = last
        .lines()
        .find(|l| l.starts_with(";; flags:"))?
        .trim_start_matches(";; flags:")
        .split(';')
        .next()?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let mut dig = Dig {
        status,
        flags,
        answer: Vec::new(),
        authority: Vec::new(),
        additional: Vec::new(),
        retried_tcp,
        output: text.to_owned(),
    };
    let mut section = "";
    for line in last.lines() {
        if let Some(rest) = line.strip_prefix(";; ") {
            section = rest.split(' ').next().unwrap_or("");
            continue;
        }
        if line.starts_with(';') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 {
            continue;
        }
        let rr = Rr {
            name: f[0].to_owned(),
            ttl: f[1].parse().unwrap_or(u32::MAX),
            rtype: f[3].to_owned(),
            data: f[4..].join(" "),
        };
        match section {
            "ANSWER" => dig.answer.push(rr),
            "AUTHORITY" => dig.authority.push(rr),
            "ADDITIONAL" => dig.additional.push(rr),
            _ => {}
        }
    }
    Some(dig)
}

/// Asks `server:8600` one question with hickory's client, over UDP or TCP.
pub async fn hickory(
    server: Ipv4Addr,
    name: &str,
    rtype: RecordType,
    tcp: bool,
) -> Result<Message, String> {
    let addr = SocketAddr::from((server, 8600));
    let provider = TokioRuntimeProvider::default();
    let name = Name::from_ascii(name).map_err(|e| e.to_string())?;
    let ask = async {
        let mut client = if tcp {
            let (stream, sender) = TcpClientStream::new(addr, None, None, provider);
            let (client, bg) = Client::<TokioRuntimeProvider>::new(
                stream.await.map_err(|e| e.to_string())?,
                sender,
            );
            tokio::spawn(bg);
            client
        } else {
            let stream = UdpClientStream::builder(addr, provider).build();
            let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
            tokio::spawn(bg);
            client
        };
        client
            .query(name, DNSClass::IN, rtype)
            .await
            .map(|r| r.into_message())
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(Duration::from_secs(5), ask)
        .await
        .map_err(|_| "no answer within 5 s".to_owned())?
}
