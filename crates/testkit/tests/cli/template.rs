//! `praetor template`: consul-template's templates rendered from the KV
//! store and the catalog, rendered again on every change: the command runs
//! once per written change, a burst of changes settles into one render
//! with `-wait`, a critical instance leaves an upstream list, a missing
//! key blocks the first render unless it has a default, the agent's
//! restart leaves the last good file as it was, and `-exec` reloads its
//! child. Every wait here is bounded; no test asserts a duration.

use std::path::Path;

use praetor_testkit::{secs, AgentProcess, Cli, CliChild, Loopback, Signal};
use serde_json::json;
use tracing::info;

use crate::{cli, dev_agent, praetor};

/// Waits (at most 20 s) until `path` holds text `done` accepts; returns it.
async fn file_becomes(path: &Path, what: &str, done: impl Fn(&str) -> bool) -> String {
    let result = praetor_testkit::wait_for(secs(20), what, || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let ok = done(&text);
        async move {
            if ok {
                Ok(text)
            } else {
                Err(text)
            }
        }
    })
    .await;
    result.unwrap_or_else(|e| panic!("{e}"))
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .count()
}

async fn put(agent: &AgentProcess, key: &str, value: &str) {
    let r = agent
        .http()
        .put(agent.url(&format!("/v1/kv/{key}")))
        .body(value.to_owned())
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status(), 200, "PUT {key}");
}

fn spawn(agent: &AgentProcess, args: &[&str]) -> CliChild {
    cli(agent, args).spawn().expect("praetor template starts")
}

