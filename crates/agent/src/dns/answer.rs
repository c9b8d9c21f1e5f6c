//! Records from catalog data, as Consul's DNS interface builds them:
//! which instances count as healthy, A/AAAA answers (deduplicated, limited
//! by `a_record_limit`), SRV answers whose targets resolve (the node's name
//! when the instance has no address of its own, else `<hex>.addr.<dc>`)
//! with those targets' addresses as additional records, node records, and
//! the SOA. Pure: takes the data and the question, returns records.

use std::net::IpAddr;
use std::time::Duration;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use praetor_api::catalog::{check_status, Node, ServiceEntry};

use super::name::hex;
use crate::config::Soa;

/// What every answer needs to know about the question and the agent.
pub struct Ctx<'a> {
    /// The name as it was asked (answers are owned by it, case kept).
    pub qname: &'a Name,
    pub qtype: RecordType,
    /// The domain the question used (`consul.` or the alt domain).
    pub domain: &'a str,
    /// This agent's datacenter.
    pub dc: &'a str,
}

/// Answer and additional records.
#[derive(Debug, Default)]
pub struct Records {
    pub answers: Vec<Record>,
    pub additionals: Vec<Record>,
}

/// The instances a DNS answer may name: with `tag` (case-insensitively,
/// as Consul's tag filter), and no critical check; with `only_passing`, no
/// check other than passing.
pub fn healthy<'e>(
    entries: &'e [ServiceEntry],
    tag: Option<&str>,
    only_passing: bool,
) -> Vec<&'e ServiceEntry> {
    entries
        .iter()
        .filter(|e| tag.is_none_or(|t| e.service.tags.iter().any(|x| x.eq_ignore_ascii_case(t))))
        .filter(|e| {
            e.checks.iter().all(|c| match c.status.as_str() {
                check_status::PASSING => true,
                check_status::CRITICAL => false,
                _ => !only_passing,
            })
        })
        .collect()
}

/// The SRV weight of an instance: its `Weights.Warning` when a check warns,
/// else `Weights.Passing`.
fn weight(e: &ServiceEntry) -> u16 {
    let warning = e.checks.iter().any(|c| c.status != check_status::PASSING);
    let w = if warning {
        e.service.weights.warning
    } else {
        e.service.weights.passing
    };
    u16::try_from(w).unwrap_or(u16::MAX)
}

fn secs(ttl: Duration) -> u32 {
    u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX)
}

/// An A or AAAA record for `ip` when `qtype` asks for that family (SRV
/// additionals and ANY take both).
fn address(name: Name, ip: IpAddr, qtype: RecordType, ttl: u32) -> Option<Record> {
    let any = matches!(qtype, RecordType::ANY | RecordType::SRV);
    match ip {
        IpAddr::V4(v4) if any || qtype == RecordType::A => {
            Some(Record::from_rdata(name, ttl, RData::A(A(v4))))
        }
        IpAddr::V6(v6) if any || qtype == RecordType::AAAA => {
            Some(Record::from_rdata(name, ttl, RData::AAAA(AAAA(v6))))
        }
        _ => None,
    }
}

/// `<label>.<kind>.<dc>.<domain>`, when that is a valid name.
fn canonical(label: &str, kind: &str, ctx: &Ctx<'_>) -> Option<Name> {
    Name::from_ascii(format!("{label}.{kind}.{}.{}", ctx.dc, ctx.domain)).ok()
}

/// A host name as a fully qualified DNS name.
fn fqdn(host: &str) -> Option<Name> {
    let host = if host.ends_with('.') {
        host.to_owned()
    } else {
        format!("{host}.")
    };
    Name::from_ascii(host).ok()
}

/// Records for a service lookup over `instances`, already healthy and in
/// the order to answer (shuffled per query by the caller). A/AAAA/ANY
/// questions get the instances' addresses (each once, at most
/// `a_record_limit` when it is not 0), or a CNAME when the only addresses
/// are host names; SRV questions get one record per (node, address, port)
/// with the target's address as an additional record.
pub fn service(
    ctx: &Ctx<'_>,
    instances: &[&ServiceEntry],
    ttl: Duration,
    a_record_limit: u32,
) -> Records {
    let ttl = secs(ttl);
    let mut out = Records::default();
    if ctx.qtype == RecordType::SRV {
        let mut seen: Vec<(&str, &str, u16)> = Vec::with_capacity(instances.len());
        for e in instances {
            let addr = e.service.address.as_str();
            let key = (e.node.node.as_str(), addr, e.service.port);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let (target, extra) = srv_target(ctx, e, ttl);
            let Some(target) = target else { continue };
            let srv = SRV::new(1, weight(e), e.service.port, target);
            out.answers
                .push(Record::from_rdata(ctx.qname.clone(), ttl, RData::SRV(srv)));
            // One additional record per target, however many SRVs name it.
            if let Some(extra) = extra.filter(|x| !out.additionals.iter().any(|a| a == x)) {
                out.additionals.push(extra);
            }
        }
        return out;
    }
    let mut cname = None;
    let mut count = 0u32;
    for e in instances {
        let addr = if e.service.address.is_empty() {
            &e.node.address
        } else {
            &e.service.address
        };
        match addr.parse::<IpAddr>() {
            Ok(ip) => {
                let Some(rec) = address(ctx.qname.clone(), ip, ctx.qtype, ttl) else {
                    continue;
                };
                if out.answers.contains(&rec) {
                    continue;
                }
                out.answers.push(rec);
                count += 1;
                if count == a_record_limit {
                    break;
                }
            }
            Err(_) => {
                if cname.is_none() {
                    cname = fqdn(addr).map(|t| {
                        Record::from_rdata(ctx.qname.clone(), ttl, RData::CNAME(CNAME(t)))
                    });
                }
            }
        }
    }
    if out.answers.is_empty() {
        out.answers.extend(cname);
    }
    out
}

