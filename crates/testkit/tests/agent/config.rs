//! Config files end to end: a config dir of JSON (with `//` and `/* */`
//! comments) and HCL files sets the agent up, later files winning; an
//! unknown key is a warning naming key and file; a wrong type or value, or a
//! missing file, stops the agent with exit code 1 and a message naming the
//! key (or path) and the file.

use praetor_testkit::{init_tracing, secs, AgentProcess, Loopback};
use tracing::info;

use crate::agent_self;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_dir_of_commented_json_and_hcl_sets_the_agent_up() -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    let ip = lo.ip();
    let base = r#"{
  // A Consul-style server config, comments and all.
  "datacenter": "east-1",
  "node_name": "alpha", /* overridden by 10-override.hcl */
  "server": true,
  "bootstrap_expect": 1,
  "ports": {
    "http": 8511 // not the default
  }
}"#;
    let hcl = r#"
# HCL, loaded after the JSON file: it wins where both set a key.
node_name = "beta"
ports {
  server = 8311
}
limits {
  kv_max_value_size = 1024
}
"#;
    info!("--- start from a config dir with a JSON file, an HCL file and a README");
    let b = AgentProcess::builder(&lo)?;
    let data = format!("-data-dir={}", b.data_dir().display());
    let agent = b
        .arg(data)
        .args(lo.bind_flags())
        .config_dir_file("00-base.json", base)
        .config_dir_file("10-override.hcl", hcl)
        .config_dir_file("README.txt", "not a config file")
        .http_port(8511)
        .start()
        .await?;

    info!("--- /v1/agent/self and the listeners show the files' settings");
    let me = agent_self(&agent).await?;
    assert_eq!(me["Config"]["Datacenter"], "east-1");
    assert_eq!(me["Config"]["NodeName"], "beta", "the later file wins");
    assert_eq!(me["Config"]["Server"], true);
    let leader: String = agent
        .http()
        .get(agent.url("/v1/status/leader"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        leader,
        format!("{ip}:8311"),
        "ports.server from the HCL file"
    );
    let r = agent
        .http()
        .put(agent.url("/v1/kv/big"))
        .body(vec![b'x'; 1025])
        .send()
        .await?;
    assert_eq!(
        r.status(),
        413,
        "limits.kv_max_value_size from the HCL file applies"
    );
    let r = agent
        .http()
        .put(agent.url("/v1/kv/small"))
        .body(vec![b'x'; 1024])
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let warning = agent.wait_for_log(secs(5), "README.txt").await?;
    assert!(
        warning.contains("WARN"),
        "a skipped file is a warning: {warning}"
    );
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_is_a_warning_naming_the_key_and_the_file() -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    let text = "{\n  // a typo Consul would also only warn about\n  \"bogus_key\": 1,\n  \"node_name\": \"warned\"\n}";
    let agent = AgentProcess::dev(&lo)?
        .config_file("extra.json", text)
        .start()
        .await?;
    let path = agent.config_file_path("extra.json");
    let line = agent.wait_for_log(secs(5), "bogus_key").await?;
    assert!(line.contains("WARN"), "an unknown key is a warning: {line}");
    assert!(
        line.contains(&path.display().to_string()),
        "the warning names the file: {line}"
    );
    assert_eq!(
        agent_self(&agent).await?["Config"]["NodeName"],
        "warned",
        "the known keys still apply"
    );
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_exits_1_naming_the_key_and_the_file() -> anyhow::Result<()> {
    init_tracing();
    let cases = [
        (
            "type.json",
            "{\n  // wrong type\n  \"bootstrap_expect\": \"three\"\n}",
            "bootstrap_expect",
        ),
        (
            "port.json",
            "{ \"ports\": { \"http\": 70000 } }",
            "ports.http",
        ),
        (
            "duration.hcl",
            "retry_interval = \"forever\"",
            "retry_interval",
        ),
        ("syntax.json", "{ \"datacenter\": ", "syntax.json"),
    ];
    info!("--- start one server per bad file, all at once");
    let mut spawned = Vec::new();
    for (name, text, key) in cases {
        let lo = Loopback::allocate()?;
        let b = AgentProcess::server(&lo)?
            .name(name)
            .config_file(name, text);
        spawned.push((b.spawn()?, name, key, lo));
    }
    info!("--- each exits 1 and its stderr names the key and the file");
    for (mut agent, name, key, _lo) in spawned {
        let status = agent.wait_exit_async(secs(10)).await?;
        let stderr = agent.stderr();
        assert_eq!(
            status.code(),
            Some(1),
            "{name}: exit status; stderr:\n{stderr}"
        );
        let path = agent.config_file_path(name).display().to_string();
        assert!(
            stderr.contains(key) && stderr.contains(&path),
            "{name}: stderr names {key} and {path}:\n{stderr}"
        );
        assert!(
            !stderr.contains("agent started"),
            "{name}: it did not start:\n{stderr}"
        );
    }

    info!("--- a missing -config-file or -config-dir exits 1 naming the path");
    for flag in [
        "-config-file=/nonexistent/praetor.json",
        "-config-dir=/nonexistent/praetor.d",
    ] {
        let lo = Loopback::allocate()?;
        let mut agent = AgentProcess::dev(&lo)?.arg(flag).spawn()?;
        let status = agent.wait_exit_async(secs(10)).await?;
        let stderr = agent.stderr();
        assert_eq!(
            status.code(),
            Some(1),
            "{flag}: exit status; stderr:\n{stderr}"
        );
        let path = flag.split_once('=').map_or("", |(_, p)| p);
        assert!(
            stderr.contains(path),
            "{flag}: stderr names the path:\n{stderr}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_and_checks_defined_in_config_files_are_registered() -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    let json = r#"{
  // a service with a TTL check, in Consul's config-file keys
  "service": {
    "id": "web1", "name": "web", "tags": ["v1"], "port": 8080,
    "meta": {"owner_team": "core"},
    "check": {"ttl": "30s", "status": "passing"}
  }
}"#;
    let hcl = r#"
services {
  name = "db"
  port = 5432
}
check {
  name   = "disk"
  ttl    = "1m"
  status = "warning"
}
"#;
    let agent = AgentProcess::dev(&lo)?
        .config_dir_file("10-web.json", json)
        .config_dir_file("20-db.hcl", hcl)
        .start()
        .await?;
    let http = agent.http();
    let services: serde_json::Value = http
        .get(agent.url("/v1/agent/services"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(services["web1"]["Port"], 8080, "{services}");
    assert_eq!(
        services["web1"]["Meta"]["owner_team"], "core",
        "meta keys are kept as written"
    );
    assert_eq!(services["db"]["Port"], 5432, "{services}");
    let checks: serde_json::Value = http
        .get(agent.url("/v1/agent/checks"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(checks["service:web1"]["Status"], "passing", "{checks}");
    assert_eq!(checks["disk"]["Status"], "warning", "{checks}");
    praetor_testkit::wait_for(secs(10), "web healthy in the catalog", || async {
        let v: serde_json::Value = http
            .get(agent.url("/v1/health/service/web"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if v.as_array().is_some_and(|l| l.len() == 1) {
            Ok(())
        } else {
            Err(v.to_string())
        }
    })
    .await?;
    agent.shutdown().await?;

    info!("--- an invalid definition (an HTTP check without an interval) stops the agent with exit code 1");
    let lo = Loopback::allocate()?;
    let bad = r#"{"service": {"name": "api", "check": {"http": "http://127.0.0.1:1/"}}}"#;
    let mut agent = AgentProcess::dev(&lo)?
        .config_file("bad.json", bad)
        .spawn()?;
    let status = agent.wait_exit_async(secs(10)).await?;
    assert_eq!(status.code(), Some(1));
    let stderr = agent.stderr();
    assert!(
        stderr.contains("service") && stderr.contains("Interval"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_in_the_config_run_script_and_http_handlers() -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    init_tracing();
    // An HTTP endpoint that keeps the bodies it is sent.
    let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink_addr = sink.local_addr()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = sink.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read until the body (after the blank line) has arrived.
                while let Ok(n) = sock.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            let _ = tx.send(body.to_owned());
                            break;
                        }
                    }
                }
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    let lo = Loopback::allocate()?;
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("handler.out");
    let cfg = format!(
        r#"{{
  // Consul's watches: a script handler and an HTTP handler
  "watches": [
    {{"type": "key", "key": "cfg/x", "args": ["sh", "-c", "cat >> {out}; echo >> {out}"]}},
    {{"type": "keyprefix", "prefix": "cfg/", "handler_type": "http",
      "http_handler_config": {{"path": "http://{sink_addr}/hook", "method": "POST", "timeout": "5s"}}}}
  ]
}}"#,
        out = out.display()
    );
    let agent = AgentProcess::dev(&lo)?
        .config_file("watches.json", &cfg)
        .start()
        .await?;
    let r = agent
        .http()
        .put(agent.url("/v1/kv/cfg/x"))
        .body("hello")
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    praetor_testkit::wait_for(secs(10), "the script handler saw the key", || async {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.contains("\"Key\":\"cfg/x\"") && text.contains("aGVsbG8=") {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await?;
    let body = tokio::time::timeout(secs(10), async {
        loop {
            let b = rx.recv().await.unwrap_or_default();
            if b.contains("cfg/x") {
                return b;
            }
        }
    })
    .await?;
    assert!(
        body.contains("aGVsbG8="),
        "the HTTP handler got the prefix's JSON: {body}"
    );
    agent.shutdown().await?;

    info!("--- a watch without a handler stops the agent with exit code 1");
    let lo = Loopback::allocate()?;
    let mut bad = AgentProcess::dev(&lo)?
        .config_file("bad.json", r#"{"watches": [{"type": "key", "key": "k"}]}"#)
        .spawn()?;
    assert_eq!(bad.wait_exit_async(secs(10)).await?.code(), Some(1));
    assert!(bad.stderr().contains("watches[0]"), "{}", bad.stderr());
    Ok(())
}
