//! Definitions from every source, one kind at a time, and the refusals.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::config::{load, Flags};

fn check(v: serde_json::Value) -> Result<LocalCheck, DefinitionError> {
    check_from_body(decode(v)?, true)
}

fn kind(v: serde_json::Value) -> Kind {
    check(v).unwrap().definition.unwrap().kind
}

#[test]
fn a_definition_decodes_alike_from_an_http_body_and_a_config_file() {
    let body = json!({
        "ID": "web1", "Name": "web", "Tags": ["v1"], "Port": 8080,
        "Meta": {"build_id": "42", "Team": "core"},
        "EnableTagOverride": true,
        "Weights": {"Passing": 3, "Warning": 1},
        "Checks": [
            {"CheckID": "web-http", "HTTP": "http://127.0.0.1:8080/health", "Interval": "10s",
             "Header": {"x_api_key": ["k"], "Accept": ["text/plain"]},
             "TLSSkipVerify": true, "TLSServerName": "web.internal",
             "DeregisterCriticalServiceAfter": "1m"},
            {"CheckID": "web-ttl", "TTL": "30s", "Status": "passing"},
            {"CheckID": "web-alias", "AliasService": "db1"}
        ]
    });
    let from_http: ServiceBody =
        crate::http::json_body(&serde_json::to_vec(&body).unwrap()).unwrap();
    let from_http = service_from_body(from_http, false).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.hcl");
    std::fs::write(
        &file,
        r#"
service {
  id = "web1"
  name = "web"
  tags = ["v1"]
  port = 8080
  meta = { build_id = "42", Team = "core" }
  enable_tag_override = true
  weights = { passing = 3, warning = 1 }
  checks = [
    { check_id = "web-http", http = "http://127.0.0.1:8080/health", interval = "10s",
      header = { x_api_key = ["k"], Accept = ["text/plain"] },
      tls_skip_verify = true, tls_server_name = "web.internal",
      deregister_critical_service_after = "1m" },
    { check_id = "web-ttl", ttl = "30s", status = "passing" },
    { check_id = "web-alias", alias_service = "db1" },
  ]
}
"#,
    )
    .unwrap();
    let flags = Flags {
        dev: true,
        config_files: vec![file],
        ..Flags::default()
    };
    let cfg = load(&flags).unwrap().config;
    let from_file: ServiceBody = decode(cfg.raw["service"].clone()).unwrap();
    let from_file = service_from_body(from_file, false).unwrap();

    assert_eq!(from_file, from_http);
    let (svc, checks) = from_http;
    assert_eq!(svc.meta["build_id"], "42", "meta keys are the user's");
    assert_eq!(svc.weights.map(|w| w.passing), Some(3));
    let Kind::Http {
        header,
        tls_skip_verify,
        tls_server_name,
        ..
    } = &checks[0].definition.as_ref().unwrap().kind
    else {
        panic!("{checks:?}")
    };
    assert!(
        header.contains_key("x_api_key"),
        "header names are the user's"
    );
    assert!(tls_skip_verify);
    assert_eq!(tls_server_name, "web.internal");
    assert_eq!(checks[0].deregister_after, Some(Duration::from_secs(60)));
    assert!(checks[1].is_ttl());
    assert_eq!(checks[1].status, "passing");
    assert_eq!(checks[2].kind_name(), "alias");
}

#[test]
fn each_check_kind_is_parsed_into_its_kind() {
    assert_eq!(
        kind(json!({"Name": "t", "TTL": "15s"})),
        Kind::Ttl {
            ttl: Duration::from_secs(15)
        }
    );
    assert_eq!(
        kind(json!({"Name": "t", "TCP": "127.0.0.1:1", "Interval": "5s"})),
        Kind::Tcp {
            addr: "127.0.0.1:1".into()
        }
    );
    assert_eq!(
        kind(json!({"Name": "u", "UDP": "127.0.0.1:1", "Interval": "5s"})),
        Kind::Udp {
            addr: "127.0.0.1:1".into()
        }
    );
    assert_eq!(
        kind(json!({"Name": "g", "GRPC": "127.0.0.1:1/svc", "GRPCUseTLS": true, "Interval": "5s"})),
        Kind::Grpc {
            target: "127.0.0.1:1/svc".into(),
            tls: true,
            tls_skip_verify: false,
            tls_server_name: String::new()
        }
    );
    assert_eq!(
        kind(json!({"Name": "s", "Args": ["true"], "Interval": "5s"})),
        Kind::Script {
            args: vec!["true".into()]
        }
    );
    let Kind::Http { method, .. } = kind(
        json!({"Name": "h", "HTTP": "http://127.0.0.1:1/", "Method": "post", "Interval": "5s"}),
    ) else {
        panic!("not HTTP")
    };
    assert_eq!(method, "POST");
    assert_eq!(
        kind(json!({"Name": "a", "AliasNode": "n2"})),
        Kind::Alias {
            node: Some("n2".into()),
            service_id: String::new()
        }
    );
    let script = check(json!({"Name": "s", "Args": ["true"], "Interval": "5s"})).unwrap();
    assert_eq!(
        script.definition.unwrap().timeout,
        Duration::from_secs(30),
        "Consul's script timeout"
    );
}

