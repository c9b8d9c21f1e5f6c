//! One DNS request to one response, as Consul's DNS interface answers:
//! names in the agent's domains authoritatively from the catalog (through
//! [`Cache`](super::cache::Cache)), reverse lookups of node addresses,
//! every other name through the recursors (or REFUSED without them).
//! Malformed requests get FORMERR when their header can be read and are
//! dropped otherwise; responses are never answered. UDP responses are cut
//! to the client's buffer (512 bytes, or its EDNS0 size) and to
//! `udp_answer_limit` answers for clients without EDNS0, with the TC bit
//! when `enable_truncate` is set.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::PTR;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use praetor_api::catalog::ServiceEntry;
use praetor_gossip::{MemberStatus, Role};
use rand::seq::SliceRandom;

use super::answer::{self, Ctx, Records};
use super::cache::{Key as _, NodeKey, NodesKey, ReadPolicy, ServiceKey};
use super::name::{self, Lookup};
use super::{recursor, Dns, Transport};
use crate::config::{DnsConfig, RuntimeConfig};
use praetor_server::ServerError;

/// The largest UDP payload answered, whatever a client's EDNS0 says.
const MAX_UDP: usize = 65535 - 68;
/// What a client without EDNS0 can take over UDP.
const PLAIN_UDP: usize = 512;
/// The payload size this server advertises in its EDNS0 answers.
const ADVERTISED_PAYLOAD: u16 = 4096;

/// The response to `packet`, encoded; `None` to send nothing.
pub async fn handle(dns: Arc<Dns>, packet: Vec<u8>, transport: Transport) -> Option<Vec<u8>> {
    let cfg = dns.state.config();
    let (req, mut resp, route) = match triage(&packet, &cfg) {
        Triage::Drop => return None,
        Triage::FormErr(bytes) => return bytes,
        Triage::Answer(d) => (d.req, d.resp, d.route),
    };
    // Every route but `Ready` has exactly one question.
    let Some(question) = req
        .queries
        .first()
        .filter(|_| !matches!(route, Route::Ready))
    else {
        return encode(resp, &req, transport, &cfg.dns);
    };
    let qtype = question.query_type();
    match route {
        Route::Ready => {}
        Route::Authoritative { domain, lookup } => {
            let ctx = Ctx {
                qname: question.name(),
                qtype,
                domain,
                // Answers name records in the datacenter asked about.
                dc: lookup_dc(&lookup).unwrap_or(&cfg.datacenter),
            };
            let outcome = match answer_without_catalog(&ctx, &cfg, &lookup, || servers(&dns, &cfg))
            {
                Ok(outcome) => outcome,
                Err(read) => self::lookup(&dns, &cfg, &ctx, read).await,
            };
            fill(&mut resp, &ctx, &cfg, outcome);
        }
        Route::Reverse => {
            if let Some(ptr) = reverse(&dns, &cfg, question.name()).await {
                resp.metadata.authoritative = true;
                resp.add_answer(ptr);
            } else if cfg.recursors.is_empty() {
                not_in_arpa(&mut resp, &cfg);
            } else {
                return recurse(&packet, transport, &cfg, &req, resp).await;
            }
        }
        Route::Recurse => return recurse(&packet, transport, &cfg, &req, resp).await,
    }
    encode(resp, &req, transport, &cfg.dns)
}

