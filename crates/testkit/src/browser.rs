//! A headless Chromium for the web UI's tests, driven over W3C WebDriver by
//! Debian's `chromedriver` (which `scripts/test.sh` installs with
//! `chromium`). Each [`Browser`] is one chromedriver process on a port of
//! its own choosing, one session, and one throwaway profile dir; dropping it
//! ends the session and stops chromedriver by PID. A missing or broken
//! browser is an error, never a skip: the UI tests must fail loudly.
//!
//! The protocol is plain JSON over HTTP, so this speaks it with the
//! workspace's reqwest rather than another WebDriver crate.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::agent::{scrub_env, send};
use crate::{KitError, Signal};

/// W3C's key for an element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long chromedriver may take to say which port it listens on.
const DRIVER_READY_WITHIN: Duration = Duration::from_secs(20);

/// Where the browser and its driver are looked for (Debian's paths first).
fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        let direct = Path::new(name);
        if direct.is_absolute() && direct.is_file() {
            return Some(direct.to_path_buf());
        }
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn fail(doing: impl Into<String>, detail: impl ToString) -> KitError {
    KitError::Browser {
        doing: doing.into(),
        detail: detail.to_string(),
    }
}

/// One headless Chromium session.
pub struct Browser {
    driver: Option<Child>,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: TempDir,
    shots: PathBuf,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("driver", &self.base)
            .finish()
    }
}

