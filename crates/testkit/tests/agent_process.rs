//! `praetor agent` as a real process on its own loopback address with the
//! default ports: durability under SIGKILL, signals, config files, and the
//! README's curl flow.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use praetor_testkit::{client, wait_for, write_file, AgentProcess};

fn durable_kill9_keeps_every_acknowledged_write(extra: &[&str]) {
    let mut args = vec!["-server", "-bootstrap-expect=1", "-data-dir={dir}/data", "-log-level=warn"];
    args.extend_from_slice(extra);
    let mut agent = AgentProcess::spawn(&args);
    agent.wait_for_leader(Duration::from_secs(10));

    eprintln!("--- 16 writers, then SIGKILL mid-load");
    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let url = agent.url();
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (acked, stop, url) = (acked.clone(), stop.clone(), url.clone());
            std::thread::spawn(move || {
                let http = client();
                for i in 0..100_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let (k, v) = (format!("load/{w}/{i}"), format!("value-{w}-{i}"));
                    match http.put(format!("{url}/v1/kv/{k}")).body(v.clone()).send() {
                        Ok(r) if r.status() == 200 => {
                            if r.text().is_ok_and(|t| t.trim() == "true") {
                                acked.lock().unwrap().insert(k, v);
                            }
                        }
                        _ => break,
                    }
                }
            })
        })
        .collect();
    wait_for(Duration::from_secs(20), "1000 acknowledged writes", || {
        let n = acked.lock().unwrap().len();
        if n >= 1000 { Ok(()) } else { Err(format!("{n} acknowledged")) }
    });
    agent.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    eprintln!("--- restart on the same data dir; {} writes were acknowledged", acked.len());
    agent.start();
    agent.wait_for_leader(Duration::from_secs(10));
    let all: Vec<serde_json::Value> =
        client().get(format!("{}/v1/kv/load/?recurse", agent.url())).send().unwrap().json().unwrap();
    let have: BTreeMap<String, String> = all
        .iter()
        .map(|e| {
            use base64::Engine as _;
            let v = base64::engine::general_purpose::STANDARD.decode(e["Value"].as_str().unwrap()).unwrap();
            (e["Key"].as_str().unwrap().to_owned(), String::from_utf8(v).unwrap())
        })
        .collect();
    let missing: Vec<_> = acked.iter().filter(|(k, v)| have.get(*k) != Some(v)).take(5).collect();
    assert!(missing.is_empty(), "acknowledged writes lost after SIGKILL: {missing:?}");
}

#[test]
fn sigkill_under_write_load_loses_no_acknowledged_write() {
    durable_kill9_keeps_every_acknowledged_write(&[]);
}

#[test]
fn sigkill_during_snapshots_and_compaction_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(
        dir.path(),
        "snap.json",
        "{\n  // snapshot often, so the kill lands among snapshots and log purges\n  \"raft_snapshot_threshold\": 64,\n  \"raft_trailing_logs\": 16\n}\n",
    );
    let arg = format!("-config-file={}", cfg.display());
    durable_kill9_keeps_every_acknowledged_write(&[arg.as_str()]);
}

#[test]
fn dev_agent_leads_at_once_and_stops_cleanly_on_sigint_and_sigterm() {
    for (sig, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        let started = Instant::now();
        let mut agent = AgentProcess::spawn(&["-dev"]);
        agent.wait_for_leader(Duration::from_secs(10));
        let took = started.elapsed();
        eprintln!("--- leader after {took:?} (process start included)");
        assert!(took < Duration::from_secs(5), "dev agent took {took:?} to elect itself");
        let me: serde_json::Value = client().get(format!("{}/v1/agent/self", agent.url())).send().unwrap().json().unwrap();
        assert_eq!(me["Config"]["Datacenter"], "dc1");
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(me["Config"]["NodeName"], host.trim());
        agent.signal(sig);
        let status = agent.wait_exit(Duration::from_secs(15));
        assert!(status.success(), "{name} exit status {status}");
    }
}

