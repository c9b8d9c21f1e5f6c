//! The agent's HTTP API, in process: a dev agent on 127.0.0.1 with an
//! ephemeral port, driven by raw HTTP (reqwest) and by a real Consul client
//! (rs-consul).

mod acl;
mod autopilot;
mod blocking;
mod catalog;
mod check_defs;
mod consul_compat;
mod coordinate;
mod durability;
mod errors;
mod event;
mod introspect;
mod keyring;
mod kv;
mod leadership;
mod limits;
mod local;
mod metrics;
mod monitor;
mod parsers;
mod prepared_query;
mod service_fields;
mod session;
mod snapshot;
mod tls;
mod ui;
mod watch;
mod watches;

use std::time::Duration;

use praetor_agent::config::RuntimeConfig;
use praetor_agent::Agent;
use tokio_util::sync::CancellationToken;

/// A running agent and the base URL of its HTTP API.
pub struct TestAgent {
    pub agent: Agent,
    pub url: String,
    pub http: reqwest::Client,
}

/// The configuration of a dev agent listening on an ephemeral loopback port.
pub fn dev_config() -> RuntimeConfig {
    let mut cfg = RuntimeConfig {
        dev: true,
        server: true,
        node_name: "it-node".into(),
        ..Default::default()
    };
    cfg.ports.http = Some(0);
    cfg.ports.server = Some(0);
    cfg.ports.serf_lan = Some(0);
    cfg.ports.serf_wan = Some(0);
    cfg.ports.dns = Some(0);
    cfg.bind_addr = [127, 0, 0, 1].into();
    cfg.client_addr = vec![[127, 0, 0, 1].into()];
    cfg
}

impl TestAgent {
    pub async fn start(cfg: RuntimeConfig) -> TestAgent {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .try_init();
        let agent = praetor_agent::start(cfg, CancellationToken::new())
            .await
            .expect("agent starts");
        let url = format!("http://{}", agent.http_addrs()[0]);
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let t = TestAgent { agent, url, http };
        t.wait_for_leader().await;
        t
    }

    pub async fn dev() -> TestAgent {
        TestAgent::start(dev_config()).await
    }

    /// Waits (at most 10 s) until `/v1/status/leader` names a leader.
    pub async fn wait_for_leader(&self) {
        let url = format!("{}/v1/status/leader", self.url);
        praetor_testwait::wait_for(Duration::from_secs(10), "a leader", || async {
            let r = self
                .http
                .get(&url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let said = r.text().await.map_err(|e| e.to_string())?;
            praetor_testwait::check(said.len() > 2, || format!("answered {said:?}"))
        })
        .await
        .unwrap();
    }

    /// GETs `path` and decodes the JSON answer.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let r = self.http.get(self.u(path)).send().await.unwrap();
        r.json().await.unwrap()
    }

    /// GETs `path` until its JSON answer is `ok` (10 s at most, failing
    /// with `what` and the last answer).
    pub async fn wait_json(
        &self,
        path: &str,
        what: &str,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let ok = &ok;
        praetor_testwait::wait_for(std::time::Duration::from_secs(10), what, || async move {
            let v = self.get_json(path).await;
            if ok(&v) {
                Ok(v)
            } else {
                Err(v.to_string())
            }
        })
        .await
        .unwrap()
    }

    /// `GET /v1/agent/metrics?format=prometheus`.
    pub async fn prometheus(&self) -> String {
        let r = self
            .http
            .get(self.u("/v1/agent/metrics?format=prometheus"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

    pub fn u(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// Waits until `n` blocking queries are waiting on this agent's server,
    /// so a test that then checks a write does *not* wake one knows the
    /// query was in place first.
    pub async fn wait_blocked(&self, n: usize) {
        let server = self.agent.server().expect("a dev agent hosts a server");
        let reason = format!("{n} blocking queries waiting on the server");
        praetor_testwait::wait_until(Duration::from_secs(10), &reason, || {
            let open = server.open_blocking_queries();
            praetor_testwait::check(open >= n, || format!("{open} are"))
        })
        .await
        .unwrap();
    }

    pub async fn put(&self, key: &str, body: &str) -> bool {
        let r = self
            .http
            .put(self.u(&format!("/v1/kv/{key}")))
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "PUT {key}");
        r.json().await.unwrap()
    }

    /// `PUT <path>` with a JSON body.
    pub async fn put_json(&self, path: &str, body: impl serde::Serialize) -> reqwest::Response {
        self.http
            .put(self.u(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `PUT <path>` without a body.
    pub async fn put_empty(&self, path: &str) -> reqwest::Response {
        self.http.put(self.u(path)).send().await.unwrap()
    }

    pub async fn shutdown(self) {
        self.agent.shutdown(Duration::from_secs(5), false).await;
    }
}

/// The `X-Consul-Index` of a response.
pub fn index_of(r: &reqwest::Response) -> u64 {
    r.headers()["x-consul-index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The value of the sample `series` (a name, with its labels as rendered:
/// `consul_api_http_count{method="PUT",path="v1_kv_"}`) in Prometheus text.
pub fn prom_value(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Installs ring as this test process's rustls provider: reqwest's TLS
/// backend (rustls without a built-in provider, for praetor-client's HTTPS)
/// panics when a client is built without one.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
