//! What a query name asks for, read as Consul reads names inside its
//! domain: `[tag.]<service>.service[.<dc>]`, RFC 2782's
//! `_<service>._<tag|tcp>[.service][.<dc>]`, `<node>.node[.<dc>]`,
//! `<hex-ip>.addr[.<dc>]`, `<query>.query[.<dc>]` and RFC 2782's
//! `_<query>._tcp.query[.<dc>]` (prepared queries, by ID or name), each
//! optionally followed by `.dc` after the datacenter. Pure: no state, no I/O; it never decides whether what the
//! name asks for exists.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A name inside one of the agent's domains, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The domain itself (`consul.`).
    Apex,
    /// Instances of a service, optionally only those with a tag.
    Service {
        service: String,
        tag: Option<String>,
        dc: Option<String>,
    },
    /// A node by name.
    Node { node: String, dc: Option<String> },
    /// An address spelled in hex (`7f000001.addr.consul`).
    Addr(IpAddr),
    /// A prepared query by ID or name, executed.
    Query { name: String, dc: Option<String> },
    /// Inside the domain, but no form Praetor answers (mesh names,
    /// malformed parts): the name does not exist.
    Invalid,
}

/// Which of the agent's domains a name falls in, and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Index into the domains given to [`parse`] (0: `domain`, 1:
    /// `alt_domain`): answers name records in the domain that was asked.
    pub domain: usize,
    pub lookup: Lookup,
}

/// Reads `qname` (lower case, fully qualified, like `web.service.consul.`)
/// against `domains` (each lower case and fully qualified). `srv` tells
/// whether the question is for SRV records, where the `service` label may
/// be left out of RFC 2782 names as Consul allows. `None`: the name is in
/// none of the domains.
pub fn parse(qname: &str, srv: bool, domains: &[&str]) -> Option<Parsed> {
    // The longest matching domain wins (`alt.consul.` over `consul.`).
    let (domain, rest) = domains
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            if qname == *d {
                Some((i, ""))
            } else {
                let rest = qname.strip_suffix(d)?.strip_suffix('.')?;
                Some((i, rest))
            }
        })
        .max_by_key(|(i, _)| domains[*i].len())?;
    let lookup = if rest.is_empty() {
        Lookup::Apex
    } else {
        let labels: Vec<&str> = rest.split('.').collect();
        if labels.iter().any(|l| l.is_empty()) {
            Lookup::Invalid
        } else {
            lookup(&labels, srv)
        }
    };
    Some(Parsed { domain, lookup })
}

/// The lookup the labels before the domain spell.
fn lookup(labels: &[&str], srv: bool) -> Lookup {
    // The kind is the last label naming one; for SRV, a label starting with
    // `_` stands in for `service` (RFC 2782 without `.service`).
    let mut found = None;
    for i in (0..labels.len()).rev() {
        match labels[i] {
            "service" | "node" | "addr" | "query" | "connect" | "virtual" | "ingress" => {
                found = Some((labels[i], &labels[..i], &labels[i + 1..]));
                break;
            }
            l if srv && l.starts_with('_') => {
                found = Some(("service", &labels[..=i], &labels[i + 1..]));
                break;
            }
            _ => {}
        }
    }
    let Some((kind, parts, suffix)) = found else {
        return Lookup::Invalid;
    };
    let Some(dc) = datacenter(suffix) else {
        return Lookup::Invalid;
    };
    match kind {
        "service" => service(parts, dc),
        "node" if !parts.is_empty() => Lookup::Node {
            node: parts.join("."),
            dc,
        },
        "addr" => match parts {
            [hex] => addr(hex).map_or(Lookup::Invalid, Lookup::Addr),
            _ => Lookup::Invalid,
        },
        "query" => match parts {
            [] => Lookup::Invalid,
            // RFC 2782: `_<query>._<protocol>`.
            [q, t] if q.len() > 1 && q.starts_with('_') && t.starts_with('_') => Lookup::Query {
                name: q[1..].to_owned(),
                dc,
            },
            _ => Lookup::Query {
                name: parts.join("."),
                dc,
            },
        },
        _ => Lookup::Invalid,
    }
}

/// The datacenter the labels after the kind name: none, `<dc>`, or
/// `<dc>.dc`. `None` when they are something else.
fn datacenter(suffix: &[&str]) -> Option<Option<String>> {
    match suffix {
        [] => Some(None),
        [dc] | [dc, "dc"] => Some(Some((*dc).to_owned())),
        _ => None,
    }
}