/// A found element, as the driver refers to it.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless Chromium with a `width`×`height`
    /// window; screenshots go to `<target dir>/ui-screenshots/`.
    ///
    /// # Errors
    /// `Browser` when chromium or chromedriver is missing or does not start.
    pub async fn start(width: u32, height: u32) -> Result<Browser, KitError> {
        let driver_bin = find(&["chromedriver", "/usr/lib/chromium/chromedriver"]).ok_or_else(|| {
            fail(
                "finding chromedriver",
                "not installed: run ./scripts/test.sh (it installs Debian's chromium and chromium-driver)",
            )
        })?;
        let chrome_bin = find(&["chromium", "/usr/lib/chromium/chromium", "chromium-browser"])
            .ok_or_else(|| fail("finding chromium", "not installed: run ./scripts/test.sh"))?;
        let profile = tempfile::Builder::new()
            .prefix("praetor-ui-browser-")
            .tempdir()
            .map_err(|e| fail("creating a profile dir", e))?;
        let mut cmd = Command::new(&driver_bin);
        scrub_env(&mut cmd);
        cmd.arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().map_err(|e| fail("spawning chromedriver", e))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| fail("reading chromedriver", "no stdout"))?;
        // chromedriver says "… started successfully on port N." on stdout.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut port = None;
            for line in lines.by_ref().map_while(Result::ok) {
                if let Some(rest) = line.split("successfully on port ").nth(1) {
                    port = rest.trim_end_matches('.').trim().parse::<u16>().ok();
                    break;
                }
            }
            let _ = tx.send(port);
            // Keep draining so chromedriver never blocks on a full pipe.
            for _ in lines {}
        });
        let port = match rx.recv_timeout(DRIVER_READY_WITHIN) {
            Ok(Some(p)) => p,
            other => {
                let _ = send(child.id(), Signal::Kill);
                let _ = child.wait();
                return Err(fail(
                    "starting chromedriver",
                    format!("no port announced ({other:?})"),
                ));
            }
        };
        let http = crate::http_client_builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| fail("building an HTTP client", e))?;
        let mut b = Browser {
            driver: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            http,
            shots: screenshot_dir(),
            _profile: profile,
        };
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-proxy-server".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-extensions".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", b._profile.path().display()),
        ];
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chrome_bin, "args": args },
        }}});
        let v = b.raw("POST", "/session", Some(caps)).await?;
        b.session = v["sessionId"]
            .as_str()
            .ok_or_else(|| fail("starting a session", &v))?
            .to_owned();
        Ok(b)
    }

    async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, KitError> {
        let url = format!("{}{path}", self.base);
        let doing = format!("{method} {path}");
        let req = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self
                .http
                .post(&url)
                .json(&body.unwrap_or_else(|| json!({}))),
        };
        let resp = req.send().await.map_err(|e| fail(&doing, e))?;
        let ok = resp.status().is_success();
        let v: Value = resp.json().await.map_err(|e| fail(&doing, e))?;
        if !ok {
            return Err(fail(doing, &v["value"]));
        }
        Ok(v["value"].clone())
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, KitError> {
        self.raw(method, &format!("/session/{}{path}", self.session), body)
            .await
    }

    /// Opens `url` and waits for the page to load.
    ///
    /// # Errors
    /// `Browser` when the driver refuses.
    pub async fn goto(&self, url: &str) -> Result<(), KitError> {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    /// The page's current URL.
    ///
    /// # Errors
    /// `Browser` when the driver refuses.
    pub async fn url(&self) -> Result<String, KitError> {
        Ok(self
            .cmd("GET", "/url", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and
    /// returns what it returns.
    ///
    /// # Errors
    /// `Browser` when the script throws.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Result<Value, KitError> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// The first element matching the CSS selector.
    ///
    /// # Errors
    /// `Browser` when there is none.
    pub async fn find(&self, css: &str) -> Result<Element, KitError> {
        let v = self
            .cmd(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await?;
        v[ELEMENT]
            .as_str()
            .map(|id| Element(id.to_owned()))
            .ok_or_else(|| fail(format!("finding {css}"), &v))
    }

    /// Clicks the first element matching `css`, as a user would (the driver
    /// scrolls it into view and refuses if something covers it).
    ///
    /// # Errors
    /// `Browser` when there is no such element or it cannot be clicked.
    pub async fn click(&self, css: &str) -> Result<(), KitError> {
        let e = self.find(css).await?;
        self.cmd("POST", &format!("/element/{}/click", e.0), None)
            .await
            .map(drop)
    }

    /// Clears the field matching `css` and types `text` into it, key by key.
    ///
    /// # Errors
    /// `Browser` when there is no such field.
    pub async fn type_into(&self, css: &str, text: &str) -> Result<(), KitError> {
        let e = self.find(css).await?;
        self.cmd("POST", &format!("/element/{}/clear", e.0), None)
            .await?;
        self.cmd(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        )
        .await
        .map(drop)
    }

    /// Sends keys to the element matching `css` without clearing it
    /// (`\u{E007}` is Enter, `\u{E009}` Control).
    ///
    /// # Errors
    /// `Browser` when there is no such element.
    pub async fn keys(&self, css: &str, text: &str) -> Result<(), KitError> {
        let e = self.find(css).await?;
        self.cmd(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        )
        .await
        .map(drop)
    }

    /// The text of the first element matching `css` (`None`: no such element).
    ///
    /// # Errors
    /// `Browser` when the driver refuses.
    pub async fn text(&self, css: &str) -> Result<Option<String>, KitError> {
        let v = self
            .eval(
                "const e = document.querySelector(arguments[0]); return e ? (e.value !== undefined && (e.tagName === 'TEXTAREA' || e.tagName === 'INPUT') ? e.value : e.innerText) : null;",
                vec![json!(css)],
            )
            .await?;
        Ok(v.as_str().map(str::to_owned))
    }

    /// Waits until the text of `css` satisfies `ok`; returns it.
    ///
    /// # Errors
    /// `Timeout` with the last text seen.
    pub async fn wait_text(
        &self,
        within: Duration,
        css: &str,
        ok: impl Fn(&str) -> bool,
    ) -> Result<String, KitError> {
        let reason = format!("the text of {css}");
        crate::wait_for(within, &reason, || async {
            match self.text(css).await {
                Ok(Some(t)) if ok(&t) => Ok(t),
                Ok(Some(t)) => Err(format!("{t:?}")),
                Ok(None) => Err("no such element".to_owned()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
    }

    /// Waits until an element matches `css`.
    ///
    /// # Errors
    /// `Timeout`.
    pub async fn wait_for_element(&self, within: Duration, css: &str) -> Result<(), KitError> {
        self.wait_text(within, css, |_| true).await.map(drop)
    }

    /// Saves a PNG of the viewport as `<target>/ui-screenshots/<name>.png`.
    ///
    /// # Errors
    /// `Browser` or `Io` when it cannot be taken or written.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf, KitError> {
        let v = self.cmd("GET", "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| fail("decoding a screenshot", e))?;
        std::fs::create_dir_all(&self.shots).map_err(KitError::io("creating", &self.shots))?;
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).map_err(KitError::io("writing a screenshot", &path))?;
        Ok(path)
    }

    /// Resizes the window (a narrow window shows the small-screen layout).
    ///
    /// # Errors
    /// `Browser` when the driver refuses.
    pub async fn resize(&self, width: u32, height: u32) -> Result<(), KitError> {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await
        .map(drop)
    }

    /// Opens a new tab and switches to it, leaving the current one in the
    /// background (hidden); returns the handle of the tab left.
    ///
    /// # Errors
    /// `Browser` when the driver refuses.
    pub async fn new_tab(&self) -> Result<String, KitError> {
        let old = self.cmd("GET", "/window", None).await?;
        let v = self
            .cmd("POST", "/window/new", Some(json!({ "type": "tab" })))
            .await?;
        let handle = v["handle"].clone();
        self.cmd("POST", "/window", Some(json!({ "handle": handle })))
            .await?;
        Ok(old.as_str().unwrap_or_default().to_owned())
    }

    /// Closes the current tab and switches to `handle`.
    ///
    /// # Errors
    /// `Browser` when the driver refuses.
    pub async fn close_tab_to(&self, handle: &str) -> Result<(), KitError> {
        self.cmd("DELETE", "/window", None).await?;
        self.cmd("POST", "/window", Some(json!({ "handle": handle })))
            .await
            .map(drop)
    }

    /// Ends the session (closing Chromium) and stops chromedriver.
    ///
    /// # Errors
    /// `Browser` when the session does not end cleanly.
    pub async fn close(mut self) -> Result<(), KitError> {
        let r = self
            .raw("DELETE", &format!("/session/{}", self.session), None)
            .await;
        self.session.clear();
        self.stop_driver();
        r.map(drop)
    }

    fn stop_driver(&mut self) {
        if let Some(mut child) = self.driver.take() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = send(child.id(), Signal::Term);
                for _ in 0..50 {
                    if !matches!(child.try_wait(), Ok(None)) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = send(child.id(), Signal::Kill);
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Best effort: a blocking client, as there may be no runtime here.
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        let c = crate::http_client_builder().no_proxy().build();
                        if let Ok(c) = c {
                            let _ = c.delete(url).timeout(Duration::from_secs(10)).send().await;
                        }
                    });
                }
            })
            .join();
        }
        self.stop_driver();
    }
}

/// `<target dir>/ui-screenshots`: `CARGO_TARGET_DIR`, else the workspace's
/// `target/`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("ui-screenshots")
}
