//! The on-disk shape of a check in `data_dir/local/checks/`: what earlier
//! releases wrote, kept byte for byte so an upgraded (or downgraded) agent
//! reads its checks back. This is a file format, not a second check kind:
//! the agent works with [`praetor_checks::Kind`] and converts only here,
//! when a check is saved or loaded. Changing this shape needs a format
//! version; the tests below pin it.

use std::collections::BTreeMap;
use std::time::Duration;

use praetor_checks::{Definition, Kind};
use serde::{Deserialize, Serialize};

use super::LocalCheck;

/// A saved check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedCheck {
    id: String,
    name: String,
    service_id: String,
    notes: String,
    status: String,
    output: String,
    /// For TTL checks.
    ttl: Option<Duration>,
    #[serde(default)]
    deregister_after: Option<Duration>,
    /// For every other kind.
    #[serde(default)]
    probe: Option<SavedProbe>,
}

/// A saved check's kind and schedule (every kind but TTL).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedProbe {
    target: SavedTarget,
    interval: Duration,
    timeout: Duration,
    #[serde(default)]
    success_before_passing: u32,
    #[serde(default)]
    failures_before_warning: u32,
    #[serde(default)]
    failures_before_critical: u32,
}

/// A saved check's kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum SavedTarget {
    Http {
        url: String,
        method: String,
        header: BTreeMap<String, Vec<String>>,
        body: Option<String>,
        #[serde(default)]
        tls_skip_verify: bool,
        /// Left out when empty, so a check without one is saved as the
        /// previous release saved it.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        tls_server_name: String,
        #[serde(default)]
        disable_redirects: bool,
    },
    Tcp {
        addr: String,
    },
    Script {
        args: Vec<String>,
    },
    Udp {
        addr: String,
    },
    /// `addr` and `service` are the two halves of `Kind::Grpc`'s target.
    Grpc {
        addr: String,
        service: String,
        #[serde(default)]
        tls: bool,
        #[serde(default)]
        tls_skip_verify: bool,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        tls_server_name: String,
    },
    Alias {
        service_id: String,
        #[serde(default)]
        node: Option<String>,
    },
}

impl From<LocalCheck> for SavedCheck {
    fn from(mut c: LocalCheck) -> SavedCheck {
        let (ttl, probe) = match c.definition.take() {
            None => (None, None),
            Some(d) => {
                let target = match d.kind {
                    Kind::Ttl { ttl } => return SavedCheck::of(c, Some(ttl), None),
                    Kind::Http {
                        url,
                        method,
                        header,
                        body,
                        tls_skip_verify,
                        tls_server_name,
                        disable_redirects,
                    } => SavedTarget::Http {
                        url,
                        method,
                        header,
                        body,
                        tls_skip_verify,
                        tls_server_name,
                        disable_redirects,
                    },
                    Kind::Tcp { addr } => SavedTarget::Tcp { addr },
                    Kind::Udp { addr } => SavedTarget::Udp { addr },
                    Kind::Script { args } => SavedTarget::Script { args },
                    Kind::Grpc {
                        target,
                        tls,
                        tls_skip_verify,
                        tls_server_name,
                    } => {
                        let (addr, service) = target.split_once('/').unwrap_or((&target, ""));
                        SavedTarget::Grpc {
                            addr: addr.to_owned(),
                            service: service.to_owned(),
                            tls,
                            tls_skip_verify,
                            tls_server_name,
                        }
                    }
                    Kind::Alias { node, service_id } => SavedTarget::Alias { service_id, node },
                };
                // Earlier releases re-evaluated alias checks on this
                // interval; a downgraded agent must not read zero.
                let interval = if matches!(target, SavedTarget::Alias { .. }) {
                    ALIAS_INTERVAL
                } else {
                    d.interval
                };
                let probe = SavedProbe {
                    target,
                    interval,
                    timeout: d.timeout,
                    success_before_passing: d.success_before_passing,
                    failures_before_warning: d.failures_before_warning,
                    failures_before_critical: d.failures_before_critical,
                };
                (None, Some(probe))
            }
        };
        SavedCheck::of(c, ttl, probe)
    }
}

