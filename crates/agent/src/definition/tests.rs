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
    assert!(refused(json!({"Name": "x", "TCP": "a:1"})).contains("Interval must be set"));
    assert!(
        refused(json!({"Name": "x", "TCP": "a:1", "Interval": "100ms"})).contains("at least 1s")
    );
    assert!(
        refused(json!({"Name": "x", "TCP": "a:1", "Interval": "soon"}))
            .contains("Invalid Interval")
    );
    assert!(refused(json!({"Name": "x", "TTL": "0s"})).contains("TTL must be positive"));
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
