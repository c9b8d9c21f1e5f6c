//! Federation with other datacenters, as Consul's: servers join a second
//! gossip pool over the WAN (`ports.serf_wan`, members named
//! `<node>.<dc>`, tags carrying the datacenter and the server's RPC
//! address), and a request naming another datacenter (`?dc=`) is sent by a
//! server of this datacenter to a server of that one, which serves it as
//! a local request. A client agent has no WAN pool: it hands such a
//! request to its own servers (`Request::CrossDc`).
//!
//! Owns the WAN pool's tasks (joins, reconnects, the per-datacenter
//! server lists), the routing of calls to other datacenters (retried
//! across the target's alive servers, bounded in time), the list of
//! datacenters, and the agent's typed calls for a datacenter. Never
//! serves a call for another datacenter itself, and never forwards a call
//! twice: the receiving server answers it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use praetor_gossip::{Gossip, GossipConfig, MemberStatus, Role, Tags};
use praetor_server::acl::{Guarded, Token};
use praetor_server::dc::{failed, DcRouter, RouteFuture};
use praetor_server::rpc::{DcCall, Dialer, Reply, Request, WireError};
use praetor_server::{answer_of, Answered, QueryOpts, RaftStatus, ServerError};
use praetor_store::{Command, Response};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::{Backend, Remote};
use crate::config::RuntimeConfig;

pub mod distance;
mod flood;

pub use flood::run_flood_join;

/// How long a quick call (status, autopilot health, a non-blocking read)
/// to another datacenter may take at least, however short the hold.
const QUICK_CALL: Duration = Duration::from_secs(5);
/// Added to every bound for the hops a call crosses.
const MARGIN: Duration = Duration::from_secs(2);

/// The name of server `node` of datacenter `dc` in the WAN pool.
#[must_use]
pub fn wan_name(node: &str, dc: &str) -> String {
    format!("{node}.{dc}")
}

/// The WAN pool's settings for this server: `<node>.<dc>`, bound on
/// `bind_addr:serf_wan`, advertised at `advertise_addr_wan` (else the
/// LAN advertise address), with Consul's WAN timing as configured. The
/// RPC address in its tags is the one other datacenters reach.
#[must_use]
pub fn wan_gossip_config(
    cfg: &RuntimeConfig,
    lan_advertise: std::net::IpAddr,
    mut tags: Tags,
    port: u16,
) -> GossipConfig {
    let advertise = cfg.wan.advertise_addr.unwrap_or(lan_advertise);
    if let Some(rpc) = tags.rpc_addr.as_mut() {
        rpc.set_ip(advertise);
    }
    let mut g = GossipConfig::wan(
        wan_name(&cfg.node_name, &cfg.datacenter),
        SocketAddr::new(cfg.bind_addr, port),
        tags,
    );
    g.advertise = SocketAddr::new(advertise, port);
    // Other datacenters' servers listen on this pool's port by default.
    if port != 0 {
        g.join_port = port;
    }
    g.probe_interval = cfg.wan.probe_interval;
    g.probe_timeout = cfg.wan.probe_timeout;
    g.suspicion = cfg.wan.probe_interval * cfg.wan.suspicion_mult;
    g.gossip_interval = cfg.wan.gossip_interval;
    g.reconnect_timeout = cfg.reconnect_timeout;
    // Coordinate pings over the WAN too: they place the datacenters
    // (`distance`), unless `disable_coordinates`. Pings from others are
    // answered either way.
    g.coordinates = !cfg.disable_coordinates;
    g.coordinate_delay = cfg.wan.test_latency.clone();
    g
}

/// The servers of every datacenter, as a server's WAN pool shows them,
/// and the connections to them: one [`Remote`] per datacenter, whose
/// server list follows the pool.
pub struct WanRoutes {
    gossip: Gossip,
    local_dc: String,
    dialer: Dialer,
    hold: Duration,
    tasks: TaskTracker,
    stop: CancellationToken,
    /// Datacenter → its alive servers and the connections to them.
    remotes: Mutex<BTreeMap<String, Arc<Remote>>>,
}

impl WanRoutes {
    /// Routes over `gossip` (this server's WAN pool), connecting through
    /// `dialer`, each call retried for `hold` (`rpc_hold_timeout`); the
    /// connection tasks go on `tasks` and end with `stop`.
    pub fn new(
        gossip: Gossip,
        local_dc: &str,
        dialer: Dialer,
        hold: Duration,
        tasks: TaskTracker,
        stop: CancellationToken,
    ) -> Arc<WanRoutes> {
        let routes = Arc::new(WanRoutes {
            gossip,
            local_dc: local_dc.to_owned(),
            dialer,
            hold,
            tasks,
            stop,
            remotes: Mutex::default(),
        });
        routes.refresh();
        routes
    }