/// An SRV target and its address record: the node's canonical name when
/// the instance has no address of its own (or the node's address is a
/// host name, then that name), `<hex>.addr.<dc>.<domain>` for an instance
/// address, or the instance's host name.
fn srv_target(ctx: &Ctx<'_>, e: &ServiceEntry, ttl: u32) -> (Option<Name>, Option<Record>) {
    let own = e.service.address.as_str();
    let (host, use_node) = if own.is_empty() {
        (e.node.address.as_str(), true)
    } else {
        (own, false)
    };
    match host.parse::<IpAddr>() {
        Ok(ip) => {
            let target = if use_node {
                canonical(&e.node.node, "node", ctx)
            } else {
                canonical(&hex(ip), "addr", ctx)
            };
            let extra = target
                .clone()
                .and_then(|t| address(t, ip, RecordType::SRV, ttl));
            (target, extra)
        }
        Err(_) => (fqdn(host), None),
    }
}

/// Records for a node lookup: its address (A/AAAA/ANY, or a CNAME when the
/// address is a host name) and, for TXT and ANY, its metadata as RFC 1464
/// `key=value` strings (a key starting with `rfc1035-` gives the bare value).
pub fn node(ctx: &Ctx<'_>, n: &Node, ttl: Duration) -> Vec<Record> {
    let ttl = secs(ttl);
    let mut out = Vec::new();
    let asked = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::ANY,
        RecordType::TXT,
    ];
    if !asked.contains(&ctx.qtype) {
        return out;
    }
    if ctx.qtype != RecordType::TXT {
        match n.address.parse::<IpAddr>() {
            Ok(ip) => out.extend(address(ctx.qname.clone(), ip, ctx.qtype, ttl)),
            Err(_) => out.extend(
                fqdn(&n.address)
                    .map(|t| Record::from_rdata(ctx.qname.clone(), ttl, RData::CNAME(CNAME(t)))),
            ),
        }
    }
    if matches!(ctx.qtype, RecordType::TXT | RecordType::ANY) {
        for (k, v) in &n.meta {
            let text = if k.to_ascii_lowercase().starts_with("rfc1035-") {
                v.clone()
            } else {
                format!("{}={v}", rfc1464_key(k))
            };
            out.push(Record::from_rdata(
                ctx.qname.clone(),
                ttl,
                RData::TXT(TXT::new(vec![text])),
            ));
        }
    }
    out
}

/// A key quoted as RFC 1464 asks: backquote, `=` and leading/trailing
/// spaces escaped with a backquote.
fn rfc1464_key(k: &str) -> String {
    let body = k.replace('`', "``").replace('=', "`=");
    let lead = body.len() - body.trim_start_matches(' ').len();
    let trail = body.len() - body.trim_end_matches(' ').len();
    if lead == body.len() {
        return "` ".repeat(lead);
    }
    format!(
        "{}{}{}",
        "` ".repeat(lead),
        &body[lead..body.len() - trail],
        "` ".repeat(trail)
    )
}

/// An address spelled in a `<hex>.addr` name: in the answer when the
/// question asks for its family (or ANY), else as an additional record.
pub fn addr(ctx: &Ctx<'_>, ip: IpAddr, ttl: Duration) -> Records {
    let ttl = secs(ttl);
    let mut out = Records::default();
    match address(ctx.qname.clone(), ip, ctx.qtype, ttl) {
        Some(r) => out.answers.push(r),
        None => out
            .additionals
            .extend(address(ctx.qname.clone(), ip, RecordType::SRV, ttl)),
    }
    out
}

/// The domain's SOA, as Consul's: `ns.<domain>`, `hostmaster.<domain>`,
/// the current time as the serial, and `dns_config.soa`'s numbers; its TTL
/// is `min_ttl`, so negative answers are cached no longer than that.
pub fn soa(domain: &str, soa: &Soa, serial: u32) -> Option<Record> {
    let owner = Name::from_ascii(domain).ok()?;
    let mname = Name::from_ascii(format!("ns.{domain}")).ok()?;
    let rname = Name::from_ascii(format!("hostmaster.{domain}")).ok()?;
    let signed = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let data = SOA::new(
        mname,
        rname,
        serial,
        signed(soa.refresh),
        signed(soa.retry),
        signed(soa.expire),
        soa.min_ttl,
    );
    Some(Record::from_rdata(owner, soa.min_ttl, RData::SOA(data)))
}

/// NS records naming `servers` (node name and address) as the domain's
/// name servers, with their addresses as additional records.
pub fn name_servers(ctx: &Ctx<'_>, servers: &[(String, IpAddr)], ttl: Duration) -> Records {
    let ttl = secs(ttl);
    let mut out = Records::default();
    let Ok(owner) = Name::from_ascii(ctx.domain) else {
        return out;
    };
    for (node, ip) in servers {
        let Some(target) = canonical(node, "node", ctx) else {
            continue;
        };
        out.answers.push(Record::from_rdata(
            owner.clone(),
            ttl,
            RData::NS(NS(target.clone())),
        ));
        out.additionals
            .extend(address(target, *ip, RecordType::SRV, ttl));
    }
    out
}

#[cfg(test)]
mod tests;