#[test]
fn sighup_reloads_the_log_level_and_keeps_serving() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = write_file(cfg_dir.path(), "agent.json", r#"{"log_level": "info"}"#);
    let arg = format!("-config-dir={}", cfg_dir.path().display());
    let agent = AgentProcess::spawn(&["-dev", &arg]);
    let mut agent = agent;
    agent.wait_for_leader(Duration::from_secs(10));
    std::fs::write(&cfg, r#"{"log_level": "debug"}"#).unwrap();
    agent.signal(libc::SIGHUP);
    wait_for(Duration::from_secs(10), "the reload in the log", || {
        let log = agent.log();
        if log.contains("reloaded") && log.contains("debug") { Ok(()) } else { Err("not yet".into()) }
    });
    // Now at debug level, requests are logged.
    let r = client().put(format!("{}/v1/kv/after-hup", agent.url())).body("1").send().unwrap();
    assert_eq!(r.status(), 200);
    wait_for(Duration::from_secs(5), "a debug line for the request", || {
        if agent.log().contains("/v1/kv/after-hup") { Ok(()) } else { Err("no debug line".into()) }
    });
}

#[test]
fn config_dir_with_commented_json_and_hcl_sets_the_agent_up() {
    let cfg = tempfile::tempdir().unwrap();
    write_file(
        cfg.path(),
        "00-base.json",
        r#"{
  // a Consul-style server config, comments and all
  "datacenter": "east-1",
  "node_name": "alpha", /* overridden below */
  "server": true,
  "bootstrap_expect": 1,
  "retry_join": ["127.0.0.2"],
  "bogus_key": 1
}"#,
    );
    write_file(cfg.path(), "10-override.hcl", "node_name = \"beta\"\nlimits {\n  kv_max_value_size = 1024\n}\n");
    write_file(cfg.path(), "README.txt", "not a config file");
    let d = format!("-config-dir={}", cfg.path().display());
    let mut agent = AgentProcess::spawn(&[&d, "-data-dir={dir}/data"]);
    agent.wait_for_leader(Duration::from_secs(10));
    let me: serde_json::Value = client().get(format!("{}/v1/agent/self", agent.url())).send().unwrap().json().unwrap();
    assert_eq!(me["Config"]["Datacenter"], "east-1");
    assert_eq!(me["Config"]["NodeName"], "beta");
    let r = client().put(format!("{}/v1/kv/big", agent.url())).body(vec![b'x'; 1025]).send().unwrap();
    assert_eq!(r.status(), 413, "the HCL file's limit applies");
    let log = agent.log();
    assert!(log.contains("bogus_key") && log.contains("00-base.json"), "unknown key warning names key and file:\n{log}");
}

#[test]
fn bad_config_files_stop_the_agent_with_a_message_naming_key_and_file() {
    let cfg = tempfile::tempdir().unwrap();
    let cases = [
        ("type.json", "{\n  // wrong type\n  \"bootstrap_expect\": \"three\"\n}", "bootstrap_expect"),
        ("port.json", "{\"ports\": {\"http\": 70000}}", "ports.http"),
        ("dur.hcl", "retry_interval = \"forever\"", "retry_interval"),
    ];
    for (name, text, key) in cases {
        let path = write_file(cfg.path(), name, text);
        let arg = format!("-config-file={}", path.display());
        let mut agent = AgentProcess::spawn(&["-dev", &arg]);
        let status = agent.wait_exit(Duration::from_secs(10));
        assert_eq!(status.code(), Some(1), "{name}");
        let log = agent.log();
        assert!(log.contains(key) && log.contains(name), "{name}: the error names {key} and the file:\n{log}");
    }
    let mut agent = AgentProcess::spawn(&["-dev", "-config-file=/nonexistent/praetor.json"]);
    assert_eq!(agent.wait_exit(Duration::from_secs(10)).code(), Some(1));
    assert!(agent.log().contains("/nonexistent/praetor.json"));
}

#[test]
fn the_readme_curl_flow_behaves_as_on_consul() {
    let mut agent = AgentProcess::spawn(&["-dev"]);
    agent.wait_for_leader(Duration::from_secs(10));
    let http = client();
    let u = agent.url();
    let r = http.put(format!("{u}/v1/kv/app/db")).body("pg://db:5432/app").send().unwrap();
    assert_eq!(r.text().unwrap().trim(), "true");
    http.put(format!("{u}/v1/kv/app/port")).body("5432").send().unwrap();
    let all: Vec<serde_json::Value> = http.get(format!("{u}/v1/kv/app?recurse")).send().unwrap().json().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["Key"], "app/db");
    let idx: u64 = http.get(format!("{u}/v1/kv/app/db")).send().unwrap().headers()["x-consul-index"].to_str().unwrap().parse().unwrap();
    // A blocking GET returns promptly after a write to its key.
    let (u2, started) = (u.clone(), Instant::now());
    let waiter = std::thread::spawn(move || client().get(format!("{u2}/v1/kv/app/db?index={idx}&wait=30s")).send().unwrap().status());
    std::thread::sleep(Duration::from_millis(200));
    http.put(format!("{u}/v1/kv/app/db")).body("pg://db2").send().unwrap();
    assert_eq!(waiter.join().unwrap(), 200);
    assert!(started.elapsed() < Duration::from_secs(10));
    let r = http.delete(format!("{u}/v1/kv/app?recurse")).send().unwrap();
    assert_eq!(r.text().unwrap().trim(), "true");
    assert_eq!(http.get(format!("{u}/v1/kv/app?recurse")).send().unwrap().status(), 404);
}
