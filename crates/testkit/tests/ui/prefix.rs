//! The UI behind a path prefix, as an operator reaches it through an SSH
//! tunnel to a proxy that serves the agent under `/praetor/`: the redirect,
//! the assets and every API call stay under the prefix, writes work, and
//! live updates arrive through it. Also: while the tab is hidden the page
//! sends no queries, and it catches up as soon as it is shown.

use std::time::{Duration, Instant};

use tracing::info;

use crate::proxy::{Fault, PrefixProxy};
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
    b.wait_text(SHOWS_WITHIN, "#leader", |t| t.contains(':'))
        .await?;
    let url = b.url().await?;
    assert!(
        url.starts_with(&format!("{}ui/", proxy.url())),
        "landed on {url}"
    );

    info!("--- browse and write through the prefix");
    b.click("#nav a[data-section=kv]").await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("team/"))
        .await?;
    b.click("tr[data-key='team/'] a").await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("owner"))
        .await?;
    b.type_into("#new-key", "pager").await?;
    b.type_into("#new-value", "+1 555 0100").await?;
    b.click("#create").await?;
    b.wait_text(SHOWS_WITHIN, "h1", |t| t == "team/pager")
        .await?;
    assert_eq!(
        ui.value("team/pager").await?.as_deref(),
        Some("+1 555 0100")
    );

    info!("--- live updates come through the prefix");
    ui.put("/v1/kv/team/pager", "+1 555 0199").await?;
    b.wait_text(SHOWS_WITHIN, "#kv-value", |t| t == "+1 555 0199")
        .await?;
    b.screenshot("prefix-kv-key").await?;

    info!("--- while the tab is hidden, no query is sent; shown again, it catches up");
    b.goto(&format!("{}ui/#/kv/team/", proxy.url())).await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("pager"))
        .await?;
    let page = b.new_tab().await?;
    let hidden_at = Instant::now();
    for i in 0..5 {
        // Each write would wake the folder's blocking query were it running.
        ui.put(&format!("/v1/kv/team/while-hidden-{i}"), "x")
            .await?;
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
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("while-hidden-4"))
        .await?;

    info!("--- the token typed in the header goes with every call, and is kept");
    b.type_into("#token", "s3cr3t-token").await?;
    b.keys("#token", "\u{E007}").await?;
    // The UI checks the token with the agent before it uses it: count the
    // calls from the moment it is in use (a blocking query of the old
    // loop may still start in between, without it, as it should).
    let deadline = Instant::now() + SHOWS_WITHIN;
    loop {
        let kept = b
            .eval("return localStorage.getItem('praetor.token');", vec![])
            .await?;
        if kept == serde_json::json!("s3cr3t-token") {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the UI never took the token: {kept}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let typed_at = Instant::now();
    ui.put("/v1/kv/team/after-token", "x").await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("after-token"))
        .await?;
    let api: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.at > typed_at && s.path.contains("/v1/"))
        .collect();
    assert!(
        !api.is_empty()
            && api
                .iter()
                .all(|s| s.token.as_deref() == Some("s3cr3t-token")),
        "{api:?}"
    );
    b.eval(
        "window.__beforeReload = true; location.reload(); return null;",
        vec![],
    )
    .await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("after-token"))
        .await?;
    assert_eq!(
        b.eval("return window.__beforeReload === undefined;", vec![])
            .await?,
        serde_json::json!(true),
        "not reloaded"
    );
    assert_eq!(
        b.text("#token").await?.as_deref(),
        Some("s3cr3t-token"),
        "the token is kept across a reload"
    );

    info!("--- errors are told plainly: 403, no leader, agent unreachable; then it recovers");
    proxy.set_fault(Some(Fault::Status(403, "Permission denied".into())));
    ui.put("/v1/kv/team/wake", "1").await?;
    b.wait_text(SHOWS_WITHIN, "#banner", |t| {
        t.contains("Permission denied (403)")
    })
    .await?;
    b.screenshot("error-403").await?;
    proxy.set_fault(Some(Fault::Status(500, "No cluster leader".into())));
    b.wait_text(SHOWS_WITHIN, "#banner", |t| t.contains("no leader"))
        .await?;
    proxy.set_fault(Some(Fault::Drop));
    b.wait_text(SHOWS_WITHIN, "#banner", |t| t.contains("unreachable"))
        .await?;
    b.screenshot("error-unreachable").await?;
    proxy.set_fault(None);
    ui.put("/v1/kv/team/recovered", "1").await?;
    b.wait_text(SHOWS_WITHIN, "#kv-list", |t| t.contains("recovered"))
        .await?;
    assert_eq!(
        b.eval("return document.querySelector('#banner').hidden;", vec![])
            .await?,
        serde_json::json!(true),
        "the banner stays after recovery"
    );

    info!("--- nothing ever left the prefix");
    let outside: Vec<_> = proxy.seen().into_iter().filter(|s| !s.forwarded).collect();
    assert!(
        outside.is_empty(),
        "requests outside /praetor/: {outside:?}"
    );

    ui.shutdown().await
}
