//! Services, nodes and the overview: what is registered shows up, search
//! and the health filter narrow the list, and a TTL check that fails turns
//! critical on the open pages without a reload.

use std::time::Instant;

use serde_json::json;
use tracing::info;

use crate::{Ui, SHOWS_WITHIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_show_a_ttl_check_turning_critical_live() -> anyhow::Result<()> {
    let ui = Ui::start().await?;
    let b = &ui.browser;
    ui.put(
        "/v1/agent/service/register",
        json!({"ID": "web1", "Name": "web", "Port": 8080, "Address": "10.0.0.7",
               "Tags": ["v1", "blue"], "Meta": {"version": "1.4.2"},
               "Check": {"CheckID": "web1-ttl", "Name": "web heartbeat", "TTL": "10m", "Status": "passing"}})
        .to_string(),
    )
    .await?;
    ui.put(
        "/v1/agent/service/register",
        json!({"ID": "db1", "Name": "db", "Port": 5432, "Tags": ["primary"]}).to_string(),
    )
    .await?;

    info!("--- the overview names the datacenter, the leader and the servers");
    b.goto(&ui.page("/overview")).await?;
    b.wait_text(SHOWS_WITHIN, "#leader", |t| t.contains(':'))
        .await?;
    assert_eq!(b.text("#datacenter").await?.as_deref(), Some("dc1"));
    b.wait_text(SHOWS_WITHIN, "#servers", |t| t.contains("leader"))
        .await?;
    b.wait_text(SHOWS_WITHIN, "#member-counts", |t| t.contains("1 alive"))
        .await?;
    b.screenshot("overview").await?;

    info!("--- the services list: instances, tags and check counts");
    b.click("#nav a[data-section=services]").await?;
    let row = "tr[data-service=web]";
    b.wait_text(SHOWS_WITHIN, row, |t| t.contains("passing"))
        .await?;
    let text = b.text(row).await?.unwrap_or_default();
    assert!(
        text.contains("blue") && text.contains("v1"),
        "tags shown: {text}"
    );
    b.wait_text(SHOWS_WITHIN, "tr[data-service=db]", |t| {
        t.contains("primary")
    })
    .await?;
    b.screenshot("services").await?;

    info!("--- search and the health filter narrow the list");
    b.type_into("#service-search", "prim").await?;
    b.wait_text(SHOWS_WITHIN, "#services", |t| {
        t.contains("db") && !t.contains("web")
    })
    .await?;
    crate::set_field(b, "#service-search", "").await?;
    crate::set_field(b, "#service-health", "critical").await?;
    b.wait_text(SHOWS_WITHIN, "#services", |t| {
        t.contains("No service matches")
    })
    .await?;

    info!("--- a failing TTL check turns the list critical, without a reload");
    b.eval("window.__notReloaded = true; return null;", vec![])
        .await?;
    let failed_at = Instant::now();
    ui.put("/v1/agent/check/fail/web1-ttl?note=upstream%20timeout", "")
        .await?;
    b.wait_text(SHOWS_WITHIN, "tr[data-service=web]", |t| {
        t.contains("1 critical")
    })
    .await?;
    info!(
        ms = failed_at.elapsed().as_millis() as u64,
        "the list showed the critical check"
    );
    assert_eq!(
        b.eval("return window.__notReloaded === true;", vec![])
            .await?,
        json!(true)
    );

    info!("--- the service page: address, port, tags, meta, checks with output");
    b.click("tr[data-service=web] a").await?;
    let inst = "section[data-instance=web1]";
    b.wait_text(SHOWS_WITHIN, inst, |t| t.contains("upstream timeout"))
        .await?;
    let text = b.text(inst).await?.unwrap_or_default();
    for want in [
        "10.0.0.7:8080",
        "blue",
        "version=1.4.2",
        "web heartbeat",
        "critical",
        "serfHealth",
    ] {
        assert!(text.contains(want), "{want:?} in the instance: {text}");
    }
    b.screenshot("service").await?;

    info!("--- it passes again: the open service page follows");
    b.eval("window.__notReloaded = true; return null;", vec![])
        .await?;
    let passed_at = Instant::now();
    ui.put("/v1/agent/check/pass/web1-ttl?note=ok%20again", "")
        .await?;
    let check = "tr[data-check=web1-ttl]";
    b.wait_text(SHOWS_WITHIN, check, |t| {
        t.contains("passing") && t.contains("ok again")
    })
    .await?;
    info!(
        ms = passed_at.elapsed().as_millis() as u64,
        "the service page showed the passing check"
    );
    assert_eq!(
        b.eval("return window.__notReloaded === true;", vec![])
            .await?,
        json!(true)
    );

    info!("--- nodes: serfHealth and check counts; a node's services, checks and sessions");
    b.click("#nav a[data-section=nodes]").await?;
    b.wait_text(SHOWS_WITHIN, "#nodes tbody tr", |t| t.contains("passing"))
        .await?;
    let serf = b
        .eval(
            "return document.querySelector('#nodes tbody tr').dataset.serf;",
            vec![],
        )
        .await?;
    assert_eq!(serf, json!("passing"));
    b.screenshot("nodes").await?;
    b.click("#nodes tbody tr a").await?;
    b.wait_text(SHOWS_WITHIN, "#node-services", |t| {
        t.contains("web1") && t.contains("db1")
    })
    .await?;
    b.wait_text(SHOWS_WITHIN, "#node-checks", |t| t.contains("serfHealth"))
        .await?;
    // Sessions come from their own endpoint; without it the page says so.
    b.wait_text(SHOWS_WITHIN, "#node-sessions", |t| !t.contains("Loading"))
        .await?;
    b.screenshot("node").await?;

    info!("--- a narrow window keeps everything readable (no sideways page scroll)");
    b.resize(390, 800).await?;
    b.goto(&ui.page("/services")).await?;
    b.wait_text(SHOWS_WITHIN, "tr[data-service=web]", |t| t.contains("web"))
        .await?;
    let overflow = b
        .eval(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await?;
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "the page scrolls sideways by {overflow}px"
    );
    b.screenshot("services-narrow").await?;

    ui.shutdown().await
}
