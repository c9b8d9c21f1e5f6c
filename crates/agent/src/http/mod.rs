//! The HTTP API: Consul's `/v1/*` endpoints on axum, plus Praetor's watch
//! stream. Handlers return `Result<_, ApiError>`; `error.rs` alone decides
//! status codes.

pub mod acl;
pub mod agent;
pub mod agent_self;
pub mod autopilot;
pub mod body;
pub mod catalog;
pub mod coordinate;
pub mod debug;
pub mod error;
pub mod event;
pub mod extract;
pub mod filter;
pub mod history;
pub mod introspect;
pub mod keyring;
pub mod kv;
pub mod listener;
pub mod local;
pub mod monitor;
pub mod operator;
pub mod prepared_query;
pub mod query;
pub mod rate_limit;
pub mod session;
pub mod snapshot;
pub mod status;
pub mod txn;
pub mod ui;
pub mod watch;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use praetor_gossip::Gossip;
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::config::RuntimeConfig;
use crate::metrics::Metrics;
use error::ApiError;
use listener::{ConnLimits, Connections};
use rate_limit::RequestLimiter;

pub use listener::serve;

/// What every handler can reach.
pub struct AppState {
    config: RwLock<Arc<RuntimeConfig>>,
    pub node_id: uuid::Uuid,
    /// The way to the replicated state: this agent's server, or servers
    /// over RPC; `backend.server()` is the server this agent hosts, if any.
    pub backend: Arc<Backend>,
    /// The services and checks this agent owns.
    pub local: Arc<crate::local::LocalState>,
    /// The runners of those checks (TTL updates go through them).
    pub checks: Arc<crate::checks::CheckRunners>,
    /// This agent's membership in the gossip pool.
    pub gossip: Gossip,
    /// A server's membership in the WAN pool (`federation.rs`); `None` on
    /// a client agent, which has none.
    pub wan: Option<Gossip>,
    /// Cancelled by `PUT /v1/agent/leave`: the agent has left and must stop.
    pub leave_requested: CancellationToken,
    pub metrics: Metrics,
    pub started: Instant,
    /// Cancelled when the agent shuts down: long-lived streams end.
    pub stop: CancellationToken,
    /// The address the first HTTP listener is bound to.
    pub http_addr: SocketAddr,
    /// The HTTP connections open, by client, and the limits they are held
    /// to; shared by every listener.
    pub connections: Arc<Connections>,
    /// `limits.request_limits`' token buckets.
    pub rate_limiter: RequestLimiter,
    /// The budget large request bodies draw on.
    pub bodies: body::BodyBudget,
    /// The agent's tokens and the permissions of tokens on its endpoints.
    pub acl: Arc<crate::acl::AgentAcl>,
    /// Where `PUT /v1/agent/reload` asks whoever started the agent from its
    /// config files to load them again, and hears how it went.
    pub reloads: ReloadRequests,
    /// The receiving side, until that caller takes it (`Agent::reload_requests`);
    /// while it is here nobody can reload.
    pub reload_requests: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<ReloadRequest>>>,
}

/// A reload asked for through the API: answered with `Ok` or the reason
/// the new configuration was not applied.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<(), String>>;

/// The sending side of the agent's reload requests; one may wait.
pub type ReloadRequests = tokio::sync::mpsc::Sender<ReloadRequest>;

impl AppState {
    /// Builds the state shared by every handler.
    pub fn new(
        config: RuntimeConfig,
        node_id: uuid::Uuid,
        backend: Arc<Backend>,
        local: Arc<crate::local::LocalState>,
        gossip: Gossip,
        stop: CancellationToken,
        http_addr: SocketAddr,
    ) -> AppState {
        let (reloads, reload_requests) = tokio::sync::mpsc::channel(1);
        let connections = Arc::new(Connections::new(ConnLimits::from_config(&config.limits)));
        let rate_limiter = RequestLimiter::new(config.limits.request_limits);
        let data_dir = if config.dev {
            None
        } else {
            config.data_dir.as_deref()
        };
        let acl = Arc::new(crate::acl::AgentAcl::new(
            config.acl.clone(),
            &config.datacenter,
            data_dir,
        ));
        AppState {
            acl,
            config: RwLock::new(Arc::new(config)),
            node_id,
            backend,
            local,
            checks: Arc::default(),
            gossip,
            wan: None,
            leave_requested: CancellationToken::new(),
            metrics: Metrics::default(),
            started: Instant::now(),
            stop,
            http_addr,
            connections,
            rate_limiter,
            bodies: body::BodyBudget::default(),
            reloads,
            reload_requests: std::sync::Mutex::new(Some(reload_requests)),
        }
    }

