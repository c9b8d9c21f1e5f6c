//! The UI behind a path prefix, as an operator reaches it through an SSH
//! tunnel to a proxy that serves the agent under `/praetor/`: the redirect,
//! the assets and every API call stay under the prefix, writes work, and
//! live updates arrive through it. Also: while the tab is hidden the page
//! sends no queries, and it catches up as soon as it is shown.

use std::time::{Duration, Instant};

use tracing::info;

use crate::proxy::PrefixProxy;
use crate::{Ui, SHOWS_WITHIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_works_behind_a_path_prefix() -> anyhow::Result<()> {
    let ui = Ui::start().await?;
    let b = &ui.browser;
    let upstream = ui.agent.http_addr().parse()?;
    let proxy = PrefixProxy::start(ui.lo.ip(), "praetor", upstream).await?;
    ui.put("/v1/kv/team/owner", "ops").await?;

    info!("--- /praetor/ redirects to /praetor/ui/, which loads");
    b.goto(&proxy.url()).await?;
    b.wait_text(SHOWS_WITHIN, "#leader", |t| t.contains(':')).await?;
    let url = b.url().await?;
    assert!(url.starts_with(&format!("{}ui/", proxy.url())), "landed on {url}");

    info!("--- browse and write through the prefix");
    b.click("#nav a[data-section=kv]").await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("team/")).await?;
    b.click("tr[data-key='team/'] a").await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("owner")).await?;
    b.type_into("#new-key", "pager").await?;
    b.type_into("#new-value", "+1 555 0100").await?;
    b.click("#create").await?;
    b.wait_text(SHOWS_WITHIN, "h1", |t| t == "team/pager").await?;
    assert_eq!(ui.value("team/pager").await?.as_deref(), Some("+1 555 0100"));

    info!("--- live updates come through the prefix");
    ui.put("/v1/kv/team/pager", "+1 555 0199").await?;
    b.wait_text(SHOWS_WITHIN, "#kv-value", |t| t == "+1 555 0199").await?;
    b.screenshot("prefix-kv-key").await?;

    info!("--- while the tab is hidden, no query is sent; shown again, it catches up");
    b.goto(&format!("{}ui/#/kv/team/", proxy.url())).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("pager")).await?;
    let page = b.new_tab().await?;
    let hidden_at = Instant::now();
    for i in 0..5 {
        // Each write would wake the folder's blocking query were it running.
        ui.put(&format!("/v1/kv/team/while-hidden-{i}"), "x").await?;
    }
    // Give a running loop time to have asked again.
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let during: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.at > hidden_at + Duration::from_millis(200) && s.path.contains("/v1/"))
        .collect();
    assert!(during.is_empty(), "queries sent while hidden: {during:?}");
    b.close_tab_to(&page).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("while-hidden-4")).await?;

    info!("--- nothing ever left the prefix");
    let outside: Vec<_> = proxy.seen().into_iter().filter(|s| !s.forwarded).collect();
    assert!(outside.is_empty(), "requests outside /praetor/: {outside:?}");

    ui.shutdown().await
}
