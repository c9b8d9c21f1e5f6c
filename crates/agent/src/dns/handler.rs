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
use praetor_gossip::{MemberStatus, Role};
use praetor_server::Answer;
use rand::seq::SliceRandom;

use super::answer::{self, Ctx, Records};
use super::cache::{Key, ReadPolicy};
use super::name::{self, Lookup};
use super::{recursor, Dns, Transport};
use crate::config::{DnsConfig, RuntimeConfig};

/// The largest UDP payload answered, whatever a client's EDNS0 says.
const MAX_UDP: usize = 65535 - 68;
/// What a client without EDNS0 can take over UDP.
const PLAIN_UDP: usize = 512;
/// The payload size this server advertises in its EDNS0 answers.
const ADVERTISED_PAYLOAD: u16 = 4096;

/// The response to `packet`, encoded; `None` to send nothing.
pub async fn handle(dns: Arc<Dns>, packet: Vec<u8>, transport: Transport) -> Option<Vec<u8>> {
    let req = match Message::from_vec(&packet) {
        Ok(req) => req,
        Err(e) => {
            tracing::debug!(error = %e, "malformed dns request");
            return format_error(&packet);
        }
    };
    if req.metadata.message_type == MessageType::Response {
        return None;
    }
    let cfg = dns.state.config();
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
        return encode(resp, &req, transport, &cfg.dns);
    }
    let [question] = req.queries.as_slice() else {
        resp.metadata.response_code = ResponseCode::FormErr;
        return encode(resp, &req, transport, &cfg.dns);
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
    if let Some(parsed) = name::parse(&qname, qtype == RecordType::SRV, &domains) {
        let ctx = Ctx {
            qname: question.name(),
            qtype,
            domain: domains[parsed.domain],
            dc: &cfg.datacenter,
        };
        resp.metadata.authoritative = true;
        authoritative(&dns, &cfg, &ctx, &parsed.lookup, &mut resp).await;
        return encode(resp, &req, transport, &cfg.dns);
    }
    let arpa = qname.ends_with(".in-addr.arpa.") || qname.ends_with(".ip6.arpa.");
    if arpa && matches!(qtype, RecordType::PTR | RecordType::ANY) {
        if let Some(ptr) = reverse(&dns, &cfg, question.name()).await {
            resp.metadata.authoritative = true;
            resp.add_answer(ptr);
            return encode(resp, &req, transport, &cfg.dns);
        }
        if cfg.recursors.is_empty() {
            resp.metadata.authoritative = true;
            resp.metadata.response_code = ResponseCode::NXDomain;
            resp.add_authorities(answer::soa(&cfg.domain, &cfg.dns.soa, serial()));
            return encode(resp, &req, transport, &cfg.dns);
        }
    }
    if cfg.recursors.is_empty() {
        resp.metadata.response_code = ResponseCode::Refused;
        return encode(resp, &req, transport, &cfg.dns);
    }
    let forwarded = recursor::forward(
        &packet,
        transport,
        &cfg.recursors,
        cfg.dns.recursor_strategy,
        cfg.dns.recursor_timeout,
    )
    .await;
    match forwarded {
        Some(answer) => Some(answer),
        None => {
            tracing::warn!(name = %qname, "every recursor failed");
            resp.metadata.response_code = ResponseCode::ServFail;
            encode(resp, &req, transport, &cfg.dns)
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
    /// The name does not exist.
    NxDomain,
    /// The catalog could not be read.
    ServFail,
}

/// Answers a name inside the domain into `resp`: SOA and NS questions for
/// any name, zone transfers refused as not implemented, the rest by
/// [`lookup`]; NXDOMAIN and empty answers carry the SOA.
async fn authoritative(
    dns: &Dns,
    cfg: &RuntimeConfig,
    ctx: &Ctx<'_>,
    lookup: &Lookup,
    resp: &mut Message,
) {
    let soa = || answer::soa(ctx.domain, &cfg.dns.soa, serial());
    let outcome = match ctx.qtype {
        RecordType::SOA => Outcome::Found(Records {
            answers: soa().into_iter().collect(),
            additionals: Vec::new(),
        }),
        RecordType::NS => Outcome::Found(answer::name_servers(
            ctx,
            &servers(dns, cfg),
            cfg.dns.node_ttl,
        )),
        RecordType::AXFR | RecordType::IXFR => {
            resp.metadata.response_code = ResponseCode::NotImp;
            return;
        }
        _ => self::lookup(dns, cfg, ctx, lookup).await,
    };
    match outcome {
        Outcome::Found(records) => {
            if records.answers.is_empty() {
                resp.add_authorities(soa());
            }
            resp.add_answers(records.answers);
            resp.add_additionals(records.additionals);
        }
        Outcome::NxDomain => {
            resp.metadata.response_code = ResponseCode::NXDomain;
            resp.add_authorities(soa());
        }
        Outcome::ServFail => resp.metadata.response_code = ResponseCode::ServFail,
    }
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

/// Reads what `lookup` names and builds its records.
async fn lookup(dns: &Dns, cfg: &RuntimeConfig, ctx: &Ctx<'_>, lookup: &Lookup) -> Outcome {
    let other_dc = |dc: &Option<String>| dc.as_ref().is_some_and(|d| *d != cfg.datacenter);
    match lookup {
        // The apex exists (it holds the SOA): no data, not NXDOMAIN.
        Lookup::Apex => Outcome::Found(Records::default()),
        Lookup::Invalid => Outcome::NxDomain,
        // No WAN federation: other datacenters cannot be reached.
        Lookup::Service { dc, .. } | Lookup::Node { dc, .. } if other_dc(dc) => Outcome::NxDomain,
        Lookup::Addr(ip) => Outcome::Found(answer::addr(ctx, *ip, cfg.dns.node_ttl)),
        Lookup::Service { service, tag, .. } => {
            let key = Key::Service(service.clone());
            let read = match dns.cache.get(&key, policy(&cfg.dns)).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(service = %service, error = %e, "dns service lookup failed");
                    return Outcome::ServFail;
                }
            };
            let Answer::ServiceEntries(entries) = &read.answer else {
                return Outcome::ServFail;
            };
            let mut healthy = answer::healthy(entries, tag.as_deref(), cfg.dns.only_passing);
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
        Lookup::Node { node, .. } => {
            let key = Key::Node(node.clone());
            match dns.cache.get(&key, policy(&cfg.dns)).await {
                Ok(r) => match &r.answer {
                    Answer::NodeServices(Some(n), _) => Outcome::Found(Records {
                        answers: answer::node(ctx, n, cfg.dns.node_ttl),
                        additionals: Vec::new(),
                    }),
                    _ => Outcome::NxDomain,
                },
                Err(e) => {
                    tracing::warn!(node = %node, error = %e, "dns node lookup failed");
                    Outcome::ServFail
                }
            }
        }
    }
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
    let read = dns.cache.get(&Key::Nodes, policy(&cfg.dns)).await.ok()?;
    let Answer::Nodes(nodes) = &read.answer else {
        return None;
    };
    let node = nodes
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
