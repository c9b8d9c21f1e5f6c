//! `members`, `info`, `version`; where the CLI finds the agent (`-http-addr`,
//! `PRAETOR_HTTP_ADDR`, `CONSUL_HTTP_ADDR`); and errors on stderr with exit
//! code 1.

use praetor_testkit::{Cli, Loopback};
use tracing::info;

use crate::{dev_agent, praetor, raw};

#[tokio::test]
async fn members_lists_the_node_as_an_alive_server() -> anyhow::Result<()> {
    let (a, lo) = dev_agent().await?;
    let out = praetor(&a, &["members"]);
    out.assert_success();
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [
            "Node",
            "Address",
            "Status",
            "Type",
            "Build",
            "Protocol",
            "DC",
            "Partition",
            "Segment"
        ],
        "{out:?}"
    );
    assert_eq!(lines.len(), 2, "one member: {out:?}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")?;
    assert_eq!(lines[1][0], host.trim());
    assert_eq!(lines[1][1], format!("{}:8301", lo.ip()));
    assert_eq!(&lines[1][2..4], ["alive", "server"]);
    assert_eq!(lines[1][6], "dc1");
    a.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn info_and_version() -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    let out = praetor(&a, &["info"]);
    out.assert_success();
    for section in ["agent:", "build:", "consul:", "raft:", "runtime:"] {
        assert!(
            out.stdout.lines().any(|l| l == section),
            "info has a {section} section:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("\tleader = true\n"), "{}", out.stdout);
    assert!(out.stdout.contains("\tstate = Leader\n"), "{}", out.stdout);
    let v = Cli::new(["version"]).run()?;
    v.assert_success();
    let lines: Vec<&str> = v.stdout.lines().collect();
    assert!(lines[0].starts_with("Praetor v"), "{v:?}");
    // The revision built, as the agent of the same binary reports it.
    let revision = lines[1].strip_prefix("Revision ").expect("a revision line");
    assert!(
        revision == "unknown"
            || (revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())),
        "{v:?}"
    );
    let me: serde_json::Value = a
        .http()
        .get(a.url("/v1/agent/self"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(me["Config"]["Revision"], revision);
    let date = lines[2]
        .strip_prefix("Build Date ")
        .expect("a build date line");
    assert_eq!(me["Config"]["BuildDate"], date);
    let api = format!("Consul API v{}", me["Config"]["Version"].as_str().unwrap());
    assert!(lines[3].starts_with(&api), "{v:?}");
    a.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn the_agent_address_comes_from_the_flag_then_praetor_then_consul_env() -> anyhow::Result<()>
{
    let (a, _lo) = dev_agent().await?;
    // Nothing listens on a second address of our own.
    let dead = Loopback::allocate()?;
    let (live, dead) = (a.http_addr(), dead.http_addr());
    let put = |key: &str| vec!["kv".to_owned(), "put".into(), key.to_owned(), "v".into()];
    let put_at = |addr: &str, key: &str| {
        vec![
            "kv".to_owned(),
            "put".into(),
            format!("-http-addr={addr}"),
            key.to_owned(),
            "v".into(),
        ]
    };

    info!("--- CONSUL_HTTP_ADDR alone, with and without a scheme");
    Cli::new(put("env/consul"))
        .env("CONSUL_HTTP_ADDR", &live)
        .run()?
        .assert_success();
    Cli::new(put("env/scheme"))
        .env("CONSUL_HTTP_ADDR", &format!("http://{live}"))
        .run()?
        .assert_success();
    info!("--- PRAETOR_HTTP_ADDR wins over CONSUL_HTTP_ADDR");
    Cli::new(put("env/praetor"))
        .env("PRAETOR_HTTP_ADDR", &live)
        .env("CONSUL_HTTP_ADDR", &dead)
        .run()?
        .assert_success();
    info!("--- -http-addr wins over both");
    let flag = Cli::new(put_at(&live, "env/flag"))
        .env("PRAETOR_HTTP_ADDR", &dead)
        .env("CONSUL_HTTP_ADDR", &dead);
    flag.run()?.assert_success();
    Cli::new(put_at(&dead, "env/not-written"))
        .env("PRAETOR_HTTP_ADDR", &live)
        .run()?
        .assert_code(1);
    for key in ["env/consul", "env/scheme", "env/praetor", "env/flag"] {
        assert_eq!(raw(&a, key).await?.as_deref(), Some(&b"v"[..]), "{key}");
    }
    assert_eq!(raw(&a, "env/not-written").await?, None);
    a.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn errors_go_to_stderr_with_exit_code_1() -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    let dead = Loopback::allocate()?;

    info!("--- a missing key");
    let out = praetor(&a, &["kv", "get", "nope"]);
    out.assert_code(1);
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("", "Error! No key exists at: nope\n")
    );

    info!("--- an unreachable agent, for reads and writes");
    for args in [
        &["kv", "get", "x"][..],
        &["kv", "put", "x", "v"],
        &["members"],
        &["info"],
    ] {
        let out = Cli::new(args.iter().copied())
            .env("CONSUL_HTTP_ADDR", &dead.http_addr())
            .run()?;
        out.assert_code(1);
        assert!(out.stdout.is_empty(), "{out:?}");
        assert!(
            out.stderr.starts_with("Error! ") && out.stderr.contains(&dead.http_addr()),
            "names the address: {out:?}"
        );
        assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
    }

    info!("--- usage errors Consul reports the same way");
    let out = praetor(&a, &["kv", "put", "-cas", "k", "v"]);
    out.assert_code(1);
    assert!(out.stderr.contains("-modify-index"), "{out:?}");
    let out = praetor(
        &a,
        &["kv", "delete", "-cas", "-modify-index=1", "-recurse", "k"],
    );
    out.assert_code(1);
    assert!(out.stderr.contains("-recurse"), "{out:?}");
    assert_eq!(raw(&a, "k").await?, None, "nothing was written");
    a.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn services_register_deregister_and_catalog_listings() -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("web.json");
    std::fs::write(
        &file,
        r#"{
  // a service file in the agent's config format
  "service": {"id": "web1", "name": "web", "tags": ["v1", "blue"], "port": 8080,
              "check": {"ttl": "30s", "status": "passing"}}
}"#,
    )?;
    let out = praetor(
        &a,
        &["services", "register", file.to_str().unwrap_or_default()],
    );
    out.assert_success();
    assert_eq!(out.stdout.trim(), "Registered service: web");
    praetor(
        &a,
        &[
            "services",
            "register",
            "-name=api",
            "-port=9090",
            "-tag=x",
            "-meta=team=core",
        ],
    )
    .assert_success();

    // Anti-entropy puts them in the catalog at once; wait for it.
    praetor_testkit::wait_for(
        praetor_testkit::secs(10),
        "both services in the catalog",
        || async {
            let out = praetor(&a, &["catalog", "services"]);
            let names: Vec<&str> = out.stdout.lines().collect();
            if names.contains(&"web") && names.contains(&"api") {
                Ok(())
            } else {
                Err(out.stdout.clone())
            }
        },
    )
    .await?;
    let out = praetor(&a, &["catalog", "services", "-tags"]);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("web") && l.ends_with("blue,v1")),
        "{out:?}"
    );
    let out = praetor(&a, &["catalog", "nodes"]);
    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["Node", "ID", "Address", "DC"], "{out:?}");
    let out = praetor(&a, &["catalog", "nodes", "-service=web"]);
    assert_eq!(
        out.stdout.lines().count(),
        2,
        "a header and the one node: {out:?}"
    );
    assert_eq!(
        praetor(&a, &["catalog", "datacenters"]).stdout.trim(),
        "dc1"
    );

    let out = praetor(&a, &["services", "deregister", "-id=web1"]);
    out.assert_success();
    assert_eq!(out.stdout.trim(), "Deregistered service: web1");
    let out = praetor(&a, &["services", "register", "-port=1"]);
    out.assert_code(1);
    let out = praetor(&a, &["services", "deregister", "-id=nope"]);
    out.assert_code(1);

    // Definition files are read as the agent reads config files: HCL too,
    // and a syntax error names the file and the line (past a block comment
    // that spans lines, so the comment kept its newlines).
    let hcl = dir.path().join("db.hcl");
    std::fs::write(
        &hcl,
        "service {
  name = \"db\"
  port = 5432
}
",
    )?;
    let out = praetor(
        &a,
        &["services", "register", hcl.to_str().unwrap_or_default()],
    );
    out.assert_success();
    assert_eq!(out.stdout.trim(), "Registered service: db");
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\n/* one\n two */\n\"service\": {\"name\": \"x\",}\n}",
    )?;
    let out = praetor(
        &a,
        &["services", "register", bad.to_str().unwrap_or_default()],
    );
    out.assert_code(1);
    assert!(
        out.stderr.contains("bad.json") && out.stderr.contains("line 4"),
        "the refusal names the file and the line: {out:?}"
    );
    a.shutdown().await?;
    Ok(())
}
