//! ACLs in the browser, against an agent with `default_policy = "deny"`:
//! the token field logs in only with a token the agent knows and says who
//! it is; a read-only token sees the keys it may read and not the others
//! (with a note that ACLs hid some), is told "Permission denied" when it
//! tries to create, edit or delete a key, and changes nothing;
//! the management token creates a policy (a rule that does not parse is
//! refused with the server's reason) and a token on the ACL page. Without
//! ACLs, the ACL page says they are disabled.

use reqwest::Method;
use serde_json::{json, Value};
use tracing::info;

use praetor_testkit::{init_tracing, AgentProcess, Browser, Loopback};

use crate::{confirm, Ui, SHOWS_WITHIN};

/// The agent's `acl.tokens.initial_management`.
const MANAGEMENT: &str = "5d8b1f1e-6c1a-4d62-9f55-0c2b7a3e9a41";

/// Calls the agent's API as `token`; returns the status and the body.
async fn api(
    ui: &Ui,
    method: Method,
    path: &str,
    token: &str,
    body: Option<String>,
) -> anyhow::Result<(u16, String)> {
    let mut req = ui
        .agent
        .http()
        .request(method, ui.agent.url(path))
        .header("X-Consul-Token", token);
    if let Some(b) = body {
        req = req.body(b);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    Ok((status, r.text().await?))
}

/// As [`api`], requiring a 2xx answer in JSON.
async fn api_json(
    ui: &Ui,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let (status, text) = api(ui, method.clone(), path, token, body.map(|b| b.to_string())).await?;
    anyhow::ensure!(
        (200..300).contains(&status),
        "{method} {path}: {status} {text}"
    );
    Ok(serde_json::from_str(&text)?)
}

/// Types `secret` into the header's token field and logs in.
async fn log_in(b: &Browser, secret: &str) -> anyhow::Result<()> {
    b.type_into("#token", secret).await?;
    b.click("#login").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_token_is_denied_writes_and_the_management_token_creates_a_policy(
) -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    let acl = format!(
        "acl {{\n  enabled = true\n  default_policy = \"deny\"\n  tokens {{\n    initial_management = \"{MANAGEMENT}\"\n  }}\n}}\n"
    );
    let agent = AgentProcess::dev(&lo)?
        .config_file("acl.hcl", &acl)
        .start()
        .await?;
    let browser = Browser::start(1280, 900).await?;
    let ui = Ui { agent, browser, lo };
    let b = &ui.browser;

    info!("--- a read-only token for config/app/, made through the API");
    api_json(
        &ui,
        Method::PUT,
        "/v1/acl/policy",
        MANAGEMENT,
        Some(
            json!({"Name": "app-read", "Description": "reads the app's configuration",
                    "Rules": "key_prefix \"config/app/\" { policy = \"read\" }"}),
        ),
    )
    .await?;
    let reader = api_json(
        &ui,
        Method::PUT,
        "/v1/acl/token",
        MANAGEMENT,
        Some(json!({"Description": "app reader", "Policies": [{"Name": "app-read"}]})),
    )
    .await?;
    let secret = reader["SecretID"].as_str().expect("a SecretID").to_owned();
    let accessor = reader["AccessorID"]
        .as_str()
        .expect("an AccessorID")
        .to_owned();
    for (key, value) in [("config/app/name", "web"), ("secret/password", "hunter2")] {
        let (status, text) = api(
            &ui,
            Method::PUT,
            &format!("/v1/kv/{key}"),
            MANAGEMENT,
            Some(value.to_owned()),
        )
        .await?;
        anyhow::ensure!(status == 200, "PUT {key}: {status} {text}");
    }

    info!("--- a token the agent does not know is refused and not kept");
    b.goto(&ui.page("/kv/config/app/")).await?;
    b.wait_for_element(SHOWS_WITHIN, "#kv-list").await?;
    log_in(b, "00000000-1111-2222-3333-444444444444").await?;
    b.wait_text(SHOWS_WITHIN, "#banner", |t| t.contains("not valid"))
        .await?;
    assert_eq!(
        b.eval("return localStorage.getItem('praetor.token');", vec![])
            .await?,
        Value::Null,
        "an invalid token was kept"
    );

    info!("--- the read-only token logs in and the header says who it is");
    log_in(b, &secret).await?;
    b.wait_text(SHOWS_WITHIN, "#whoami-name", |t| t.contains("app reader"))
        .await?;
    b.click("#whoami summary").await?;
    b.wait_text(SHOWS_WITHIN, "#whoami-facts", |t| {
        t.contains(&accessor) && t.contains("app-read")
    })
    .await?;
    b.screenshot("acl-logged-in").await?;
    b.click("#whoami summary").await?;

    info!("--- it sees the key it may read, not the other");
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("name"))
        .await?;
    b.goto(&ui.page("/kv/")).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| !t.contains("Loading"))
        .await?;
    let root = b.text("#kv-list").await?.unwrap_or_default();
    assert!(!root.contains("secret"), "a key it may not read: {root}");
    b.wait_text(SHOWS_WITHIN, "#filtered", |t| t.contains("hidden by ACLs"))
        .await?;
    b.goto(&ui.page("/kv/secret/password")).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-meta", |t| {
        t.contains("Permission denied")
    })
    .await?;
    let page = b.text("main").await?.unwrap_or_default();
    assert!(!page.contains("hunter2"), "the value leaked: {page}");

    info!("--- creating a key says Permission denied and writes nothing");
    b.goto(&ui.page("/kv/config/app/")).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("name"))
        .await?;
    b.type_into("#new-key", "new").await?;
    b.type_into("#new-value", "x").await?;
    b.click("#create").await?;
    b.wait_text(SHOWS_WITHIN, "#create-msg", |t| {
        t.contains("Permission denied")
    })
    .await?;
    b.screenshot("acl-permission-denied").await?;
    let (status, _) = api(&ui, Method::GET, "/v1/kv/config/app/new", MANAGEMENT, None).await?;
    assert_eq!(status, 404, "the denied key was written");

    info!("--- deleting or editing a key it may only read says Permission denied too");
    b.click("tr[data-key='config/app/name'] button").await?;
    confirm(b).await?;
    b.wait_text(SHOWS_WITHIN, "#banner", |t| t.contains("Permission denied"))
        .await?;
    b.goto(&ui.page("/kv/config/app/name")).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-value", |t| t == "web")
        .await?;
    b.type_into("#kv-value", "changed").await?;
    b.click("#save").await?;
    b.wait_text(SHOWS_WITHIN, "#edit-msg", |t| {
        t.contains("Permission denied")
    })
    .await?;
    let (status, value) = api(
        &ui,
        Method::GET,
        "/v1/kv/config/app/name?raw",
        MANAGEMENT,
        None,
    )
    .await?;
    assert_eq!(
        (status, value.as_str()),
        (200, "web"),
        "a denied write changed the key"
    );

    info!("--- the ACL page is refused to it");
    b.goto(&ui.page("/acl/policies")).await?;
    b.wait_text(SHOWS_WITHIN, "#acl-policies", |t| {
        t.contains("Permission denied")
    })
    .await?;

    info!("--- log out, then in with the management token");
    b.click("#logout").await?;
    b.wait_for_element(SHOWS_WITHIN, "#token-form:not([hidden])")
        .await?;
    log_in(b, MANAGEMENT).await?;
    b.wait_for_element(SHOWS_WITHIN, "#whoami:not([hidden])")
        .await?;
    b.click("#whoami summary").await?;
    b.wait_text(SHOWS_WITHIN, "#whoami-facts", |t| {
        t.contains("global-management")
    })
    .await?;
    b.click("#whoami summary").await?;

    info!("--- a policy whose rules do not parse is refused with the reason");
    b.wait_text(SHOWS_WITHIN, "#acl-policies", |t| t.contains("app-read"))
        .await?;
    b.type_into("#policy-name", "web-write").await?;
    b.type_into("#policy-description", "writes web/").await?;
    b.type_into("#policy-rules", "key_prefix \"web/\" { policy = ")
        .await?;
    b.click("#create-policy").await?;
    let refused = b
        .wait_text(SHOWS_WITHIN, "#policy-msg", |t| t.contains("Not created"))
        .await?;
    info!(%refused, "the server's reason");
    let (status, _) = api(
        &ui,
        Method::GET,
        "/v1/acl/policy/name/web-write",
        MANAGEMENT,
        None,
    )
    .await?;
    assert_ne!(status, 200, "a policy that does not parse was created");

    info!("--- fixed, it is created and listed");
    b.type_into(
        "#policy-rules",
        "key_prefix \"web/\" { policy = \"write\" }",
    )
    .await?;
    b.click("#create-policy").await?;
    b.wait_text(SHOWS_WITHIN, "#policy-msg", |t| t.contains("Created"))
        .await?;
    b.wait_text(SHOWS_WITHIN, "#acl-policies", |t| t.contains("web-write"))
        .await?;
    b.screenshot("acl-policies").await?;
    let p = api_json(
        &ui,
        Method::GET,
        "/v1/acl/policy/name/web-write",
        MANAGEMENT,
        None,
    )
    .await?;
    assert_eq!(p["Description"], "writes web/");
    assert!(
        p["Rules"].as_str().is_some_and(|r| r.contains("web/")),
        "{p}"
    );

    info!("--- a token with that policy is created and its secret shown");
    b.click("#tab-tokens").await?;
    b.wait_text(SHOWS_WITHIN, "#acl-tokens", |t| t.contains(&accessor))
        .await?;
    b.wait_for_element(SHOWS_WITHIN, "#token-create input[data-name='web-write']")
        .await?;
    b.type_into("#token-description", "web deployer").await?;
    b.click("#token-create input[data-name='web-write']")
        .await?;
    b.click("#create-token").await?;
    let new_secret = b
        .wait_text(SHOWS_WITHIN, "#new-secret", |t| !t.is_empty())
        .await?;
    b.screenshot("acl-tokens").await?;
    let made = api_json(&ui, Method::GET, "/v1/acl/token/self", &new_secret, None).await?;
    assert_eq!(made["Description"], "web deployer");
    assert!(
        made["Policies"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["Name"] == "web-write")),
        "{made}"
    );

    info!("--- a role linking the policy is created; the new token is deleted");
    b.click("#tab-roles").await?;
    b.wait_for_element(SHOWS_WITHIN, "#role-create input[data-name='web-write']")
        .await?;
    b.type_into("#role-name", "web").await?;
    b.click("#role-create input[data-name='web-write']").await?;
    b.click("#create-role").await?;
    b.wait_text(SHOWS_WITHIN, "#acl-roles", |t| t.contains("web-write"))
        .await?;
    let role = api_json(&ui, Method::GET, "/v1/acl/role/name/web", MANAGEMENT, None).await?;
    assert!(
        role["Policies"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["Name"] == "web-write")),
        "{role}"
    );
    let made_accessor = made["AccessorID"].as_str().unwrap_or_default();
    b.click("#tab-tokens").await?;
    let row = format!("tr[data-accessor='{made_accessor}'] button");
    b.wait_for_element(SHOWS_WITHIN, &row).await?;
    b.click(&row).await?;
    confirm(b).await?;
    b.wait_text(SHOWS_WITHIN, "#acl-tokens", |t| !t.contains(made_accessor))
        .await?;
    let (status, text) = api(&ui, Method::GET, "/v1/acl/token/self", &new_secret, None).await?;
    assert_eq!(status, 403, "the deleted token still works: {text}");
    ui.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_acls_the_acl_page_says_they_are_disabled() -> anyhow::Result<()> {
    let ui = Ui::start().await?;
    let b = &ui.browser;
    b.goto(&ui.page("/acl/tokens")).await?;
    b.wait_text(SHOWS_WITHIN, "#acl-disabled", |t| {
        t.contains("ACLs are disabled")
    })
    .await?;
    assert!(
        b.text("#token-create").await?.is_some()
            && b.eval(
                "return document.getElementById('token-create').hidden;",
                vec![]
            )
            .await?
                == json!(true),
        "the create form is offered without ACLs"
    );
    ui.shutdown().await
}