/// The re-evaluation interval earlier releases gave alias checks.
const ALIAS_INTERVAL: Duration = Duration::from_secs(1);

impl SavedCheck {
    fn of(c: LocalCheck, ttl: Option<Duration>, probe: Option<SavedProbe>) -> SavedCheck {
        SavedCheck {
            id: c.id,
            name: c.name,
            service_id: c.service_id,
            notes: c.notes,
            status: c.status,
            output: c.output,
            ttl,
            deregister_after: c.deregister_after,
            probe,
        }
    }
}

impl From<SavedCheck> for LocalCheck {
    fn from(s: SavedCheck) -> LocalCheck {
        let with = |kind: Kind, p: Option<&SavedProbe>| {
            let mut def = Definition::new(
                s.id.as_str(),
                kind,
                p.map_or(Duration::ZERO, |p| p.interval),
            );
            if let Some(p) = p {
                def.timeout = p.timeout;
                def.success_before_passing = p.success_before_passing;
                def.failures_before_warning = p.failures_before_warning;
                def.failures_before_critical = p.failures_before_critical;
            }
            def.output_max_size = crate::definition::MAX_OUTPUT;
            def
        };
        let definition = match (&s.ttl, &s.probe) {
            (Some(ttl), _) => Some(with(Kind::Ttl { ttl: *ttl }, None)),
            (None, Some(p)) => {
                let kind = match p.target.clone() {
                    SavedTarget::Http {
                        url,
                        method,
                        header,
                        body,
                        tls_skip_verify,
                        tls_server_name,
                        disable_redirects,
                    } => Kind::Http {
                        url,
                        method,
                        header,
                        body,
                        tls_skip_verify,
                        tls_server_name,
                        disable_redirects,
                    },
                    SavedTarget::Tcp { addr } => Kind::Tcp { addr },
                    SavedTarget::Udp { addr } => Kind::Udp { addr },
                    SavedTarget::Script { args } => Kind::Script { args },
                    SavedTarget::Grpc {
                        addr,
                        service,
                        tls,
                        tls_skip_verify,
                        tls_server_name,
                    } => Kind::Grpc {
                        target: if service.is_empty() {
                            addr
                        } else {
                            format!("{addr}/{service}")
                        },
                        tls,
                        tls_skip_verify,
                        tls_server_name,
                    },
                    SavedTarget::Alias { service_id, node } => Kind::Alias { node, service_id },
                };
                // Alias checks were saved with a re-evaluation interval;
                // their runner is fed from outside and takes none.
                let mut def = with(kind, Some(p));
                if !def.kind.is_probed() {
                    def.interval = Duration::ZERO;
                }
                Some(def)
            }
            (None, None) => None,
        };
        LocalCheck {
            id: s.id,
            name: s.name,
            service_id: s.service_id,
            notes: s.notes,
            status: s.status,
            output: s.output,
            deregister_after: s.deregister_after,
            definition,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Check files as the previous release wrote them (one of each kind).
    const PREVIOUS_RELEASE: &[&str] = &[
        r#"{"id":"service:web1","name":"Service 'web' check","service_id":"web1","notes":"","status":"passing","output":"ok","ttl":{"secs":2,"nanos":0},"deregister_after":{"secs":60,"nanos":0},"probe":null}"#,
        r#"{"id":"h","name":"h","service_id":"","notes":"","status":"critical","output":"","ttl":null,"deregister_after":null,"probe":{"target":{"Http":{"url":"http://127.0.0.1:1/","method":"GET","header":{"X-A":["b"]},"body":null,"tls_skip_verify":false,"disable_redirects":true}},"interval":{"secs":10,"nanos":0},"timeout":{"secs":1,"nanos":0},"success_before_passing":2,"failures_before_warning":0,"failures_before_critical":3}}"#,
        r#"{"id":"g","name":"g","service_id":"","notes":"","status":"critical","output":"","ttl":null,"deregister_after":null,"probe":{"target":{"Grpc":{"addr":"127.0.0.1:9","service":"svc","tls":true,"tls_skip_verify":false}},"interval":{"secs":5,"nanos":0},"timeout":{"secs":10,"nanos":0},"success_before_passing":0,"failures_before_warning":0,"failures_before_critical":0}}"#,
        r#"{"id":"a","name":"a","service_id":"front1","notes":"","status":"passing","output":"All checks passing.","ttl":null,"deregister_after":null,"probe":{"target":{"Alias":{"service_id":"","node":"ext"}},"interval":{"secs":1,"nanos":0},"timeout":{"secs":10,"nanos":0},"success_before_passing":0,"failures_before_warning":0,"failures_before_critical":0}}"#,
        r#"{"id":"_node_maintenance","name":"Node Maintenance Mode","service_id":"","notes":"why","status":"critical","output":"","ttl":null,"deregister_after":null,"probe":null}"#,
    ];

    #[test]
    fn checks_saved_by_the_previous_release_load_as_their_kind() {
        let load = |s: &str| serde_json::from_str::<LocalCheck>(s).unwrap();
        let ttl = load(PREVIOUS_RELEASE[0]);
        assert_eq!(ttl.kind_name(), "ttl");
        assert!(ttl.is_ttl());
        assert_eq!(ttl.status, "passing");
        assert_eq!(ttl.output, "ok");
        assert_eq!(ttl.deregister_after, Some(Duration::from_secs(60)));
        let http = load(PREVIOUS_RELEASE[1]).definition.unwrap();
        assert_eq!(http.interval, Duration::from_secs(10));
        assert_eq!(http.timeout, Duration::from_secs(1));
        assert_eq!(http.success_before_passing, 2);
        assert!(matches!(
            http.kind,
            Kind::Http {
                disable_redirects: true,
                ..
            }
        ));
        let grpc = load(PREVIOUS_RELEASE[2]).definition.unwrap();
        assert_eq!(
            grpc.kind,
            Kind::Grpc {
                target: "127.0.0.1:9/svc".into(),
                tls: true,
                tls_skip_verify: false,
                tls_server_name: String::new()
            }
        );
        let alias = load(PREVIOUS_RELEASE[3]).definition.unwrap();
        assert_eq!(
            alias.kind,
            Kind::Alias {
                node: Some("ext".into()),
                service_id: String::new()
            }
        );
        alias.validate().unwrap();
        assert_eq!(load(PREVIOUS_RELEASE[4]).kind_name(), "maintenance");
    }

    #[test]
    fn a_check_is_saved_in_the_previous_releases_shape() {
        for file in PREVIOUS_RELEASE {
            let check: LocalCheck = serde_json::from_str(file).unwrap();
            let again: LocalCheck =
                serde_json::from_str(&serde_json::to_string(&check).unwrap()).unwrap();
            assert_eq!(again, check, "{file}");
            assert_eq!(serde_json::to_string(&check).unwrap(), *file);
        }
    }

    #[test]
    fn tls_server_name_is_saved_and_loaded_and_absent_when_empty() {
        let saved_with = |kind: Kind| {
            let check = LocalCheck {
                id: "c".into(),
                name: "c".into(),
                service_id: String::new(),
                notes: String::new(),
                status: "critical".into(),
                output: String::new(),
                deregister_after: None,
                definition: Some(Definition::new("c", kind, Duration::from_secs(5))),
            };
            let file = serde_json::to_string(&check).unwrap();
            let back: LocalCheck = serde_json::from_str(&file).unwrap();
            (file, check, back)
        };
        let http = |name: &str| Kind::Http {
            url: "https://127.0.0.1:1/".into(),
            method: "GET".into(),
            header: BTreeMap::new(),
            body: None,
            tls_skip_verify: true,
            tls_server_name: name.into(),
            disable_redirects: false,
        };
        let grpc = |name: &str| Kind::Grpc {
            target: "127.0.0.1:9/svc".into(),
            tls: true,
            tls_skip_verify: false,
            tls_server_name: name.into(),
        };
        for kind in [http("svc.internal"), grpc("svc.internal")] {
            let (file, check, back) = saved_with(kind);
            assert!(
                file.contains(r#""tls_server_name":"svc.internal""#),
                "{file}"
            );
            assert_eq!(back, check);
        }
        for kind in [http(""), grpc("")] {
            let (file, check, back) = saved_with(kind);
            assert!(!file.contains("tls_server_name"), "{file}");
            assert_eq!(back, check);
        }
    }
}