/// Answers `packet` as [`handle`] does for an agent whose catalog is empty
/// and unreachable: every step that needs no catalog read or recursor is
/// the same (decoding, FORMERR, NOTIMP, REFUSED, name parsing, SOA and NS,
/// `.addr` names, truncation and encoding); service and node names are
/// NXDOMAIN, reverse names are NXDOMAIN and recursion is SERVFAIL. Pure and
/// synchronous, for fuzzing the whole packet path.
#[doc(hidden)]
pub fn handle_without_catalog(
    packet: &[u8],
    cfg: &RuntimeConfig,
    transport: Transport,
) -> Option<Vec<u8>> {
    let (req, mut resp, route) = match triage(packet, cfg) {
        Triage::Drop => return None,
        Triage::FormErr(bytes) => return bytes,
        Triage::Answer(d) => (d.req, d.resp, d.route),
    };
    // Every route but `Ready` has exactly one question.
    let Some(question) = req
        .queries
        .first()
        .filter(|_| !matches!(route, Route::Ready))
    else {
        return encode(resp, &req, transport, &cfg.dns);
    };
    match route {
        Route::Ready => {}
        Route::Authoritative { domain, lookup } => {
            let ctx = Ctx {
                qname: question.name(),
                qtype: question.query_type(),
                domain,
                dc: lookup_dc(&lookup).unwrap_or(&cfg.datacenter),
            };
            let outcome =
                answer_without_catalog(&ctx, cfg, &lookup, Vec::new).unwrap_or(Outcome::NxDomain);
            fill(&mut resp, &ctx, cfg, outcome);
        }
        Route::Reverse if cfg.recursors.is_empty() => not_in_arpa(&mut resp, cfg),
        Route::Reverse | Route::Recurse => resp.metadata.response_code = ResponseCode::ServFail,
    }
    encode(resp, &req, transport, &cfg.dns)
}

/// Where a decoded request goes next.
enum Route<'a> {
    /// `resp` is complete (NOTIMP, FORMERR, REFUSED).
    Ready,
    /// A name in one of the agent's domains.
    Authoritative { domain: &'a str, lookup: Lookup },
    /// A PTR (or ANY) question under `in-addr.arpa.` or `ip6.arpa.`.
    Reverse,
    /// Any other name, for the recursors.
    Recurse,
}

/// The first, pure step of every request.
enum Triage<'a> {
    /// A response, or nothing decodable: send nothing.
    Drop,
    /// Undecodable: FORMERR when the header can be read.
    FormErr(Option<Vec<u8>>),
    /// Decoded, with the response begun.
    Answer(Box<Decoded<'a>>),
}

/// A decoded request, its response begun (id, flags, question, EDNS0), and
/// where it goes next.
struct Decoded<'a> {
    req: Message,
    resp: Message,
    route: Route<'a>,
}

/// Decodes `packet` and decides where it goes, without any I/O.
fn triage<'a>(packet: &[u8], cfg: &'a RuntimeConfig) -> Triage<'a> {
    let req = match Message::from_vec(packet) {
        Ok(req) => req,
        Err(e) => {
            tracing::debug!(error = %e, "malformed dns request");
            return Triage::FormErr(format_error(packet));
        }
    };
    if req.metadata.message_type == MessageType::Response {
        return Triage::Drop;
    }
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.checking_disabled = req.metadata.checking_disabled;
    resp.metadata.recursion_available = !cfg.recursors.is_empty();
    resp.add_queries(req.queries.iter().cloned());
    if req.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(ADVERTISED_PAYLOAD);
        resp.set_edns(edns);
    }
    if req.metadata.op_code != OpCode::Query {
        resp.metadata.response_code = ResponseCode::NotImp;
        return Triage::Answer(Box::new(Decoded {
            req,
            resp,
            route: Route::Ready,
        }));
    }
    let [question] = req.queries.as_slice() else {
        resp.metadata.response_code = ResponseCode::FormErr;
        return Triage::Answer(Box::new(Decoded {
            req,
            resp,
            route: Route::Ready,
        }));
    };
    let qname = question.name().to_lowercase().to_ascii();
    let qname = if qname.ends_with('.') {
        qname
    } else {
        format!("{qname}.")
    };
    let qtype = question.query_type();
    let mut domains = vec![cfg.domain.as_str()];
    domains.extend(cfg.alt_domain.as_deref());
    let route = if let Some(parsed) = name::parse(&qname, qtype == RecordType::SRV, &domains) {
        resp.metadata.authoritative = true;
        Route::Authoritative {
            domain: domains[parsed.domain],
            lookup: parsed.lookup,
        }
    } else if (qname.ends_with(".in-addr.arpa.") || qname.ends_with(".ip6.arpa."))
        && matches!(qtype, RecordType::PTR | RecordType::ANY)
    {
        Route::Reverse
    } else if cfg.recursors.is_empty() {
        resp.metadata.response_code = ResponseCode::Refused;
        Route::Ready
    } else {
        Route::Recurse
    };
    Triage::Answer(Box::new(Decoded { req, resp, route }))
}