#[test]
fn bad_definitions_are_refused_with_consuls_reason() {
    let refused = |v: serde_json::Value| check(v).unwrap_err().to_string();
    assert!(
        refused(json!({"Name": "x", "TTL": "1s", "TCP": "a:1", "Interval": "1s"}))
            .contains("not several")
    );
    assert!(refused(json!({"Name": "x", "Interval": "1s"})).contains("Check must be"));
    assert_eq!(
        refused(json!({"Name": "x", "TCP": "a:1"})),
        "Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"
    );
    assert!(refused(json!({"Name": "x", "TCP": "a:1", "Interval": "0s"})).contains("must be > 0"));
    assert!(refused(json!({"Name": "x", "TCP": "a:1", "Interval": 0})).contains("must be > 0"));
    assert!(
        refused(json!({"Name": "x", "TCP": "a:1", "Interval": "soon"}))
            .contains("Invalid Interval")
    );
    assert_eq!(
        refused(json!({"Name": "x", "TTL": "0s"})),
        "TTL must be > 0 for TTL checks"
    );
    assert!(refused(json!({"Name": "x", "TTL": -5})).contains("negative"));
    assert!(refused(json!({"Name": "x", "TTL": "1s", "Status": "fine"}))
        .contains("Invalid check status"));
    assert!(
        refused(json!({"Name": "x", "TTL": "1s", "DeregisterCriticalServiceAfter": "soon"}))
            .contains("DeregisterCriticalServiceAfter")
    );
    assert!(refused(json!({"TTL": "1s"})).contains("Missing check name"));
    let no_scripts = check_from_body(
        decode(json!({"Name": "s", "Args": ["true"], "Interval": "5s"})).unwrap(),
        false,
    )
    .unwrap_err();
    assert!(matches!(no_scripts, DefinitionError::ScriptsDisabled));
    assert!(matches!(
        service_from_body(decode(json!({"ID": "x"})).unwrap(), true),
        Err(DefinitionError::MissingServiceName)
    ));
}

#[test]
fn tls_server_name_is_kept_for_https_and_grpc_checks_and_a_bad_one_refused() {
    let Kind::Http {
        tls_server_name, ..
    } = kind(
        json!({"Name": "h", "HTTP": "https://127.0.0.1:1/", "Interval": "5s",
                    "TLSServerName": "svc.internal"}),
    )
    else {
        panic!("not HTTP")
    };
    assert_eq!(tls_server_name, "svc.internal");
    assert_eq!(
        kind(
            json!({"Name": "g", "GRPC": "127.0.0.1:1", "GRPCUseTLS": true, "Interval": "5s",
                    "tls_server_name": "svc.internal", "TLSSkipVerify": true})
        ),
        Kind::Grpc {
            target: "127.0.0.1:1".into(),
            tls: true,
            tls_skip_verify: true,
            tls_server_name: "svc.internal".into()
        }
    );
    let refused = check(
        json!({"Name": "h", "HTTP": "https://127.0.0.1:1/", "Interval": "5s",
                               "TLSServerName": "not a name"}),
    )
    .unwrap_err();
    assert!(matches!(refused, DefinitionError::Invalid(_)), "{refused}");
    let why = refused.to_string();
    assert!(
        why.contains("TLSServerName") && why.contains("not a name") && !why.contains('\n'),
        "{why}"
    );
    let in_service = service_from_body(
        decode(
            json!({"Name": "web", "Check": {"GRPC": "127.0.0.1:1", "GRPCUseTLS": true,
                      "Interval": "5s", "TLSServerName": "a..b"}}),
        )
        .unwrap(),
        false,
    );
    assert!(matches!(in_service, Err(DefinitionError::Invalid(_))));
}

