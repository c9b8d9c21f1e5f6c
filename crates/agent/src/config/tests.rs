//! Loading real files from temporary directories through `load`, as the
//! agent does: sources in order, merging, warnings and errors.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use tempfile::TempDir;

use super::*;

/// A scratch directory holding config files and a data dir.
struct Scratch {
    dir: TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("creating a temp dir"),
        }
    }

    /// Writes `text` to `name` (which may contain `/`) and returns its path.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Flags for a client agent with a data dir, loading `files`.
    fn flags(&self, files: &[&Path]) -> Flags {
        Flags {
            data_dir: Some(self.path("data")),
            node: Some("node-1".into()),
            config_files: files.iter().map(|p| p.to_path_buf()).collect(),
            ..Flags::default()
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn load_ok(flags: &Flags) -> Loaded {
    match load(flags) {
        Ok(loaded) => loaded,
        Err(e) => panic!("load failed: {e}"),
    }
}

fn load_err(flags: &Flags) -> String {
    match load(flags) {
        Ok(loaded) => panic!("load succeeded: {:?}", loaded.config),
        Err(e) => e.to_string(),
    }
}

#[test]
fn no_files_gives_consul_defaults_with_the_host_name() {
    let s = Scratch::new();
    let flags = Flags {
        node: None,
        ..s.flags(&[])
    };
    let loaded = load_ok(&flags);
    let cfg = &loaded.config;
    assert!(!cfg.node_name.is_empty());
    assert_eq!(cfg.datacenter, "dc1");
    assert_eq!(cfg.primary_datacenter, "dc1");
    assert_eq!(cfg.ports, Ports::default());
    assert_eq!(cfg.client_addr, vec![ip("127.0.0.1")]);
    assert!(!cfg.server && !cfg.dev && !cfg.ui);
    // Consul: clients leave on SIGTERM unless told otherwise.
    assert!(cfg.leave_on_terminate);
    assert_eq!(cfg.data_dir, Some(s.path("data")));
    assert!(cfg.sources.is_empty());
}

#[test]
fn json_comments_are_stripped_but_not_inside_strings() {
    let s = Scratch::new();
    let file = s.write(
        "a.json",
        r#"{
  // the datacenter
  "datacenter": "east", /* a block
     comment over lines */
  "retry_join": ["http://x//y", "/* not a comment */"],
  "ui_config": { "metrics_proxy": { "base_url": "http://prom:9090" } } // trailing
}"#,
    );
    let loaded = load_ok(&s.flags(&[&file]));
    assert_eq!(loaded.config.datacenter, "east");
    assert_eq!(
        loaded.config.retry_join,
        vec!["http://x//y", "/* not a comment */"]
    );
    assert_eq!(
        loaded.config.raw["ui_config"]["metrics_proxy"]["base_url"],
        json!("http://prom:9090")
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn json_syntax_error_names_file_and_line() {
    let s = Scratch::new();
    let file = s.write("a.json", "{\n  /* one\n two */\n  \"server\": true,,\n}");
    let err = load_err(&s.flags(&[&file]));
    assert!(
        err.starts_with(&format!("config file {}: not valid JSON", file.display())),
        "{err}"
    );
    assert!(err.contains("line 4"), "{err}");
}

#[test]
fn hcl_blocks_set_nested_keys() {
    let s = Scratch::new();
    let file = s.write(
        "a.hcl",
        r#"
# a comment
datacenter = "west"
server = true
bootstrap_expect = 3
ports {
  http = 8501
  dns  = -1
}
limits {
  kv_max_value_size = 1024
}
retry_join = ["10.0.0.1", "10.0.0.2"]
retry_interval = "1m30s"
service {
  name = "web"
}
"#,
    );
    let loaded = load_ok(&s.flags(&[&file]));
    let cfg = &loaded.config;
    assert_eq!(cfg.datacenter, "west");
    assert!(cfg.server);
    assert_eq!(cfg.bootstrap_expect, 3);
    assert_eq!(cfg.ports.http, Some(8501));
    assert_eq!(cfg.ports.dns, None);
    assert_eq!(cfg.ports.server, Some(8300));
    assert_eq!(cfg.limits.kv_max_value_size, 1024);
    assert_eq!(
        cfg.limits.txn_max_req_len,
        Limits::default().txn_max_req_len
    );
    assert_eq!(cfg.retry_join, vec!["10.0.0.1", "10.0.0.2"]);
    assert_eq!(cfg.retry_interval, Duration::from_secs(90));
    assert_eq!(cfg.raw["service"]["name"], json!("web"));
    assert!(
        !cfg.leave_on_terminate,
        "servers do not leave on SIGTERM by default"
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn hcl_syntax_error_is_one_line_naming_the_file() {
    let s = Scratch::new();
    let file = s.write("a.hcl", "ports {\n  http = \n}\n");
    let err = load_err(&s.flags(&[&file]));
    assert!(
        err.starts_with(&format!("config file {}: not valid HCL", file.display())),
        "{err}"
    );
    assert!(err.contains("line 2"), "{err}");
    assert!(!err.contains('\n'), "{err}");
}

#[test]
fn config_dir_loads_json_and_hcl_in_lexical_order() {
    let s = Scratch::new();
    s.write("d/b.json", r#"{"datacenter": "b", "log_level": "warn"}"#);
    s.write(
        "d/a.hcl",
        "datacenter = \"a\"\nlog_level = \"trace\"\nnode_name = \"from-a\"",
    );
    s.write("d/c.hcl", "datacenter = \"c\"");
    s.write("d/README.md", "not config");
    s.write("d/sub/z.json", r#"{"datacenter": "sub"}"#);
    let flags = Flags {
        node: None,
        config_dirs: vec![s.path("d")],
        ..s.flags(&[])
    };
    let loaded = load_ok(&flags);
    let cfg = &loaded.config;
    assert_eq!(cfg.datacenter, "c");
    assert_eq!(cfg.log_level, "warn");
    assert_eq!(cfg.node_name, "from-a");
    assert_eq!(
        cfg.sources,
        vec![s.path("d/a.hcl"), s.path("d/b.json"), s.path("d/c.hcl")]
    );
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].contains("README.md"),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn config_files_come_before_config_dirs_and_later_files_win() {
    let s = Scratch::new();
    let first = s.write("first.json", r#"{"datacenter": "one", "domain": "first"}"#);
    let second = s.write("second.hcl", "datacenter = \"two\"");
    s.write("d/x.json", r#"{"domain": "dir"}"#);
    let flags = Flags {
        config_dirs: vec![s.path("d")],
        ..s.flags(&[&first, &second])
    };
    let cfg = load_ok(&flags).config;
    assert_eq!(cfg.datacenter, "two");
    assert_eq!(cfg.domain, "dir.");
    assert_eq!(cfg.sources, vec![first, second, s.path("d/x.json")]);
}

#[test]
fn lists_are_appended_across_files_dirs_and_flags() {
    let s = Scratch::new();
    let file = s.write("a.json", r#"{"retry_join": ["a"], "start_join": ["s1"]}"#);
    s.write(
        "d/1.hcl",
        "retry_join = [\"b\", \"c\"]\nstart_join = [\"s2\"]",
    );
    let flags = Flags {
        config_dirs: vec![s.path("d")],
        retry_join: vec!["d".into()],
        ..s.flags(&[&file])
    };
    let cfg = load_ok(&flags).config;
    assert_eq!(cfg.retry_join, vec!["a", "b", "c", "d"]);
    assert_eq!(cfg.start_join, vec!["s1", "s2"]);
}

#[test]
fn objects_merge_key_by_key() {
    let s = Scratch::new();
    let a = s.write(
        "a.json",
        r#"{"ports": {"http": 1111, "dns": 2222}, "limits": {"txn_max_req_len": 10}}"#,
    );
    let b = s.write(
        "b.hcl",
        "ports { http = 3333 }\nlimits { kv_max_value_size = 20 }",
    );
    let cfg = load_ok(&s.flags(&[&a, &b])).config;
    assert_eq!(cfg.ports.http, Some(3333));
    assert_eq!(cfg.ports.dns, Some(2222));
    assert_eq!(cfg.limits.txn_max_req_len, 10);
    assert_eq!(cfg.limits.kv_max_value_size, 20);
}

#[test]
fn flags_override_files() {
    let s = Scratch::new();
    let file = s.write(
        "a.json",
        r#"{"datacenter": "file", "node_name": "file-node", "ports": {"http": 1, "dns": 2},
            "log_level": "info", "client_addr": "127.0.0.2", "bind_addr": "127.0.0.3",
            "retry_interval": "10s", "server": false}"#,
    );
    let flags = Flags {
        server: Some(true),
        bootstrap_expect: Some(3),
        datacenter: Some("flag".into()),
        node: Some("flag-node".into()),
        bind: Some("10.1.1.1".into()),
        advertise: Some("10.1.1.2".into()),
        client: Some("127.0.0.1 ::1".into()),
        http_port: Some(9500),
        dns_port: Some(-1),
        server_port: Some(9300),
        serf_lan_port: Some(9301),
        log_level: Some("DEBUG".into()),
        ui: true,
        retry_interval: Some("5s".into()),
        ..s.flags(&[&file])
    };
    let cfg = load_ok(&flags).config;
    assert!(cfg.server);
    assert_eq!(cfg.bootstrap_expect, 3);
    assert_eq!(cfg.datacenter, "flag");
    assert_eq!(cfg.node_name, "flag-node");
    assert_eq!(cfg.bind_addr, ip("10.1.1.1"));
    assert_eq!(cfg.advertise_addr, Some(ip("10.1.1.2")));
    assert_eq!(cfg.client_addr, vec![ip("127.0.0.1"), ip("::1")]);
    assert_eq!(cfg.ports.http, Some(9500));
    assert_eq!(cfg.ports.dns, None);
    assert_eq!(cfg.ports.server, Some(9300));
    assert_eq!(cfg.ports.serf_lan, Some(9301));
    assert_eq!(cfg.log_level, "debug");
    assert!(cfg.ui);
    assert_eq!(cfg.retry_interval, Duration::from_secs(5));
}

#[test]
fn flag_errors_name_the_flag() {
    let s = Scratch::new();
    let cases: [(Flags, &str); 5] = [
        (
            Flags {
                retry_interval: Some("x".into()),
                ..s.flags(&[])
            },
            "-retry-interval: \"x\" is not a duration",
        ),
        (
            Flags {
                http_port: Some(70000),
                ..s.flags(&[])
            },
            "-http-port: expected a port number (1-65535) or -1, got 70000",
        ),
        (
            Flags {
                bind: Some("nowhere".into()),
                ..s.flags(&[])
            },
            "-bind: \"nowhere\" is not an IP address",
        ),
        (
            Flags {
                log_level: Some("loud".into()),
                ..s.flags(&[])
            },
            "-log-level: \"loud\" is not one of",
        ),
        (
            Flags {
                datacenter: Some("dc 1".into()),
                ..s.flags(&[])
            },
            "-datacenter: \"dc 1\" is not a valid datacenter name",
        ),
    ];
    for (flags, want) in cases {
        let err = load_err(&flags);
        assert!(err.starts_with(want), "{err:?} should start with {want:?}");
    }
}

#[test]
fn unknown_keys_warn_with_key_and_file() {
    let s = Scratch::new();
    let file = s.write(
        "a.json",
        r#"{"bogus_key": 1, "limits": {"foo": 2, "rpc_rate": 10}, "ports": {"grpc_tls": 8503},
            "services": [{"name": "web"}], "acl": {"enabled": false}, "telemetry": {}}"#,
    );
    let hcl = s.write("b.hcl", "watches = []\nother = \"x\"");
    let loaded = load_ok(&s.flags(&[&file, &hcl]));
    let mut warnings = loaded.warnings.clone();
    warnings.sort();
    assert_eq!(
        warnings,
        vec![
            format!(
                "config key \"bogus_key\" in {} is not known; ignored",
                file.display()
            ),
            format!(
                "config key \"limits.foo\" in {} is not known; ignored",
                file.display()
            ),
            format!(
                "config key \"other\" in {} is not known; ignored",
                hcl.display()
            ),
        ]
    );
    // Accepted-but-unused keys are kept for later work.
    assert_eq!(loaded.config.raw["services"][0]["name"], json!("web"));
    assert_eq!(loaded.config.raw["watches"], json!([]));
}

#[test]
fn the_accepted_unused_list_covers_blocks_and_nested_entries() {
    assert!(file::accepted_unused("acl.enable_token_replication"));
    assert!(file::accepted_unused(
        "acl.tokens.config_file_service_registration"
    ));
    assert!(!file::accepted_unused("acl.tokens.agent"), "acted on");
    assert!(file::accepted_unused("limits.rpc_rate"));
    assert!(!file::accepted_unused("limits"));
    assert!(!file::accepted_unused("limits.foo"));
    assert!(!file::accepted_unused("aclx"));
}

#[test]
fn wrong_type_names_key_file_and_expectation() {
    let s = Scratch::new();
    let file = s.write("a.json", r#"{"bootstrap_expect": "three"}"#);
    let err = load_err(&s.flags(&[&file]));
    assert_eq!(
        err,
        format!(
            "config file {}: bootstrap_expect: invalid type: string \"three\", expected u32",
            file.display()
        )
    );

    let file = s.write("b.hcl", "server = \"yes\"");
    let err = load_err(&s.flags(&[&file]));
    assert_eq!(
        err,
        format!(
            "config file {}: server: invalid type: string \"yes\", expected a boolean",
            file.display()
        )
    );

    let file = s.write("c.json", r#"{"limits": {"kv_max_value_size": "big"}}"#);
    let err = load_err(&s.flags(&[&file]));
    assert!(
        err.starts_with(&format!(
            "config file {}: limits.kv_max_value_size: invalid type",
            file.display()
        )),
        "{err}"
    );

    let file = s.write("d.json", r#"{"retry_join": "10.0.0.1"}"#);
    let err = load_err(&s.flags(&[&file]));
    assert!(
        err.starts_with(&format!(
            "config file {}: retry_join: invalid type: string",
            file.display()
        )),
        "{err}"
    );
}

#[test]
fn bad_duration_is_an_error() {
    let s = Scratch::new();
    let file = s.write("a.json", r#"{"retry_interval": "forever"}"#);
    let err = load_err(&s.flags(&[&file]));
    assert_eq!(
        err,
        format!("config file {}: retry_interval: \"forever\" is not a duration (like \"30s\" or \"1m\")", file.display())
    );
    let file = s.write("b.json", r#"{"raft_snapshot_interval": 30}"#);
    let err = load_err(&s.flags(&[&file]));
    assert!(
        err.contains(
            "raft_snapshot_interval: invalid type: integer `30`, expected a duration string"
        ),
        "{err}"
    );
}

#[test]
fn bad_port_is_an_error() {
    let s = Scratch::new();
    let file = s.write("a.json", r#"{"ports": {"http": 70000}}"#);
    let err = load_err(&s.flags(&[&file]));
    assert_eq!(
        err,
        format!(
            "config file {}: ports.http: expected a port number (1-65535) or -1, got 70000",
            file.display()
        )
    );
    let file = s.write("b.hcl", "ports { dns = \"53\" }");
    let err = load_err(&s.flags(&[&file]));
    assert!(
        err.contains("ports.dns: invalid type: string \"53\", expected a port number"),
        "{err}"
    );
}

#[test]
fn minus_one_disables_a_port() {
    let s = Scratch::new();
    let file = s.write(
        "a.json",
        r#"{"ports": {"http": -1, "dns": 8601, "grpc": 8502}}"#,
    );
    let cfg = load_ok(&Flags {
        serf_lan_port: Some(-1),
        ..s.flags(&[&file])
    })
    .config;
    assert_eq!(cfg.ports.http, None);
    assert_eq!(cfg.ports.serf_lan, None);
    assert_eq!(cfg.ports.dns, Some(8601));
    assert_eq!(cfg.ports.grpc, Some(8502));
}

#[test]
fn log_levels_are_read_case_insensitively() {
    let s = Scratch::new();
    for (given, want) in [
        ("TRACE", "trace"),
        ("Info", "info"),
        ("ERR", "error"),
        ("warn", "warn"),
    ] {
        let file = s.write("a.json", &format!(r#"{{"log_level": "{given}"}}"#));
        assert_eq!(load_ok(&s.flags(&[&file])).config.log_level, want);
    }
    let file = s.write("a.json", r#"{"log_level": "loud"}"#);
    let err = load_err(&s.flags(&[&file]));
    assert_eq!(
        err,
        format!(
            "config file {}: log_level: \"loud\" is not one of trace, debug, info, warn, error",
            file.display()
        )
    );
}

#[test]
fn missing_sources_are_errors_naming_the_path() {
    let s = Scratch::new();
    let missing = s.path("nope.json");
    assert_eq!(
        load_err(&s.flags(&[&missing])),
        format!("config file {} does not exist", missing.display())
    );
    let flags = Flags {
        config_dirs: vec![s.path("nodir")],
        ..s.flags(&[])
    };
    assert_eq!(
        load_err(&flags),
        format!("config dir {} does not exist", s.path("nodir").display())
    );
    let txt = s.write("a.txt", "{}");
    assert!(load_err(&s.flags(&[&txt])).contains("must end in .json or .hcl"));
}

#[test]
fn dev_mode_is_an_in_memory_server_on_loopback() {
    let flags = Flags {
        dev: true,
        node: Some("dev".into()),
        ..Flags::default()
    };
    let cfg = load_ok(&flags).config;
    assert!(cfg.dev && cfg.server && cfg.bootstrap && cfg.ui && cfg.enable_debug);
    assert_eq!(cfg.bootstrap_expect, 0);
    assert_eq!(cfg.bind_addr, ip("127.0.0.1"));
    assert_eq!(cfg.client_addr, vec![ip("127.0.0.1")]);
    assert_eq!(cfg.log_level, "debug");
    assert_eq!(cfg.data_dir, None);

    // Files and flags still apply on top of the dev defaults.
    let s = Scratch::new();
    let file = s.write(
        "a.hcl",
        "log_level = \"info\"\nui_config { enabled = false }",
    );
    let flags = Flags {
        dev: true,
        node: Some("dev".into()),
        http_port: Some(18500),
        ..s.flags(&[&file])
    };
    let cfg = load_ok(&Flags {
        data_dir: None,
        ..flags
    })
    .config;
    assert_eq!(cfg.log_level, "info");
    assert!(!cfg.ui);
    assert_eq!(cfg.ports.http, Some(18500));

    let err = load_err(&Flags {
        dev: true,
        bootstrap_expect: Some(3),
        ..Flags::default()
    });
    assert_eq!(err, "bootstrap_expect is not allowed in dev mode");
}

#[test]
fn cross_key_rules_follow_consul() {
    let s = Scratch::new();
    let err = load_err(&Flags {
        bootstrap_expect: Some(3),
        ..s.flags(&[])
    });
    assert_eq!(err, "bootstrap_expect requires server mode");

    let file = s.write(
        "a.json",
        r#"{"server": true, "bootstrap": true, "bootstrap_expect": 3}"#,
    );
    assert_eq!(
        load_err(&s.flags(&[&file])),
        "bootstrap_expect and bootstrap cannot both be set"
    );

    let err = load_err(&Flags {
        data_dir: None,
        ..s.flags(&[])
    });
    assert!(err.starts_with("data_dir cannot be empty"), "{err}");

    let not_dir = s.write("data-file", "x");
    let err = load_err(&Flags {
        data_dir: Some(not_dir.clone()),
        ..s.flags(&[])
    });
    assert_eq!(
        err,
        format!("data_dir {} is not a directory", not_dir.display())
    );

    let err = load_err(&Flags {
        advertise: Some("0.0.0.0".into()),
        ..s.flags(&[])
    });
    assert!(err.starts_with("advertise_addr cannot be 0.0.0.0"), "{err}");

    let err = load_err(&Flags {
        http_port: Some(8600),
        ..s.flags(&[])
    });
    assert_eq!(err, "ports.http and ports.dns both use 127.0.0.1 port 8600");
}

#[test]
fn value_rules_name_key_and_file() {
    let s = Scratch::new();
    let cases = [
        (
            r#"{"raft_protocol": 2}"#,
            "raft_protocol: only raft protocol 3 is supported, got 2",
        ),
        (
            r#"{"kv_history_limit": 0}"#,
            "kv_history_limit: must be greater than 0",
        ),
        (
            r#"{"reconnect_timeout": "1h"}"#,
            "reconnect_timeout: must be at least 8h, got 1h0m0s",
        ),
        (
            r#"{"bind_addr": "{{ GetPrivateIP }}"}"#,
            "bind_addr: \"{{ GetPrivateIP }}\" is a go-sockaddr template",
        ),
        (
            r#"{"client_addr": "127.0.0.1 nope"}"#,
            "client_addr: \"nope\" is not an IP address",
        ),
        (
            r#"{"datacenter": "dc.1"}"#,
            "datacenter: \"dc.1\" is not a valid datacenter name",
        ),
        (
            r#"{"node_id": "not-a-uuid"}"#,
            "node_id: \"not-a-uuid\" is not a UUID",
        ),
        (
            r#"{"encrypt": "c2hvcnQ="}"#,
            "encrypt: the key is 5 bytes; expected 16, 24 or 32",
        ),
    ];
    for (text, want) in cases {
        let file = s.write("a.json", text);
        let err = load_err(&s.flags(&[&file]));
        let want = format!("config file {}: {want}", file.display());
        assert!(err.starts_with(&want), "{err:?} should start with {want:?}");
    }
}

#[test]
fn values_are_normalized_as_consul_does() {
    let s = Scratch::new();
    let file = s.write(
        "a.json",
        r#"{"datacenter": "DC-East", "node_id": "ADF4238A-882B-9DDC-4A9D-5B6758E4159E", "domain": "Example",
            "reconnect_timeout": "8h", "raft_snapshot_interval": "500ms", "encrypt": "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="}"#,
    );
    let cfg = load_ok(&s.flags(&[&file])).config;
    assert_eq!(cfg.datacenter, "dc-east");
    assert_eq!(cfg.primary_datacenter, "dc-east");
    assert_eq!(
        cfg.node_id.as_deref(),
        Some("adf4238a-882b-9ddc-4a9d-5b6758e4159e")
    );
    assert_eq!(cfg.domain, "example.");
    assert_eq!(cfg.reconnect_timeout, Duration::from_secs(8 * 3600));
    assert_eq!(cfg.raft_snapshot_interval, Duration::from_millis(500));
    assert!(cfg.encrypt.is_some());
}

#[test]
fn older_spellings_are_aliases_and_later_files_still_win() {
    let s = Scratch::new();
    let a = s.write(
        "a.json",
        r#"{"ui_config": {"enabled": true}, "limits": {"kv_max_value_size": 100}}"#,
    );
    let b = s.write("b.json", r#"{"ui": false, "kv_max_value_size": 200}"#);
    let cfg = load_ok(&s.flags(&[&a, &b])).config;
    assert!(!cfg.ui);
    assert_eq!(cfg.limits.kv_max_value_size, 200);
    assert_eq!(cfg.raw["limits"]["kv_max_value_size"], json!(200));

    let cfg = load_ok(&s.flags(&[&b, &a])).config;
    assert!(cfg.ui);
    assert_eq!(cfg.limits.kv_max_value_size, 100);

    // Within one file the newer spelling wins, as in Consul.
    let c = s.write("c.hcl", "ui = false\nui_config { enabled = true }");
    assert!(load_ok(&s.flags(&[&c])).config.ui);
}

#[test]
fn a_non_object_file_is_an_error() {
    let s = Scratch::new();
    let file = s.write("a.json", "[1, 2]");
    assert_eq!(
        load_err(&s.flags(&[&file])),
        format!(
            "config file {}: the top level must be an object of keys, got a list",
            file.display()
        )
    );
}

#[test]
fn even_bootstrap_expect_warns() {
    let s = Scratch::new();
    let loaded = load_ok(&Flags {
        server: Some(true),
        bootstrap_expect: Some(4),
        ..s.flags(&[])
    });
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("even number of servers")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn autopilot_block_sets_cleanup_and_other_keys_are_accepted() {
    let s = Scratch::new();
    let file = s.write(
        "a.json",
        r#"{"autopilot": {"cleanup_dead_servers": false, "min_quorum": 3,
            "dead_server_timeout": "5s", "last_contact_threshold": "200ms"}}"#,
    );
    let loaded = load_ok(&s.flags(&[&file]));
    let a = &loaded.config.autopilot;
    assert!(!a.cleanup_dead_servers);
    assert_eq!(a.min_quorum, 3);
    assert_eq!(a.dead_server_timeout, Duration::from_secs(5));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let bad = s.write(
        "b.json",
        r#"{"autopilot": {"dead_server_timeout": "soon"}}"#,
    );
    let err = load_err(&s.flags(&[&bad]));
    assert!(err.contains("autopilot.dead_server_timeout"), "{err}");
}

#[test]
fn dns_config_block_sets_consuls_dns_settings() {
    let s = Scratch::new();
    let defaults = load_ok(&s.flags(&[])).config;
    assert_eq!(defaults.dns, DnsConfig::default());
    assert!(defaults.dns.allow_stale);
    assert_eq!(defaults.dns.udp_answer_limit, 3);
    assert_eq!(defaults.ports.dns, Some(8600));
    assert!(defaults.recursors.is_empty());

    let file = s.write(
        "a.json",
        r#"{"domain": "example", "alt_domain": "Alt.Example.",
            "recursors": ["127.0.0.9", "127.0.0.10:5353", "[::1]:53"],
            "dns_config": {"allow_stale": false, "max_stale": "5s", "node_ttl": "10s",
              "service_ttl": {"*": "5s", "web": "30s", "db-*": "1m"},
              "only_passing": true, "udp_answer_limit": 8, "enable_truncate": true,
              "a_record_limit": 2, "recursor_timeout": "500ms", "recursor_strategy": "random",
              "soa": {"min_ttl": 7}, "use_cache": true, "disable_compression": false}}"#,
    );
    let loaded = load_ok(&s.flags(&[&file]));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let cfg = &loaded.config;
    assert_eq!(cfg.domain, "example.");
    assert_eq!(cfg.alt_domain.as_deref(), Some("alt.example."));
    assert_eq!(
        cfg.recursors,
        vec![
            "127.0.0.9:53".parse().unwrap(),
            "127.0.0.10:5353".parse().unwrap(),
            "[::1]:53".parse().unwrap()
        ]
    );
    let dns = &cfg.dns;
    assert!(!dns.allow_stale);
    assert_eq!(dns.max_stale, Duration::from_secs(5));
    assert_eq!(dns.node_ttl, Duration::from_secs(10));
    assert!(dns.only_passing && dns.enable_truncate);
    assert_eq!((dns.udp_answer_limit, dns.a_record_limit), (8, 2));
    assert_eq!(dns.recursor_timeout, Duration::from_millis(500));
    assert_eq!(dns.recursor_strategy, RecursorStrategy::Random);
    assert_eq!(dns.soa.min_ttl, 7);
    assert_eq!(dns.soa.refresh, 3600);
    assert_eq!(dns.service_ttl("web"), Duration::from_secs(30));
    assert_eq!(dns.service_ttl("db-main"), Duration::from_secs(60));
    assert_eq!(dns.service_ttl("other"), Duration::from_secs(5));
}

#[test]
fn dns_flags_override_files_and_recursors_accumulate() {
    let s = Scratch::new();
    let file = s.write(
        "a.json",
        r#"{"recursors": ["127.0.0.9"], "domain": "file"}"#,
    );
    let flags = Flags {
        dns_port: Some(-1),
        domain: Some("flag".into()),
        recursors: vec!["127.0.0.10:54".into()],
        ..s.flags(&[&file])
    };
    let cfg = load_ok(&flags).config;
    assert_eq!(cfg.ports.dns, None);
    assert_eq!(cfg.domain, "flag.");
    assert_eq!(cfg.recursors.len(), 2);
    let bad = Flags {
        recursors: vec!["dns.example.com".into()],
        ..s.flags(&[])
    };
    let err = load_err(&bad);
    assert!(
        err.contains("-recursor") && err.contains("dns.example.com"),
        "{err}"
    );
}

#[test]
fn bad_dns_values_name_key_and_file() {
    let s = Scratch::new();
    let cases = [
        (
            r#"{"dns_config": {"udp_answer_limit": -1}}"#,
            "dns_config.udp_answer_limit: must be 0 or more, got -1",
        ),
        (
            r#"{"dns_config": {"a_record_limit": -2}}"#,
            "dns_config.a_record_limit: must be 0 or more, got -2",
        ),
        (
            r#"{"dns_config": {"node_ttl": "a while"}}"#,
            "dns_config.node_ttl: \"a while\" is not a duration",
        ),
        (
            r#"{"dns_config": {"service_ttl": {"web": 30}}}"#,
            "dns_config.service_ttl.web: invalid type: integer `30`",
        ),
        (
            r#"{"dns_config": {"allow_stale": "yes"}}"#,
            "dns_config.allow_stale: invalid type: string \"yes\", expected a boolean",
        ),
        (
            r#"{"dns_config": {"recursor_strategy": "fastest"}}"#,
            "dns_config.recursor_strategy: \"fastest\" is not one of sequential, random",
        ),
        (
            r#"{"dns_config": {"recursor_timeout": "0s"}}"#,
            "dns_config.recursor_timeout: must be more than 0",
        ),
        (
            r#"{"recursors": ["not an address"]}"#,
            "recursors[0]: \"not an address\" is not an IP address",
        ),
        (
            r#"{"alt_domain": "bad domain"}"#,
            "alt_domain: \"bad domain\" is not a DNS domain",
        ),
    ];
    for (i, (text, want)) in cases.into_iter().enumerate() {
        let file = s.write(&format!("{i}.json"), text);
        let err = load_err(&s.flags(&[&file]));
        assert!(
            err.starts_with(&format!("config file {}: ", file.display())) && err.contains(want),
            "{text}: {err}"
        );
    }
    let file = s.write("unknown.json", r#"{"dns_config": {"only_pasing": true}}"#);
    let loaded = load_ok(&s.flags(&[&file]));
    assert_eq!(
        loaded.warnings,
        vec![format!(
            "config key \"dns_config.only_pasing\" in {} is not known; ignored",
            file.display()
        )]
    );
}

#[test]
fn request_limits_and_http_limits_are_read_from_json_and_hcl() {
    let s = Scratch::new();
    let json = s.write(
        "a.json",
        r#"{"limits": {"request_limits": {"mode": "enforcing", "read_rate": 500, "write_rate": 200.5},
            "http_max_conns_per_client": 20, "http_max_conns": 1000,
            "http_header_read_timeout": "3s", "http_idle_timeout": "1m"}}"#,
    );
    let loaded = load_ok(&s.flags(&[&json]));
    let l = &loaded.config.limits;
    assert_eq!(l.request_limits.mode, RateLimitMode::Enforcing);
    assert_eq!(l.request_limits.read_rate, 500.0);
    assert_eq!(l.request_limits.write_rate, 200.5);
    assert_eq!(l.http_max_conns_per_client, 20);
    assert_eq!(l.http_max_conns, Some(1000));
    assert_eq!(l.http_header_read_timeout, Duration::from_secs(3));
    assert_eq!(l.http_idle_timeout, Duration::from_secs(60));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

    // HCL, and a later file changing one key of the block keeps the others.
    let hcl = s.write(
        "b.hcl",
        "limits {\n  request_limits {\n    mode = \"permissive\"\n    write_rate = -1\n  }\n}\n",
    );
    let loaded = load_ok(&s.flags(&[&json, &hcl]));
    let r = loaded.config.limits.request_limits;
    assert_eq!(r.mode, RateLimitMode::Permissive);
    assert_eq!(r.read_rate, 500.0);
    assert!(r.write_rate.is_infinite(), "a negative rate is no limit");

    // Consul's defaults.
    let none = s.write("c.json", "{}");
    let l = load_ok(&s.flags(&[&none])).config.limits;
    assert_eq!(l.request_limits, RequestLimits::default());
    assert_eq!(l.request_limits.mode, RateLimitMode::Disabled);
    assert!(l.request_limits.read_rate.is_infinite());
    assert_eq!(l.http_max_conns_per_client, 200);
    assert_eq!(l.http_max_conns, None);
}

#[test]
fn bad_limits_stop_the_agent_naming_the_key() {
    let s = Scratch::new();
    let cases = [
        (
            r#"{"limits": {"request_limits": {"mode": "strict"}}}"#,
            "limits.request_limits.mode: invalid mode: \"strict\"",
        ),
        (
            r#"{"limits": {"request_limits": {"mode": "Enforcing"}}}"#,
            "limits.request_limits.mode: invalid mode: \"Enforcing\"",
        ),
        (
            r#"{"limits": {"request_limits": {"mode": 1}}}"#,
            "limits.request_limits.mode: invalid type",
        ),
        (
            r#"{"limits": {"request_limits": {"read_rate": "fast"}}}"#,
            "limits.request_limits.read_rate: invalid type",
        ),
        (
            r#"{"limits": {"request_limits": "enforcing"}}"#,
            "limits.request_limits: invalid type",
        ),
        (
            r#"{"limits": {"http_max_conns": 0}}"#,
            "limits.http_max_conns: must be greater than 0",
        ),
        (
            r#"{"limits": {"http_max_conns_per_client": -1}}"#,
            "limits.http_max_conns_per_client: invalid value",
        ),
        (
            r#"{"limits": {"http_idle_timeout": "soon"}}"#,
            "limits.http_idle_timeout: \"soon\" is not a duration",
        ),
        (
            r#"{"limits": {"http_header_read_timeout": "-1s"}}"#,
            "limits.http_header_read_timeout: \"-1s\" is negative",
        ),
    ];
    for (i, (text, want)) in cases.into_iter().enumerate() {
        let file = s.write(&format!("{i}.json"), text);
        let err = load_err(&s.flags(&[&file]));
        assert!(
            err.starts_with(&format!("config file {}: ", file.display())) && err.contains(want),
            "{text}: {err}"
        );
    }
    let file = s.write(
        "bad.hcl",
        "limits {\n  request_limits {\n    mode = \"on\"\n  }\n}\n",
    );
    let err = load_err(&s.flags(&[&file]));
    assert!(
        err.contains("limits.request_limits.mode: invalid mode: \"on\""),
        "{err}"
    );
}

#[test]
fn rpc_limits_are_read_with_consuls_defaults() {
    let s = Scratch::new();
    let json = s.write(
        "a.json",
        r#"{"limits": {"rpc_max_conns_per_client": 7, "rpc_handshake_timeout": "2s"}}"#,
    );
    let loaded = load_ok(&s.flags(&[&json]));
    assert_eq!(loaded.config.limits.rpc_max_conns_per_client, 7);
    assert_eq!(
        loaded.config.limits.rpc_handshake_timeout,
        Duration::from_secs(2)
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let none = s.write("b.json", "{}");
    let l = load_ok(&s.flags(&[&none])).config.limits;
    assert_eq!(l.rpc_max_conns_per_client, 100);
    assert_eq!(l.rpc_handshake_timeout, Duration::from_secs(5));
}

mod performance;
mod properties;

#[test]
fn the_acl_block_is_read_with_consuls_keys_and_old_token_names() {
    let s = Scratch::new();
    let f = s.write(
        "acl.hcl",
        r#"
acl {
  enabled = true
  default_policy = "deny"
  down_policy = "async-cache"
  enable_token_persistence = true
  enable_key_list_policy = true
  token_ttl = "45s"
  tokens {
    master = "root-secret"
    agent = "agent-secret"
    agent_master = "recovery-secret"
    default = "default-secret"
  }
}
"#,
    );
    let acl = load_ok(&s.flags(&[&f])).config.acl;
    assert!(acl.enabled && !acl.default_allow);
    assert_eq!(acl.down_policy, crate::config::DownPolicy::AsyncCache);
    assert!(acl.enable_token_persistence && acl.enable_key_list_policy);
    assert_eq!(acl.token_ttl, std::time::Duration::from_secs(45));
    assert_eq!(
        acl.tokens.initial_management.as_deref(),
        Some("root-secret")
    );
    assert_eq!(acl.tokens.agent.as_deref(), Some("agent-secret"));
    assert_eq!(
        acl.tokens.agent_recovery.as_deref(),
        Some("recovery-secret")
    );
    assert_eq!(acl.tokens.default.as_deref(), Some("default-secret"));

    // Defaults: off, allow, extend-cache, 30s.
    let none = s.write("none.json", "{}");
    let acl = load_ok(&s.flags(&[&none])).config.acl;
    assert!(!acl.enabled && acl.default_allow);
    assert_eq!(acl.down_policy, crate::config::DownPolicy::ExtendCache);
    assert_eq!(acl.token_ttl, std::time::Duration::from_secs(30));

    // A policy that is neither allow nor deny is refused, naming the key.
    let bad = s.write("bad.json", r#"{"acl": {"default_policy": "maybe"}}"#);
    let err = load_err(&s.flags(&[&bad]));
    assert!(err.contains("acl.default_policy"), "{err}");
}

#[test]
fn the_encrypt_flag_sets_the_gossip_key_and_is_checked_like_the_file_key() {
    let s = Scratch::new();
    let key = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";
    let flags = Flags {
        encrypt: Some(key.into()),
        ..s.flags(&[])
    };
    assert_eq!(load_ok(&flags).config.encrypt.as_deref(), Some(key));
    let flags = Flags {
        encrypt: Some("c2hvcnQ=".into()),
        ..s.flags(&[])
    };
    let err = load_err(&flags);
    assert!(
        err.contains("-encrypt") && err.contains("16, 24 or 32"),
        "{err}"
    );
}

#[test]
fn security_settings_that_are_not_enforced_yet_are_warned_about() {
    let s = Scratch::new();
    let key = "aGVsbG8gd29ybGQgMTIzNA=="; // 16 bytes, base64
    let f = s.write(
        "sec.hcl",
        &format!(
            "acl {{\n  enabled = true\n  default_policy = \"deny\"\n}}\nca_file = \"/ca.pem\"\nverify_outgoing = true\nencrypt = \"{key}\"\n"
        ),
    );
    let loaded = load_ok(&s.flags(&[&f]));
    let all = loaded.warnings.join("\n");
    assert!(
        all.contains("neither acl.tokens.agent nor acl.tokens.default is set"),
        "{all}"
    );
    assert!(
        all.contains("the 'ca_file' field is deprecated; use the 'tls.defaults.ca_file' field")
            && all.contains("'verify_outgoing' field is deprecated"),
        "{all}"
    );
    assert!(!all.contains("encrypt"), "gossip is encrypted now: {all}");
    assert!(!all.contains(key), "the gossip key is never echoed: {all}");

    // ACLs configured but off, and no TLS or encrypt: nothing to warn about.
    let quiet = s.write("quiet.json", r#"{ "acl": { "enabled": false } }"#);
    let loaded = load_ok(&s.flags(&[&quiet]));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn the_tls_block_and_the_older_keys_resolve_per_interface_as_consul_reads_them() {
    let s = Scratch::new();
    let f = s.write(
        "tls.hcl",
        r#"
# the older keys fill what tls.defaults leaves unset
ca_file = "/old-ca.pem"
verify_incoming_https = false
tls {
  defaults {
    ca_file = "/ca.pem"
    cert_file = "/agent.pem"
    key_file = "/agent-key.pem"
    verify_incoming = true
    verify_outgoing = true
    tls_min_version = "TLSv1_3"
  }
  internal_rpc {
    verify_server_hostname = true
  }
  https {
    cert_file = "/web.pem"
    key_file = "/web-key.pem"
  }
}
ports { https = 8501 }
"#,
    );
    let cfg = load_ok(&s.flags(&[&f])).config;
    let (https, rpc) = (&cfg.tls.https, &cfg.tls.internal_rpc);
    assert_eq!(
        https.ca_file,
        Some(PathBuf::from("/ca.pem")),
        "tls.defaults wins over ca_file"
    );
    assert_eq!(https.cert_file, Some(PathBuf::from("/web.pem")));
    assert!(
        !https.verify_incoming,
        "verify_incoming_https = false is https's own"
    );
    assert_eq!(rpc.cert_file, Some(PathBuf::from("/agent.pem")));
    assert!(rpc.verify_incoming && rpc.verify_outgoing && rpc.verify_server_hostname);
    assert!(!https.verify_server_hostname);
    assert_eq!(rpc.min_version, praetor_tls::MinVersion::Tls13);
    assert_eq!(cfg.ports.https, Some(8501));

    // verify_server_hostname alone turns on verify_outgoing for RPC.
    let g = s.write(
        "vsh.json",
        r#"{ "ca_file": "/ca.pem", "verify_server_hostname": true }"#,
    );
    let rpc = load_ok(&s.flags(&[&g])).config.tls.internal_rpc;
    assert!(rpc.verify_server_hostname && rpc.verify_outgoing);

    // Nothing set: no TLS anywhere.
    let none = s.write("none.json", "{}");
    let cfg = load_ok(&s.flags(&[&none])).config;
    assert!(!cfg.tls.https.is_configured() && !cfg.tls.internal_rpc.is_configured());
}

#[test]
fn tls_settings_that_cannot_work_are_refused_naming_the_key() {
    let s = Scratch::new();
    let cases = [
        (
            r#"{ "tls": { "defaults": { "tls_min_version": "TLSv1_0" } } }"#,
            "tls.defaults.tls_min_version",
        ),
        (
            r#"{ "tls_cipher_suites": "TLS_RSA_WITH_RC4_128_SHA" }"#,
            "tls_cipher_suites",
        ),
        (
            r#"{ "ports": { "https": 8501 } }"#,
            "ports.https is set but no certificate",
        ),
        (
            r#"{ "tls": { "https": { "verify_incoming": true, "cert_file": "/c", "key_file": "/k" } } }"#,
            "tls.https: verify_incoming is set but no ca_file",
        ),
        (
            r#"{ "tls": { "defaults": { "cert_file": "/c" } } }"#,
            "key_file is not",
        ),
        (
            r#"{ "tls": { "internal_rpc": { "verify_outgoing": true } } }"#,
            "tls.internal_rpc: verify_outgoing is set but no ca_file",
        ),
    ];
    for (i, (text, expected)) in cases.into_iter().enumerate() {
        let f = s.write(&format!("bad{i}.json"), text);
        let e = load_err(&s.flags(&[&f]));
        assert!(e.contains(expected), "{text}: {e}");
    }
}

#[test]
fn check_update_interval_defaults_to_five_minutes_and_reads_as_consul_spells_it() {
    let s = Scratch::new();
    let none = s.write("none.json", "{}");
    let cfg = load_ok(&s.flags(&[&none])).config;
    assert_eq!(cfg.check_update_interval, Duration::from_secs(300));
    let file = s.write("a.hcl", r#"check_update_interval = "30s""#);
    let loaded = load_ok(&s.flags(&[&file]));
    assert_eq!(loaded.config.check_update_interval, Duration::from_secs(30));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let zero = s.write("b.json", r#"{"check_update_interval": "0s"}"#);
    assert_eq!(
        load_ok(&s.flags(&[&zero])).config.check_update_interval,
        Duration::ZERO
    );
    let bad = s.write("c.json", r#"{"check_update_interval": "often"}"#);
    assert!(load_err(&s.flags(&[&bad])).contains("check_update_interval"));
}

#[test]
fn wan_keys_configure_a_servers_wan_pool() {
    let s = Scratch::new();
    let file = s.write(
        "server.hcl",
        r#"
server = true
bootstrap_expect = 3
retry_join_wan = ["10.1.0.1", "10.1.0.2:8302"]
start_join_wan = ["10.1.0.3"]
retry_interval_wan = "5s"
retry_max_wan = 4
advertise_addr_wan = "203.0.113.9"
translate_wan_addrs = true
ports { serf_wan = 9302 }
gossip_wan {
  probe_interval = "2s"
  probe_timeout = "1s"
  suspicion_mult = 4
  gossip_interval = "300ms"
  gossip_nodes = 4
  retransmit_mult = 4
}
"#,
    );
    let mut flags = s.flags(&[&file]);
    flags.retry_join_wan = vec!["10.1.0.4".into()];
    let loaded = load_ok(&flags);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let wan = &loaded.config.wan;
    assert_eq!(
        wan.retry_join,
        ["10.1.0.1", "10.1.0.2:8302", "10.1.0.4"],
        "-retry-join-wan is appended to the files'"
    );
    assert_eq!(wan.start_join, ["10.1.0.3"]);
    assert_eq!(wan.retry_interval, Duration::from_secs(5));
    assert_eq!(wan.retry_max, 4);
    assert_eq!(wan.advertise_addr, Some(ip("203.0.113.9")));
    assert!(wan.translate_addrs);
    assert_eq!(loaded.config.ports.serf_wan, Some(9302));
    assert_eq!(
        (wan.probe_interval, wan.probe_timeout, wan.suspicion_mult),
        (Duration::from_secs(2), Duration::from_secs(1), 4)
    );
    assert_eq!(wan.gossip_interval, Duration::from_millis(300));
}

#[test]
fn wan_settings_that_cannot_work_are_refused_and_client_wan_joins_warned() {
    let s = Scratch::new();
    let file = s.write(
        "a.json",
        r#"{"server": true, "gossip_wan": {"probe_interval": "1s", "probe_timeout": "1s"}}"#,
    );
    let e = load_err(&s.flags(&[&file]));
    assert!(e.contains("gossip_wan.probe_timeout"), "{e}");
    let file = s.write(
        "b.json",
        r#"{"server": true, "advertise_addr_wan": "0.0.0.0"}"#,
    );
    let e = load_err(&s.flags(&[&file]));
    assert!(e.contains("advertise_addr_wan"), "{e}");
    let file = s.write("c.json", r#"{"retry_join_wan": ["10.0.0.1"]}"#);
    let loaded = load_ok(&s.flags(&[&file]));
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("ignored on a client agent")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn disable_coordinates_is_read_and_off_by_default() {
    let s = Scratch::new();
    assert!(!load_ok(&s.flags(&[])).config.disable_coordinates);
    let file = s.write("a.json", r#"{"disable_coordinates": true}"#);
    let loaded = load_ok(&s.flags(&[&file]));
    assert!(loaded.config.disable_coordinates);
}

#[test]
fn test_wan_latency_is_accepted_only_on_loopback_and_bounded() {
    let s = Scratch::new();
    let file = s.write(
        "ok.json",
        r#"{"server": true, "bootstrap_expect": 3, "bind_addr": "127.0.0.9", "test_wan_latency": {"dc2": "150ms"}}"#,
    );
    let loaded = load_ok(&s.flags(&[&file]));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        loaded.config.wan.test_latency,
        [("dc2".to_owned(), Duration::from_millis(150))].into()
    );
    assert!(load_ok(&s.flags(&[])).config.wan.test_latency.is_empty());
    for (name, body, why) in [
        (
            "far.json",
            r#"{"server": true, "bind_addr": "10.0.0.9", "test_wan_latency": {"dc2": "150ms"}}"#,
            "only for agents on loopback",
        ),
        (
            "adv.json",
            r#"{"server": true, "bind_addr": "127.0.0.9", "advertise_addr_wan": "203.0.113.9", "test_wan_latency": {"dc2": "150ms"}}"#,
            "203.0.113.9",
        ),
        (
            "long.json",
            r#"{"server": true, "bind_addr": "127.0.0.9", "test_wan_latency": {"dc2": "3s"}}"#,
            "at most 2s",
        ),
        (
            "zero.json",
            r#"{"server": true, "bind_addr": "127.0.0.9", "test_wan_latency": {"dc2": "0s"}}"#,
            "above zero",
        ),
    ] {
        let file = s.write(name, body);
        let e = load_err(&s.flags(&[&file]));
        assert!(
            e.contains("test_wan_latency") && e.contains(why),
            "{name}: {e}"
        );
    }
}