/// A reverse name no node has, with no recursors to ask: NXDOMAIN.
fn not_in_arpa(resp: &mut Message, cfg: &RuntimeConfig) {
    resp.metadata.authoritative = true;
    resp.metadata.response_code = ResponseCode::NXDomain;
    resp.add_authorities(answer::soa(&cfg.domain, &cfg.dns.soa, serial()));
}

/// Forwards `packet` to the recursors; SERVFAIL when every one fails.
async fn recurse(
    packet: &[u8],
    transport: Transport,
    cfg: &RuntimeConfig,
    req: &Message,
    mut resp: Message,
) -> Option<Vec<u8>> {
    let forwarded = recursor::forward(
        packet,
        transport,
        &cfg.recursors,
        cfg.dns.recursor_strategy,
        cfg.dns.recursor_timeout,
    )
    .await;
    match forwarded {
        Some(answer) => Some(answer),
        None => {
            if let Some(q) = req.queries.first() {
                tracing::warn!(name = %q.name(), "every recursor failed");
            }
            resp.metadata.response_code = ResponseCode::ServFail;
            encode(resp, req, transport, &cfg.dns)
        }
    }
}

/// FORMERR for a request that could not be decoded, when at least its
/// header (12 bytes, query bit clear) is there to answer; else nothing.
fn format_error(packet: &[u8]) -> Option<Vec<u8>> {
    if packet.len() < 12 || packet[2] & 0x80 != 0 {
        return None;
    }
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let op_code = OpCode::from_u8((packet[2] >> 3) & 0x0f);
    let mut resp = Message::error_msg(id, op_code, ResponseCode::FormErr);
    resp.metadata.recursion_desired = packet[2] & 0x01 != 0;
    resp.to_vec().ok()
}

/// The SOA serial: the current time, as Consul's.
fn serial() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// What a lookup found.
enum Outcome {
    Found(Records),
    /// The zone's SOA record as the answer.
    Soa,
    /// These servers as the zone's name servers.
    NameServers(Vec<(String, IpAddr)>),
    /// A question this server does not answer (zone transfers).
    NotImp,
    /// The name does not exist.
    NxDomain,
    /// The catalog could not be read.
    ServFail,
}

/// A question inside the domain that only the catalog can answer, in
/// datacenter `dc` (`None`: this agent's own).
enum CatalogRead<'a> {
    Service {
        service: &'a str,
        tag: Option<&'a str>,
        dc: Option<&'a str>,
    },
    Node {
        node: &'a str,
        dc: Option<&'a str>,
    },
    /// A prepared query, executed (`<query>.query.consul`).
    Query {
        name: &'a str,
        dc: Option<&'a str>,
    },
}

/// The datacenter a service or node name asks about, if it names one.
fn lookup_dc(lookup: &Lookup) -> Option<&str> {
    match lookup {
        Lookup::Service { dc, .. } | Lookup::Node { dc, .. } | Lookup::Query { dc, .. } => {
            dc.as_deref()
        }
        _ => None,
    }
}

/// The outcome of a question inside the domain when it needs no catalog
/// read: SOA and NS questions for any name, the apex, invalid names,
/// `.addr` names and other datacenters; zone transfers are not
/// implemented. Otherwise the catalog read it needs ([`lookup`]).
fn answer_without_catalog<'l>(
    ctx: &Ctx<'_>,
    cfg: &RuntimeConfig,
    lookup: &'l Lookup,
    servers: impl FnOnce() -> Vec<(String, IpAddr)>,
) -> Result<Outcome, CatalogRead<'l>> {
    // Another datacenter's names are read through its servers.
    let other_dc = |dc: &'l Option<String>| dc.as_deref().filter(|d| *d != cfg.datacenter);
    Ok(match (ctx.qtype, lookup) {
        (RecordType::SOA, _) => Outcome::Soa,
        (RecordType::NS, _) => Outcome::NameServers(servers()),
        (RecordType::AXFR | RecordType::IXFR, _) => Outcome::NotImp,
        // The apex exists (it holds the SOA): no data, not NXDOMAIN.
        (_, Lookup::Apex) => Outcome::Found(Records::default()),
        (_, Lookup::Invalid) => Outcome::NxDomain,
        (_, Lookup::Addr(ip)) => Outcome::Found(answer::addr(ctx, *ip, cfg.dns.node_ttl)),
        (_, Lookup::Service { service, tag, dc }) => {
            return Err(CatalogRead::Service {
                service,
                tag: tag.as_deref(),
                dc: other_dc(dc),
            })
        }
        (_, Lookup::Node { node, dc }) => {
            return Err(CatalogRead::Node {
                node,
                dc: other_dc(dc),
            })
        }
        (_, Lookup::Query { name, dc }) => {
            return Err(CatalogRead::Query {
                name,
                dc: other_dc(dc),
            })
        }
    })
}

