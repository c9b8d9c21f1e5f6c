//! `praetor acl …` end to end against an agent with ACLs on and
//! `default_policy = "deny"`: bootstrap once, policies from text, a file and
//! stdin, tokens limited to `key_prefix "config/app/" { policy = "read" }`
//! that read their keys and nothing else and cannot write (exit 1, the
//! agent's 403 in Consul's words), the token taken from `-token`,
//! `-token-file` and the environment, token list/read/clone/update/delete,
//! roles, and `acl set-agent-token`.

use praetor_testkit::{secs, AgentProcess, Cli, CliOutput, Loopback};
use tracing::info;

/// The configured `initial_management` token of the main test's agent.
pub(crate) const MGMT: &str = "5b1f3bd0-4b4c-4e6f-9b0e-2f0d7a3c1e11";

const APP_RULES: &str = r#"key_prefix "config/app/" { policy = "read" }"#;

/// An agent with ACLs on, deny by default, and `initial_management` when
/// given; returned once `/v1/acl/token/self` answers for `ready_token`
/// (or, without one, once the ACL endpoints answer at all).
pub(crate) async fn acl_agent(
    initial_management: Option<&str>,
) -> anyhow::Result<(AgentProcess, Loopback)> {
    praetor_testkit::init_tracing();
    let lo = Loopback::allocate()?;
    let tokens = initial_management
        .map(|t| format!(r#", "tokens": {{ "initial_management": "{t}" }}"#))
        .unwrap_or_default();
    let config = format!(r#"{{ "acl": {{ "enabled": true, "default_policy": "deny"{tokens} }} }}"#);
    let agent = AgentProcess::dev(&lo)?
        .config_file("acl.json", &config)
        .start()
        .await?;
    let url = agent.url("/v1/acl/token/self");
    praetor_testkit::wait_for(secs(15), "the agent's ACL system to answer", || {
        let (http, url) = (agent.http(), &url);
        async move {
            let mut req = http.get(url);
            if let Some(t) = initial_management {
                req = req.header("X-Consul-Token", t);
            }
            let r = req.send().await.map_err(|e| e.to_string())?;
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            match (initial_management, status) {
                (Some(_), 200) => Ok(()),
                // No token: the endpoint answers (the anonymous token, or a refusal).
                (None, 200 | 401 | 403) => Ok(()),
                _ => Err(format!("{status} {body}")),
            }
        }
    })
    .await?;
    Ok((agent, lo))
}

/// `praetor ARGS` against `agent` (its address in `CONSUL_HTTP_ADDR`).
fn cli(agent: &AgentProcess, args: &[&str]) -> Cli {
    Cli::new(args.iter().copied()).env("CONSUL_HTTP_ADDR", &agent.http_addr())
}

/// Runs `praetor ARGS` against `agent`.
#[track_caller]
fn run(agent: &AgentProcess, args: &[&str]) -> CliOutput {
    cli(agent, args).run().expect("the CLI ran to completion")
}

/// Runs `praetor ARGS` with `-token=MGMT` right after the subcommand words.
#[track_caller]
fn mgmt(agent: &AgentProcess, args: &[&str]) -> CliOutput {
    let token = format!("-token={MGMT}");
    let words = match args {
        ["acl", "bootstrap" | "set-agent-token", ..] => 2,
        ["acl", ..] => 3,
        _ => 2,
    };
    let mut all: Vec<&str> = args.to_vec();
    all.insert(words.min(all.len()), &token);
    run(agent, &all)
}

/// The value after `label` on its line in a pretty block (`AccessorID:  x`).
#[track_caller]
fn field(out: &CliOutput, label: &str) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {label:?} line in {out:?}"))
}

/// Asserts the command failed with exit code 1 and an agent's 403 on stderr,
/// worded as Consul's CLI words it, after `prefix`.
#[track_caller]
fn assert_denied(out: &CliOutput, prefix: &str) {
    out.assert_code(1);
    assert!(
        out.stderr
            .starts_with(&format!("{prefix}: Unexpected response code: 403 (")),
        "a 403 in Consul's words: {out:?}"
    );
    assert!(
        out.stderr.contains("Permission denied") || out.stderr.contains("ACL not found"),
        "the agent's reason: {out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_token_made_with_the_cli_reads_its_prefix_and_nothing_else() -> anyhow::Result<()> {
    let (a, _lo) = acl_agent(Some(MGMT)).await?;

    info!("--- the management token writes; no token is refused");
    mgmt(&a, &["kv", "put", "config/app/db", "pg"]).assert_success();
    mgmt(&a, &["kv", "put", "secret/root", "hunter2"]).assert_success();
    let anon = run(&a, &["kv", "get", "config/app/db"]);
    anon.assert_code(1);
    assert!(anon.stderr.contains("403"), "{anon:?}");

    info!("--- a policy from text, one from a file, one from stdin");
    let p = mgmt(
        &a,
        &[
            "acl",
            "policy",
            "create",
            "-name",
            "app-config",
            "-description",
            "reads config/app/",
            "-rules",
            APP_RULES,
        ],
    );
    p.assert_success();
    let app_policy = field(&p, "ID:");
    assert_eq!(field(&p, "Name:"), "app-config");
    assert_eq!(field(&p, "Description:"), "reads config/app/");
    assert!(
        p.stdout.ends_with(&format!("Rules:\n{APP_RULES}\n")),
        "rules last, as Consul prints them: {p:?}"
    );
    let dir = tempfile::tempdir()?;
    let rules_file = dir.path().join("nodes.hcl");
    std::fs::write(&rules_file, r#"node_prefix "" { policy = "read" }"#)?;
    let from_file = format!("-rules=@{}", rules_file.display());
    let nodes = mgmt(
        &a,
        &["acl", "policy", "create", "-name=node-read", &from_file],
    );
    nodes.assert_success();
    assert!(
        nodes.stdout.contains("Rules:\nnode_prefix \"\""),
        "{nodes:?}"
    );
    let stdin_policy = cli(
        &a,
        &[
            "acl",
            "policy",
            "create",
            &format!("-token={MGMT}"),
            "-name=svc-read",
            "-rules",
            "-",
            "-format=json",
        ],
    )
    .stdin(r#"service_prefix "" { policy = "read" }"#)
    .run()?;
    stdin_policy.assert_success();
    let json: serde_json::Value = serde_json::from_str(&stdin_policy.stdout)?;
    assert_eq!(json["Name"], "svc-read");
    assert_eq!(json["Rules"], r#"service_prefix "" { policy = "read" }"#);
    assert!(
        stdin_policy.stdout.starts_with("{\n    \""),
        "four-space indent: {stdin_policy:?}"
    );

    info!("--- policy list and read by name and by ID prefix");
    let list = mgmt(&a, &["acl", "policy", "list"]);
    list.assert_success();
    for name in [
        "app-config:",
        "node-read:",
        "svc-read:",
        "global-management:",
    ] {
        assert!(list.stdout.lines().any(|l| l == name), "{name} in {list:?}");
    }
    assert!(
        list.stdout
            .contains(&format!("   ID:           {app_policy}\n")),
        "{list:?}"
    );
    let by_name = mgmt(&a, &["acl", "policy", "read", "-name", "app-config"]);
    by_name.assert_success();
    assert_eq!(field(&by_name, "ID:"), app_policy);
    let by_prefix = mgmt(&a, &["acl", "policy", "read", "-id", &app_policy[..8]]);
    by_prefix.assert_success();
    assert_eq!(field(&by_prefix, "Name:"), "app-config");

    info!("--- a token with the app policy");
    let t = mgmt(
        &a,
        &[
            "acl",
            "token",
            "create",
            "-description",
            "app",
            "-policy-name",
            "app-config",
        ],
    );
    t.assert_success();
    let accessor = field(&t, "AccessorID:");
    let secret = field(&t, "SecretID:");
    assert_eq!(field(&t, "Description:"), "app");
    assert_eq!(field(&t, "Local:"), "false");
    assert!(field(&t, "Create Time:").ends_with(" +0000 UTC"), "{t:?}");
    assert!(
        t.stdout
            .contains(&format!("Policies:\n   {app_policy} - app-config\n")),
        "{t:?}"
    );

    let expiring = mgmt(
        &a,
        &[
            "acl",
            "token",
            "create",
            "-policy-id",
            &app_policy[..8],
            "-expires-ttl=1h",
        ],
    );
    expiring.assert_success();
    assert!(
        field(&expiring, "Expiration Time:").ends_with(" +0000 UTC"),
        "{expiring:?}"
    );
    assert!(
        expiring
            .stdout
            .contains(&format!("Policies:\n   {app_policy} - app-config\n")),
        "a policy ID prefix is resolved: {expiring:?}"
    );

    info!("--- it reads config/app/ and nothing else, and cannot write");
    let tok = format!("-token={secret}");
    let got = run(&a, &["kv", "get", &tok, "config/app/db"]);
    got.assert_success();
    assert_eq!(got.stdout, "pg\n");
    let put = run(&a, &["kv", "put", &tok, "config/app/db", "evil"]);
    put.assert_code(1);
    assert!(
        put.stderr.contains("403") && put.stderr.contains("Permission denied"),
        "{put:?}"
    );
    let other = run(&a, &["kv", "get", &tok, "secret/root"]);
    other.assert_code(1);
    assert!(!other.stdout.contains("hunter2"), "{other:?}");
    let still = mgmt(&a, &["kv", "get", "config/app/db"]);
    assert_eq!(still.stdout, "pg\n", "the refused write changed nothing");

    info!("--- the token from -token-file, the environment and its file");
    let token_file = dir.path().join("app.token");
    std::fs::write(&token_file, format!("{secret}\n"))?;
    let token_file = token_file.display().to_string();
    run(
        &a,
        &[
            "kv",
            "get",
            &format!("-token-file={token_file}"),
            "config/app/db",
        ],
    )
    .assert_success();
    for (var, value) in [
        ("CONSUL_HTTP_TOKEN", secret.as_str()),
        ("PRAETOR_HTTP_TOKEN", secret.as_str()),
        ("CONSUL_HTTP_TOKEN_FILE", token_file.as_str()),
        ("PRAETOR_HTTP_TOKEN_FILE", token_file.as_str()),
    ] {
        let out = cli(&a, &["kv", "get", "config/app/db"])
            .env(var, value)
            .run()?;
        out.assert_success();
        assert_eq!(out.stdout, "pg\n", "{var}");
    }
    // -token beats the environment: the management token may write.
    cli(
        &a,
        &["kv", "put", &format!("-token={MGMT}"), "config/app/x", "1"],
    )
    .env("CONSUL_HTTP_TOKEN", &secret)
    .run()?
    .assert_success();
    // The environment's token alone may not.
    let env_put = cli(&a, &["kv", "put", "config/app/x", "2"])
        .env("CONSUL_HTTP_TOKEN", &secret)
        .run()?;
    env_put.assert_code(1);

    info!("--- the app token may not manage ACLs; its own token is readable");
    assert_denied(
        &run(&a, &["acl", "token", "list", &tok]),
        "Failed to retrieve the token list",
    );
    assert_denied(
        &run(
            &a,
            &[
                "acl", "policy", "create", &tok, "-name=x", "-rules", APP_RULES,
            ],
        ),
        "Failed to create new policy",
    );
    let me = run(&a, &["acl", "token", "read", &tok, "-self"]);
    me.assert_success();
    assert_eq!(field(&me, "AccessorID:"), accessor);

    info!("--- token list, read by prefix, JSON");
    let list = mgmt(&a, &["acl", "token", "list"]);
    list.assert_success();
    assert!(
        list.stdout
            .contains(&format!("AccessorID:       {accessor}\n")),
        "{list:?}"
    );
    assert!(
        list.stdout.contains("\n\nAccessorID:"),
        "blank line between: {list:?}"
    );
    let json_list = mgmt(&a, &["acl", "token", "list", "-format=json"]);
    json_list.assert_success();
    let tokens: Vec<serde_json::Value> = serde_json::from_str(&json_list.stdout)?;
    assert!(
        tokens.iter().any(|t| t["AccessorID"] == accessor.as_str()),
        "{json_list:?}"
    );
    let read = mgmt(
        &a,
        &[
            "acl",
            "token",
            "read",
            "-accessor-id",
            &accessor[..8],
            "-format=json",
        ],
    );
    read.assert_success();
    let read: serde_json::Value = serde_json::from_str(&read.stdout)?;
    assert_eq!(read["AccessorID"], accessor.as_str());
    assert_eq!(read["Policies"][0]["Name"], "app-config");

    info!("--- clone, update, delete");
    let clone = mgmt(
        &a,
        &[
            "acl",
            "token",
            "clone",
            "-accessor-id",
            &accessor,
            "-description",
            "copy",
        ],
    );
    clone.assert_success();
    let clone_accessor = field(&clone, "AccessorID:");
    let clone_secret = field(&clone, "SecretID:");
    assert_ne!(clone_accessor, accessor);
    assert_ne!(clone_secret, secret);
    assert_eq!(field(&clone, "Description:"), "copy");
    assert!(clone.stdout.contains(" - app-config\n"), "{clone:?}");
    let clone_tok = format!("-token={clone_secret}");
    run(&a, &["kv", "get", &clone_tok, "config/app/db"]).assert_success();
    let updated = mgmt(
        &a,
        &[
            "acl",
            "token",
            "update",
            "-accessor-id",
            &clone_accessor,
            "-description=updated",
            "-append-policy-name=node-read",
        ],
    );
    updated.assert_success();
    assert_eq!(field(&updated, "Description:"), "updated");
    assert!(
        updated.stdout.contains(" - app-config\n") && updated.stdout.contains(" - node-read\n"),
        "appended, not replaced: {updated:?}"
    );
    let deleted = mgmt(
        &a,
        &["acl", "token", "delete", "-accessor-id", &clone_accessor],
    );
    deleted.assert_success();
    assert_eq!(
        deleted.stdout,
        format!("Token \"{clone_accessor}\" deleted successfully\n")
    );
    let gone = run(&a, &["kv", "get", &clone_tok, "config/app/db"]);
    gone.assert_code(1);

    info!("--- roles");
    let role = mgmt(
        &a,
        &[
            "acl",
            "role",
            "create",
            "-name",
            "app-role",
            "-description",
            "the app",
            "-policy-name",
            "app-config",
            "-service-identity",
            "web:dc1",
        ],
    );
    role.assert_success();
    let role_id = field(&role, "ID:");
    assert_eq!(field(&role, "Name:"), "app-role");
    assert!(
        role.stdout
            .contains(&format!("Policies:\n   {app_policy} - app-config\n")),
        "{role:?}"
    );
    assert!(
        role.stdout
            .contains("Service Identities:\n   web (Datacenters: dc1)\n"),
        "{role:?}"
    );
    let roles = mgmt(&a, &["acl", "role", "list"]);
    roles.assert_success();
    assert!(roles.stdout.starts_with("app-role:\n"), "{roles:?}");
    assert!(
        roles
            .stdout
            .contains(&format!("   ID:           {role_id}\n")),
        "{roles:?}"
    );
    assert!(
        roles
            .stdout
            .contains(&format!("   Policies:\n      {app_policy} - app-config\n")),
        "{roles:?}"
    );
    let by_name = mgmt(
        &a,
        &["acl", "role", "read", "-name=app-role", "-format=json"],
    );
    by_name.assert_success();
    let by_name: serde_json::Value = serde_json::from_str(&by_name.stdout)?;
    assert_eq!(by_name["ID"], role_id.as_str());
    let role_token = mgmt(
        &a,
        &[
            "acl",
            "token",
            "create",
            "-role-name=app-role",
            "-format=json",
        ],
    );
    role_token.assert_success();
    let role_token: serde_json::Value = serde_json::from_str(&role_token.stdout)?;
    let role_secret = role_token["SecretID"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let via_role = run(
        &a,
        &[
            "kv",
            "get",
            &format!("-token={role_secret}"),
            "config/app/db",
        ],
    );
    via_role.assert_success();
    assert_eq!(via_role.stdout, "pg\n", "the role's policy applies");

    let missing = mgmt(&a, &["acl", "role", "read", "-name", "no-such-role"]);
    missing.assert_code(1);
    assert_eq!(
        missing.stderr,
        "Role not found with name \"no-such-role\"\n"
    );

    info!("--- set-agent-token");
    let set = mgmt(&a, &["acl", "set-agent-token", "agent", MGMT]);
    set.assert_success();
    assert_eq!(set.stdout, "ACL token \"agent\" set successfully\n");
    let from_stdin = cli(
        &a,
        &[
            "acl",
            "set-agent-token",
            &format!("-token={MGMT}"),
            "default",
            "-",
        ],
    )
    .stdin(format!("{secret}\n"))
    .run()?;
    from_stdin.assert_success();
    assert_denied(
        &run(
            &a,
            &["acl", "set-agent-token", &tok, "replication", &secret],
        ),
        "Failed to set ACL token \"replication\"",
    );

    info!("--- bad flags and arguments: Consul's messages, exit 1, nothing sent");
    let mgmt_tok = format!("-token={MGMT}");
    let before = token_count(&a, &mgmt_tok)?;
    for (args, message) in [
        (
            vec!["acl", "token", "create", mgmt_tok.as_str()],
            "Cannot create a token without specifying -policy-name, -policy-id, -role-name, \
             -role-id, -service-identity, or -node-identity at least once\n",
        ),
        (
            vec!["acl", "token", "list", mgmt_tok.as_str(), "-format=yaml"],
            "Unknown format: yaml\n",
        ),
        (
            vec!["acl", "policy", "create", mgmt_tok.as_str(), "-rules=x"],
            "Missing require '-name' flag\n",
        ),
        (
            vec![
                "acl",
                "token",
                "create",
                mgmt_tok.as_str(),
                "-node-identity=n1",
            ],
            "Malformed -node-identity argument: \"n1\"\n",
        ),
        (
            vec!["acl", "set-agent-token", mgmt_tok.as_str(), "agent"],
            "Error! Missing TOKEN argument\n",
        ),
    ] {
        let out = run(&a, &args);
        out.assert_code(1);
        assert_eq!(out.stderr, message, "{out:?}");
    }
    let unknown = run(&a, &["acl", "token", "create", "-policy", "x"]);
    unknown.assert_code(1);
    assert!(
        unknown
            .stderr
            .contains("flag provided but not defined: -policy"),
        "{unknown:?}"
    );
    assert_eq!(
        token_count(&a, &mgmt_tok)?,
        before,
        "the refused commands created nothing"
    );

    info!("--- policy delete by name; the token loses the permission");
    let del = mgmt(&a, &["acl", "policy", "delete", "-name", "app-config"]);
    del.assert_success();
    assert_eq!(
        del.stdout,
        format!("Policy \"{app_policy}\" deleted successfully\n")
    );
    let lost = run(&a, &["kv", "get", &tok, "config/app/db"]);
    lost.assert_code(1);

    a.shutdown().await?;
    Ok(())
}

/// How many tokens `acl token list -format=json` shows.
fn token_count(agent: &AgentProcess, token_flag: &str) -> anyhow::Result<usize> {
    let out = run(agent, &["acl", "token", "list", token_flag, "-format=json"]);
    out.assert_success();
    Ok(serde_json::from_str::<Vec<serde_json::Value>>(&out.stdout)?.len())
}

/// The SecretID the bootstrap test asks for.
const BOOTSTRAP_SECRET: &str = "0e0a9f6e-4a7e-4f3b-9d8c-3c2a1b0f9e8d";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_prints_a_management_token_once() -> anyhow::Result<()> {
    let (a, _lo) = acl_agent(None).await?;

    info!("--- the first bootstrap prints the token, its SecretID read from stdin");
    let first = cli(&a, &["acl", "bootstrap", "-"])
        .stdin(format!("{BOOTSTRAP_SECRET}\n"))
        .run()?;
    first.assert_success();
    let secret = field(&first, "SecretID:");
    assert_eq!(secret, BOOTSTRAP_SECRET, "the BootstrapSecret given");
    assert_eq!(field(&first, "Local:"), "false");
    assert!(
        first
            .stdout
            .contains("Policies:\n   00000000-0000-0000-0000-000000000001 - global-management\n"),
        "{first:?}"
    );

    info!("--- the second is refused, exit 1");
    let second = run(&a, &["acl", "bootstrap"]);
    second.assert_code(1);
    assert!(
        second
            .stderr
            .starts_with("Failed ACL bootstrapping: Unexpected response code: 403 ("),
        "{second:?}"
    );
    assert!(second.stdout.is_empty(), "{second:?}");

    info!("--- the bootstrap token manages: read itself, JSON");
    let me = run(
        &a,
        &[
            "acl",
            "token",
            "read",
            &format!("-token={secret}"),
            "-self",
            "-format=json",
        ],
    );
    me.assert_success();
    let me: serde_json::Value = serde_json::from_str(&me.stdout)?;
    assert_eq!(me["SecretID"], secret.as_str());
    assert_eq!(me["Policies"][0]["Name"], "global-management");

    a.shutdown().await?;
    Ok(())
}
