//! `praetor-bench dns`: closed-loop DNS load against one server. Each
//! worker owns a UDP socket and keeps one query in flight (sends, waits for
//! the answer with the same ID, records the latency, sends the next), so
//! the rate is what the server sustains at that concurrency and the
//! percentiles are per query. Queries are built by hand (RFC 1035 header
//! and question, EDNS0 with a 4096-byte buffer), so the tool needs no DNS
//! library. Stops by
//! itself after the duration; every receive has a timeout.

use std::net::SocketAddr;
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
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
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
