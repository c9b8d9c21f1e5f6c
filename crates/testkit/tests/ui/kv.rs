//! Key/value in the browser: folders and keys are created, a value that is
//! not valid JSON or YAML is refused until the user insists, flags and
//! indexes are shown, and keys and whole folders are deleted only after
//! confirmation.

use serde_json::json;
use tracing::info;

use crate::{confirm, Ui, SHOWS_WITHIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_folders_are_created_edited_and_deleted() -> anyhow::Result<()> {
    let ui = Ui::start().await?;
    let b = &ui.browser;

    info!("--- an empty store says so");
    b.goto(&ui.page("/kv/")).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("no keys yet"))
        .await?;

    info!("--- create a folder");
    b.type_into("#new-key", "app/").await?;
    b.click("#create").await?;
    b.wait_text(SHOWS_WITHIN, "h1", |t| t == "app/").await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("folder is empty"))
        .await?;
    assert_eq!(ui.value("app/").await?.as_deref(), Some(""));

    info!("--- a key with invalid JSON is refused and not written");
    b.type_into("#new-key", "config.json").await?;
    b.type_into("#new-value", r#"{"port": 80,}"#).await?;
    b.click("#create").await?;
    b.wait_text(SHOWS_WITHIN, "#create-msg", |t| t.contains("Invalid JSON"))
        .await?;
    b.screenshot("kv-invalid-json").await?;
    assert_eq!(
        ui.value("app/config.json").await?,
        None,
        "an invalid value was written"
    );

    info!("--- fixed, it is created and its page opens");
    b.type_into("#new-value", r#"{"port": 8080}"#).await?;
    b.click("#create").await?;
    b.wait_text(SHOWS_WITHIN, "h1", |t| t == "app/config.json")
        .await?;
    b.wait_text(SHOWS_WITHIN, "#kv-value", |t| t.contains("8080"))
        .await?;
    assert_eq!(
        ui.value("app/config.json").await?.as_deref(),
        Some(r#"{"port": 8080}"#)
    );

    info!("--- an edit to invalid JSON is refused; a valid edit is saved");
    b.type_into("#kv-value", r#"{"port": 9090"#).await?;
    b.click("#save").await?;
    b.wait_text(SHOWS_WITHIN, "#edit-msg", |t| t.contains("Invalid JSON"))
        .await?;
    assert_eq!(
        ui.value("app/config.json").await?.as_deref(),
        Some(r#"{"port": 8080}"#)
    );
    b.type_into("#kv-value", r#"{"port": 9090}"#).await?;
    // Ctrl+Enter saves from the editor (the keyboard path).
    b.keys("#kv-value", "\u{E009}\u{E007}\u{E009}").await?;
    b.wait_text(SHOWS_WITHIN, "#edit-msg", |t| t.contains("Saved"))
        .await?;
    assert_eq!(
        ui.value("app/config.json").await?.as_deref(),
        Some(r#"{"port": 9090}"#)
    );

    info!("--- flags and indexes follow writes made elsewhere");
    ui.put("/v1/kv/app/config.json?flags=42", r#"{"port": 9091}"#)
        .await?;
    b.wait_text(SHOWS_WITHIN, "#kv-flags", |t| t == "42")
        .await?;
    let e = ui.get("/v1/kv/app/config.json").await?.unwrap_or_default();
    let modify = e[0]["ModifyIndex"].as_u64().unwrap_or_default().to_string();
    let create = e[0]["CreateIndex"].as_u64().unwrap_or_default().to_string();
    b.wait_text(SHOWS_WITHIN, "#kv-modify-index", |t| t == modify)
        .await?;
    assert_eq!(b.text("#kv-create-index").await?, Some(create));
    b.wait_text(SHOWS_WITHIN, "#kv-value", |t| t.contains("9091"))
        .await?;
    b.screenshot("kv-key").await?;

    info!("--- invalid YAML is saved only when the user insists");
    b.goto(&ui.page("/kv/app/")).await?;
    b.type_into("#new-key", "settings.yaml").await?;
    b.type_into("#new-value", "replicas: [1, 2\n").await?;
    b.click("#create").await?;
    b.wait_text(SHOWS_WITHIN, "#create-msg", |t| t.contains("Invalid YAML"))
        .await?;
    assert_eq!(ui.value("app/settings.yaml").await?, None);
    b.click("#save-anyway").await?;
    b.wait_text(SHOWS_WITHIN, "h1", |t| t == "app/settings.yaml")
        .await?;
    assert_eq!(
        ui.value("app/settings.yaml").await?.as_deref(),
        Some("replicas: [1, 2\n")
    );

    info!("--- the folder lists its keys and subfolders");
    for k in ["app/sub/a", "app/sub/b", "app/sub/deeper/c"] {
        ui.put(&format!("/v1/kv/{k}"), "x").await?;
    }
    b.goto(&ui.page("/kv/app/")).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| {
        t.contains("config.json") && t.contains("settings.yaml") && t.contains("sub/")
    })
    .await?;
    b.screenshot("kv-folder").await?;

    info!("--- deleting a key asks first; Cancel keeps it");
    b.click("tr[data-key='app/settings.yaml'] button").await?;
    b.wait_for_element(SHOWS_WITHIN, "dialog[open] #confirm-no")
        .await?;
    b.click("dialog[open] #confirm-no").await?;
    assert!(
        ui.value("app/settings.yaml").await?.is_some(),
        "Cancel deleted the key"
    );
    b.click("tr[data-key='app/settings.yaml'] button").await?;
    confirm(b).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| !t.contains("settings.yaml"))
        .await?;
    assert_eq!(ui.value("app/settings.yaml").await?, None);

    info!("--- deleting a key from its page");
    b.click("tr[data-key='app/config.json'] a").await?;
    b.wait_text(SHOWS_WITHIN, "#kv-flags", |t| t == "42")
        .await?;
    b.click("#delete-key").await?;
    confirm(b).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-meta", |t| t.contains("does not exist"))
        .await?;
    assert_eq!(ui.value("app/config.json").await?, None);

    info!("--- deleting a whole folder takes every key under it");
    b.goto(&ui.page("/kv/app/sub/")).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("deeper/"))
        .await?;
    b.click("#delete-folder").await?;
    confirm(b).await?;
    b.wait_text(SHOWS_WITHIN, "h1", |t| t == "app/").await?;
    assert_eq!(
        ui.get("/v1/kv/app/sub/?keys").await?,
        None,
        "keys left under app/sub/"
    );
    assert_eq!(ui.get("/v1/kv/app/?keys").await?, Some(json!(["app/"])));

    ui.shutdown().await
}