    /// The current configuration (replaced on reload).
    pub fn config(&self) -> Arc<RuntimeConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The node name and ID of every server this agent knows, by Raft id
    /// (other datacenters' servers too, from a server's WAN pool, by their
    /// node name without the `.<dc>` suffix; this datacenter's win).
    pub fn servers_by_raft_id(&self) -> std::collections::HashMap<u64, (String, String)> {
        let wan = self.wan.as_ref().map(Gossip::members).unwrap_or_default();
        wan.into_iter()
            .map(|mut m| {
                let suffix = format!(".{}", m.tags.datacenter);
                if let Some(node) = m.name.strip_suffix(&suffix) {
                    m.name = node.to_owned();
                }
                m
            })
            .chain(self.gossip.members())
            .filter_map(|m| Some((m.tags.raft_id?, (m.name, m.tags.node_id))))
            .collect()
    }

    /// What the caller's token may do on this agent's own endpoints
    /// (`AgentAcl::authorize`).
    ///
    /// # Errors
    /// 403 for an unknown token; 500 when no server can resolve it.
    pub async fn authorize(
        &self,
        caller: &extract::Caller,
    ) -> Result<Arc<praetor_server::acl::Authz>, ApiError> {
        Ok(self.acl.authorize(&self.backend, caller.token()).await?)
    }

    /// Requires `access` on this agent's own node for the caller (Consul's
    /// `agent:read` / `agent:write`), as every agent endpoint does.
    ///
    /// # Errors
    /// As `authorize`; 403 when the token may not.
    pub async fn require_agent(
        &self,
        caller: &extract::Caller,
        access: praetor_acl::Access,
    ) -> Result<(), ApiError> {
        let node = self.config().node_name.clone();
        self.authorize(caller)
            .await?
            .require(praetor_acl::Resource::Agent, &node, access)?;
        Ok(())
    }

    /// Replaces the configuration (SIGHUP). Limits apply at once: body
    /// sizes and request rates to the next request, connection limits and
    /// timeouts to the next connection.
    pub fn set_config(&self, cfg: RuntimeConfig) {
        self.connections
            .configure(ConnLimits::from_config(&cfg.limits));
        self.acl.reload(cfg.acl.tokens.clone());
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(cfg);
    }
}

/// Decodes a JSON request body; a malformed one is a 400 naming where.
/// Keys are matched as Consul (Go) matches them: case-insensitively, and
/// with Consul's snake_case spellings (`enable_tag_override`), so clients
/// that send `{"name": …, "ttl": …}` (py-consul does) work; config files go
/// through the same normaliser ([`praetor_api::keys::canonical`]).
///
/// # Errors
/// `BadRequest` with serde's reason.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let bad = |e: serde_json::Error| ApiError::BadRequest(format!("Request decode failed: {e}"));
    let v: serde_json::Value = serde_json::from_slice(body).map_err(bad)?;
    serde_json::from_value(praetor_api::keys::canonical(v)).map_err(bad)
}

