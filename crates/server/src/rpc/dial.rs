//! How a server opens its RPC connections to other servers (Raft, pre-vote,
//! forwarding): a plain TCP connect unless the server was started with
//! another [`Dialer`]. The one replacement is a test's: praetor-testkit's
//! in-process cluster routes each connection through a link it can cut, so
//! partition scenarios run without root. A dialer opens connections and,
//! with `tls.internal_rpc.verify_outgoing`, wraps them in TLS
//! ([`RpcTls`]); it never sees or changes what is sent on them.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::net::TcpStream;

use super::tls::{RpcStream, RpcTls};

/// Opens a connection to a peer's RPC address.
pub trait Dial: Send + Sync + 'static {
    /// A connected stream to `addr`, or why there is none.
    fn dial(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<TcpStream>>;
}

/// The way a server (or client agent) connects to servers: TCP by
/// default, TLS over it when configured.
#[derive(Clone, Default)]
pub struct Dialer {
    custom: Option<Arc<dyn Dial>>,
    tls: Option<Arc<RpcTls>>,
    /// The datacenter of the servers dialled, when not this one: their
    /// certificates name `server.<dc>.<domain>`.
    datacenter: Option<Arc<str>>,
}

impl Dialer {
    /// Connects through `dial` instead of a plain TCP connect.
    pub fn custom(dial: impl Dial) -> Self {
        Dialer {
            custom: Some(Arc::new(dial)),
            tls: None,
            datacenter: None,
        }
    }

    /// This dialer, for the servers of datacenter `dc` (calls routed to
    /// another datacenter): under TLS with `verify_server_hostname`, their
    /// certificates must name `server.<dc>.<domain>`.
    #[must_use]
    pub fn for_datacenter(mut self, dc: &str) -> Self {
        self.datacenter = Some(dc.into());
        self
    }

    /// This dialer, wrapping its connections in `tls` (when it says so).
    #[must_use]
    pub fn with_tls(mut self, tls: Option<Arc<RpcTls>>) -> Self {
        self.tls = tls;
        self
    }

    /// A connection to `addr`.
    ///
    /// # Errors
    /// The connect's error (or the custom dialer's), or the TLS handshake's.
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<RpcStream> {
        let tcp = match &self.custom {
            None => TcpStream::connect(addr).await?,
            Some(dial) => dial.dial(addr).await?,
        };
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(RpcStream::Plain(tcp)),
            Some(tls) => tls.connect_to(tcp, self.datacenter.as_deref()).await,
        }
    }
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Dialer({}{})",
            if self.custom.is_some() {
                "custom"
            } else {
                "tcp"
            },
            if self.tls.is_some() { ", tls" } else { "" }
        )
    }
}
