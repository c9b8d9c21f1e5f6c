//! The RPC handshake: the first eight bytes each side sends on a new
//! connection, `PRAETOR` and a protocol version byte. The client speaks
//! first; the server answers with its own and closes a connection whose
//! first bytes are anything else, as soon as a byte differs. Never reads
//! past the handshake.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Opens every RPC connection, in both directions.
pub const MAGIC: &[u8; 7] = b"PRAETOR";
/// The protocol version this build speaks (the frame layout and the
/// encoding of `Request` and `Reply`).
pub const VERSION: u8 = 6;

/// The bytes a side sends: `MAGIC` then `VERSION`.
pub(crate) fn hello() -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..7].copy_from_slice(MAGIC);
    b[7] = VERSION;
    b
}

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    /// The first bytes were not `MAGIC`: not a Praetor RPC peer.
    #[error("not a praetor rpc peer (first bytes {0:02x?})")]
    NotPraetor(Vec<u8>),
    /// A Praetor peer speaking another protocol version.
    #[error("protocol version {0} is not supported (this build speaks {VERSION})")]
    Version(u8),
    /// The peer sent nothing, or too little, in time.
    #[error("no handshake within {0:?}")]
    Timeout(Duration),
    /// The connection closed or failed during the handshake.
    #[error("during the handshake: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads the peer's eight handshake bytes within `timeout`, failing as
/// soon as a byte differs from `MAGIC`; returns its version when it is ours.
pub(crate) async fn read_hello<R: AsyncRead + Unpin>(
    r: &mut R,
    timeout: Duration,
) -> Result<u8, HandshakeError> {
    let read = async {
        let mut buf = [0u8; 8];
        let mut filled = 0;
        while filled < buf.len() {
            let n = r.read(&mut buf[filled..]).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            filled += n;
            let magic = filled.min(MAGIC.len());
            if buf[..magic] != MAGIC[..magic] {
                return Err(HandshakeError::NotPraetor(buf[..filled].to_vec()));
            }
        }
        match buf[7] {
            VERSION => Ok(VERSION),
            other => Err(HandshakeError::Version(other)),
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| HandshakeError::Timeout(timeout))?
}

/// Sends our handshake bytes within `timeout`.
pub(crate) async fn write_hello<W: AsyncWrite + Unpin>(
    w: &mut W,
    timeout: Duration,
) -> Result<(), HandshakeError> {
    let write = async {
        w.write_all(&hello()).await?;
        w.flush().await
    };
    tokio::time::timeout(timeout, write)
        .await
        .map_err(|_| HandshakeError::Timeout(timeout))?
        .map_err(HandshakeError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> Result<u8, HandshakeError> {
        let mut r = bytes;
        read_hello(&mut r, Duration::from_secs(1)).await
    }

    #[tokio::test]
    async fn our_hello_is_accepted_and_anything_else_refused() {
        assert_eq!(read(&hello()).await.unwrap(), VERSION);
        assert!(matches!(
            read(b"GET / HTTP/1.1\r\n").await,
            Err(HandshakeError::NotPraetor(b)) if b == b"GET / HT"
        ));
        assert!(matches!(
            read(b"PRAETOR\x01").await,
            Err(HandshakeError::Version(1))
        ));
        assert!(matches!(read(b"PRAE").await, Err(HandshakeError::Io(_))));
    }

    #[tokio::test]
    async fn a_wrong_first_byte_is_refused_without_waiting_for_eight() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(b"X").await.unwrap();
        // The other seven bytes never come; the refusal must not wait for them.
        let r = read_hello(&mut b, Duration::from_secs(30)).await;
        assert!(matches!(r, Err(HandshakeError::NotPraetor(_))), "{r:?}");
    }

    #[tokio::test]
    async fn a_silent_peer_times_out() {
        let (_a, mut b) = tokio::io::duplex(64);
        let r = read_hello(&mut b, Duration::from_millis(50)).await;
        assert!(matches!(r, Err(HandshakeError::Timeout(_))), "{r:?}");
    }
}