    /// The WAN pool.
    pub fn gossip(&self) -> &Gossip {
        &self.gossip
    }

    /// Brings each datacenter's server list up to date with the pool:
    /// alive (or leaving) servers of another datacenter, by the RPC
    /// address they announce.
    pub fn refresh(&self) {
        let mut by_dc: BTreeMap<String, Vec<SocketAddr>> = BTreeMap::new();
        for m in self.gossip.members() {
            if m.tags.role != Role::Server || m.tags.datacenter == self.local_dc {
                continue;
            }
            let list = by_dc.entry(m.tags.datacenter.clone()).or_default();
            if matches!(m.status, MemberStatus::Alive | MemberStatus::Leaving) {
                if let Some(rpc) = m.tags.rpc_addr {
                    list.push(rpc);
                }
            }
        }
        let mut remotes = self.remotes.lock().unwrap_or_else(|p| p.into_inner());
        for (dc, servers) in by_dc {
            let remote = remotes.entry(dc.clone()).or_insert_with(|| {
                // Under TLS, their certificates name `server.<dc>.<domain>`.
                let dialer = self.dialer.clone().for_datacenter(&dc);
                Arc::new(
                    Remote::new(dialer, self.tasks.clone(), self.stop.clone()).hold_for(self.hold),
                )
            });
            remote.set_servers(servers);
        }
    }

    /// Every datacenter with a server in the pool (failed ones included,
    /// until they are reaped, as Consul lists them), this one included.
    pub fn datacenters(&self) -> BTreeSet<String> {
        let mut dcs: BTreeSet<String> = self
            .gossip
            .members()
            .iter()
            .filter(|m| m.tags.role == Role::Server && m.status != MemberStatus::Left)
            .map(|m| m.tags.datacenter.clone())
            .collect();
        dcs.insert(self.local_dc.clone());
        dcs
    }

    fn remote(&self, dc: &str) -> Option<Arc<Remote>> {
        self.remotes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(dc)
            .cloned()
    }

    /// Sends `call` to a server of `dc`, tried across its alive servers
    /// for at most the hold after the first failure, and bounded in all
    /// by [`call_bound`]; its reply, or a reply saying why not.
    pub async fn route(&self, dc: String, call: DcCall) -> Reply {
        let Some(remote) = self.remote(&dc).filter(|r| !r.servers().is_empty()) else {
            return failed(&call, WireError::NoPathToDatacenter(dc));
        };
        let timeout = call_timeout(&call, self.hold);
        let bound = call_bound(&call, self.hold);
        let sent = tokio::time::timeout(
            bound,
            remote.call_any(|| call.clone().into_request(), timeout, call.idempotent()),
        )
        .await;
        match sent {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => failed(&call, WireError::from(in_dc(&dc, e))),
            Err(_) if call.idempotent() => failed(
                &call,
                WireError::Other(format!(
                    "rpc error making call: no server of datacenter {dc} answered within {}",
                    praetor_api::duration::format(bound)
                )),
            ),
            Err(_) => failed(
                &call,
                WireError::OutcomeUnknown(format!(
                    "no server of datacenter {dc} answered within {}",
                    praetor_api::duration::format(bound)
                )),
            ),
        }
    }
}

/// Names the datacenter in a transport error, so a caller can tell a
/// failed call to another datacenter from one in its own.
fn in_dc(dc: &str, e: ServerError) -> ServerError {
    match e {
        ServerError::Forward(why) => ServerError::Forward(format!("datacenter {dc}: {why}")),
        ServerError::NoServers => ServerError::NoPathToDatacenter(dc.to_owned()),
        other => other,
    }
}

/// How long one call to one server of another datacenter may take: a
/// blocking read its wait (with Consul's jitter of wait/16), a write the
/// target's leader wait and commit, anything else a quick call.
#[must_use]
pub fn call_timeout(call: &DcCall, hold: Duration) -> Duration {
    match call {
        DcCall::Query(_, opts, _) if opts.index > 0 => opts.wait + opts.wait / 16 + hold + MARGIN,
        DcCall::Write(..) => hold + praetor_server::APPLY_TIMEOUT.max(hold),
        _ => hold.max(QUICK_CALL) + MARGIN,
    }
}

