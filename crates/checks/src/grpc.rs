//! gRPC checks: one `grpc.health.v1.Health/Check` call per run on a fresh
//! HTTP/2 connection (plain, or TLS with ALPN `h2`), as Consul's probe dials
//! anew each time. `SERVING` is passing (`gRPC check <target>: success`);
//! any other status (`gRPC <target> serving status: NOT_SERVING`), an error
//! or the timeout is critical.
//!
//! The call is tonic-health's generated client over the same hyper + rustls
//! stack as HTTP checks, so there is one TLS setup (ring, `TLSSkipVerify`,
//! `TLSServerName`) for both and no gRPC transport of tonic's own to
//! configure.

use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use hyper_rustls::FixedServerNameResolver;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::ServerName;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::definition::{CheckId, Status};
use crate::error::CheckError;
use crate::output::{describe, go_duration};
use crate::tls::{self, Trust};

/// A gRPC check, parsed once when its runner starts.
pub(crate) struct GrpcProbe {
    /// `host:port[/service]` as given: it is what the output shows.
    target: String,
    origin: Uri,
    service: String,
    tls: Arc<rustls::ClientConfig>,
    /// `TLSServerName`, for SNI and verification; `None`: the target's host.
    server_name: Option<ServerName<'static>>,
    timeout: Duration,
}

/// A gRPC check's TLS settings, as the definition has them.
pub(crate) struct GrpcTls<'a> {
    /// Consul's `GRPCUseTLS`.
    pub(crate) use_tls: bool,
    pub(crate) skip_verify: bool,
    /// Consul's `TLSServerName`; empty: the target's host.
    pub(crate) server_name: &'a str,
    pub(crate) trust: &'a Trust,
}

impl GrpcProbe {
    pub(crate) fn new(
        id: &CheckId,
        target: &str,
        settings: GrpcTls<'_>,
        timeout: Duration,
    ) -> Result<GrpcProbe, CheckError> {
        let (server, service) =
            parse_target(target).ok_or_else(|| CheckError::InvalidDefinition {
                id: id.clone(),
                reason: format!("the gRPC target {target:?} is not host:port or host:port/service"),
            })?;
        let scheme = if settings.use_tls { "https" } else { "http" };
        let origin: Uri =
            format!("{scheme}://{server}")
                .parse()
                .map_err(|e| CheckError::InvalidDefinition {
                    id: id.clone(),
                    reason: format!("the gRPC target {target:?} does not parse: {e}"),
                })?;
        let tls = tls::client_config(settings.skip_verify, settings.trust).map_err(|source| {
            CheckError::Tls {
                id: id.clone(),
                source,
            }
        })?;
        let server_name = tls::server_name(settings.server_name).map_err(|reason| {
            CheckError::InvalidDefinition {
                id: id.clone(),
                reason,
            }
        })?;
        Ok(GrpcProbe {
            target: target.to_owned(),
            origin,
            service: service.to_owned(),
            tls: Arc::new(tls),
            server_name,
            timeout,
        })
    }

    /// One health call.
    pub(crate) async fn run(&self) -> (Status, String) {
        let target = &self.target;
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*self.tls).clone())
            .https_or_http();
        let builder = match &self.server_name {
            Some(name) => {
                builder.with_server_name_resolver(FixedServerNameResolver::new(name.clone()))
            }
            None => builder,
        };
        let connector = builder.enable_http2().build();
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build(connector);
        let mut health = HealthClient::with_origin(client, self.origin.clone());
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: self.service.clone(),
        });
        request.set_timeout(self.timeout);
        match tokio::time::timeout(self.timeout, health.check(request)).await {
            Err(_) => (
                Status::Critical,
                format!(
                    "gRPC {target}: timed out after {}",
                    go_duration(self.timeout)
                ),
            ),
            Ok(Err(status)) => (Status::Critical, rpc_error(&status)),
            Ok(Ok(response)) => match response.into_inner().status() {
                ServingStatus::Serving => {
                    (Status::Passing, format!("gRPC check {target}: success"))
                }
                other => (
                    Status::Critical,
                    format!("gRPC {target} serving status: {}", other.as_str_name()),
                ),
            },
        }
    }
}

/// `host:port[/service]` split at the first `/`; the server part must have
/// a port.
fn parse_target(target: &str) -> Option<(&str, &str)> {
    let (server, service) = target.split_once('/').unwrap_or((target, ""));
    let (host, port) = server.rsplit_once(':')?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return None;
    }
    Some((server, service))
}

/// A failed call worded as grpc-go words it (`rpc error: code = … desc =
/// …`), with the transport's reasons when the status carries them.
fn rpc_error(status: &tonic::Status) -> String {
    let mut text = format!(
        "rpc error: code = {:?} desc = {}",
        status.code(),
        status.message()
    );
    if let Some(source) = std::error::Error::source(status) {
        text.push_str(": ");
        text.push_str(&describe(source));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_into_server_and_service() {
        assert_eq!(
            parse_target("127.0.0.1:50051"),
            Some(("127.0.0.1:50051", ""))
        );
        assert_eq!(
            parse_target("localhost:50051/my.Service"),
            Some(("localhost:50051", "my.Service"))
        );
        assert_eq!(parse_target("[::1]:9000/a/b"), Some(("[::1]:9000", "a/b")));
        assert_eq!(parse_target("localhost"), None);
        assert_eq!(parse_target(":50051"), None);
        assert_eq!(parse_target("host:port"), None);
    }
}
