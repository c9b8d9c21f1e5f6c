//! Prepared queries as the agent serves them (`/v1/query`, `<name>.query.
//! consul`): a definition checked and converted to the store's record
//! before it is proposed (`to_record`, Consul's `parseQuery`), a stored
//! query converted back for clients, and execution — the query resolved
//! by ID or name on a server, a template rendered for the name
//! (`template`), its instances selected on a server with the acting token
//! (`praetor_server::read::QueryRun`), failover to other datacenters when
//! none are left (`failover`, through the federation layer), then
//! shuffled, sorted by `Near` when coordinates are known (`near`) and cut
//! at the limit.

pub mod failover;
pub mod near;
pub mod template;

use praetor_api::catalog::ServiceEntry;
use praetor_api::query::{
    PreparedQueryDefinition, PreparedQueryExecuteResponse, QueryDnsOptions, QueryFailoverOptions,
    QueryFailoverTarget, ServiceQuery as ApiServiceQuery,
};
use praetor_server::acl::Token;
use praetor_server::read::{Answered, CoordinateNodes, QueryOpts, QueryResolve, QueryRun};
use praetor_server::Consistency;
use praetor_store::coordinate::NodeCoordinate;
use praetor_store::query::{
    Failover, FailoverTarget, PreparedQuery, QueryTemplate, ServiceQuery, NOT_FOUND,
};
use rand::seq::SliceRandom;

use crate::http::error::ApiError;
use crate::http::AppState;

/// The only template type (Consul's).
pub const NAME_PREFIX_MATCH: &str = "name_prefix_match";

/// The longest name, session, token, service name or other single string
/// a definition may hold.
pub const MAX_STRING: usize = template::MAX_FIELD;

/// The most tags, metadata pairs, ignored checks or failover datacenters
/// and targets a definition may list (each list).
pub const MAX_LIST: usize = 256;

/// Checks `def` as Consul's `parseQuery` does and converts it to the
/// record the store keeps, with ID `id`.
///
/// # Errors
/// `BadRequest` with the first reason, in Consul's words where it has them.
pub fn to_record(def: PreparedQueryDefinition, id: String) -> Result<PreparedQuery, ApiError> {
    let bad = |m: String| ApiError::BadRequest(m);
    let s = def.service;
    if s.service.is_empty() {
        return Err(bad("Must provide a Service name to query".into()));
    }
    if s.connect {
        return Err(bad(
            "Connect is not supported: Praetor has no service mesh".into()
        ));
    }
    if !s.peer.is_empty() || s.failover.targets.iter().any(|t| !t.peer.is_empty()) {
        return Err(bad("Cluster peering is not supported".into()));
    }
    if !s.sameness_group.is_empty() {
        return Err(bad("Sameness groups are not supported".into()));
    }
    let nearest_n = u32::try_from(s.failover.nearest_n).map_err(|_| {
        bad(format!(
            "Bad NearestN '{}', must be >= 0",
            s.failover.nearest_n
        ))
    })?;
    if !s.failover.targets.is_empty() && (nearest_n != 0 || !s.failover.datacenters.is_empty()) {
        return Err(bad(
            "Targets cannot be populated with NearestN or Datacenters".into(),
        ));
    }
    if !def.dns.ttl.is_empty() {
        praetor_api::duration::parse(&def.dns.ttl)
            .map_err(|e| bad(format!("Bad DNS TTL '{}': {e}", def.dns.ttl)))?;
    }
    let template = match def.template.kind.as_str() {
        "" => None,
        NAME_PREFIX_MATCH => Some(QueryTemplate {
            kind: def.template.kind,
            regexp: def.template.regexp,
            remove_empty_tags: def.template.remove_empty_tags,
        }),
        other => return Err(bad(format!("Bad Template.Type '{other}'"))),
    };
    let lists = [
        s.tags.len(),
        s.node_meta.len(),
        s.service_meta.len(),
        s.ignore_check_ids.len(),
        s.failover.datacenters.len(),
        s.failover.targets.len(),
    ];
    if lists.iter().any(|n| *n > MAX_LIST) {
        return Err(bad(format!(
            "a prepared query lists at most {MAX_LIST} of each kind"
        )));
    }
    let record = PreparedQuery {
        id,
        name: def.name,
        session: def.session,
        token: def.token,
        service: ServiceQuery {
            service: s.service,
            failover: Failover {
                nearest_n,
                datacenters: s.failover.datacenters,
                targets: s
                    .failover
                    .targets
                    .into_iter()
                    .map(|t| FailoverTarget {
                        peer: t.peer,
                        datacenter: t.datacenter,
                    })
                    .collect(),
            },
            only_passing: s.only_passing,
            near: s.near,
            tags: s.tags,
            node_meta: s.node_meta,
            service_meta: s.service_meta,
            ignore_check_ids: s.ignore_check_ids,
        },
        dns_ttl: def.dns.ttl,
        template,
        create_index: 0,
        modify_index: 0,
    };
    if strings(&record).any(|s| s.len() > MAX_STRING) {
        return Err(bad(format!(
            "a prepared query's strings are at most {MAX_STRING} bytes"
        )));
    }
    if record.template.is_some() {
        template::validate(&record).map_err(|e| bad(format!("Failed compiling template: {e}")))?;
    }
    Ok(record)
}

