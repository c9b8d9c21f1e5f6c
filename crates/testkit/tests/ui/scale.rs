//! The UI at size: 1 000 services and 10 000 keys in one folder. Lists are
//! paged (100 rows at a time), so the page stays responsive; search and
//! paging reach every entry. The times measured are logged, not asserted.

use std::time::Instant;

use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::json;
use tracing::info;

use crate::{set_field, Ui, SHOWS_WITHIN};

const SERVICES: usize = 1_000;
const KEYS: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_stay_usable_with_1000_services_and_10000_keys() -> anyhow::Result<()> {
    let ui = Ui::start().await?;
    let b = &ui.browser;

    info!("--- register {SERVICES} services and write {KEYS} keys");
    let started = Instant::now();
    futures::stream::iter(0..SERVICES).map(|i| {
        let body = json!({
            "Node": format!("host-{:03}", i % 50), "Address": format!("10.1.{}.{}", i / 250, i % 250),
            "Service": {"ID": format!("svc-{i:04}"), "Service": format!("svc-{i:04}"), "Port": 8000 + i, "Tags": ["bulk"]},
            "Check": {"CheckID": format!("svc-{i:04}-check"), "Name": "bulk check", "ServiceID": format!("svc-{i:04}"),
                      "Status": if i % 10 == 0 { "critical" } else { "passing" }},
        });
        let ui = &ui;
        async move { ui.put("/v1/catalog/register", body.to_string()).await.map(drop) }
    })
    .buffer_unordered(32)
    .try_collect::<()>()
    .await?;
    futures::stream::iter(0..KEYS)
        .map(|i| {
            let ui = &ui;
            async move {
                ui.put(&format!("/v1/kv/big/key-{i:05}"), format!("value {i}"))
                    .await
                    .map(drop)
            }
        })
        .buffer_unordered(64)
        .try_collect::<()>()
        .await?;
    info!(ms = started.elapsed().as_millis() as u64, "data written");

    let listed = ui
        .get("/v1/internal/ui/services")
        .await?
        .unwrap_or_default();
    let total = listed.as_array().map_or(0, Vec::len);
    assert!(total >= SERVICES, "{total} services listed");

    info!("--- the services list shows the first page at once");
    let t = Instant::now();
    b.goto(&ui.page("/services")).await?;
    b.wait_text(SHOWS_WITHIN, "#services .pager", |t| {
        t.contains(&format!("1–100 of {total} services"))
    })
    .await?;
    info!(ms = t.elapsed().as_millis() as u64, "services list shown");
    let rows = b
        .eval(
            "return document.querySelectorAll('#services tbody tr').length;",
            vec![],
        )
        .await?;
    assert_eq!(rows, json!(100));
    b.click("#services .pager button:last-child").await?;
    b.wait_text(SHOWS_WITHIN, "#services .pager", |t| t.contains("101–200"))
        .await?;
    set_field(b, "#service-search", "svc-0999").await?;
    b.wait_text(SHOWS_WITHIN, "#services .pager", |t| {
        t.contains("1–1 of 1 services")
    })
    .await?;
    b.wait_text(SHOWS_WITHIN, "#services tbody", |t| t.contains("svc-0999"))
        .await?;
    set_field(b, "#service-search", "").await?;
    set_field(b, "#service-health", "critical").await?;
    b.wait_text(SHOWS_WITHIN, "#services .pager", |t| {
        t.contains(&format!("of {} services", SERVICES / 10))
    })
    .await?;
    b.screenshot("services-1000").await?;

    info!("--- the folder with {KEYS} keys: paged, filterable");
    let t = Instant::now();
    b.goto(&ui.page("/kv/big/")).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list .pager", |t| {
        t.contains(&format!("1–100 of {KEYS} entries"))
    })
    .await?;
    info!(ms = t.elapsed().as_millis() as u64, "folder shown");
    set_field(b, "#kv-filter", "key-09999").await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list .pager", |t| {
        t.contains("1–1 of 1 entries")
    })
    .await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list tbody", |t| t.contains("key-09999"))
        .await?;
    b.click("tr[data-key='big/key-09999'] a").await?;
    b.wait_text(SHOWS_WITHIN, "#kv-value", |t| t == "value 9999")
        .await?;

    info!("--- a key written elsewhere appears in the open folder");
    b.goto(&ui.page("/kv/big/")).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list .pager", |t| {
        t.contains(&format!("of {KEYS} entries"))
    })
    .await?;
    ui.put("/v1/kv/big/key-10000", "new").await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list .pager", |t| {
        t.contains(&format!("of {} entries", KEYS + 1))
    })
    .await?;

    info!("--- how long the UI takes to load on loopback");
    b.goto(&ui.page("/overview")).await?;
    b.wait_text(SHOWS_WITHIN, "#leader", |t| t.contains(':'))
        .await?;
    let load = b
        .eval("const n = performance.getEntriesByType('navigation')[0]; return Math.round(n.loadEventEnd - n.startTime);", vec![])
        .await?;
    info!(ms = %load, "UI page load (navigation start to load event)");

    ui.shutdown().await
}
