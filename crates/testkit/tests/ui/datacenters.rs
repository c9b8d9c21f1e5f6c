//! The datacenter switcher: with a second datacenter federated over the
//! WAN, the header lists both, and choosing the other shows its services
//! and its overview through this agent (`?dc=` on every call) until the
//! agent's own is chosen again.

use praetor_testkit::{secs, wait_for, AgentProcess, Loopback};
use serde_json::json;
use tracing::info;

use crate::{set_field, Ui, SHOWS_WITHIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_switcher_shows_another_datacenters_services_and_back() -> anyhow::Result<()> {
    let ui = Ui::start().await?;
    let b = &ui.browser;
    let lo2 = Loopback::allocate()?;
    let dc2 = AgentProcess::dev(&lo2)?
        .args([
            "-datacenter=dc2".to_owned(),
            format!("-retry-join-wan={}", ui.agent.ip()),
        ])
        .start()
        .await?;
    ui.put(
        "/v1/agent/service/register",
        json!({"ID": "here1", "Name": "here", "Port": 80}).to_string(),
    )
    .await?;
    let r = dc2
        .http()
        .put(dc2.url("/v1/agent/service/register"))
        .body(json!({"ID": "there1", "Name": "there", "Port": 81}).to_string())
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "register in dc2: {}", r.status());

    info!("--- dc1's agent knows dc2 over the WAN");
    let http = ui.agent.http().clone();
    let url = ui.agent.url("/v1/catalog/datacenters");
    wait_for(secs(30), "dc1 and dc2 in /v1/catalog/datacenters", || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let dcs: Vec<String> = http
                .get(&url)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            if dcs.len() == 2 && dcs.contains(&"dc2".to_owned()) {
                Ok(())
            } else {
                Err(format!("{dcs:?}"))
            }
        }
    })
    .await?;

    info!("--- the switcher lists both; the agent's own is chosen");
    b.goto(&ui.page("/services")).await?;
    b.wait_text(SHOWS_WITHIN, "#dc", |t| t.contains("dc2"))
        .await?;
    let options = b
        .eval(
            "return [...document.querySelectorAll('#dc option')].map(o => [o.value, o.textContent]);",
            vec![],
        )
        .await?;
    assert_eq!(
        options,
        json!([["", "dc1 (this agent's)"], ["dc2", "dc2"]]),
        "nearest first, the agent's own as ''"
    );
    let colours = b
        .eval(
            "const s = getComputedStyle(document.getElementById('dc')); return [s.color, s.backgroundColor];",
            vec![],
        )
        .await?;
    assert_ne!(colours[0], colours[1], "the chosen datacenter is readable");
    b.wait_text(SHOWS_WITHIN, "tr[data-service=here]", |_| true)
        .await?;
    assert_eq!(b.text("tr[data-service=there]").await?, None);

    info!("--- choosing dc2 shows dc2's services and overview");
    set_field(b, "#dc", "dc2").await?;
    b.wait_text(SHOWS_WITHIN, "tr[data-service=there]", |_| true)
        .await?;
    assert_eq!(b.text("tr[data-service=here]").await?, None);
    b.screenshot("datacenter-dc2").await?;
    b.click("#nav a[data-section=overview]").await?;
    b.wait_text(SHOWS_WITHIN, "#datacenter", |t| t.trim() == "dc2")
        .await?;

    info!("--- the choice holds across a reload; the agent's own again");
    b.goto(&ui.page("/services")).await?;
    b.eval("location.reload(); return null;", vec![]).await?;
    b.wait_text(SHOWS_WITHIN, "tr[data-service=there]", |_| true)
        .await?;
    set_field(b, "#dc", "").await?;
    b.wait_text(SHOWS_WITHIN, "tr[data-service=here]", |_| true)
        .await?;
    assert_eq!(b.text("tr[data-service=there]").await?, None);

    dc2.shutdown().await?;
    ui.shutdown().await
}