/// Every route of the agent's HTTP API.
pub fn router(state: Arc<AppState>) -> Router {
    let pages = if state.config().ui {
        ui::routes()
    } else {
        Router::new()
    };
    Router::new()
        .merge(pages)
        .route("/v1/history/kv", get(history::kv_history))
        .route("/v1/history/kv/", get(history::kv_history))
        .route("/v1/history/kv/{*key}", get(history::kv_history))
        .route("/v1/internal/ui/services", get(ui::services))
        .route("/v1/kv", kv::routes())
        .route("/v1/kv/", kv::routes())
        .route("/v1/kv/{*key}", kv::routes())
        .route("/v1/watch/kv", get(watch::watch_kv))
        .route("/v1/watch/kv/", get(watch::watch_kv))
        .route("/v1/watch/kv/{*prefix}", get(watch::watch_kv))
        .route("/v1/status/leader", get(status::leader))
        .route(
            "/v1/operator/raft/configuration",
            get(operator::configuration),
        )
        .route(
            "/v1/operator/keyring",
            get(keyring::list)
                .post(keyring::install)
                .put(keyring::use_key)
                .delete(keyring::remove),
        )
        .route(
            "/v1/operator/raft/peer",
            axum::routing::delete(operator::remove_peer),
        )
        .route("/v1/catalog/nodes", get(catalog::nodes))
        .route("/v1/catalog/node/{node}", get(catalog::node))
        .route("/v1/health/node/{node}", get(catalog::health_node))
        .route(
            "/v1/catalog/register",
            axum::routing::put(catalog::register),
        )
        .route(
            "/v1/catalog/deregister",
            axum::routing::put(catalog::deregister),
        )
        .route("/v1/catalog/services", get(catalog::services))
        .route("/v1/catalog/service/{name}", get(catalog::service))
        .route(
            "/v1/catalog/node-services/{node}",
            get(catalog::node_services),
        )
        .route("/v1/health/service/{name}", get(catalog::health_service))
        .route("/v1/health/checks/{name}", get(catalog::health_checks))
        .route("/v1/health/state/{state}", get(catalog::health_state))
        .route("/v1/event/fire/{name}", axum::routing::put(event::fire))
        .route("/v1/event/list", get(event::list))
        .route(
            "/v1/snapshot",
            get(snapshot::save)
                .put(snapshot::restore)
                .layer(DefaultBodyLimit::max(snapshot::MAX_SNAPSHOT)),
        )
        .route("/v1/status/peers", get(status::peers))
        .route("/v1/agent/self", get(agent::agent_self))
        .route("/v1/agent/members", get(agent::members))
        .route("/v1/agent/join/{*addr}", axum::routing::put(agent::join))
        .route("/v1/agent/leave", axum::routing::put(agent::leave))
        .route("/v1/agent/reload", axum::routing::put(agent::reload))
        .route(
            "/v1/agent/force-leave/{*node}",
            axum::routing::put(agent::force_leave),
        )
        .route(
            "/v1/agent/service/register",
            axum::routing::put(local::register_service),
        )
        .route(
            "/v1/agent/service/deregister/{id}",
            axum::routing::put(local::deregister_service),
        )
        .route(
            "/v1/agent/service/maintenance/{id}",
            axum::routing::put(local::service_maintenance),
        )
        .route(
            "/v1/agent/maintenance",
            axum::routing::put(local::node_maintenance),
        )
        .route("/v1/agent/services", get(local::services))
        .route("/v1/agent/health/service/id/{id}", get(local::health_by_id))
        .route(
            "/v1/agent/health/service/name/{name}",
            get(local::health_by_name),
        )
        .route("/v1/agent/service/{id}", get(local::service))
        .route(
            "/v1/agent/check/register",
            axum::routing::put(local::register_check),
        )
        .route(
            "/v1/agent/check/deregister/{id}",
            axum::routing::put(local::deregister_check),
        )
        .route("/v1/agent/checks", get(local::checks))
        .route(
            "/v1/agent/check/update/{id}",
            axum::routing::put(local::ttl_update),
        )
        .route(
            "/v1/agent/check/{verb}/{id}",
            axum::routing::put(local::ttl_mark),
        )
        .route("/v1/agent/metrics", get(agent::metrics))
        .route("/v1/catalog/datacenters", get(catalog::datacenters))
        .route("/v1/agent/host", get(introspect::host))
        .route("/v1/agent/version", get(agent_self::version))
        .route("/v1/agent/metrics/stream", get(introspect::metrics_stream))
        .merge(session_routes())
        .merge(acl::routes())
        .route("/v1/agent/monitor", get(monitor::monitor))
        .route("/v1/agent/debug/tasks", get(debug::tasks))
        .merge(autopilot::routes())
        .merge(prepared_query::routes())
        .merge(coordinate::routes())
        // Every route above answers other methods with a one-line 405.
        .method_not_allowed_fallback(method_not_allowed)
        .route("/v1/{*rest}", any(not_found))
        .layer(middleware::from_fn_with_state(state.clone(), limit_body))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit_rate,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

/// Sessions (`/v1/session/*`) and transactions (`/v1/txn`).
fn session_routes() -> Router<Arc<AppState>> {
    use axum::routing::put;
    Router::new()
        .route("/v1/session/create", put(session::create))
        .route("/v1/session/destroy/{id}", put(session::destroy))
        .route("/v1/session/renew/{id}", put(session::renew))
        .route("/v1/session/info/{id}", get(session::info))
        .route("/v1/session/node/{node}", get(session::node))
        .route("/v1/session/list", get(session::list))
        .route("/v1/txn", put(txn::txn))
}

/// Times every request: `consul.http.requests` and `consul.http.request`
/// for all of them, and, by the route that matched, Consul's
/// `consul.api.http` (labels `method`, `path`) and its pre-1.9 name
/// `consul.http.<METHOD>.<path>`.
async fn count_requests(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| consul_route(m.as_str()));
    // The path only when it will be logged (Consul's "Request finished"
    // line names the URL); no copy per request otherwise.
    let path = tracing::enabled!(tracing::Level::DEBUG).then(|| req.uri().path().to_owned());
    let resp = next.run(req).await;
    let elapsed = start.elapsed();
    let ms = elapsed.as_secs_f64() * 1000.0;
    state.metrics.record(|| {
        metrics::counter!("consul.http.requests").increment(1);
        metrics::histogram!("consul.http.request").record(ms);
        if let Some(route) = &route {
            let method = method_label(&method);
            metrics::histogram!("consul.api.http", "method" => method, "path" => route.label())
                .record(ms);
            metrics::histogram!(route.legacy_name(method)).record(ms);
        }
    });
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(%method, url = path.as_deref().unwrap_or_default(), route = route.as_ref().map(|r| r.0.as_str()), status = resp.status().as_u16(), elapsed_ms = elapsed.as_millis() as u64, "http request");
    }
    resp
}