#[tokio::test]
async fn a_kv_change_renders_again_and_runs_the_command_once() -> anyhow::Result<()> {
    let (agent, _lo) = dev_agent().await?;
    let dir = tempfile::tempdir()?;
    let (tpl, out, log) = (
        dir.path().join("in.tpl"),
        dir.path().join("out/app.conf"),
        dir.path().join("cmd.log"),
    );
    std::fs::write(&tpl, "port = {{ key \"app/port\" }}\n")?;
    put(&agent, "app/port", "1").await;
    let spec = format!(
        "{}:{}:echo ran >> {}",
        tpl.display(),
        out.display(),
        log.display()
    );
    let run = spawn(&agent, &["template", "-template", &spec]);
    file_becomes(&out, "the first render", |t| t == "port = 1\n").await;
    file_becomes(&log, "the command after the first render", |t| t == "ran\n").await;

    put(&agent, "app/port", "2").await;
    file_becomes(&out, "the render of the change", |t| t == "port = 2\n").await;
    file_becomes(&log, "the command after the change", |t| t == "ran\nran\n").await;

    info!("--- writing the same value changes nothing: no write, no command");
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&out)?);
    put(&agent, "app/port", "2").await;
    put(&agent, "app/other", "x").await;
    put(&agent, "app/port", "3").await;
    file_becomes(&out, "the next change", |t| t == "port = 3\n").await;
    file_becomes(&log, "its command", |t| t.lines().count() == 3).await;
    assert_ne!(
        inode,
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&out)?),
        "replaced by a rename, not rewritten in place"
    );
    let stopped = run.stop(secs(10))?;
    stopped.assert_code(0);
    assert_eq!(lines(&log), 3, "{stopped:?}");
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn wait_turns_a_burst_of_fifty_changes_into_one_render() -> anyhow::Result<()> {
    let (agent, _lo) = dev_agent().await?;
    let dir = tempfile::tempdir()?;
    let (tpl, out, log) = (
        dir.path().join("in.tpl"),
        dir.path().join("out"),
        dir.path().join("cmd.log"),
    );
    std::fs::write(&tpl, "{{ key \"burst\" }}")?;
    put(&agent, "burst", "0").await;
    let spec = format!(
        "{}:{}:echo ran >> {}",
        tpl.display(),
        out.display(),
        log.display()
    );
    // Settled after 2 s without a change; at the latest 60 s after the first.
    let run = spawn(&agent, &["template", "-wait=2s:60s", "-template", &spec]);
    file_becomes(&log, "the first render", |t| t == "ran\n").await;
    for i in 1..=50 {
        put(&agent, "burst", &i.to_string()).await;
    }
    file_becomes(&out, "the last value of the burst", |t| t == "50").await;
    let stopped = run.stop(secs(10))?;
    assert_eq!(
        std::fs::read_to_string(&log)?,
        "ran\nran\n",
        "one render for the whole burst: {stopped:?}"
    );
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_critical_instance_leaves_the_upstream_list_and_comes_back() -> anyhow::Result<()> {
    let (agent, _lo) = dev_agent().await?;
    for (id, port) in [("web-1", 8001), ("web-2", 8002)] {
        let r = agent
            .http()
            .put(agent.url("/v1/agent/service/register"))
            .json(&json!({
                "ID": id, "Name": "web", "Port": port, "Address": "10.0.0.1",
                "Check": {"CheckID": format!("{id}-ttl"), "TTL": "10m"}
            }))
            .send()
            .await?;
        assert_eq!(r.status(), 200);
        let r = agent
            .http()
            .put(agent.url(&format!("/v1/agent/check/pass/{id}-ttl")))
            .send()
            .await?;
        assert_eq!(r.status(), 200);
    }
    let dir = tempfile::tempdir()?;
    let (tpl, out) = (dir.path().join("nginx.tpl"), dir.path().join("nginx.conf"));
    std::fs::write(
        &tpl,
        "upstream web {\n{{- range service \"web\" }}\n  server {{ .Address }}:{{ .Port }};\n{{- end }}\n}\n",
    )?;
    let spec = format!("{}:{}", tpl.display(), out.display());
    let run = spawn(&agent, &["template", "-template", &spec]);
    let both = "upstream web {\n  server 10.0.0.1:8001;\n  server 10.0.0.1:8002;\n}\n";
    file_becomes(&out, "both instances", |t| t == both).await;

    agent
        .http()
        .put(agent.url("/v1/agent/check/fail/web-2-ttl"))
        .send()
        .await?
        .error_for_status()?;
    file_becomes(&out, "web-2 gone", |t| {
        t == "upstream web {\n  server 10.0.0.1:8001;\n}\n"
    })
    .await;
    agent
        .http()
        .put(agent.url("/v1/agent/check/pass/web-2-ttl"))
        .send()
        .await?
        .error_for_status()?;
    file_becomes(&out, "web-2 back", |t| t == both).await;
    run.stop(secs(10))?.assert_code(0);
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_missing_key_blocks_the_first_render_unless_it_has_a_default() -> anyhow::Result<()> {
    let (agent, _lo) = dev_agent().await?;
    let dir = tempfile::tempdir()?;
    let (blocked, defaulted) = (dir.path().join("blocked"), dir.path().join("defaulted"));
    let with_default = format!("{}/d.tpl:{}", dir.path().display(), defaulted.display());
    std::fs::write(
        dir.path().join("d.tpl"),
        "{{ keyOrDefault \"later\" \"5\" }}",
    )?;
    std::fs::write(dir.path().join("b.tpl"), "{{ key \"later\" }}")?;
    let without = format!("{}/b.tpl:{}", dir.path().display(), blocked.display());
    let run = spawn(
        &agent,
        &[
            "template",
            "-template",
            &with_default,
            "-template",
            &without,
        ],
    );
    file_becomes(&defaulted, "the default", |t| t == "5").await;
    assert!(
        !blocked.exists(),
        "nothing is written before the key exists"
    );
    put(&agent, "later", "9").await;
    file_becomes(&blocked, "the key's value", |t| t == "9").await;
    file_becomes(&defaulted, "the key's value", |t| t == "9").await;
    run.stop(secs(10))?.assert_code(0);
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn the_agents_restart_leaves_the_last_good_file_untouched() -> anyhow::Result<()> {
    praetor_testkit::init_tracing();
    let lo = Loopback::allocate()?;
    let mut agent = AgentProcess::server(&lo)?.start().await?;
    put(&agent, "cfg", "before").await;
    let dir = tempfile::tempdir()?;
    let (tpl, out) = (dir.path().join("in.tpl"), dir.path().join("out"));
    std::fs::write(&tpl, "value={{ key \"cfg\" }}\n")?;
    let spec = format!("{}:{}", tpl.display(), out.display());
    let mut run = Cli::new(["template", "-template", &spec])
        .env("CONSUL_HTTP_ADDR", &agent.http_addr())
        .spawn()?;
    file_becomes(&out, "the first render", |t| t == "value=before\n").await;
    let modified = std::fs::metadata(&out)?.modified()?;

    info!("--- the agent stops: the renderer logs failed reads and keeps the file");
    agent.signal(Signal::Term)?;
    agent.wait_exit_async(secs(20)).await?;
    praetor_testkit::wait_for(secs(30), "a logged failed read", || {
        let err = run.stderr();
        async move {
            if err.contains("reading data failed") {
                Ok(())
            } else {
                Err(err)
            }
        }
    })
    .await?;
    assert!(run.is_running());
    assert_eq!(std::fs::read_to_string(&out)?, "value=before\n");
    assert_eq!(
        std::fs::metadata(&out)?.modified()?,
        modified,
        "not rewritten"
    );

    info!("--- it comes back: the same data writes nothing, a change is rendered");
    agent.restart().await?;
    put(&agent, "cfg", "after").await;
    file_becomes(&out, "the change after the restart", |t| {
        t == "value=after\n"
    })
    .await;
    run.stop(secs(10))?.assert_code(0);
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn exec_starts_its_child_after_the_first_render_and_signals_it_on_changes(
) -> anyhow::Result<()> {
    let (agent, _lo) = dev_agent().await?;
    let dir = tempfile::tempdir()?;
    let (tpl, out, log) = (
        dir.path().join("in.tpl"),
        dir.path().join("out"),
        dir.path().join("child.log"),
    );
    std::fs::write(&tpl, "{{ key \"v\" }}")?;
    put(&agent, "v", "1").await;
    let child = format!(
        "echo \"start $(cat {out})\" >> {log}; trap 'echo \"reload $(cat {out})\" >> {log}' HUP; \
         for i in $(seq 1 600); do sleep 0.1; done",
        out = out.display(),
        log = log.display()
    );
    let spec = format!("{}:{}", tpl.display(), out.display());
    let run = spawn(
        &agent,
        &[
            "template",
            "-template",
            &spec,
            "-exec",
            &child,
            "-exec-reload-signal=SIGHUP",
            "-exec-kill-signal=SIGKILL",
        ],
    );
    file_becomes(&log, "the child's start", |t| t == "start 1\n").await;
    put(&agent, "v", "2").await;
    file_becomes(&log, "the reload", |t| t == "start 1\nreload 2\n").await;
    let stopped = run.stop(secs(20))?;
    stopped.assert_code(128 + 9);
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn malformed_templates_and_configs_fail_with_the_file_line_and_reason() -> anyhow::Result<()>
{
    let (agent, _lo) = dev_agent().await?;
    let dir = tempfile::tempdir()?;
    let bad = dir.path().join("bad.tpl");
    std::fs::write(
        &bad,
        "ok\n{{ range service \"web\" }}\n{{ if }}{{ end }}\n{{ end }}\n",
    )?;
    let spec = format!("{}:{}", bad.display(), dir.path().join("o").display());
    let out = praetor(&agent, &["template", "-once", "-template", &spec]);
    out.assert_code(1);
    assert!(
        out.stderr
            .contains(&format!("template: {}:3:", bad.display())),
        "{out:?}"
    );
    assert!(!dir.path().join("o").exists());

    let cfg = dir.path().join("ct.hcl");
    std::fs::write(
        &cfg,
        "template {\n  contents = \"x\"\n  destination = \"/tmp/y\"\n  perms = \"rw\"\n}\n",
    )?;
    let out = praetor(&agent, &["template", "-config", &cfg.display().to_string()]);
    out.assert_code(1);
    assert!(
        out.stderr.contains("perms \\\"rw\\\"") || out.stderr.contains("perms \"rw\""),
        "{out:?}"
    );
    let out = praetor(&agent, &["template", "-template", "only-a-source"]);
    out.assert_code(1);
    assert!(out.stderr.contains("destination is missing"), "{out:?}");
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_config_file_with_template_blocks_renders_like_the_flags() -> anyhow::Result<()> {
    let (agent, _lo) = dev_agent().await?;
    put(&agent, "service/redis/maxconns", "15").await;
    let dir = tempfile::tempdir()?;
    let (a, b) = (dir.path().join("a.conf"), dir.path().join("b.conf"));
    let cfg = dir.path().join("ct.hcl");
    std::fs::write(
        &cfg,
        format!(
            "# consul-template's config\nwait {{\n  min = \"1s\"\n  max = \"4s\"\n}}\n\
             template {{\n  contents = \"maxconns={{{{ key \\\"service/redis/maxconns\\\" }}}}\"\n  \
             destination = \"{}\"\n  perms = 0600\n}}\n\
             template {{\n  contents = \"[[ keyOrDefault \\\"nope\\\" \\\"d\\\" ]]\"\n  \
             destination = \"{}\"\n  left_delimiter = \"[[\"\n  right_delimiter = \"]]\"\n}}\n",
            a.display(),
            b.display()
        ),
    )?;
    let out = praetor(
        &agent,
        &["template", "-once", "-config", &cfg.display().to_string()],
    );
    out.assert_success();
    assert_eq!(std::fs::read_to_string(&a)?, "maxconns=15");
    assert_eq!(std::fs::read_to_string(&b)?, "d");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&a)?.permissions());
    assert_eq!(mode & 0o777, 0o600);
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn the_agent_renders_the_template_blocks_of_its_config() -> anyhow::Result<()> {
    praetor_testkit::init_tracing();
    let lo = Loopback::allocate()?;
    let dir = tempfile::tempdir()?;
    let (out, log) = (dir.path().join("app.conf"), dir.path().join("cmd.log"));
    let config = format!(
        "template {{\n  contents = \"port={{{{ keyOrDefault \\\"app/port\\\" \\\"80\\\" }}}}\\n\"\n  \
         destination = \"{}\"\n  command = \"echo ran >> {}\"\n}}\n",
        out.display(),
        log.display()
    );
    let agent = AgentProcess::dev(&lo)?
        .config_file("templates.hcl", &config)
        .start()
        .await?;
    file_becomes(&out, "the default", |t| t == "port=80\n").await;
    put(&agent, "app/port", "8080").await;
    file_becomes(&out, "the change", |t| t == "port=8080\n").await;
    file_becomes(&log, "the command once per change", |t| t == "ran\nran\n").await;
    agent.shutdown().await?;

    info!("--- a template that does not parse stops the start, naming it");
    let lo = Loopback::allocate()?;
    let bad = "template {\n  contents = \"{{ if }}\"\n  destination = \"/tmp/never\"\n}\n";
    let started = AgentProcess::dev(&lo)?
        .config_file("bad.hcl", bad)
        .start()
        .await;
    let err = match started {
        Ok(_) => panic!("the agent started with a template that does not parse"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("missing value for if"), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_file_the_template_reads_renders_again_when_it_changes() -> anyhow::Result<()> {
    let (agent, _lo) = dev_agent().await?;
    let dir = tempfile::tempdir()?;
    let (tpl, input, out) = (
        dir.path().join("in.tpl"),
        dir.path().join("extra.txt"),
        dir.path().join("out"),
    );
    std::fs::write(&input, "one")?;
    std::fs::write(&tpl, format!("[{{{{ file \"{}\" }}}}]", input.display()))?;
    let spec = format!("{}:{}", tpl.display(), out.display());
    let run = spawn(&agent, &["template", "-template", &spec]);
    file_becomes(&out, "the file's content", |t| t == "[one]").await;
    std::fs::write(&input, "two")?;
    file_becomes(&out, "the file's new content", |t| t == "[two]").await;
    run.stop(secs(10))?.assert_code(0);
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn dry_prints_every_render_on_stdout_and_writes_and_runs_nothing() -> anyhow::Result<()> {
    let (agent, _lo) = dev_agent().await?;
    let dir = tempfile::tempdir()?;
    let (tpl, out, ran) = (
        dir.path().join("in.tpl"),
        dir.path().join("out.conf"),
        dir.path().join("ran"),
    );
    std::fs::write(&tpl, "port = {{ key \"app/port\" }}\n")?;
    put(&agent, "app/port", "1").await;
    let spec = format!(
        "{}:{}:touch {}",
        tpl.display(),
        out.display(),
        ran.display()
    );

    info!("--- -dry -once: the output on stdout after `> destination`, then the end");
    let once = praetor(&agent, &["template", "-dry", "-once", "-template", &spec]);
    once.assert_success();
    assert_eq!(once.stdout, format!("> {}\nport = 1\n", out.display()));

    info!("--- -dry: every change printed again");
    let mut run = spawn(&agent, &["template", "-dry", "-template", &spec]);
    let first = format!("> {}\nport = 1\n", out.display());
    run.wait_for_stdout(secs(20), "the first render", |s| s == first)
        .await?;
    put(&agent, "app/port", "2").await;
    let both = format!("{first}> {}\nport = 2\n", out.display());
    run.wait_for_stdout(secs(20), "the change", |s| s == both)
        .await?;
    let stopped = run.stop(secs(10))?;
    stopped.assert_code(0);
    assert_eq!(stopped.stdout, both);
    assert!(!out.exists(), "-dry writes no destination");
    assert!(!ran.exists(), "-dry runs no command");
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn the_http_addr_flag_wins_over_consul_http_addr() -> anyhow::Result<()> {
    let (agent, _lo) = dev_agent().await?;
    put(&agent, "where", "here").await;
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("out");
    let spec = format!(
        "{}:{}",
        {
            let tpl = dir.path().join("in.tpl");
            std::fs::write(&tpl, "{{ key \"where\" }}")?;
            tpl.display().to_string()
        },
        out.display()
    );
    // Nothing listens on port 1 of the agent's address.
    let wrong = format!("{}:1", agent.ip());
    let flag = format!("-http-addr={}", agent.http_addr());
    let consul_addr = format!("-consul-addr={}", agent.http_addr());
    for (env, args) in [
        (Some(wrong.as_str()), vec!["template", &flag, "-once"]),
        (None, vec!["template", &flag, "-once"]),
        (
            Some(wrong.as_str()),
            vec!["template", "-once", &consul_addr],
        ),
    ] {
        let _ = std::fs::remove_file(&out);
        let mut all = args.clone();
        all.extend(["-template", &spec]);
        let mut cmd = Cli::new(all.iter().copied()).timeout(secs(20));
        if let Some(addr) = env {
            cmd = cmd.env("CONSUL_HTTP_ADDR", addr);
        }
        let done = cmd.run()?;
        done.assert_success();
        assert_eq!(std::fs::read_to_string(&out)?, "here", "{args:?}: {done:?}");
    }

    info!("--- with only the wrong address, nothing is written and the failure is logged");
    let _ = std::fs::remove_file(&out);
    let mut run = Cli::new(["template", "-once", "-template", &spec])
        .env("CONSUL_HTTP_ADDR", &wrong)
        .spawn()?;
    praetor_testkit::wait_for(secs(20), "a logged failed read", || {
        let err = run.stderr();
        async move {
            if err.contains("reading data failed") {
                Ok(())
            } else {
                Err(err)
            }
        }
    })
    .await?;
    assert!(run.is_running(), "-once waits for the agent");
    assert!(!out.exists());
    run.stop(secs(10))?;
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn with_acls_the_token_from_a_flag_or_the_environment_reads_the_keys_and_none_is_refused(
) -> anyhow::Result<()> {
    use crate::acl::{acl_agent, MGMT};
    let (agent, _lo) = acl_agent(Some(MGMT)).await?;
    let as_mgmt = |method: reqwest::Method, path: &str, body: String| {
        agent
            .http()
            .request(method, agent.url(path))
            .header("X-Consul-Token", MGMT)
            .body(body)
            .send()
    };
    let r = as_mgmt(
        reqwest::Method::PUT,
        "/v1/kv/config/app/port",
        "8080".into(),
    )
    .await?;
    assert_eq!(r.status(), 200);
    let r = as_mgmt(
        reqwest::Method::PUT,
        "/v1/acl/policy",
        json!({"Name": "app-read", "Rules": r#"key_prefix "config/app/" { policy = "read" }"#})
            .to_string(),
    )
    .await?;
    assert_eq!(r.status(), 200, "{}", r.text().await?);
    let token: serde_json::Value = as_mgmt(
        reqwest::Method::PUT,
        "/v1/acl/token",
        json!({"Policies": [{"Name": "app-read"}]}).to_string(),
    )
    .await?
    .error_for_status()?
    .json()
    .await?;
    let secret = token["SecretID"].as_str().expect("a SecretID").to_owned();

    let dir = tempfile::tempdir()?;
    let (tpl, out) = (dir.path().join("in.tpl"), dir.path().join("out"));
    std::fs::write(&tpl, "port={{ key \"config/app/port\" }}")?;
    let spec = format!("{}:{}", tpl.display(), out.display());
    let (token_flag, consul_token) = (
        format!("-token={secret}"),
        format!("-consul-token={secret}"),
    );
    for (env, flag) in [
        (None, Some(token_flag.as_str())),
        (None, Some(consul_token.as_str())),
        (Some(secret.as_str()), None),
    ] {
        let _ = std::fs::remove_file(&out);
        let mut args = vec!["template", "-once", "-template", &spec];
        args.extend(flag);
        let mut cmd = cli(&agent, &args).timeout(secs(20));
        if let Some(t) = env {
            cmd = cmd.env("CONSUL_HTTP_TOKEN", t);
        }
        let done = cmd.run()?;
        done.assert_success();
        assert_eq!(
            std::fs::read_to_string(&out)?,
            "port=8080",
            "{flag:?}: {done:?}"
        );
    }

    info!("--- no token (the anonymous token, denied): nothing written, the refusal logged");
    let _ = std::fs::remove_file(&out);
    let mut run = spawn(&agent, &["template", "-once", "-template", &spec]);
    let err = praetor_testkit::wait_for(secs(20), "the refusal on stderr", || {
        let err = run.stderr();
        async move {
            if err.contains("reading data failed") {
                Ok(err)
            } else {
                Err(err)
            }
        }
    })
    .await?;
    assert!(
        err.contains("Permission denied") && err.contains("config/app/port"),
        "the reason and the key: {err}"
    );
    assert!(
        run.is_running(),
        "it keeps retrying, as for an unreachable agent"
    );
    assert!(!out.exists());
    run.stop(secs(10))?;
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn service_at_another_datacenter_lists_that_datacenters_instances() -> anyhow::Result<()> {
    let (dc1, _lo1) = dev_agent().await?;
    let lo2 = Loopback::allocate()?;
    let dc2 = AgentProcess::dev(&lo2)?
        .args([
            "-datacenter=dc2".to_owned(),
            format!("-retry-join-wan={}", dc1.ip()),
        ])
        .start()
        .await?;
    let register = |agent: &AgentProcess, id: &str, address: &str, port: u16| {
        agent
            .http()
            .put(agent.url("/v1/agent/service/register"))
            .json(&json!({"ID": id, "Name": "web", "Address": address, "Port": port}))
            .send()
    };
    register(&dc1, "web-west", "10.0.0.1", 8001)
        .await?
        .error_for_status()?;
    register(&dc2, "web-east-1", "10.2.0.1", 9001)
        .await?
        .error_for_status()?;
    let url = dc1.url("/v1/catalog/datacenters");
    praetor_testkit::wait_for(secs(30), "dc2 known to dc1's agent", || {
        let (http, url) = (dc1.http().clone(), url.clone());
        async move {
            let dcs: Vec<String> = http
                .get(&url)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            if dcs.contains(&"dc2".to_owned()) {
                Ok(())
            } else {
                Err(format!("{dcs:?}"))
            }
        }
    })
    .await?;

    let dir = tempfile::tempdir()?;
    let (tpl, out) = (dir.path().join("in.tpl"), dir.path().join("out"));
    std::fs::write(
        &tpl,
        "east:{{ range service \"web@dc2\" }} {{ .Address }}:{{ .Port }}{{ end }}\n\
         here:{{ range service \"web\" }} {{ .Address }}:{{ .Port }}{{ end }}\n",
    )?;
    let spec = format!("{}:{}", tpl.display(), out.display());
    // The renderer talks to dc1's agent only.
    let run = spawn(&dc1, &["template", "-template", &spec]);
    file_becomes(&out, "dc2's instance", |t| {
        t == "east: 10.2.0.1:9001\nhere: 10.0.0.1:8001\n"
    })
    .await;
    info!("--- a second instance in dc2 follows, through dc1's agent");
    register(&dc2, "web-east-2", "10.2.0.2", 9002)
        .await?
        .error_for_status()?;
    file_becomes(&out, "dc2's second instance", |t| {
        t == "east: 10.2.0.1:9001 10.2.0.2:9002\nhere: 10.0.0.1:8001\n"
    })
    .await;
    run.stop(secs(10))?.assert_code(0);
    dc2.shutdown().await?;
    dc1.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn commands_run_one_at_a_time() -> anyhow::Result<()> {
    let (agent, _lo) = dev_agent().await?;
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("cmd.log");
    put(&agent, "shared", "1").await;
    let mut args = vec!["template".to_owned()];
    for name in ["a", "b", "c"] {
        let tpl = dir.path().join(format!("{name}.tpl"));
        std::fs::write(&tpl, format!("{name}={{{{ key \"shared\" }}}}"))?;
        // Each command takes a while; one started while another ran would
        // show as two starts in a row.
        args.push("-template".into());
        args.push(format!(
            "{}:{}:echo start {name} >> {log}; sleep 0.5; echo end {name} >> {log}",
            tpl.display(),
            dir.path().join(format!("{name}.out")).display(),
            log = log.display()
        ));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = spawn(&agent, &args);
    file_becomes(&log, "the three commands after the first render", |t| {
        t.lines().count() == 6
    })
    .await;
    put(&agent, "shared", "2").await;
    let text = file_becomes(&log, "the three commands after the change", |t| {
        t.lines().count() == 12
    })
    .await;
    run.stop(secs(10))?.assert_code(0);
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks(2) {
        let name = pair[0]
            .strip_prefix("start ")
            .unwrap_or_else(|| panic!("{text}"));
        assert_eq!(
            pair[1],
            format!("end {name}"),
            "overlapping commands:\n{text}"
        );
    }
    for round in lines.chunks(6) {
        let mut names: Vec<&str> = round
            .iter()
            .filter_map(|l| l.strip_prefix("start "))
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["a", "b", "c"], "each once per render:\n{text}");
    }
    agent.shutdown().await?;
    Ok(())
}

/// The README's nginx template: the fenced block after the marker line.
fn readme_nginx_template(readme: &str) -> String {
    const MARKER: &str = "<!-- nginx.ctmpl: rendered by crates/testkit/tests/cli/template.rs -->";
    let after = readme
        .split_once(MARKER)
        .unwrap_or_else(|| panic!("README.md has no line {MARKER}"))
        .1;
    let block = after
        .trim_start()
        .strip_prefix("```")
        .expect("a fenced block right after the marker");
    let (_lang, body) = block.split_once('\n').expect("the fence's line");
    let (text, _) = body.split_once("\n```").expect("the closing fence");
    format!("{text}\n")
}

#[tokio::test]
async fn the_readmes_nginx_template_renders_the_catalogs_upstreams_and_the_kv_settings(
) -> anyhow::Result<()> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))?;
    let template = readme_nginx_template(&readme);
    let (agent, _lo) = dev_agent().await?;
    info!("--- the README's own `praetor kv put config/nginx/…` lines");
    let puts: Vec<Vec<&str>> = readme
        .lines()
        .filter(|l| l.starts_with("praetor kv put config/nginx/"))
        .map(|l| l.split_whitespace().skip(1).collect())
        .collect();
    assert!(puts.len() >= 2, "the README sets the nginx settings");
    for args in &puts {
        praetor(&agent, args).assert_success();
    }
    for (id, address, port, status) in [
        ("web-1", "10.0.0.1", 8001, "pass"),
        ("web-2", "10.0.0.2", 8002, "pass"),
        ("web-3", "10.0.0.3", 8003, "fail"),
    ] {
        agent
            .http()
            .put(agent.url("/v1/agent/service/register"))
            .json(&json!({
                "ID": id, "Name": "web", "Address": address, "Port": port,
                "Check": {"CheckID": format!("{id}-ttl"), "TTL": "10m"}
            }))
            .send()
            .await?
            .error_for_status()?;
        agent
            .http()
            .put(agent.url(&format!("/v1/agent/check/{status}/{id}-ttl")))
            .send()
            .await?
            .error_for_status()?;
    }
    let dir = tempfile::tempdir()?;
    let (tpl, conf, reloads) = (
        dir.path().join("nginx.ctmpl"),
        dir.path().join("nginx.conf"),
        dir.path().join("reloads"),
    );
    std::fs::write(&tpl, &template)?;
    // `nginx -s reload` stands in as a script that counts reloads.
    let spec = format!(
        "{}:{}:echo reload >> {}",
        tpl.display(),
        conf.display(),
        reloads.display()
    );
    let run = spawn(&agent, &["template", "-template", &spec]);
    let upstreams = |t: &str| -> Vec<String> {
        t.lines()
            .map(str::trim)
            .filter(|l| l.starts_with("server ") && l.ends_with(';') || l.contains(" down;"))
            .map(str::to_owned)
            .collect()
    };
    let text = file_becomes(&conf, "the passing instances", |t| {
        upstreams(t) == ["server 10.0.0.1:8001;", "server 10.0.0.2:8002;"]
    })
    .await;
    let setting = |name: &str| {
        puts.iter()
            .find(|a| a[2].ends_with(name))
            .map(|a| a[3].to_owned())
            .expect("the README sets it")
    };
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(
        lines.contains(&format!("listen {};", setting("/listen")).as_str()),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "worker_connections {};",
            setting("/worker_connections")
        )),
        "{text}"
    );
    assert!(
        !text.contains("10.0.0.3"),
        "the critical instance is left out:\n{text}"
    );
    assert!(!text.contains("{{"), "{text}");
    file_becomes(&reloads, "one reload", |t| t == "reload\n").await;

    info!("--- a setting changes: rendered, reloaded once more");
    praetor(&agent, &["kv", "put", "config/nginx/listen", "9090"]).assert_success();
    file_becomes(&conf, "the new listen port", |t| {
        t.lines().any(|l| l.trim() == "listen 9090;")
    })
    .await;
    file_becomes(&reloads, "the second reload", |t| t == "reload\nreload\n").await;

    info!("--- every instance critical: the README's fallback upstream");
    for id in ["web-1", "web-2"] {
        agent
            .http()
            .put(agent.url(&format!("/v1/agent/check/fail/{id}-ttl")))
            .send()
            .await?
            .error_for_status()?;
    }
    file_becomes(&conf, "no healthy instance", |t| {
        upstreams(t).len() == 1 && upstreams(t)[0].contains("down;")
    })
    .await;
    run.stop(secs(10))?.assert_code(0);
    agent.shutdown().await?;
    Ok(())
}
