//! `praetor-bench dns`: closed-loop DNS load against one server. Each
//! worker owns a UDP socket and keeps one query in flight (sends, waits for
//! the answer with the same ID, records the latency, sends the next), so
//! the rate is what the server sustains at that concurrency and the
//! percentiles are per query. Queries are built by hand (RFC 1035 header
//! and question, EDNS0 with a 4096-byte buffer), so the tool needs no DNS
//! library. Stops by
//! itself after the duration; every receive has a timeout.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use tokio::net::UdpSocket;

use crate::stats::Samples;

#[derive(Args)]
pub struct DnsArgs {
    /// The DNS server (ip:port).
    #[arg(long)]
    server: SocketAddr,
    /// The name to ask for.
    #[arg(long, default_value = "web.service.consul")]
    name: String,
    /// The record type: A or SRV.
    #[arg(long, default_value = "SRV")]
    qtype: String,
    /// Queries in flight at once (one per worker).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long to send queries.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Answers every response must hold (checked on each).
    #[arg(long)]
    expect_answers: Option<u16>,
}

/// The wire form of a query for `name` and `qtype` with ID `id`, RD set,
/// with an EDNS0 OPT record offering a 4096-byte buffer (as dig sends).
pub(crate) fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(12 + name.len() + 17);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0]);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    // OPT: root name, type 41, class = payload size, TTL 0, no options.
    q.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]);
    q
}

/// What an answer to an A query said: its response code and the IPv4
/// addresses of its A records (class IN) in the answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AAnswer {
    pub rcode: u8,
    pub addrs: Vec<Ipv4Addr>,
}

/// The offset just past the (possibly compressed) domain name at `pos`, or
/// `None` when it runs past the message or is malformed. A compression
/// pointer ends the name (its target is not followed: only its length
/// matters here).
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    // A name has at most 127 labels; more means a malformed message.
    for _ in 0..128 {
        let len = *msg.get(pos)?;
        match len & 0xc0 {
            0xc0 => return (pos + 2 <= msg.len()).then_some(pos + 2),
            0x00 if len == 0 => return Some(pos + 1),
            0x00 => pos += 1 + usize::from(len),
            _ => return None,
        }
    }
    None
}