/// A route as Consul's HTTP handler registers it: the path up to its first
/// parameter, a trailing `/` when one follows (`/v1/kv/{*key}` is `/v1/kv/`).
struct ConsulRoute(String);

/// The method as a metric names it: the methods HTTP defines, and `OTHER`
/// for any extension method a client makes up, so clients cannot create
/// metric series without bound.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

fn consul_route(matched: &str) -> ConsulRoute {
    ConsulRoute(match matched.find('{') {
        Some(i) => matched[..i].to_owned(),
        None => matched.to_owned(),
    })
}

impl ConsulRoute {
    /// The `path` label of `consul.api.http`: `v1_kv_` for `/v1/kv/`.
    fn label(&self) -> String {
        self.0.trim_start_matches('/').replace('/', "_")
    }

    /// `consul.http.GET.v1.kv._` for `GET /v1/kv/`: the parts of the route,
    /// `_` for an empty one (the parameter after a trailing slash).
    fn legacy_name(&self, method: &str) -> String {
        let mut name = format!("consul.http.{method}");
        for (i, part) in self.0.split('/').enumerate() {
            if part.is_empty() && i == 0 {
                continue;
            }
            name.push('.');
            name.push_str(if part.is_empty() { "_" } else { part });
        }
        name
    }
}

/// The largest body a request may carry outside `/v1/snapshot`: the larger
/// of the KV value and txn limits, plus room for a txn's JSON around them.
fn max_body(cfg: &RuntimeConfig) -> usize {
    let largest = cfg.limits.kv_max_value_size.max(cfg.limits.txn_max_req_len);
    usize::try_from(largest)
        .unwrap_or(usize::MAX)
        .saturating_add(1024)
}

/// Applies the body limit of the configuration in force (so a reload
/// applies to the next request): a declared length over it is refused
/// before any of the body is read, and a body that grows past it while
/// being read is cut off with 413. `/v1/snapshot` sets its own, larger
/// limit on its route. Outside it, a large or chunked body draws on the
/// agent's body budget (503 at once, unread, when it is spent) and every
/// body must arrive within `body::BODY_DEADLINE`.
async fn limit_body(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    use axum::response::IntoResponse as _;
    // Every endpoint refuses an over-long query string, also those that
    // read no parameter themselves (a cheap count first, the exact check
    // only when it may fail).
    if let Some(q) = req.uri().query() {
        let pieces = q.bytes().filter(|b| *b == b'&').count() + 1;
        if q.len() > query::MAX_QUERY_LEN || pieces > query::MAX_PARAMS {
            if let Err(e) = query::Params::parse(Some(q)).check() {
                return e.into_response();
            }
        }
    }
    let max = max_body(&state.config());
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut permit = None;
    if !req.uri().path().starts_with("/v1/snapshot") {
        if let Some(len) = declared.filter(|&len| len > max as u64) {
            return ApiError::TooLarge(format!(
                "Request body({len} bytes) too large, max size: {max} bytes"
            ))
            .into_response();
        }
        let chunked = req
            .headers()
            .contains_key(axum::http::header::TRANSFER_ENCODING);
        // A chunked body may grow to the limit: it is budgeted at it.
        let size = if chunked {
            max as u64
        } else {
            declared.unwrap_or(0)
        };
        if size > body::SMALL_BODY {
            permit = Some(state.bodies.try_reserve(size).ok_or_else(|| {
                ApiError::Busy("too many large request bodies in flight; try again shortly".into())
            }));
        }
        if chunked || declared.is_some_and(|len| len > 0) {
            let (parts, body) = req.into_parts();
            req = Request::from_parts(parts, body::with_deadline(body, body::BODY_DEADLINE));
        }
    }
    let permit = match permit.transpose() {
        Ok(p) => p,
        Err(busy) => return busy.into_response(),
    };
    DefaultBodyLimit::max(max).apply(&mut req);
    let response = next.run(req).await;
    drop(permit);
    response
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::MethodNotAllowed(req.method().to_string())
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!("no such endpoint: {}", req.uri().path()))
}
