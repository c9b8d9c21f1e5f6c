//! The operator's commands of issue 16, run as a user's shell would:
//! `maint`, `validate`, `snapshot decode`, `services deregister` with
//! files, and help in Consul's `-name=<value>` form.

use praetor_testkit::Cli;
use serde_json::Value;
use tracing::info;

use crate::{dev_agent, praetor};

#[tokio::test]
async fn maint_enables_lists_and_disables_node_and_service_maintenance() -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    praetor(
        &a,
        &["services", "register", "-name=web", "-id=web1", "-port=80"],
    )
    .assert_success();
    let out = praetor(&a, &["maint"]);
    out.assert_success();
    assert_eq!(out.stdout, "", "nothing is in maintenance: {out:?}");

    info!("--- the node and a service into maintenance");
    let out = praetor(&a, &["maint", "-enable", "-reason=kernel upgrade"]);
    out.assert_success();
    assert_eq!(out.stdout, "Node maintenance is now enabled\n");
    let out = praetor(&a, &["maint", "-enable", "-service=web1"]);
    out.assert_success();
    assert_eq!(
        out.stdout,
        "Service maintenance is now enabled for \"web1\"\n"
    );
    let out = praetor(&a, &["maint"]);
    out.assert_success();
    let node = a
        .http()
        .get(a.url("/v1/agent/self"))
        .send()
        .await?
        .json::<Value>()
        .await?["Config"]["NodeName"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        out.stdout.contains(&format!(
            "Node:\n  Name:   {node}\n  Reason: kernel upgrade\n"
        )),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("Service:\n  ID:     web1\n  Reason: "),
        "{out:?}"
    );

    info!("--- out of maintenance again");
    praetor(&a, &["maint", "-disable", "-service=web1"]).assert_success();
    let out = praetor(&a, &["maint", "-disable"]);
    out.assert_success();
    assert_eq!(out.stdout, "Node maintenance is now disabled\n");
    assert_eq!(praetor(&a, &["maint"]).stdout, "");

    info!("--- bad calls: Consul's messages, exit 1, nothing changed");
    let out = praetor(&a, &["maint", "-enable", "-disable"]);
    out.assert_code(1);
    assert_eq!(
        out.stderr,
        "Only one of -enable or -disable may be provided\n"
    );
    let out = praetor(&a, &["maint", "-service=web1"]);
    out.assert_code(1);
    assert_eq!(out.stderr, "Service requires either -enable or -disable\n");
    let out = praetor(&a, &["maint", "-enable", "-service=nope"]);
    out.assert_code(1);
    assert!(
        out.stderr
            .starts_with("Error enabling service maintenance: "),
        "{out:?}"
    );
    assert_eq!(praetor(&a, &["maint"]).stdout, "");
    a.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn validate_accepts_a_complete_config_and_refuses_a_bad_one_with_its_message(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    std::fs::create_dir(&data)?;
    let good = dir.path().join("good");
    std::fs::create_dir(&good)?;
    std::fs::write(
        good.join("agent.hcl"),
        format!(
            "data_dir = \"{}\"\nserver = true\nbootstrap_expect = 1\n",
            data.display()
        ),
    )?;
    std::fs::write(
        good.join("web.json"),
        r#"{"service": {"name": "web", "port": 80, "check": {"ttl": "30s"}}}"#,
    )?;
    let out = Cli::new(["validate", &good.display().to_string()]).run()?;
    out.assert_success();
    assert_eq!(out.stdout, "Configuration is valid!\n");
    let out = Cli::new(["validate", "-quiet", &good.display().to_string()]).run()?;
    out.assert_success();
    assert_eq!(out.stdout, "", "-quiet prints nothing on success");

    info!("--- a rule across files, a bad definition, no argument: exit 1 with the message");
    let bad = dir.path().join("client.json");
    std::fs::write(&bad, r#"{"server": false}"#)?;
    let agent_file = good.join("agent.hcl").display().to_string();
    let out = Cli::new(["validate", &agent_file, &bad.display().to_string()]).run()?;
    out.assert_code(1);
    assert_eq!(
        out.stderr,
        "Config validation failed: bootstrap_expect requires server mode\n"
    );
    let watch = dir.path().join("watch.json");
    std::fs::write(
        &watch,
        format!(
            r#"{{"data_dir": "{}", "watches": [{{"type": "key", "args": ["true"]}}]}}"#,
            data.display()
        ),
    )?;
    let out = Cli::new(["validate", &watch.display().to_string()]).run()?;
    out.assert_code(1);
    assert!(
        out.stderr.starts_with("Config validation failed: ") && out.stderr.contains("-key"),
        "{out:?}"
    );
    let out = Cli::new(["validate"]).run()?;
    out.assert_code(1);
    assert_eq!(
        out.stderr,
        "Must specify at least one config file or directory\n"
    );
    Ok(())
}

#[tokio::test]
async fn snapshot_decode_prints_a_saved_snapshots_records_as_json_lines() -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    praetor(&a, &["kv", "put", "app/config", "hello"]).assert_success();
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("backup.snap");
    let file_arg = file.display().to_string();
    praetor(&a, &["snapshot", "save", &file_arg]).assert_success();
    let out = praetor(&a, &["snapshot", "decode", &file_arg]);
    out.assert_success();
    let records: Vec<Value> = out
        .stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(records[0]["Type"], "SnapshotHeader", "{out:?}");
    assert!(records[0]["Data"]["Index"].as_u64() > Some(0), "{out:?}");
    let kv = records
        .iter()
        .find(|r| r["Type"] == "KVS" && r["Data"]["Key"] == "app/config")
        .unwrap_or_else(|| panic!("no KVS record for app/config: {out:?}"));
    assert_eq!(kv["Data"]["Value"], "aGVsbG8=");
    assert!(
        records
            .iter()
            .any(|r| r["Type"] == "Register" && r["Data"]["Node"].is_string()),
        "the agent's node is registered: {out:?}"
    );

    info!("--- a damaged file: one clear line, exit 1");
    let bytes = std::fs::read(&file)?;
    std::fs::write(&file, &bytes[..bytes.len() - 10])?;
    let out = praetor(&a, &["snapshot", "decode", &file_arg]);
    out.assert_code(1);
    assert!(out.stderr.contains("truncated"), "{out:?}");
    assert_eq!(out.stdout, "");
    a.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn services_deregister_takes_files_or_an_id() -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    let dir = tempfile::tempdir()?;
    let web = dir.path().join("web.json");
    std::fs::write(
        &web,
        r#"{"service": {"name": "web", "id": "web-1", "port": 80}}"#,
    )?;
    let db = dir.path().join("db.hcl");
    std::fs::write(&db, "service {\n  name = \"db\"\n  port = 5432\n}\n")?;
    let (web_arg, db_arg) = (web.display().to_string(), db.display().to_string());
    praetor(&a, &["services", "register", &web_arg]).assert_success();
    praetor(&a, &["services", "register", &db_arg]).assert_success();
    praetor(&a, &["services", "register", "-name=api"]).assert_success();
    let out = praetor(&a, &["services", "deregister", &web_arg, &db_arg]);
    out.assert_success();
    assert_eq!(
        out.stdout,
        "Deregistered service: web-1\nDeregistered service: db\n"
    );
    let out = praetor(&a, &["services", "deregister", "-id=api"]);
    out.assert_success();
    assert_eq!(out.stdout, "Deregistered service: api\n");
    let services: Value = a
        .http()
        .get(a.url("/v1/agent/services"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(services, serde_json::json!({}), "all three are gone");
    let out = praetor(&a, &["services", "deregister", "-id=api", &web_arg]);
    out.assert_code(1);
    assert_eq!(
        out.stderr,
        "Service deregistration requires arguments or -id, not both.\n"
    );
    a.shutdown().await?;
    Ok(())
}

#[test]
fn help_lists_flags_in_consuls_single_dash_form() -> anyhow::Result<()> {
    for args in [
        &["kv", "put", "-h"][..],
        &["kv", "put", "--help"],
        &["watch", "-help"],
    ] {
        let out = Cli::new(args.iter().copied()).run()?;
        out.assert_success();
        assert!(
            out.stdout.lines().any(|l| l == "  -http-addr=<value>"),
            "{out:?}"
        );
        assert!(out.stdout.lines().any(|l| l == "  -stale"), "{out:?}");
        assert!(
            !out.stdout.lines().any(|l| l.trim_start().starts_with("--")),
            "no double-dash flag: {out:?}"
        );
    }
    let out = Cli::new(["kv", "put", "-h"]).run()?;
    assert!(
        out.stdout
            .starts_with("Usage: praetor kv put [options] KEY [VALUE]\n"),
        "{out:?}"
    );
    assert!(out.stdout.lines().any(|l| l == "  -cas"), "{out:?}");
    assert!(
        out.stdout.lines().any(|l| l == "  -flags=<value>"),
        "{out:?}"
    );
    let out = Cli::new(["watch", "-h"]).run()?;
    assert!(
        out.stdout.lines().any(|l| l == "  -type=<value>"),
        "{out:?}"
    );
    assert!(out.stdout.lines().any(|l| l == "  -passingonly"), "{out:?}");
    Ok(())
}

/// `praetor reload` (Consul's `consul reload`): the agent re-reads its
/// config dir, as on SIGHUP, and the command says so.
#[tokio::test]
async fn reload_makes_the_agent_read_its_config_dir_again() -> anyhow::Result<()> {
    praetor_testkit::init_tracing();
    let lo = praetor_testkit::Loopback::allocate()?;
    let agent = praetor_testkit::AgentProcess::dev(&lo)?
        .config_dir_file("log.json", r#"{ "log_level": "info" }"#)
        .start()
        .await?;
    std::fs::write(
        agent.config_dir_path("log.json"),
        r#"{ "log_level": "debug" }"#,
    )?;
    let out = praetor(&agent, &["reload"]);
    out.assert_success();
    assert_eq!(out.stdout, "Configuration reload triggered\n");
    agent
        .wait_for_log(praetor_testkit::secs(10), "reloaded")
        .await?;
    // At debug the agent now logs each request, which at info it did not.
    let r = agent
        .http()
        .put(agent.url("/v1/kv/reload/after"))
        .body("1")
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    agent
        .wait_for_log(praetor_testkit::secs(5), "/v1/kv/reload/after")
        .await?;

    info!("--- a bad file: the command fails with the agent's reason, exit 1");
    std::fs::write(
        agent.config_dir_path("log.json"),
        r#"{ "ports": { "http": 70000 } }"#,
    )?;
    let out = praetor(&agent, &["reload"]);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("ports.http"), "{out:?}");
    Ok(())
}
