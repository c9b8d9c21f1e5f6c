//! TLS on server RPC (port 8300), as Consul's `tls.internal_rpc`: what a
//! connection is wrapped in, and who the peer proved to be.
//!
//! - **Incoming.** A TLS client hello (first byte `0x16`) is answered with
//!   this server's certificate; a client certificate is required when
//!   `verify_incoming`, and checked against the CA when offered. A
//!   plain-text connection is refused when `verify_incoming`, otherwise
//!   served (Consul's path for turning TLS on in a running cluster).
//! - **Outgoing.** With `verify_outgoing`, every connection is TLS and the
//!   peer's chain must lead to the CA; with `verify_server_hostname` its
//!   certificate must also name `server.<datacenter>.<domain>`.
//! - **Server-only calls.** With `verify_server_hostname`, Raft traffic
//!   (append, vote, snapshot, pre-vote) and peer removal are answered only
//!   on connections whose certificate names a server of this datacenter:
//!   a client agent's certificate, valid for reads and writes, cannot make
//!   its holder a server.
//!
//! Reload swaps the whole state; connections made afterwards use it.
//! Never interprets calls beyond their kind.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use praetor_tls::rustls::pki_types::ServerName;
use praetor_tls::{Material, Reloadable, Settings, TlsError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::Request;

/// An RPC connection: plain TCP or TLS over it.
#[derive(Debug)]
pub enum RpcStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl AsyncRead for RpcStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            RpcStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            RpcStream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for RpcStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            RpcStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            RpcStream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            RpcStream::Plain(s) => Pin::new(s).poll_flush(cx),
            RpcStream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            RpcStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            RpcStream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// What a connection's peer proved with its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    /// May make every call: a server's certificate was shown, or server
    /// names are not verified here.
    Any,
    /// May read and write (as a client agent), not take part in Raft.
    Client,
}

impl PeerRole {
    /// Whether this peer may make `req`.
    #[must_use]
    pub fn allows(self, req: &Request) -> bool {
        self == PeerRole::Any || !server_only(req)
    }
}

/// Calls only servers make to each other.
fn server_only(req: &Request) -> bool {
    matches!(
        req,
        Request::AppendEntries(_)
            | Request::Vote(_)
            | Request::InstallSnapshot(_)
            | Request::PreVote(_)
            | Request::RemovePeer(_)
            | Request::TimeoutNow(_)
            | Request::TransferLeader(_)
    )
}

/// One reload's worth of settings and configs.
struct State {
    acceptor: Option<TlsAcceptor>,
    connector: Option<TlsConnector>,
    verify_incoming: bool,
    verify_server_hostname: bool,
}

impl State {
    fn build(settings: &Settings) -> Result<State, TlsError> {
        let material = Material::load(settings, "internal_rpc")?;
        let acceptor = match &material.identity {
            Some(_) => Some(TlsAcceptor::from(praetor_tls::server_config(
                settings,
                &material,
                "internal_rpc",
                &[],
            )?)),
            None => None,
        };
        let connector = if settings.verify_outgoing {
            Some(TlsConnector::from(praetor_tls::client_config(
                settings,
                &material,
                "internal_rpc",
            )?))
        } else {
            None
        };
        Ok(State {
            acceptor,
            connector,
            verify_incoming: settings.verify_incoming,
            verify_server_hostname: settings.verify_server_hostname,
        })
    }
}

/// TLS for server RPC, shared by the listener and every outgoing
/// connection of one agent.
pub struct RpcTls {
    state: Reloadable<State>,
    /// `server.<datacenter>.<domain>`.
    server_name: ServerName<'static>,
    /// The domain, for the names of other datacenters' servers.
    domain: String,
    /// When a failed outgoing handshake was last logged, per peer address:
    /// Raft retries a refused peer many times a second, the log says it
    /// once a minute.
    logged: std::sync::Mutex<std::collections::HashMap<std::net::SocketAddr, std::time::Instant>>,
}

/// How often a failed handshake with one peer is logged.
const LOG_EVERY: Duration = Duration::from_secs(60);
/// Peers remembered for that; past it, the memory starts over.
const LOG_MEMORY: usize = 1024;

impl std::fmt::Debug for RpcTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl RpcTls {
    /// TLS for RPC from `settings` (`tls.internal_rpc`); `None` when they
    /// configure nothing.
    ///
    /// # Errors
    /// A file or setting problem, naming the file or key.
    pub fn new(
        settings: &Settings,
        datacenter: &str,
        domain: &str,
    ) -> Result<Option<Arc<RpcTls>>, TlsError> {
        if !settings.is_configured() {
            return Ok(None);
        }
        let name = praetor_tls::server_name(datacenter, domain);
        let server_name = ServerName::try_from(name.clone())
            .map_err(|_| TlsError::Setting(format!("{name:?} is not a valid server name")))?;
        Ok(Some(Arc::new(RpcTls {
            state: Reloadable::new(Arc::new(State::build(settings)?)),
            server_name,
            domain: domain.to_owned(),
            logged: std::sync::Mutex::default(),
        })))
    }