/// Every string of `q`.
fn strings(q: &PreparedQuery) -> impl Iterator<Item = &String> {
    let s = &q.service;
    [
        &q.name, &q.session, &q.token, &q.dns_ttl, &s.service, &s.near,
    ]
    .into_iter()
    .chain(&s.tags)
    .chain(s.node_meta.iter().flat_map(|(k, v)| [k, v]))
    .chain(s.service_meta.iter().flat_map(|(k, v)| [k, v]))
    .chain(&s.ignore_check_ids)
    .chain(&s.failover.datacenters)
    .chain(
        s.failover
            .targets
            .iter()
            .flat_map(|t| [&t.peer, &t.datacenter]),
    )
    .chain(q.template.iter().map(|t| &t.regexp))
}

/// A stored query as clients see it.
pub fn to_definition(q: PreparedQuery) -> PreparedQueryDefinition {
    let s = q.service;
    PreparedQueryDefinition {
        id: q.id,
        name: q.name,
        session: q.session,
        token: q.token,
        service: ApiServiceQuery {
            service: s.service,
            failover: QueryFailoverOptions {
                nearest_n: i64::from(s.failover.nearest_n),
                datacenters: s.failover.datacenters,
                targets: s
                    .failover
                    .targets
                    .into_iter()
                    .map(|t| QueryFailoverTarget {
                        peer: t.peer,
                        datacenter: t.datacenter,
                    })
                    .collect(),
            },
            only_passing: s.only_passing,
            near: s.near,
            tags: s.tags,
            node_meta: s.node_meta,
            service_meta: s.service_meta,
            ignore_check_ids: s.ignore_check_ids,
            ..ApiServiceQuery::default()
        },
        dns: QueryDnsOptions { ttl: q.dns_ttl },
        template: q
            .template
            .map(|t| praetor_api::query::QueryTemplate {
                kind: t.kind,
                regexp: t.regexp,
                remove_empty_tags: t.remove_empty_tags,
            })
            .unwrap_or_default(),
        create_index: q.create_index,
        modify_index: q.modify_index,
    }
}

/// How one execution is asked for (`?near=`, `?limit=`, the read options).
#[derive(Debug, Clone)]
pub struct ExecuteOpts {
    /// Sort near this node instead of the query's `Near` (`_agent`: this
    /// agent's node).
    pub near: Option<String>,
    /// At most this many instances (0: all).
    pub limit: usize,
    pub consistency: Consistency,
    /// The datacenter to execute in (`?dc=`, `<query>.query.<dc>`),
    /// through its servers as every `?dc=` read; `None`: this agent's own.
    pub dc: Option<String>,
}

/// Resolves `name` (an ID or a name) with `token`'s ACLs in datacenter
/// `dc` (`None`: this one) and renders it for that name: the stored query,
/// or a template filled in.
///
/// # Errors
/// `NotFound` ("Query not found"); the server's errors (no leader, ACLs:
/// with `explain`, the caller must be able to read the query; no path to
/// `dc`).
pub async fn resolve(
    state: &AppState,
    token: &Token,
    name: &str,
    explain: bool,
    consistency: Consistency,
    dc: Option<&str>,
) -> Result<Answered<PreparedQuery>, ApiError> {
    let read = QueryResolve {
        name: name.to_owned(),
        explain,
    };
    let opts = QueryOpts {
        index: 0,
        wait: std::time::Duration::ZERO,
        consistency,
    };
    let hold = state.config().rpc_hold_timeout;
    let r = state.backend.read_in(dc, hold, token, read, opts).await?;
    let Answered {
        meta,
        index,
        answer,
        filtered,
    } = r;
    let stored = answer.ok_or_else(|| ApiError::NotFound(NOT_FOUND.into()))?;
    let rendered = template::render(&stored, name, "")
        .map_err(|e| ApiError::Failed(format!("Failed to render query {:?}: {e}", stored.id)))?;
    Ok(Answered {
        meta,
        index,
        answer: rendered,
        filtered,
    })
}

