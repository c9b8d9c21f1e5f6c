//! The web UI in a real browser: headless Chromium (Debian's `chromium`,
//! driven by `chromedriver` over WebDriver) against a real `praetor agent
//! -dev` on the test's own loopback address. Each test saves screenshots of
//! the pages it visits under `target/ui-screenshots/` (the README's come from
//! there, copied to `docs/ui/`). A browser that cannot start fails the test.

mod acl;
mod datacenters;
mod history;
mod kv;
mod prefix;
mod proxy;
mod scale;
mod services;
mod sessions;

use std::time::Duration;

use praetor_testkit::{init_tracing, AgentProcess, Browser, KitError, Loopback};

/// How long the UI may take to show something the API already has. The
/// live views answer within a second; the slack is for a loaded CI machine.
pub const SHOWS_WITHIN: Duration = Duration::from_secs(10);

/// A dev agent (UI on) and a browser on its `/ui/`.
pub struct Ui {
    pub agent: AgentProcess,
    pub browser: Browser,
    pub lo: Loopback,
}

impl Ui {
    pub async fn start() -> anyhow::Result<Ui> {
        init_tracing();
        let lo = Loopback::allocate()?;
        let agent = AgentProcess::dev(&lo)?.start().await?;
        let browser = Browser::start(1280, 900).await?;
        Ok(Ui { agent, browser, lo })
    }

    /// `http://IP:8500/ui/#<route>`.
    pub fn page(&self, route: &str) -> String {
        format!("{}/ui/#{route}", self.agent.http_url())
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.browser.close().await?;
        self.agent.shutdown().await?;
        Ok(())
    }

    /// PUTs `body` to `path` on the agent; returns the answer's text.
    pub async fn put(&self, path: &str, body: impl Into<reqwest::Body>) -> anyhow::Result<String> {
        let r = self
            .agent
            .http()
            .put(self.agent.url(path))
            .body(body)
            .send()
            .await?;
        let status = r.status();
        let text = r.text().await?;
        anyhow::ensure!(status.is_success(), "PUT {path}: {status} {text}");
        Ok(text)
    }

    /// GETs `path` as JSON; `None` on 404.
    pub async fn get(&self, path: &str) -> anyhow::Result<Option<serde_json::Value>> {
        let r = self.agent.http().get(self.agent.url(path)).send().await?;
        if r.status() == 404 {
            return Ok(None);
        }
        let r = r.error_for_status()?;
        Ok(Some(r.json().await?))
    }

    /// The raw value of a key; `None` when it does not exist.
    pub async fn value(&self, key: &str) -> anyhow::Result<Option<String>> {
        let r = self
            .agent
            .http()
            .get(self.agent.url(&format!("/v1/kv/{key}?raw")))
            .send()
            .await?;
        if r.status() == 404 {
            return Ok(None);
        }
        Ok(Some(r.error_for_status()?.text().await?))
    }
}

/// Clicks the confirm button of the open confirmation dialog.
pub async fn confirm(b: &Browser) -> Result<(), KitError> {
    b.wait_for_element(SHOWS_WITHIN, "dialog[open] #confirm-yes")
        .await?;
    b.click("dialog[open] #confirm-yes").await
}

/// Sets a field's value as a user's edit would end (input and change
/// events), for clearing a field and for picking from a <select>.
pub async fn set_field(b: &Browser, css: &str, value: &str) -> Result<(), KitError> {
    b.eval(
        "const e = document.querySelector(arguments[0]); e.value = arguments[1]; \
         e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true}));",
        vec![serde_json::json!(css), serde_json::json!(value)],
    )
    .await
    .map(drop)
}