/// Writes `outcome` into `resp`: NXDOMAIN and empty answers carry the SOA.
fn fill(resp: &mut Message, ctx: &Ctx<'_>, cfg: &RuntimeConfig, outcome: Outcome) {
    let soa = || answer::soa(ctx.domain, &cfg.dns.soa, serial());
    let records = match outcome {
        Outcome::Found(records) => records,
        Outcome::Soa => Records {
            answers: soa().into_iter().collect(),
            additionals: Vec::new(),
        },
        Outcome::NameServers(servers) => answer::name_servers(ctx, &servers, cfg.dns.node_ttl),
        Outcome::NotImp => {
            resp.metadata.response_code = ResponseCode::NotImp;
            return;
        }
        Outcome::NxDomain => {
            resp.metadata.response_code = ResponseCode::NXDomain;
            resp.add_authorities(soa());
            return;
        }
        Outcome::ServFail => {
            resp.metadata.response_code = ResponseCode::ServFail;
            return;
        }
    };
    if records.answers.is_empty() {
        resp.add_authorities(soa());
    }
    resp.add_answers(records.answers);
    resp.add_additionals(records.additionals);
}

/// Up to three alive servers of this datacenter, shuffled, as name servers.
fn servers(dns: &Dns, cfg: &RuntimeConfig) -> Vec<(String, IpAddr)> {
    let mut list: Vec<(String, IpAddr)> = dns
        .state
        .gossip
        .members()
        .into_iter()
        .filter(|m| {
            m.tags.role == Role::Server
                && m.tags.datacenter == cfg.datacenter
                && m.status == MemberStatus::Alive
        })
        .map(|m| (m.name, m.addr.ip()))
        .collect();
    list.shuffle(&mut rand::thread_rng());
    list.truncate(3);
    list
}

fn policy(dns: &DnsConfig) -> ReadPolicy {
    ReadPolicy {
        allow_stale: dns.allow_stale,
        max_stale: dns.max_stale,
    }
}

