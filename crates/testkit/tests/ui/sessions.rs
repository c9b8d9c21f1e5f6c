//! Sessions: the sessions page and a node's page list the sessions live;
//! invalidating one from the page (after confirmation) releases its lock.

use serde_json::{json, Value};
use tracing::info;

use crate::{confirm, Ui, SHOWS_WITHIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_live_and_invalidated_from_the_page() -> anyhow::Result<()> {
    let ui = Ui::start().await?;
    let b = &ui.browser;
    let node = ui.get("/v1/agent/self").await?.expect("agent/self")["Config"]["NodeName"]
        .as_str()
        .expect("a node name")
        .to_owned();

    info!("--- an empty list says what creates sessions");
    b.goto(&ui.page("/sessions")).await?;
    b.wait_text(SHOWS_WITHIN, "#sessions", |t| t.contains("No sessions"))
        .await?;

    info!("--- a session created elsewhere shows up without a reload");
    let created: Value = serde_json::from_str(
        &ui.put(
            "/v1/session/create",
            json!({"Name": "web-leader", "TTL": "60s", "LockDelay": "0s"}).to_string(),
        )
        .await?,
    )?;
    let id = created["ID"].as_str().expect("a session ID").to_owned();
    let acquired = ui
        .put(&format!("/v1/kv/service/web/leader?acquire={id}"), "me")
        .await?;
    assert_eq!(acquired.trim(), "true");
    let row = format!("tr[data-session='{id}']");
    b.wait_text(SHOWS_WITHIN, &row, |t| {
        t.contains("web-leader") && t.contains("60s") && t.contains("serfHealth")
    })
    .await?;
    b.screenshot("sessions").await?;

    info!("--- the node's page lists it too");
    b.goto(&ui.page(&format!("/nodes/{node}"))).await?;
    b.wait_text(SHOWS_WITHIN, "#node-sessions", |t| {
        t.contains(&id) && t.contains("Sessions (1)")
    })
    .await?;

    info!("--- Cancel keeps it; Invalidate destroys it and releases the lock");
    b.goto(&ui.page("/sessions")).await?;
    b.wait_for_element(SHOWS_WITHIN, &format!("{row} button"))
        .await?;
    b.click(&format!("{row} button")).await?;
    b.wait_for_element(SHOWS_WITHIN, "dialog[open] #confirm-no")
        .await?;
    b.click("dialog[open] #confirm-no").await?;
    assert!(
        ui.get(&format!("/v1/session/info/{id}"))
            .await?
            .is_some_and(|v| v != json!([])),
        "cancel keeps the session"
    );
    b.click(&format!("{row} button")).await?;
    confirm(b).await?;
    b.wait_text(SHOWS_WITHIN, "#sessions", |t| t.contains("No sessions"))
        .await?;
    let key = ui
        .get("/v1/kv/service/web/leader")
        .await?
        .expect("the key stays");
    assert!(
        key[0].get("Session").is_none_or(Value::is_null),
        "the lock is released: {key}"
    );
    assert_eq!(ui.value("service/web/leader").await?.as_deref(), Some("me"));
    ui.shutdown().await
}