/// The bound on routing one call, retries across servers included.
#[must_use]
pub fn call_bound(call: &DcCall, hold: Duration) -> Duration {
    call_timeout(call, hold) + hold
}

impl DcRouter for WanRoutes {
    fn route(&self, dc: String, call: DcCall) -> RouteFuture<'_> {
        Box::pin(WanRoutes::route(self, dc, call))
    }

    fn datacenters(&self) -> Vec<String> {
        let servers = distance::pool_servers(&self.gossip);
        let rtts = distance::median_rtts(&self.local_dc, &self.gossip.coordinate(), &servers);
        datacenters_by_rtt(&self.local_dc, &rtts)
    }

    fn coordinate_maps(&self) -> Vec<praetor_api::coordinate::CoordinateDatacenterMap> {
        distance::wan_maps(&self.local_dc, &distance::pool_servers(&self.gossip))
    }
}

/// The datacenters in the order `/v1/catalog/datacenters` lists them:
/// nearest first by the median estimated round trip from this server to
/// each one's servers (`rtts`, seconds, from `distance::median_rtts`):
/// this datacenter first, those at an unknown distance last, ties by
/// name, as Consul's `GetDatacentersByDistance`.
#[must_use]
pub fn datacenters_by_rtt(local: &str, rtts: &BTreeMap<String, f64>) -> Vec<String> {
    distance::by_distance(local, rtts)
}

/// Keeps each datacenter's server list equal to the WAN pool's alive
/// servers of that datacenter.
pub async fn run_wan_routes(routes: Arc<WanRoutes>, stop: CancellationToken) {
    let mut list = routes.gossip.watch();
    loop {
        routes.refresh();
        tokio::select! {
            changed = list.changed() => if changed.is_err() { return },
            () = stop.cancelled() => return,
        }
    }
}

/// A call for datacenter `dc` from this agent: `None` (or this agent's
/// own datacenter) goes the usual way; another is sent as
/// `Request::CrossDc` through this agent's server, or through a server of
/// its datacenter on a client agent.
impl Backend {
    /// Sends `call` for datacenter `dc` (never this agent's own) and
    /// returns the target's reply.
    ///
    /// # Errors
    /// When no server of this datacenter could take it (a client agent);
    /// the target's own errors come back inside the reply.
    pub async fn call_dc(
        &self,
        dc: &str,
        call: DcCall,
        hold: Duration,
    ) -> Result<Reply, ServerError> {
        let req = || Request::CrossDc(dc.to_owned(), call.clone());
        match self {
            Backend::Local(s) => Ok(s.handle_rpc(req()).await),
            Backend::Remote(r) => {
                // The server's own bound, then the hop to it.
                let timeout = call_bound(&call, hold) + hold + MARGIN;
                r.call_any(req, timeout, call.idempotent()).await
            }
        }
    }

    /// [`Backend::read`] in datacenter `dc` (`None`: this one).
    ///
    /// # Errors
    /// As `read`, and `NoPathToDatacenter` for a datacenter no server knows.
    pub async fn read_in<R: Guarded>(
        &self,
        dc: Option<&str>,
        hold: Duration,
        token: &Token,
        read: R,
        opts: QueryOpts,
    ) -> Result<Answered<R::Answer>, ServerError> {
        let Some(dc) = dc else {
            return self.read(token, read, opts).await;
        };
        let call = DcCall::Query(read.clone().into(), opts, token.clone());
        match self.call_dc(dc, call, hold).await? {
            Reply::Query(res) => answer_of(&read, res?),
            other => Err(unexpected(&other)),
        }
    }

    /// [`Backend::write`] in datacenter `dc` (`None`: this one); the
    /// token is checked there.
    ///
    /// # Errors
    /// As `write`, and `NoPathToDatacenter`.
    pub async fn write_in(
        &self,
        dc: Option<&str>,
        hold: Duration,
        token: &Token,
        cmd: Command,
    ) -> Result<(u64, Response), ServerError> {
        let Some(dc) = dc else {
            return self.write(token, cmd).await;
        };
        match self
            .call_dc(dc, DcCall::Write(cmd, token.clone()), hold)
            .await?
        {
            Reply::Write(res) => res.map_err(ServerError::from),
            other => Err(unexpected(&other)),
        }
    }

