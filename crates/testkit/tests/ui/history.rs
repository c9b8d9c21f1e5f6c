//! A key's history in the browser: its versions newest first, a diff between
//! any two, and a rollback in two clicks that writes the chosen version back
//! with check-and-set, so an edit the page has not shown is never undone.

use serde_json::Value;
use tracing::info;

use crate::{confirm, Ui, SHOWS_WITHIN};

const V1: &str = "listen: 8080\nworkers: 4\nlog: info\n";
const V2: &str = "listen: 8080\nworkers: 8\nlog: info\n";
const V3: &str = "listen: 9999\nworkers: 8\nlog: debug\n";

/// The `Index` of each version the history endpoint returns, newest first.
async fn indexes(ui: &Ui, key: &str) -> anyhow::Result<Vec<u64>> {
    let v = ui
        .get(&format!("/v1/history/kv/{key}"))
        .await?
        .unwrap_or(Value::Null);
    Ok(v.as_array()
        .map(|a| a.iter().filter_map(|e| e["Index"].as_u64()).collect())
        .unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rolls_back_to_an_earlier_version() -> anyhow::Result<()> {
    let ui = Ui::start().await?;
    let b = &ui.browser;
    for v in [V1, V2, V3] {
        ui.put("/v1/kv/svc/app.yaml", v).await?;
    }
    let idx = indexes(&ui, "svc/app.yaml").await?;
    assert_eq!(idx.len(), 3, "three versions: {idx:?}");
    let (i3, i2, i1) = (idx[0], idx[1], idx[2]);

    info!("--- the page lists the versions, newest first, and diffs the last change");
    b.goto(&ui.page("/kv/svc/app.yaml")).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-history tbody", |t| {
        t.lines().count() >= 3
    })
    .await?;
    let order = b
        .eval(
            "return [...document.querySelectorAll('#kv-history tbody tr')].map(r => Number(r.dataset.index));",
            vec![],
        )
        .await?;
    assert_eq!(order, serde_json::json!([i3, i2, i1]));
    let diff = b
        .wait_text(SHOWS_WITHIN, "#diff-lines", |t| {
            t.contains("+ listen: 9999")
        })
        .await?;
    assert!(
        diff.contains("- listen: 8080")
            && diff.contains("- log: info")
            && diff.contains("  workers: 8"),
        "{diff}"
    );
    b.eval(
        "document.querySelector('#kv-history').scrollIntoView(); return null;",
        vec![],
    )
    .await?;
    b.screenshot("kv-history").await?;

    info!("--- any two versions can be compared");
    b.click(&format!("tr[data-index='{i1}'] input[name=pick-a]"))
        .await?;
    b.click(&format!("tr[data-index='{i2}'] input[name=pick-b]"))
        .await?;
    let diff = b
        .wait_text(SHOWS_WITHIN, "#kv-diff h2", |t| {
            t.contains(&format!("{i1} to {i2}"))
        })
        .await?;
    info!(%diff, "picked");
    let lines = b.text("#diff-lines").await?.unwrap_or_default();
    assert!(
        lines.contains("- workers: 4") && lines.contains("+ workers: 8") && !lines.contains("9999"),
        "{lines}"
    );

    info!("--- roll back to the first version: two clicks");
    b.click(&format!("tr[data-index='{i1}'] button.rollback"))
        .await?;
    confirm(b).await?;
    b.wait_text(SHOWS_WITHIN, "#edit-msg", |t| {
        t.contains(&format!("Rolled back to the value of index {i1}"))
    })
    .await?;
    assert_eq!(ui.value("svc/app.yaml").await?.as_deref(), Some(V1));
    b.wait_text(SHOWS_WITHIN, "#kv-value", |t| t == V1).await?;
    let idx = indexes(&ui, "svc/app.yaml").await?;
    assert_eq!(idx.len(), 4, "the rollback is a new version: {idx:?}");
    let i4 = idx[0];
    b.wait_text(SHOWS_WITHIN, "#kv-history tbody tr:first-child", |t| {
        t.contains(&i4.to_string()) && t.contains("current")
    })
    .await?;
    b.screenshot("kv-rolled-back").await?;

    info!("--- a rollback never overwrites an edit the page had not shown");
    // The dialog is open (the page has shown index i4); someone else writes.
    b.click(&format!("tr[data-index='{i2}'] button.rollback"))
        .await?;
    b.wait_for_element(SHOWS_WITHIN, "dialog[open] #confirm-yes")
        .await?;
    ui.put("/v1/kv/svc/app.yaml", "edited elsewhere\n").await?;
    confirm(b).await?;
    b.wait_text(SHOWS_WITHIN, "#edit-msg", |t| {
        t.contains("Conflict: not rolled back")
    })
    .await?;
    assert_eq!(
        ui.value("svc/app.yaml").await?.as_deref(),
        Some("edited elsewhere\n")
    );
    b.screenshot("kv-rollback-conflict").await?;

    info!("--- a deleted key can be brought back from its history");
    b.click("#delete-key").await?;
    confirm(b).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-history tbody tr:first-child", |t| {
        t.contains("deleted")
    })
    .await?;
    b.click(&format!("tr[data-index='{i3}'] button.rollback"))
        .await?;
    confirm(b).await?;
    b.wait_text(SHOWS_WITHIN, "#edit-msg", |t| {
        t.contains(&format!("index {i3}"))
    })
    .await?;
    assert_eq!(ui.value("svc/app.yaml").await?.as_deref(), Some(V3));

    ui.shutdown().await
}
