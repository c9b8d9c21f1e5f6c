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