    /// [`Backend::status`] of datacenter `dc` (`None`: this one).
    ///
    /// # Errors
    /// As `status`, and `NoPathToDatacenter`.
    pub async fn status_in(
        &self,
        dc: Option<&str>,
        hold: Duration,
    ) -> Result<RaftStatus, ServerError> {
        let Some(dc) = dc else {
            return self.status().await;
        };
        match self.call_dc(dc, DcCall::Status, hold).await? {
            Reply::Status(s) => Ok(s),
            Reply::Done(Err(e)) => Err(e.into()),
            other => Err(unexpected(&other)),
        }
    }

    /// [`Backend::autopilot_health`] of datacenter `dc` (`None`: this one).
    ///
    /// # Errors
    /// As `autopilot_health`, and `NoPathToDatacenter`.
    pub async fn autopilot_health_in(
        &self,
        dc: Option<&str>,
        hold: Duration,
    ) -> Result<praetor_server::autopilot_health::RaftHealth, ServerError> {
        let Some(dc) = dc else {
            return self.autopilot_health().await;
        };
        match self.call_dc(dc, DcCall::AutopilotHealth, hold).await? {
            Reply::AutopilotHealth(res) => res.map_err(ServerError::from),
            other => Err(unexpected(&other)),
        }
    }

    /// Every datacenter known, nearest first: this agent's server's WAN
    /// pool, or a server's on a client agent.
    ///
    /// # Errors
    /// On a client agent, when no server answers.
    pub async fn datacenters(&self, hold: Duration) -> Result<Vec<String>, ServerError> {
        match self {
            Backend::Local(s) => Ok(s.datacenters()),
            Backend::Remote(r) => match r
                .call_any(|| Request::Datacenters, hold.max(QUICK_CALL), true)
                .await?
            {
                Reply::Datacenters(list) => Ok(list),
                other => Err(unexpected(&other)),
            },
        }
    }
}

impl Backend {
    /// The WAN coordinates of every datacenter's servers, by datacenter
    /// (`/v1/coordinate/datacenters`): this agent's server's WAN pool, or
    /// a server's on a client agent.
    ///
    /// # Errors
    /// On a client agent, when no server answers.
    pub async fn coordinate_maps(
        &self,
        hold: Duration,
    ) -> Result<Vec<praetor_api::coordinate::CoordinateDatacenterMap>, ServerError> {
        match self {
            Backend::Local(s) => Ok(s.coordinate_maps()),
            Backend::Remote(r) => match r
                .call_any(
                    || Request::CoordinateDatacenters,
                    hold.max(QUICK_CALL),
                    true,
                )
                .await?
            {
                Reply::CoordinateDatacenters(maps) => Ok(maps),
                other => Err(unexpected(&other)),
            },
        }
    }
}

/// `translate_wan_addrs` for a node of another datacenter: its `wan`
/// tagged address, when it has one, becomes its address.
pub fn translate_node(node: &mut praetor_api::catalog::Node) {
    if let Some(wan) = node.tagged_addresses.get("wan").filter(|a| !a.is_empty()) {
        node.address = wan.clone();
    }
}

/// `translate_wan_addrs` for service instances of another datacenter:
/// each node's `wan` address, and each service's `wan` tagged address
/// (address and port) when it has one.
pub fn translate_entries(entries: &mut [praetor_api::catalog::ServiceEntry]) {
    for e in entries {
        translate_node(&mut e.node);
        if let Some(wan) = e
            .service
            .tagged_addresses
            .get("wan")
            .filter(|a| !a.address.is_empty())
        {
            e.service.address = wan.address.clone();
            if wan.port != 0 {
                e.service.port = wan.port;
            }
        }
    }
}

/// `translate_wan_addrs` for `/v1/catalog/service/<name>` answers of
/// another datacenter, as [`translate_entries`].
pub fn translate_catalog_services(list: &mut [praetor_api::catalog::CatalogService]) {
    for s in list {
        if let Some(wan) = s.tagged_addresses.get("wan").filter(|a| !a.is_empty()) {
            s.address = wan.clone();
        }
        if let Some(wan) = s
            .service_tagged_addresses
            .get("wan")
            .filter(|a| !a.address.is_empty())
        {
            s.service_address = wan.address.clone();
            if wan.port != 0 {
                s.service_port = wan.port;
            }
        }
    }
}

fn unexpected(reply: &Reply) -> ServerError {
    ServerError::Forward(format!("the server answered with {}", reply.kind()))
}

#[cfg(test)]
mod tests;