fn service(parts: &[&str], dc: Option<String>) -> Lookup {
    let named = |service: &str, tag: Option<String>| {
        if service.is_empty() {
            Lookup::Invalid
        } else {
            Lookup::Service {
                service: service.to_owned(),
                tag,
                dc: dc.clone(),
            }
        }
    };
    match parts {
        [] => Lookup::Invalid,
        // RFC 2782: `_<service>._<protocol or tag>`; `_tcp` filters nothing.
        [s, t] if s.starts_with('_') && t.starts_with('_') => {
            let tag = &t[1..];
            let tag = (tag != "tcp" && !tag.is_empty()).then(|| tag.to_owned());
            named(&s[1..], tag)
        }
        // `[tag.]service`: a tag may itself hold dots.
        [.., s] => {
            let tag = (parts.len() > 1).then(|| parts[..parts.len() - 1].join("."));
            named(s, tag)
        }
    }
}

/// An address in hex: 8 digits for IPv4, 32 for IPv6.
fn addr(hex: &str) -> Option<IpAddr> {
    let bytes = decode_hex(hex)?;
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        16 => {
            let octets: [u8; 16] = bytes.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The hex spelling of an address, as `<hex>.addr.<dc>.<domain>` names use.
pub fn hex(ip: IpAddr) -> String {
    let bytes = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOMAINS: &[&str] = &["consul.", "alt.example."];

    fn p(name: &str) -> Option<Parsed> {
        parse(name, false, DOMAINS)
    }

    fn svc(service: &str, tag: Option<&str>, dc: Option<&str>) -> Lookup {
        Lookup::Service {
            service: service.into(),
            tag: tag.map(Into::into),
            dc: dc.map(Into::into),
        }
    }

    #[test]
    fn service_names_with_tags_and_datacenters() {
        let cases = [
            ("web.service.consul.", svc("web", None, None)),
            ("web.service.dc2.consul.", svc("web", None, Some("dc2"))),
            ("web.service.dc2.dc.consul.", svc("web", None, Some("dc2"))),
            ("v1.web.service.consul.", svc("web", Some("v1"), None)),
            ("a.b.web.service.consul.", svc("web", Some("a.b"), None)),
            ("_web._tcp.service.consul.", svc("web", None, None)),
            (
                "_web._v1.service.dc1.consul.",
                svc("web", Some("v1"), Some("dc1")),
            ),
            ("_web._udp.service.consul.", svc("web", Some("udp"), None)),
        ];
        for (name, want) in cases {
            assert_eq!(p(name).map(|x| x.lookup), Some(want), "{name}");
        }
    }

    #[test]
    fn rfc2782_names_may_leave_out_service_for_srv_only() {
        assert_eq!(
            parse("_web._tcp.consul.", true, DOMAINS).map(|x| x.lookup),
            Some(svc("web", None, None))
        );
        assert_eq!(
            parse("_web._v2.dc3.consul.", true, DOMAINS).map(|x| x.lookup),
            Some(svc("web", Some("v2"), Some("dc3")))
        );
        assert_eq!(
            p("_web._tcp.consul.").map(|x| x.lookup),
            Some(Lookup::Invalid)
        );
    }

    #[test]
    fn nodes_addresses_and_the_apex() {
        assert_eq!(
            p("n1.node.consul.").unwrap().lookup,
            Lookup::Node {
                node: "n1".into(),
                dc: None
            }
        );
        assert_eq!(
            p("my.host.node.dc1.consul.").unwrap().lookup,
            Lookup::Node {
                node: "my.host".into(),
                dc: Some("dc1".into())
            }
        );
        assert_eq!(
            p("7f000001.addr.consul.").unwrap().lookup,
            Lookup::Addr("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            p("20010db8000000000000000000000001.addr.dc1.consul.")
                .unwrap()
                .lookup,
            Lookup::Addr("2001:db8::1".parse().unwrap())
        );
        assert_eq!(p("consul.").unwrap().lookup, Lookup::Apex);
        assert_eq!(hex("127.0.0.1".parse().unwrap()), "7f000001");
        assert_eq!(
            hex("2001:db8::1".parse().unwrap()),
            "20010db8000000000000000000000001"
        );
    }

    #[test]
    fn prepared_query_names_are_read_by_name_or_rfc_2782() {
        let q = |name: &str, dc: Option<&str>| {
            Some(Lookup::Query {
                name: name.into(),
                dc: dc.map(Into::into),
            })
        };
        assert_eq!(
            p("geo-db.query.consul.").map(|x| x.lookup),
            q("geo-db", None)
        );
        assert_eq!(
            p("a.b.query.dc2.consul.").map(|x| x.lookup),
            q("a.b", Some("dc2"))
        );
        assert_eq!(
            p("web.query.dc2.dc.consul.").map(|x| x.lookup),
            q("web", Some("dc2"))
        );
        let srv = parse("_web._tcp.query.consul.", true, DOMAINS).map(|x| x.lookup);
        assert_eq!(srv, q("web", None));
        assert_eq!(p("query.consul.").map(|x| x.lookup), Some(Lookup::Invalid));
    }

    #[test]
    fn unknown_forms_inside_the_domain_are_invalid() {
        for name in [
            "web.consul.",
            "service.consul.",
            "x.web.service.a.b.consul.",
            "zz000001.addr.consul.",
            "7f00.addr.consul.",
            "a.7f000001.addr.consul.",
            "web.connect.consul.",
            "node.consul.",
        ] {
            assert_eq!(p(name).map(|x| x.lookup), Some(Lookup::Invalid), "{name}");
        }
    }

    #[test]
    fn names_outside_the_domains_are_none_and_alt_domain_is_reported() {
        assert_eq!(p("example.com."), None);
        assert_eq!(p("notconsul."), None);
        assert_eq!(p("web.service.xconsul."), None);
        let alt = p("web.service.alt.example.").unwrap();
        assert_eq!(alt.domain, 1);
        assert_eq!(alt.lookup, svc("web", None, None));
        assert_eq!(p("web.service.consul.").unwrap().domain, 0);
    }

    // --- property tests ---------------------------------------------------

    use proptest::prelude::*;

    const RESERVED: &[&str] = &[
        "service", "node", "addr", "query", "connect", "virtual", "ingress", "dc",
    ];

    /// A DNS label that names nothing by itself.
    fn label() -> impl Strategy<Value = String> {
        "[a-z0-9][a-z0-9-]{0,9}".prop_filter("not a keyword", |l| !RESERVED.contains(&l.as_str()))
    }

    proptest! {
        #[test]
        fn any_name_is_read_without_panicking(name in any::<String>(), srv in any::<bool>()) {
            if let Some(parsed) = parse(&name, srv, DOMAINS) {
                prop_assert!(parsed.domain < DOMAINS.len());
            }
        }

        #[test]
        fn names_built_from_labels_and_keywords_are_read_without_panicking(
            parts in prop::collection::vec(
                prop_oneof![
                    label(),
                    Just("service".to_owned()), Just("node".to_owned()),
                    Just("addr".to_owned()), Just("dc".to_owned()),
                    Just("_tcp".to_owned()), Just("_".to_owned()), Just("".to_owned()),
                    Just("7f000001".to_owned()), Just("consul".to_owned()),
                ],
                0..12,
            ),
            srv in any::<bool>(),
        ) {
            let name = format!("{}.consul.", parts.join("."));
            prop_assert!(parse(&name, srv, DOMAINS).is_some());
        }

        #[test]
        fn service_names_read_back_as_written(
            tag in prop::option::of(prop::collection::vec(label(), 1..3)),
            service in label(),
            dc in prop::option::of(label()),
            dc_suffix in any::<bool>(),
            srv in any::<bool>(),
        ) {
            let mut name = String::new();
            if let Some(tag) = &tag {
                name.push_str(&tag.join("."));
                name.push('.');
            }
            name.push_str(&service);
            name.push_str(".service.");
            if let Some(dc) = &dc {
                name.push_str(dc);
                name.push_str(if dc_suffix { ".dc." } else { "." });
            }
            name.push_str("consul.");
            let want = svc(&service, tag.map(|t| t.join(".")).as_deref(), dc.as_deref());
            prop_assert_eq!(parse(&name, srv, DOMAINS).map(|p| p.lookup), Some(want));
        }

        #[test]
        fn rfc2782_names_read_back_as_written(
            service in label(),
            tag in label(),
            dc in prop::option::of(label()),
        ) {
            let dc_part = dc.as_ref().map(|d| format!("{d}.")).unwrap_or_default();
            let name = format!("_{service}._{tag}.service.{dc_part}consul.");
            let want_tag = (tag != "tcp").then_some(tag.as_str());
            prop_assert_eq!(
                parse(&name, true, DOMAINS).map(|p| p.lookup),
                Some(svc(&service, want_tag, dc.as_deref()))
            );
        }

        #[test]
        fn node_names_read_back_as_written(
            node in prop::collection::vec(label(), 1..4),
            dc in prop::option::of(label()),
        ) {
            let dc_part = dc.as_ref().map(|d| format!("{d}.")).unwrap_or_default();
            let name = format!("{}.node.{dc_part}consul.", node.join("."));
            prop_assert_eq!(
                p(&name).map(|p| p.lookup),
                Some(Lookup::Node { node: node.join("."), dc })
            );
        }

        #[test]
        fn every_address_reads_back_from_its_hex(ip in any::<IpAddr>()) {
            let name = format!("{}.addr.consul.", hex(ip));
            prop_assert_eq!(p(&name).map(|p| p.lookup), Some(Lookup::Addr(ip)));
        }

        #[test]
        fn names_outside_the_domains_are_none(name in "[a-z.]{0,30}\\.(com|org|net)\\.") {
            prop_assert_eq!(p(&name), None);
        }
    }
}
