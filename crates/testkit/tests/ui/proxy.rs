//! A tiny reverse proxy that serves the agent under a path prefix, as an
//! operator's nginx behind an SSH tunnel would: `/<prefix>/x` goes to the
//! agent as `/x`; anything else is a 404 (and is recorded, so a test can
//! tell that the UI never left its prefix). One request per connection.
//! A test can make it answer API calls with a fault (a status, or a dropped
//! connection) to see how the UI shows them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The request heads may be at most this long.
const MAX_HEAD: usize = 64 * 1024;

/// What the proxy saw: each request line's path with when it arrived.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub path: String,
    pub forwarded: bool,
    /// The `X-Consul-Token` header, if sent.
    pub token: Option<String>,
}

/// How to answer `/v1/` calls instead of forwarding them.
#[derive(Debug, Clone)]
pub enum Fault {
    /// This status with this plain-text body.
    Status(u16, String),
    /// Close the connection without an answer (an unreachable agent).
    Drop,
}

pub struct PrefixProxy {
    pub addr: SocketAddr,
    pub prefix: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    fault: Arc<Mutex<Option<Fault>>>,
    task: JoinHandle<()>,
}

impl PrefixProxy {
    /// Listens on `ip:0` and forwards `/<prefix>/…` to `upstream`.
    pub async fn start(
        ip: std::net::Ipv4Addr,
        prefix: &str,
        upstream: SocketAddr,
    ) -> anyhow::Result<PrefixProxy> {
        let listener = TcpListener::bind((ip, 0)).await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let fault = Arc::new(Mutex::new(None));
        let prefix = format!("/{}", prefix.trim_matches('/'));
        let (p, s, f) = (prefix.clone(), seen.clone(), fault.clone());
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (p, s, f) = (p.clone(), s.clone(), f.clone());
                tokio::spawn(async move {
                    let _ = serve(conn, &p, upstream, &s, &f).await;
                });
            }
        });
        Ok(PrefixProxy {
            addr,
            prefix,
            seen,
            fault,
            task,
        })
    }

    /// Answers every `/v1/` call with `fault` from now on (`None`: forward).
    pub fn set_fault(&self, fault: Option<Fault>) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }

    /// `http://addr/<prefix>/`.
    pub fn url(&self) -> String {
        format!("http://{}{}/", self.addr, self.prefix)
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for PrefixProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut client: TcpStream,
    prefix: &str,
    upstream: SocketAddr,
    seen: &Mutex<Vec<Seen>>,
    fault: &Mutex<Option<Fault>>,
) -> anyhow::Result<()> {
    // Read the request head.
    let mut buf = Vec::with_capacity(4096);
    let end = loop {
        let mut chunk = [0u8; 4096];
        let n = client.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "closed before a request");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        anyhow::ensure!(buf.len() < MAX_HEAD, "request head too long");
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.splitn(3, ' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let rest = target
        .strip_prefix(prefix)
        .filter(|r| r.is_empty() || r.starts_with('/') || r.starts_with('?'));
    let token = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("x-consul-token"))
        .map(|(_, v)| v.trim().to_owned());
    seen.lock().unwrap_or_else(|p| p.into_inner()).push(Seen {
        at: Instant::now(),
        path: target.to_owned(),
        forwarded: rest.is_some(),
        token,
    });
    let injected = fault.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let (Some(f), Some(r)) = (injected, rest) {
        if r.starts_with("/v1/") {
            if let Fault::Status(code, body) = f {
                let answer = format!(
                    "HTTP/1.1 {code} Fault\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                client.write_all(answer.as_bytes()).await?;
            }
            return Ok(());
        }
    }
    let Some(rest) = rest else {
        client
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 22\r\nconnection: close\r\n\r\noutside of the prefix\n")
            .await?;
        return Ok(());
    };
    let path = if rest.is_empty() || rest.starts_with('?') {
        format!("/{rest}")
    } else {
        rest.to_owned()
    };
    // Rewrite the head: the new path, and one request per connection.
    let mut out = format!("{method} {path} {version}\r\n");
    for l in lines.filter(|l| !l.is_empty()) {
        let name = l.split(':').next().unwrap_or_default().to_ascii_lowercase();
        if name != "connection" && name != "keep-alive" {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    out.push_str("connection: close\r\n\r\n");
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(out.as_bytes()).await?;
    up.write_all(&buf[end..]).await?;
    tokio::io::copy_bidirectional(&mut client, &mut up).await?;
    Ok(())
}