#[test]
fn a_catalog_service_takes_its_name_as_id_by_default() {
    let b: CatalogServiceBody =
        decode(json!({"Service": "web", "Port": 80, "ModifyIndex": 7})).unwrap();
    let (svc, index) = catalog_service("n1", b).unwrap();
    assert_eq!((svc.id.as_str(), svc.port, index), ("web", 80, 7));
    let b: CatalogServiceBody = decode(json!({"Port": 80})).unwrap();
    assert!(matches!(
        catalog_service("n1", b),
        Err(DefinitionError::MissingNodeOrServiceId)
    ));
}

/// The definition's interval, timeout, TTL and deregister-after, in that
/// order, for a check body.
fn times(v: serde_json::Value) -> (Duration, Duration, Option<Duration>, Option<Duration>) {
    let c = check(v).unwrap();
    let d = c.definition.unwrap();
    let ttl = match d.kind {
        Kind::Ttl { ttl } => Some(ttl),
        _ => None,
    };
    (d.interval, d.timeout, ttl, c.deregister_after)
}

#[test]
fn durations_are_go_strings_or_nanoseconds_as_consuls_api_takes_them() {
    let secs = Duration::from_secs;
    let (interval, timeout, _, dereg) = times(json!({"Name": "x", "TCP": "a:1",
        "Interval": "1m30s", "Timeout": "500ms", "DeregisterCriticalServiceAfter": "1h"}));
    assert_eq!(
        (interval, timeout, dereg),
        (secs(90), Duration::from_millis(500), Some(secs(3600)))
    );

    // Numbers are nanoseconds, as Go's time.Duration marshals (the api
    // package sends them so).
    let (interval, timeout, _, dereg) = times(json!({"Name": "x", "TCP": "a:1",
        "Interval": 10_000_000_000u64, "Timeout": 2_500_000_000u64,
        "DeregisterCriticalServiceAfter": 60_000_000_000u64}));
    assert_eq!(
        (interval, timeout, dereg),
        (secs(10), Duration::from_millis(2500), Some(secs(60)))
    );
    let (_, _, ttl, _) = times(json!({"Name": "x", "TTL": 2_000_000_000u64}));
    assert_eq!(ttl, Some(secs(2)));

    // snake_case and lower-case keys, as config files write them, and
    // Consul's `ScriptArgs` spelling of `Args`.
    let (_, _, ttl, dereg) = times(json!({"name": "x", "ttl": "15s",
        "deregister_critical_service_after": 30_000_000_000u64}));
    assert_eq!((ttl, dereg), (Some(secs(15)), Some(secs(30))));
    assert!(matches!(
        kind(json!({"Name": "x", "script_args": ["/bin/true"], "interval": "10s"})),
        Kind::Script { .. }
    ));
}

#[test]
fn an_interval_under_the_minimum_is_raised_to_it_not_refused() {
    for short in [json!("500ms"), json!("1ns"), json!(100_000_000u64)] {
        let (interval, ..) = times(json!({"Name": "x", "TCP": "a:1", "Interval": short}));
        assert_eq!(interval, MIN_INTERVAL, "{short}");
    }
    // The timeout is taken as given, as Consul does.
    let (_, timeout, ..) = times(json!({"Name": "x", "TCP": "a:1", "Interval": "1s",
        "Timeout": "100ms"}));
    assert_eq!(timeout, Duration::from_millis(100));
}

#[test]
fn config_file_checks_take_numbers_and_short_intervals_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checks.json");
    std::fs::write(
        &file,
        r#"{"checks": [{"id": "c1", "name": "c1", "tcp": "127.0.0.1:1", "interval": "200ms",
                        "timeout": 1000000000},
                       {"CheckID": "c2", "Name": "c2", "TTL": "3s"}]}"#,
    )
    .unwrap();
    let flags = Flags {
        dev: true,
        config_files: vec![file],
        ..Flags::default()
    };
    let cfg = load(&flags).unwrap().config;
    let list = cfg.raw["checks"].as_array().unwrap().clone();
    let c1 = check_from_body(decode(list[0].clone()).unwrap(), false).unwrap();
    let d1 = c1.definition.unwrap();
    assert_eq!(
        (d1.interval, d1.timeout),
        (MIN_INTERVAL, Duration::from_secs(1))
    );
    let c2 = check_from_body(decode(list[1].clone()).unwrap(), false).unwrap();
    assert_eq!(
        c2.definition.unwrap().kind,
        Kind::Ttl {
            ttl: Duration::from_secs(3)
        }
    );
}