/// Executes the query `name` for the caller with `token`, as Consul's
/// `PreparedQuery.Execute`: the instances it keeps in `opts.dc` (this
/// datacenter by default), or, when there are none, in the first
/// datacenter failover finds with some.
///
/// # Errors
/// As [`resolve`]; the server's errors for the read (a token stored in
/// the query that no longer exists is "ACL not found").
pub async fn execute(
    state: &AppState,
    token: &Token,
    name: &str,
    opts: &ExecuteOpts,
) -> Result<Answered<PreparedQueryExecuteResponse>, ApiError> {
    let dc = opts.dc.as_deref();
    let query = resolve(state, token, name, false, opts.consistency, dc)
        .await?
        .answer;
    let acting = if query.token.is_empty() {
        token.clone()
    } else {
        Token::new(query.token.clone())
    };
    let read_opts = QueryOpts {
        index: 0,
        wait: std::time::Duration::ZERO,
        consistency: opts.consistency,
    };
    let run = QueryRun {
        service: query.service.clone(),
    };
    let hold = state.config().rpc_hold_timeout;
    let local = state
        .backend
        .read_in(dc, hold, &acting, run, read_opts)
        .await?;
    let federation = failover::federation(state);
    let datacenter = opts
        .dc
        .clone()
        .unwrap_or_else(|| state.config().datacenter.clone());
    let mut answer = respond(
        &federation,
        query,
        local.answer.clone(),
        &datacenter,
        acting,
        opts.consistency,
    )
    .await?;
    let cfg = state.config();
    translate(
        &mut answer.response,
        &cfg.datacenter,
        cfg.wan.translate_addrs,
    );
    let near = near_of(&answer, opts);
    // Only instances of the datacenter asked are sorted, with its
    // coordinates, as Consul sorts before failing over.
    let coords = if near.is_empty() || answer.response.datacenter != datacenter {
        Vec::new()
    } else {
        state
            .backend
            .read_in(dc, hold, token, CoordinateNodes, read_opts)
            .await?
            .answer
    };
    arrange(state, answer.nodes(), &near, &coords, opts);
    Ok(local.map(|_| answer.response))
}

/// An execution's answer before it is arranged, and the query's `Near`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responded {
    pub response: PreparedQueryExecuteResponse,
    pub near: String,
}

impl Responded {
    fn nodes(&mut self) -> &mut Vec<ServiceEntry> {
        &mut self.response.nodes
    }
}

/// The answer to the rendered `query` whose instances here are `local`
/// (in datacenter `local_dc`): those, or, when there are none, what
/// failover through `federation` finds (read there with `acting` and
/// `consistency`), with the datacenter that answered and how many were
/// asked.
///
/// # Errors
/// `Failed` when failover could not learn which datacenters exist.
pub async fn respond(
    federation: &dyn failover::Federation,
    query: PreparedQuery,
    local: Vec<ServiceEntry>,
    local_dc: &str,
    acting: Token,
    consistency: Consistency,
) -> Result<Responded, ApiError> {
    let mut datacenter = local_dc.to_owned();
    let mut failovers = 0;
    let mut nodes = local;
    if nodes.is_empty() {
        let remote = failover::RemoteQuery {
            service: query.service.clone(),
            token: acting,
            consistency,
        };
        let found = failover::run(federation, &query.service.failover, local_dc, &remote)
            .await
            .map_err(ApiError::Failed)?;
        failovers = found.failovers;
        if let Some(dc) = found.datacenter {
            datacenter = dc;
            nodes = found.nodes;
        }
    }
    Ok(Responded {
        response: PreparedQueryExecuteResponse {
            service: query.service.service,
            nodes,
            dns: QueryDnsOptions { ttl: query.dns_ttl },
            datacenter,
            failovers,
        },
        near: query.service.near,
    })
}

/// `translate_wan_addrs` (`on`) for an answer: instances of a datacenter
/// other than this agent's (`own_dc`), whether asked with `?dc=` or
/// failed over to, are given at their `wan` addresses, as Consul
/// translates by the datacenter that answered.
pub fn translate(response: &mut PreparedQueryExecuteResponse, own_dc: &str, on: bool) {
    if on && response.datacenter != own_dc {
        crate::federation::translate_entries(&mut response.nodes);
    }
}

/// The node to sort near: `?near=`, else the query's `Near`.
fn near_of(r: &Responded, opts: &ExecuteOpts) -> String {
    opts.near.clone().unwrap_or_else(|| r.near.clone())
}

/// Shuffles `nodes`, sorts them by round-trip time from `near` (`_agent`
/// is this agent) with the nodes' coordinates `coords`, and cuts them at
/// the limit.
fn arrange(
    state: &AppState,
    nodes: &mut Vec<ServiceEntry>,
    near: &str,
    coords: &[NodeCoordinate],
    opts: &ExecuteOpts,
) {
    nodes.shuffle(&mut rand::thread_rng());
    if let Some(node) = crate::coordinate::near::near_node(Some(near), &state.config().node_name) {
        near::sort_by_rtt(&node, coords, nodes);
    }
    if opts.limit > 0 {
        nodes.truncate(opts.limit);
    }
}

#[cfg(test)]
mod tests;
