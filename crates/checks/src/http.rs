//! HTTP checks: one request per run, on a fresh connection (keep-alive off,
//! as Consul's transport), bounded as a whole by the check's timeout, the
//! response worded as Consul's `HTTP GET <url>: 200 OK Output: <body>`.
//! Never reads more of a body than the output can hold.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, CONNECTION, LOCATION, USER_AGENT};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::time::{timeout_at, Instant};

use crate::definition::{CheckId, Status};
use crate::error::CheckError;
use crate::output::{describe, go_duration, Tail};
use crate::tls::{self, Trust};

/// Consul's `User-Agent` for HTTP checks, kept so services that single
/// health checks out by it keep working.
const USER_AGENT_VALUE: &str = "Consul Health Check";
/// Consul's default `Accept`.
const ACCEPT_VALUE: &str = "text/plain, text/*, */*";
/// Go's client follows at most this many redirects.
const MAX_REDIRECTS: usize = 10;

/// An HTTP check, parsed once when its runner starts.
pub(crate) struct HttpProbe {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// The URL as given: it is what the output shows.
    shown_url: String,
    url: url::Url,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    disable_redirects: bool,
    timeout: Duration,
    max_output: usize,
}

/// The check's parts, as the definition has them.
pub(crate) struct HttpSpec<'a> {
    pub(crate) url: &'a str,
    pub(crate) method: &'a str,
    pub(crate) header: &'a std::collections::BTreeMap<String, Vec<String>>,
    pub(crate) body: Option<&'a str>,
    pub(crate) tls_skip_verify: bool,
    /// Consul's `TLSServerName`; empty: the URL's host.
    pub(crate) tls_server_name: &'a str,
    pub(crate) disable_redirects: bool,
}

impl HttpProbe {
    pub(crate) fn new(
        id: &CheckId,
        spec: HttpSpec<'_>,
        trust: &Trust,
        timeout: Duration,
        max_output: usize,
    ) -> Result<HttpProbe, CheckError> {
        let invalid = |reason: String| CheckError::InvalidDefinition {
            id: id.clone(),
            reason,
        };
        let url = url::Url::parse(spec.url)
            .map_err(|e| invalid(format!("the URL {:?} does not parse: {e}", spec.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "the URL {:?} is not http or https",
                spec.url
            )));
        }
        let method = if spec.method.is_empty() {
            Method::GET
        } else {
            Method::from_bytes(spec.method.as_bytes())
                .map_err(|_| invalid(format!("{:?} is not an HTTP method", spec.method)))?
        };
        let mut headers = HeaderMap::new();
        for (name, values) in spec.header {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("{name:?} is not a header name")))?;
            for value in values {
                let value = HeaderValue::from_str(value)
                    .map_err(|_| invalid(format!("the value of header {name} is not valid")))?;
                headers.append(name.clone(), value);
            }
        }
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        }
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_VALUE));
        }
        // Keep-alive off, as Consul's transport: one connection per run.
        if !headers.contains_key(CONNECTION) {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        let tls =
            tls::client_config(spec.tls_skip_verify, trust).map_err(|source| CheckError::Tls {
                id: id.clone(),
                source,
            })?;
        let server_name = tls::server_name(spec.tls_server_name).map_err(invalid)?;
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        // As Go's `tls.Config.ServerName`: SNI and verification use the
        // name for every connection, redirects included.
        let builder = match server_name {
            Some(name) => builder.with_server_name_resolver(FixedServerNameResolver::new(name)),
            None => builder,
        };
        let connector = builder.enable_http1().build();
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        Ok(HttpProbe {
            client,
            shown_url: spec.url.to_owned(),
            url,
            method,
            headers,
            body: Bytes::from(spec.body.unwrap_or_default().to_owned()),
            disable_redirects: spec.disable_redirects,
            timeout,
            max_output,
        })
    }

    /// One request: 2xx passing, 429 warning, anything else critical.
    pub(crate) async fn run(&self) -> (Status, String) {
        let deadline = Instant::now() + self.timeout;
        let shown = format!("HTTP {} {}", self.method, self.shown_url);
        let response = match timeout_at(deadline, self.send()).await {
            Err(_) => {
                return (
                    Status::Critical,
                    format!("{shown}: timed out after {}", go_duration(self.timeout)),
                )
            }
            Ok(Err(why)) => return (Status::Critical, format!("{shown}: {why}")),
            Ok(Ok(response)) => response,
        };
        let code = response.status();
        let head = format!("{shown}: {} Output: ", status_line(&response));
        // As Consul: what the body says within the timeout, its last bytes
        // if it is long; a body cut short by the timeout is still reported.
        let mut body = Tail::new(self.max_output.saturating_sub(head.len()));
        let mut incoming = response.into_body();
        loop {
            match timeout_at(deadline, incoming.frame()).await {
                Ok(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        body.push(data);
                    }
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    tracing::debug!(error = %describe(&e), "reading the check's response body");
                    break;
                }
                Err(_) => {
                    tracing::debug!("the check's response body was cut short by its timeout");
                    break;
                }
            }
        }
        let status = if code.is_success() {
            Status::Passing
        } else if code == StatusCode::TOO_MANY_REQUESTS {
            Status::Warning
        } else {
            Status::Critical
        };
        (status, format!("{head}{}", body.text()))
    }

    /// Sends the request, following redirects as Go's client does unless
    /// they are disabled; the error is worded for the output.
    async fn send(&self) -> Result<Response<Incoming>, String> {
        let mut url = self.url.clone();
        let mut method = self.method.clone();
        let mut body = self.body.clone();
        for hop in 0..=MAX_REDIRECTS {
            let uri: Uri = url
                .as_str()
                .parse()
                .map_err(|e| format!("invalid URL {url}: {e}"))?;
            let mut request = Request::builder()
                .method(method.clone())
                .uri(uri)
                .body(Full::new(body.clone()))
                .map_err(|e| e.to_string())?;
            *request.headers_mut() = self.headers.clone();
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| describe(&e))?;
            let code = response.status();
            if self.disable_redirects || !code.is_redirection() {
                return Ok(response);
            }
            let Some(location) = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
            else {
                return Ok(response);
            };
            match code {
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER => {
                    if method != Method::GET && method != Method::HEAD {
                        method = Method::GET;
                        body = Bytes::new();
                    }
                }
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => {}
                _ => return Ok(response),
            }
            if hop == MAX_REDIRECTS {
                return Err(format!("stopped after {MAX_REDIRECTS} redirects"));
            }
            url = url
                .join(location)
                .map_err(|e| format!("redirect to {location:?}: {e}"))?;
        }
        Err(format!("stopped after {MAX_REDIRECTS} redirects"))
    }
}

/// Go's `resp.Status`: `200 OK`, with the server's reason phrase if it sent
/// an unusual one.
fn status_line(response: &Response<Incoming>) -> String {
    let code = response.status();
    let reason = response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| code.canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    format!("{} {reason}", code.as_str()).trim_end().to_owned()
}
