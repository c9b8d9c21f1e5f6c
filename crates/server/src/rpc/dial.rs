//! How a server opens its RPC connections to other servers (Raft, pre-vote,
//! forwarding): a plain TCP connect unless the server was started with
//! another [`Dialer`]. The one replacement is a test's: praetor-testkit's
//! in-process cluster routes each connection through a link it can cut, so
//! partition scenarios run without root. A dialer only opens connections;
//! it never sees or changes what is sent on them.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::net::TcpStream;

/// Opens a connection to a peer's RPC address.
pub trait Dial: Send + Sync + 'static {
    /// A connected stream to `addr`, or why there is none.
    fn dial(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<TcpStream>>;
}

/// The way a server connects to its peers: TCP by default.
#[derive(Clone, Default)]
pub struct Dialer(Option<Arc<dyn Dial>>);

impl Dialer {
    /// Connects through `dial` instead of a plain TCP connect.
    pub fn custom(dial: impl Dial) -> Self {
        Dialer(Some(Arc::new(dial)))
    }

    /// A connection to `addr`.
    ///
    /// # Errors
    /// The connect's error (or the custom dialer's).
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        match &self.0 {
            None => TcpStream::connect(addr).await,
            Some(dial) => dial.dial(addr).await,
        }
    }
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Dialer(custom)"
        } else {
            "Dialer(tcp)"
        })
    }
}
