//! A small Chrome DevTools Protocol client: starts the system's Chromium headless (Debian's
//! `chromium`, nothing downloaded), opens one page and records what the page did.
//!
//! One websocket, commands answered in order; events that arrive meanwhile are kept.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Environment variable naming the browser binary; else `chromium`, `chromium-browser`.
pub const BROWSER_ENV: &str = "DIFY_CONFORMANCE_CHROMIUM";

#[derive(Debug, thiserror::Error)]
pub enum CdpError {
    #[error("no Chromium found (install Debian's `chromium` or set {BROWSER_ENV})")]
    NoBrowser,
    #[error("cannot start {browser}: {reason}")]
    Start { browser: String, reason: String },
    #[error("DevTools: {0}")]
    Protocol(String),
    #[error("no answer from the browser within {0:?}")]
    Timeout(Duration),
}

/// The browser binary to run, if any.
pub fn find_browser() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(BROWSER_ENV) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        ["chromium", "chromium-browser"]
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
    })
}

/// A running headless browser; killed when dropped.
pub struct Browser {
    child: Child,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Events received, in order, with their session id.
    pub events: Vec<Value>,
    _profile: TempDir,
}

/// A throwaway profile directory, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    /// Starts `browser` headless; `insecure_tls` accepts any certificate (the ssl suite judges
    /// trust; this check judges what the page does).
    pub async fn launch(
        browser: &Path,
        insecure_tls: bool,
        timeout: Duration,
    ) -> Result<Self, CdpError> {
        let profile = std::env::temp_dir().join(format!(
            "dify-conformance-chromium-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&profile).map_err(|e| CdpError::Start {
            browser: browser.display().to_string(),
            reason: e.to_string(),
        })?;
        let profile = TempDir(profile);
        let mut cmd = Command::new(browser);
        cmd.arg("--headless=new")
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.0.display()))
            .arg("--no-first-run")
            .arg("--no-default-browser-check")
            .arg("--disable-gpu")
            .arg("--disable-dev-shm-usage")
            .arg("--disable-extensions")
            .arg("--disable-background-networking")
            .arg("--disable-component-update")
            .arg("--window-size=1280,800");
        // Chromium refuses its sandbox as root (CI containers).
        if is_root() {
            cmd.arg("--no-sandbox");
        }
        if insecure_tls {
            cmd.arg("--ignore-certificate-errors");
        }
        cmd.arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| CdpError::Start {
            browser: browser.display().to_string(),
            reason: e.to_string(),
        })?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| CdpError::Protocol("no stderr".into()))?;
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        // The browser prints its websocket URL once it listens.
        let url = tokio::time::timeout(timeout, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("DevTools listening on ").nth(1) {
                    return Some(rest.trim().to_string());
                }
                seen.push(line);
            }
            None
        })
        .await
        .map_err(|_| CdpError::Timeout(timeout))?
        .ok_or_else(|| CdpError::Start {
            browser: browser.display().to_string(),
            reason: format!("it exited: {}", seen.join(" | ")),
        })?;
        // Keep draining stderr so the browser never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .map_err(|e| CdpError::Protocol(format!("connect {url}: {e}")))?;
        Ok(Self {
            child,
            ws,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        })
    }

    /// Sends a command (to a page session when given) and waits for its result.
    pub async fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CdpError> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .map_err(|e| CdpError::Protocol(format!("{method}: {e}")))?;
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.next_message(deadline, timeout).await?;
            if v.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(err) = v.get("error") {
                    return Err(CdpError::Protocol(format!("{method}: {err}")));
                }
                return Ok(v.get("result").cloned().unwrap_or(Value::Null));
            }
        }
    }

    /// Reads events until `done` says so (given all events so far) or `deadline` passes;
    /// returns whether `done` was reached.
    pub async fn pump_until(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> bool {
        loop {
            if done(&self.events) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            // Wake at least every 100 ms so time-based conditions (a quiet network) are seen.
            let step = (deadline - now).min(Duration::from_millis(100));
            match self.next_message(now + step, step).await {
                Ok(_) | Err(CdpError::Timeout(_)) => {}
                Err(_) => return false,
            }
        }
    }

    async fn next_message(
        &mut self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Value, CdpError> {
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| CdpError::Timeout(timeout))?;
            let text = match frame {
                Some(Ok(Message::Text(t))) => t.to_string(),
                Some(Ok(Message::Close(_))) | None => {
                    return Err(CdpError::Protocol(
                        "the browser closed the connection".into(),
                    ));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(CdpError::Protocol(e.to_string())),
            };
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| CdpError::Protocol(format!("bad message: {e}")))?;
            if v.get("method").is_some() {
                self.events.push(v.clone());
            }
            return Ok(v);
        }
    }

    pub async fn close(mut self) {
        let _ = self
            .call(None, "Browser.close", json!({}), Duration::from_secs(2))
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(3), self.child.wait()).await;
        let _ = self.child.kill().await;
    }
}

fn is_root() -> bool {
    // /proc/self/status "Uid:\treal\teffective…"; no libc call needed.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}