/// Parses the response `msg` to query `id`: its rcode and A records.
///
/// # Errors
/// When it is not a response to `id`, or is truncated or malformed.
pub(crate) fn parse_a_answer(msg: &[u8], id: u16) -> Result<AAnswer, String> {
    if msg.len() < 12 {
        return Err(format!("a {}-byte message has no header", msg.len()));
    }
    if msg[..2] != id.to_be_bytes() {
        return Err("the answer is to another query".into());
    }
    if msg[2] & 0x80 == 0 {
        return Err("not a response (QR unset)".into());
    }
    let count = |at: usize| u16::from_be_bytes([msg[at], msg[at + 1]]);
    let (questions, answers) = (count(4), count(6));
    let mut pos = 12;
    for _ in 0..questions {
        pos = skip_name(msg, pos).ok_or("a question's name is truncated or malformed")? + 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..answers {
        pos = skip_name(msg, pos).ok_or("an answer's name is truncated or malformed")?;
        let fixed = msg
            .get(pos..pos + 10)
            .ok_or("an answer's type, class, TTL or length is truncated")?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let class = u16::from_be_bytes([fixed[2], fixed[3]]);
        let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata = msg
            .get(pos + 10..pos + 10 + rdlen)
            .ok_or("an answer's data is truncated")?;
        if rtype == 1 && class == 1 {
            let octets: [u8; 4] = rdata
                .try_into()
                .map_err(|_| format!("an A record of {rdlen} bytes"))?;
            addrs.push(Ipv4Addr::from(octets));
        }
        pos += 10 + rdlen;
    }
    Ok(AAnswer {
        rcode: msg[3] & 0x0f,
        addrs,
    })
}

/// One A query for `name` to `server` over UDP, bounded by `limit`:
/// the answer's rcode and addresses.
///
/// # Errors
/// When no well-formed answer to it arrives within `limit`.
pub(crate) async fn lookup_a(
    socket: &UdpSocket,
    id: u16,
    name: &str,
    limit: Duration,
) -> anyhow::Result<AAnswer> {
    socket
        .send(&query(id, name, 1))
        .await
        .context("sending a DNS query")?;
    let mut buf = vec![0u8; 65535];
    tokio::time::timeout(limit, async {
        loop {
            let n = socket.recv(&mut buf).await?;
            // A late answer to an earlier query is skipped.
            if n >= 2 && buf[..2] == id.to_be_bytes() {
                return parse_a_answer(&buf[..n], id).map_err(|e| anyhow::anyhow!(e));
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("no DNS answer for {name} within {limit:?}"))?
}

struct Worker {
    samples: Samples,
    errors: u64,
    wrong: u64,
}

/// Runs the load and prints one JSON line with the results.
///
/// # Errors
/// Bad arguments or sockets that cannot be bound.
pub async fn run(args: DnsArgs) -> anyhow::Result<()> {
    let qtype = match args.qtype.to_ascii_uppercase().as_str() {
        "A" => 1,
        "SRV" => 33,
        other => anyhow::bail!("unsupported --qtype {other}: use A or SRV"),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..args.concurrency {
        let socket = UdpSocket::bind("0.0.0.0:0")
            .await
            .context("binding a UDP socket")?;
        socket
            .connect(args.server)
            .await
            .context("connecting the UDP socket")?;
        let (stop, name, expect) = (stop.clone(), args.name.clone(), args.expect_answers);
        handles.push(tokio::spawn(async move {
            let mut out = Worker {
                samples: Samples::default(),
                errors: 0,
                wrong: 0,
            };
            let mut buf = vec![0u8; 65535];
            let mut id = (w as u16).wrapping_mul(4099);
            while !stop.load(Ordering::Relaxed) {
                id = id.wrapping_add(1);
                let q = query(id, &name, qtype);
                let sent = Instant::now();
                if socket.send(&q).await.is_err() {
                    out.errors += 1;
                    continue;
                }
                // Read until this query's answer (a late one for an earlier
                // ID is skipped), at most one second.
                let answer = tokio::time::timeout(Duration::from_secs(1), async {
                    loop {
                        let n = socket.recv(&mut buf).await?;
                        if n >= 12 && buf[..2] == id.to_be_bytes() {
                            return Ok::<usize, std::io::Error>(n);
                        }
                    }
                })
                .await;
                match answer {
                    Ok(Ok(_)) => {
                        out.samples.push(sent.elapsed());
                        let rcode = buf[3] & 0x0f;
                        let answers = u16::from_be_bytes([buf[6], buf[7]]);
                        if rcode != 0 || expect.is_some_and(|e| e != answers) {
                            out.wrong += 1;
                        }
                    }
                    _ => out.errors += 1,
                }
            }
            out
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.duration_secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Samples::default();
    let (mut errors, mut wrong) = (0, 0);
    for h in handles {
        let w = h.await.context("a worker panicked")?;
        samples.extend(w.samples);
        errors += w.errors;
        wrong += w.wrong;
    }
    let secs = started.elapsed().as_secs_f64();
    let n = samples.len();
    let result = serde_json::json!({
        "server": args.server.to_string(),
        "name": args.name,
        "qtype": args.qtype,
        "concurrency": args.concurrency,
        "seconds": (secs * 10.0).round() / 10.0,
        "queries": n,
        "qps": (n as f64 / secs).round(),
        "p50_ms": samples.percentile_ms(50.0),
        "p99_ms": samples.percentile_ms(99.0),
        "p999_ms": samples.percentile_ms(99.9),
        "timeouts": errors,
        "wrong_answers": wrong,
    });
    println!("{result}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A response to `query(id, name, 1)` holding an A record per address,
    /// each named by a compression pointer to the question (as servers
    /// write them), with a CNAME-typed record first when `cname`.
    fn response(id: u16, name: &str, rcode: u8, addrs: &[Ipv4Addr], cname: bool) -> Vec<u8> {
        let mut m = query(id, name, 1);
        // Drop the OPT record the query carries; set QR and the counts.
        m.truncate(m.len() - 11);
        m[2] |= 0x80;
        m[3] = rcode;
        let answers = addrs.len() + usize::from(cname);
        m[6..8].copy_from_slice(&(answers as u16).to_be_bytes());
        m[10..12].copy_from_slice(&[0, 0]);
        if cname {
            m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 0, 0, 2, 0xc0, 12]);
        }
        for a in addrs {
            m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
            m.extend_from_slice(&a.octets());
        }
        m
    }

    #[test]
    fn an_answer_gives_its_addresses_and_rcode() {
        let ips = [Ipv4Addr::new(127, 0, 16, 3), Ipv4Addr::new(127, 0, 16, 6)];
        let m = response(7, "web-fo.query.consul", 0, &ips, true);
        assert_eq!(
            parse_a_answer(&m, 7),
            Ok(AAnswer {
                rcode: 0,
                addrs: ips.to_vec()
            })
        );
        let nx = response(8, "web-fo.query.consul", 3, &[], false);
        assert_eq!(
            parse_a_answer(&nx, 8),
            Ok(AAnswer {
                rcode: 3,
                addrs: Vec::new()
            })
        );
        assert!(parse_a_answer(&m, 8).is_err(), "another query's answer");
        assert!(parse_a_answer(&m[..m.len() - 1], 7).is_err(), "truncated");
        assert!(
            parse_a_answer(&query(7, "x.consul", 1), 7).is_err(),
            "a query"
        );
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_without_panicking(msg in proptest::collection::vec(any::<u8>(), 0..300), id: u16) {
            let _ = parse_a_answer(&msg, id);
        }

        #[test]
        fn a_built_answer_round_trips(
            id: u16,
            labels in proptest::collection::vec("[a-z0-9-]{1,20}", 1..5),
            octets in proptest::collection::vec(any::<[u8; 4]>(), 0..8),
            rcode in 0u8..6,
            cname: bool,
        ) {
            let name = labels.join(".");
            let addrs: Vec<Ipv4Addr> = octets.into_iter().map(Ipv4Addr::from).collect();
            let m = response(id, &name, rcode, &addrs, cname);
            prop_assert_eq!(parse_a_answer(&m, id), Ok(AAnswer { rcode, addrs }));
            // Every truncation is an error or a shorter, consistent answer, never a panic.
            for cut in 0..m.len() {
                let _ = parse_a_answer(&m[..cut], id);
            }
        }
    }
}
