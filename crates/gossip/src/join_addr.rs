//! Turning what users pass to `join` (`host`, `host:port`, `ip`, `ip:port`,
//! `[v6]:port`) into socket addresses, as Consul's `-join`/`-retry-join`
//! accept them; the port defaults to 8301.

use std::net::{IpAddr, SocketAddr};

/// At most this many resolved addresses of one name are tried.
const MAX_RESOLVED: usize = 4;

/// The socket addresses `target` names. Only a host name needs DNS; the
/// caller bounds the time.
pub(crate) async fn resolve(target: &str, default_port: u16) -> std::io::Result<Vec<SocketAddr>> {
    let target = target.trim();
    if let Ok(addr) = target.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let bare = target.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, default_port)]);
    }
    let (host, port) = match target.rsplit_once(':') {
        Some((host, port)) => {
            let port = port.parse::<u16>().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("invalid port {port:?}"),
                )
            })?;
            (host, port)
        }
        None => (target, default_port),
    };
    if host.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty host",
        ));
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await?
        .take(MAX_RESOLVED)
        .collect();
    if addrs.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host} resolves to no address"),
        ));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ip_host_and_port_forms_resolve_with_the_default_port() {
        let one = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            resolve("127.0.0.5", 8301).await.unwrap(),
            vec![one("127.0.0.5:8301")]
        );
        assert_eq!(
            resolve("127.0.0.5:9", 8301).await.unwrap(),
            vec![one("127.0.0.5:9")]
        );
        assert_eq!(resolve("::1", 8301).await.unwrap(), vec![one("[::1]:8301")]);
        assert_eq!(
            resolve("[::1]", 8301).await.unwrap(),
            vec![one("[::1]:8301")]
        );
        assert_eq!(
            resolve("[::1]:7", 8301).await.unwrap(),
            vec![one("[::1]:7")]
        );
        let local = resolve("localhost:8302", 8301).await.unwrap();
        assert!(local
            .iter()
            .all(|a| a.port() == 8302 && a.ip().is_loopback()));
    }

    #[tokio::test]
    async fn a_bad_port_is_refused() {
        assert!(resolve("localhost:http", 8301).await.is_err());
        assert!(resolve(":8301", 8301).await.is_err());
    }
}