    /// Loads `settings` again (certificates rotated on disk, flags
    /// changed); connections made from now on use them, open ones keep
    /// theirs.
    ///
    /// # Errors
    /// As [`new`](Self::new); the previous state stays in use.
    pub fn reload(&self, settings: &Settings) -> Result<(), TlsError> {
        self.state.set(Arc::new(State::build(settings)?));
        Ok(())
    }

    /// Whether outgoing connections use TLS.
    #[must_use]
    pub fn outgoing(&self) -> bool {
        self.state.get().connector.is_some()
    }

    /// Wraps an outgoing connection (to a server) in TLS when
    /// `verify_outgoing`.
    ///
    /// # Errors
    /// The handshake's error, saying what the peer's certificate lacked.
    pub async fn connect(&self, tcp: TcpStream) -> io::Result<RpcStream> {
        self.connect_to(tcp, None).await
    }

    /// [`connect`](Self::connect) to a server of datacenter `dc` (`None`:
    /// this one): under `verify_server_hostname` its certificate must name
    /// `server.<dc>.<domain>` (a call routed to another datacenter).
    ///
    /// # Errors
    /// As `connect`, and a datacenter that makes no valid server name.
    pub async fn connect_to(&self, tcp: TcpStream, dc: Option<&str>) -> io::Result<RpcStream> {
        let state = self.state.get();
        match &state.connector {
            None => Ok(RpcStream::Plain(tcp)),
            Some(connector) => {
                let peer = tcp.peer_addr().ok();
                let name = match dc {
                    None => self.server_name.clone(),
                    Some(dc) => {
                        let name = praetor_tls::server_name(dc, &self.domain);
                        ServerName::try_from(name.clone()).map_err(|_| {
                            io::Error::new(
                                io::ErrorKind::InvalidInput,
                                format!("{name:?} is not a valid server name"),
                            )
                        })?
                    }
                };
                match connector.connect(name, tcp).await {
                    Ok(tls) => Ok(RpcStream::Tls(Box::new(tokio_rustls::TlsStream::Client(
                        tls,
                    )))),
                    Err(e) => {
                        if let Some(peer) = peer.filter(|p| self.may_log(*p)) {
                            tracing::warn!(%peer, error = %e, "rpc tls handshake with a server failed");
                        }
                        Err(io::Error::new(e.kind(), format!("tls handshake: {e}")))
                    }
                }
            }
        }
    }

    /// Whether a failure with `peer` may be logged now (once a minute).
    fn may_log(&self, peer: std::net::SocketAddr) -> bool {
        let now = std::time::Instant::now();
        let mut logged = self
            .logged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if logged.len() >= LOG_MEMORY {
            logged.clear();
        }
        match logged.get(&peer) {
            Some(at) if now.duration_since(*at) < LOG_EVERY => false,
            _ => {
                logged.insert(peer, now);
                true
            }
        }
    }

    /// Accepts an incoming connection within `timeout`: TLS when the peer
    /// starts it, plain text when allowed. The stream and what the peer
    /// proved, or why it was refused (one line, for the log).
    ///
    /// # Errors
    /// A plain-text peer under `verify_incoming`, a TLS peer when this
    /// server has no certificate, or a failed handshake.
    pub async fn accept(
        &self,
        tcp: TcpStream,
        timeout: Duration,
    ) -> Result<(RpcStream, PeerRole), String> {
        let state = self.state.get();
        let mut first = [0u8; 1];
        let peeked = tokio::time::timeout(timeout, tcp.peek(&mut first))
            .await
            .map_err(|_| format!("nothing received within {timeout:?}"))?
            .map_err(|e| e.to_string())?;
        let is_tls = peeked == 1 && first[0] == 0x16;
        if !is_tls {
            if state.verify_incoming {
                return Err("a plain-text connection was refused: \
                            tls.internal_rpc.verify_incoming requires TLS with a certificate"
                    .to_owned());
            }
            // Plain text proves nothing: with server names verified, it
            // may not take part in Raft.
            let role = if state.verify_server_hostname {
                PeerRole::Client
            } else {
                PeerRole::Any
            };
            return Ok((RpcStream::Plain(tcp), role));
        }
        let Some(acceptor) = &state.acceptor else {
            return Err(
                "a TLS connection was refused: this server has no certificate \
                 (tls.internal_rpc cert_file)"
                    .to_owned(),
            );
        };
        let tls = tokio::time::timeout(timeout, acceptor.accept(tcp))
            .await
            .map_err(|_| format!("the TLS handshake did not finish within {timeout:?}"))?
            .map_err(|e| format!("tls handshake: {e}"))?;
        let role = if !state.verify_server_hostname {
            PeerRole::Any
        } else {
            let name = self.server_name.to_str();
            let names_server = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .is_some_and(|cert| praetor_tls::names(cert, &name));
            if names_server {
                PeerRole::Any
            } else {
                PeerRole::Client
            }
        };
        Ok((
            RpcStream::Tls(Box::new(tokio_rustls::TlsStream::Server(tls))),
            role,
        ))
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