/// Reads what `read` names from the catalog and builds its records.
async fn lookup(dns: &Dns, cfg: &RuntimeConfig, ctx: &Ctx<'_>, read: CatalogRead<'_>) -> Outcome {
    match read {
        CatalogRead::Service { service, tag, dc } => {
            let key = ServiceKey(service.to_owned());
            let found = match dc {
                None => dns.cache.get(&key, policy(&cfg.dns)).await,
                Some(dc) => remote_read(dns, cfg, dc, key.read()).await.map(|mut r| {
                    if cfg.wan.translate_addrs {
                        crate::federation::translate_entries(&mut r.answer);
                    }
                    Arc::new(r)
                }),
            };
            let read = match found {
                Ok(r) => r,
                Err(ServerError::NoPathToDatacenter(_)) => return Outcome::NxDomain,
                Err(e) => {
                    tracing::warn!(service = %service, error = %e, "dns service lookup failed");
                    return Outcome::ServFail;
                }
            };
            let mut healthy = answer::healthy(&read.answer, tag, cfg.dns.only_passing);
            if healthy.is_empty() {
                return Outcome::NxDomain;
            }
            healthy.shuffle(&mut rand::thread_rng());
            Outcome::Found(answer::service(
                ctx,
                &healthy,
                cfg.dns.service_ttl(service),
                cfg.dns.a_record_limit,
            ))
        }
        CatalogRead::Query { name, dc } => query(dns, cfg, ctx, name, dc).await,
        CatalogRead::Node { node, dc } => {
            let key = NodeKey(node.to_owned());
            let found = match dc {
                None => dns.cache.get(&key, policy(&cfg.dns)).await,
                Some(dc) => remote_read(dns, cfg, dc, key.read()).await.map(|mut r| {
                    if cfg.wan.translate_addrs {
                        if let Some(n) = r.answer.0.as_mut() {
                            crate::federation::translate_node(n);
                        }
                    }
                    Arc::new(r)
                }),
            };
            match found {
                Err(ServerError::NoPathToDatacenter(_)) => Outcome::NxDomain,
                Ok(r) => match &r.answer.0 {
                    Some(n) => Outcome::Found(Records {
                        answers: answer::node(ctx, n, cfg.dns.node_ttl),
                        additionals: Vec::new(),
                    }),
                    None => Outcome::NxDomain,
                },
                Err(e) => {
                    tracing::warn!(node = %node, error = %e, "dns node lookup failed");
                    Outcome::ServFail
                }
            }
        }
    }
}

/// Executes prepared query `name` with the agent's DNS token in datacenter
/// `dc` (`None`: this one), as Consul's DNS does: its instances (failed
/// over to another datacenter when none are left there; their node names
/// then in that datacenter), with the query's `DNS.TTL`, else the
/// service's TTL. NXDOMAIN when the query does not exist, keeps no
/// instance or `dc` cannot be reached.
async fn query(
    dns: &Dns,
    cfg: &RuntimeConfig,
    ctx: &Ctx<'_>,
    name: &str,
    dc: Option<&str>,
) -> Outcome {
    let opts = crate::prepared_query::ExecuteOpts {
        near: None,
        limit: 0,
        dc: dc.map(str::to_owned),
        consistency: if cfg.dns.allow_stale {
            praetor_server::Consistency::Stale
        } else {
            praetor_server::Consistency::Default
        },
    };
    let token = dns.state.acl.dns_token();
    let answer = match crate::prepared_query::execute(&dns.state, &token, name, &opts).await {
        Ok(r) => r.answer,
        Err(
            crate::http::error::ApiError::NotFound(_)
            | crate::http::error::ApiError::Server(ServerError::NoPathToDatacenter(_)),
        ) => return Outcome::NxDomain,
        Err(e) => {
            tracing::warn!(query = %name, error = %e, "dns prepared query failed");
            return Outcome::ServFail;
        }
    };
    if answer.nodes.is_empty() {
        return Outcome::NxDomain;
    }
    let ttl = match praetor_api::duration::parse(&answer.dns.ttl) {
        Ok(ttl) if !answer.dns.ttl.is_empty() => ttl,
        _ => cfg.dns.service_ttl(&answer.service),
    };
    let ctx = Ctx {
        dc: &answer.datacenter,
        ..*ctx
    };
    let instances: Vec<&ServiceEntry> = answer.nodes.iter().collect();
    Outcome::Found(answer::service(
        &ctx,
        &instances,
        ttl,
        cfg.dns.a_record_limit,
    ))
}

/// Reads `read` in another datacenter through its servers, with the
/// agent's DNS token and the DNS stale policy; never cached (as Consul's
/// lookups in other datacenters, each is a read there).
async fn remote_read<R: praetor_server::acl::Guarded>(
    dns: &Dns,
    cfg: &RuntimeConfig,
    dc: &str,
    read: R,
) -> Result<praetor_server::Answered<R::Answer>, ServerError> {
    let opts = praetor_server::QueryOpts {
        index: 0,
        wait: std::time::Duration::ZERO,
        consistency: if cfg.dns.allow_stale {
            praetor_server::Consistency::Stale
        } else {
            praetor_server::Consistency::Default
        },
    };
    let token = dns.state.acl.dns_token();
    dns.state
        .backend
        .read_in(Some(dc), cfg.rpc_hold_timeout, &token, read, opts)
        .await
}

/// The PTR record naming the node whose address `name` (under
/// `in-addr.arpa.` or `ip6.arpa.`) spells, if there is one.
async fn reverse(dns: &Dns, cfg: &RuntimeConfig, name: &Name) -> Option<Record> {
    let net = name.parse_arpa_name().ok()?;
    let full = if net.addr().is_ipv4() { 32 } else { 128 };
    if net.prefix_len() != full {
        return None;
    }
    let ip = net.addr();
    let read = dns.cache.get(&NodesKey, policy(&cfg.dns)).await.ok()?;
    let node = read
        .answer
        .iter()
        .find(|n| n.address.parse::<IpAddr>().is_ok_and(|a| a == ip))?;
    let target = Name::from_ascii(format!(
        "{}.node.{}.{}",
        node.node, node.datacenter, cfg.domain
    ))
    .ok()?;
    let ttl = u32::try_from(cfg.dns.node_ttl.as_secs()).unwrap_or(u32::MAX);
    Some(Record::from_rdata(
        name.clone(),
        ttl,
        RData::PTR(PTR(target)),
    ))
}

/// Encodes `resp`, cut to what the transport and the client take: over UDP
/// at most `udp_answer_limit` answers when the client sent no EDNS0 (0: no
/// count limit), and never more bytes than its buffer; over TCP at most
/// 65535 bytes. Answers are dropped from the end with the additional
/// records that only they needed; a cut UDP answer has the TC bit when
/// `enable_truncate` is set.
pub fn encode(
    mut resp: Message,
    req: &Message,
    transport: Transport,
    cfg: &DnsConfig,
) -> Option<Vec<u8>> {
    let (limit, answer_limit) = match (transport, &req.edns) {
        (Transport::Tcp, _) => (usize::from(u16::MAX), None),
        (Transport::Udp, Some(edns)) => (
            usize::from(edns.max_payload()).clamp(PLAIN_UDP, MAX_UDP),
            None,
        ),
        (Transport::Udp, None) => (
            PLAIN_UDP,
            (cfg.udp_answer_limit > 0).then_some(cfg.udp_answer_limit as usize),
        ),
    };
    let total = resp.answers.len();
    let by_target = resp
        .answers
        .iter()
        .any(|a| matches!(a.data, RData::SRV(_) | RData::NS(_)));
    let mut keep = answer_limit.map_or(total, |n| n.min(total));
    if keep < total {
        resp.answers.truncate(keep);
        if by_target {
            resp.additionals = needed(&resp.answers, &resp.additionals);
        }
    }
    // The common case: it fits, encoded once.
    let mut bytes = resp.to_vec().ok()?;
    if bytes.len() > limit {
        // The SOA goes first, then answers (binary search for the most
        // that fit), with the additional records they still need.
        resp.authorities.clear();
        let all = std::mem::take(&mut resp.answers);
        let extras = std::mem::take(&mut resp.additionals);
        let mut build = |k: usize| {
            resp.answers = all[..k].to_vec();
            resp.additionals = if by_target {
                needed(&resp.answers, &extras)
            } else {
                extras.clone()
            };
            resp.to_vec().ok()
        };
        let (mut lo, mut hi) = (0, keep);
        let mut best = build(0)?;
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let b = build(mid)?;
            if b.len() <= limit {
                lo = mid;
                best = b;
            } else {
                hi = mid - 1;
            }
        }
        keep = lo;
        bytes = best;
    }
    if keep < total && transport == Transport::Udp && (cfg.enable_truncate || keep == 0) {
        bytes[2] |= 0x02;
    }
    Some(bytes)
}

/// The additional records SRV or NS `answers` need: the addresses of the
/// targets they still name.
fn needed(answers: &[Record], extras: &[Record]) -> Vec<Record> {
    let targets: Vec<&Name> = answers
        .iter()
        .filter_map(|a| match &a.data {
            RData::SRV(srv) => Some(&srv.target),
            RData::NS(ns) => Some(&ns.0),
            _ => None,
        })
        .collect();
    extras
        .iter()
        .filter(|x| targets.contains(&&x.name))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
