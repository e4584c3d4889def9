//! `web.browser`: the page opened in headless Chromium makes its API calls with no CORS,
//! mixed-content or network error and logs no console error. A screenshot is kept.
//!
//! This is what users see when the edge is wrong (research §10): a page that loads but whose
//! calls to `CONSOLE_API_URL` fail in the browser only.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::clients::cdp::{Browser, find_browser};
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const CHECK: Check = Check {
    id: "web.browser",
    suite: Suite::Web,
    severity: Severity::Major,
    title: "in headless Chromium the page calls its API with no CORS, mixed-content, network or console error",
};

/// The file name of the screenshot in the artifacts directory.
pub const SCREENSHOT: &str = "web-browser.png";
/// The network counts as settled after this long without a request starting or ending.
const QUIET: Duration = Duration::from_millis(750);

/// What the page did, read from the DevTools events.
#[derive(Debug, Default)]
pub(crate) struct PageLog {
    /// requestId -> (method, url, resource type)
    pub requests: BTreeMap<String, (String, String, String)>,
    pub statuses: BTreeMap<String, u16>,
    /// requestId -> reason
    pub failures: BTreeMap<String, String>,
    pub console_errors: Vec<String>,
    pub loaded: bool,
}

impl PageLog {
    pub fn read(events: &[Value], session: &str) -> Self {
        let mut log = PageLog::default();
        for e in events {
            if e.get("sessionId").and_then(Value::as_str) != Some(session) {
                continue;
            }
            let p = &e["params"];
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            match e["method"].as_str().unwrap_or_default() {
                "Page.loadEventFired" => log.loaded = true,
                "Network.requestWillBeSent" => {
                    log.requests.insert(
                        text(&p["requestId"]),
                        (
                            text(&p["request"]["method"]),
                            text(&p["request"]["url"]),
                            text(&p["type"]),
                        ),
                    );
                }
                "Network.responseReceived" => {
                    let status = p["response"]["status"].as_u64().unwrap_or(0);
                    log.statuses
                        .insert(text(&p["requestId"]), u16::try_from(status).unwrap_or(0));
                }
                "Network.loadingFailed" => {
                    let mut why = text(&p["errorText"]);
                    if let Some(b) = p["blockedReason"].as_str() {
                        why.push_str(&format!(" (blocked: {b})"));
                    }
                    if let Some(c) = p["corsErrorStatus"]["corsError"].as_str() {
                        why.push_str(&format!(" (CORS: {c})"));
                    }
                    log.failures.insert(text(&p["requestId"]), why);
                }
                "Runtime.consoleAPICalled" if p["type"] == "error" => {
                    let args: Vec<String> = p["args"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            a["value"]
                                .as_str()
                                .map(str::to_owned)
                                .or_else(|| a["description"].as_str().map(str::to_owned))
                                .unwrap_or_else(|| a["value"].to_string())
                        })
                        .collect();
                    log.console_errors
                        .push(format!("console.error: {}", args.join(" ")));
                }
                "Runtime.exceptionThrown" => {
                    let d = &p["exceptionDetails"];
                    log.console_errors.push(format!(
                        "uncaught: {} {}",
                        text(&d["text"]),
                        text(&d["exception"]["description"])
                    ));
                }
                // The browser's own favicon fetch is not the page's doing.
                "Log.entryAdded"
                    if p["entry"]["level"] == "error"
                        && !text(&p["entry"]["url"]).ends_with("/favicon.ico") =>
                {
                    log.console_errors.push(format!(
                        "{}: {} {}",
                        text(&p["entry"]["source"]),
                        text(&p["entry"]["text"]),
                        text(&p["entry"]["url"])
                    ));
                }
                _ => {}
            }
        }
        log
    }

    /// Requests that have neither an answer nor a failure yet.
    pub fn in_flight(&self) -> usize {
        self.requests
            .keys()
            .filter(|id| !self.statuses.contains_key(*id) && !self.failures.contains_key(*id))
            .count()
    }

    /// The page's calls to Dify's APIs (fetch/XHR to the console, web or service prefixes).
    pub fn api_calls(&self) -> Vec<&String> {
        self.requests
            .iter()
            .filter(|(_, (_, url, kind))| {
                (kind == "Fetch" || kind == "XHR")
                    && ["/console/api", "/api/", "/v1/"]
                        .iter()
                        .any(|p| url.contains(p))
            })
            .map(|(id, _)| id)
            .collect()
    }
}

/// Attempts when the host's network changes under the browser (Chromium aborts in-flight
/// requests with ERR_NETWORK_CHANGED when interfaces come and go, e.g. other stacks starting).
const ATTEMPTS: u32 = 3;
/// How long Chromium may take to start listening for DevTools (a loaded CI host is slow).
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(90);

pub(crate) async fn check(target: &Target) -> Outcome {
    let url = target.url("/");
    let expected = "the page loads, calls its API, no failed request, no CORS or mixed-content block, no console error";
    let Some(browser) = find_browser() else {
        return Probe::new(&CHECK, expected)
            .url(&url)
            .skip("no Chromium on this machine (Debian package `chromium`)");
    };
    let timeout = target.request_timeout().max(Duration::from_secs(20));
    let insecure = target.tls().is_some_and(|t| !t.roots_pem.is_empty());
    let mut attempt = 1;
    loop {
        let mut probe = Probe::new(&CHECK, expected).url(&url);
        if attempt > 1 {
            probe.evidence(format!(
                "attempt {attempt}: the host's network changed during the previous one (ERR_NETWORK_CHANGED)"
            ));
        }
        // Start-up is watched (the DevTools line), so a generous deadline costs nothing when the
        // machine is idle; a browser that cannot start says nothing about the deployment.
        let mut b = match Browser::launch(&browser, insecure, LAUNCH_TIMEOUT).await {
            Ok(b) => b,
            Err(e) => return probe.skip(format!("the browser could not be driven here: {e}")),
        };
        let result = drive(&mut b, &url, timeout, target, &mut probe).await;
        b.close().await;
        match result {
            Ok((_, true)) if attempt < ATTEMPTS => attempt += 1,
            Ok((verdict, _)) => return verdict(probe),
            Err(e) => return probe.fail(format!("the browser session failed: {e}")),
        }
    }
}

type Verdict = Box<dyn FnOnce(Probe) -> Outcome + Send>;

async fn drive(
    b: &mut Browser,
    url: &str,
    timeout: Duration,
    target: &Target,
    probe: &mut Probe,
) -> Result<(Verdict, bool), crate::clients::cdp::CdpError> {
    let created = b
        .call(
            None,
            "Target.createTarget",
            json!({"url": "about:blank"}),
            timeout,
        )
        .await?;
    let target_id = created["targetId"].as_str().unwrap_or_default().to_string();
    let attached = b
        .call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
            timeout,
        )
        .await?;
    let session = attached["sessionId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for domain in [
        "Page.enable",
        "Network.enable",
        "Runtime.enable",
        "Log.enable",
    ] {
        b.call(Some(&session), domain, json!({}), timeout).await?;
    }
    b.call(
        Some(&session),
        "Page.navigate",
        json!({"url": url}),
        timeout,
    )
    .await?;

    // Settled: loaded, nothing in flight, and no network event for QUIET.
    let deadline = Instant::now() + timeout;
    let mut last_len = 0;
    let mut last_change = Instant::now();
    let settled = b
        .pump_until(deadline, |events| {
            if events.len() != last_len {
                last_len = events.len();
                last_change = Instant::now();
            }
            let log = PageLog::read(events, &session);
            log.loaded && log.in_flight() == 0 && last_change.elapsed() >= QUIET
        })
        .await;

    let shot = b
        .call(
            Some(&session),
            "Page.captureScreenshot",
            json!({"format": "png"}),
            timeout,
        )
        .await?;
    if let Some(data) = shot["data"].as_str()
        && let Ok(png) = base64::engine::general_purpose::STANDARD.decode(data)
    {
        match target.artifacts_dir() {
            Some(dir) => {
                let path = dir.join(SCREENSHOT);
                let written =
                    std::fs::create_dir_all(dir).and_then(|_| write_atomically(&path, &png));
                match written {
                    Ok(()) => probe.fact("screenshot", path.display().to_string()),
                    Err(e) => probe.evidence(format!("screenshot not kept: {e}")),
                }
            }
            None => probe.evidence("screenshot taken, not kept (no artifacts directory)"),
        }
    }

    let log = PageLog::read(&b.events, &session);
    let page_https = url.starts_with("https://");
    let mut problems = Vec::new();
    if !settled {
        problems.push(format!(
            "the page did not settle within {timeout:?} (loaded: {}, {} request(s) in flight)",
            log.loaded,
            log.in_flight()
        ));
    }
    for (id, (method, req_url, kind)) in &log.requests {
        let status = log.statuses.get(id);
        let failure = log.failures.get(id);
        probe.evidence(format!(
            "{kind} {method} {req_url} -> {}",
            match (status, failure) {
                (_, Some(f)) => format!("failed: {f}"),
                (Some(s), None) => format!("HTTP {s}"),
                (None, None) => "no answer".into(),
            }
        ));
        if let Some(f) = failure {
            problems.push(format!("{method} {req_url} failed: {f}"));
        } else if status.is_some_and(|s| *s >= 500) {
            problems.push(format!(
                "{method} {req_url} answered HTTP {}",
                status.unwrap_or(&0)
            ));
        }
        if page_https && req_url.starts_with("http://") {
            problems.push(format!("mixed content: {req_url} from an https page"));
        }
    }
    for e in &log.console_errors {
        probe.evidence(e.clone());
        problems.push(e.clone());
    }
    let calls = log.api_calls().len();
    probe.fact("api_calls", calls.to_string());
    if calls == 0 && problems.is_empty() {
        problems.push("the page made no API call (is this Dify's web app?)".into());
    }
    let changed = log
        .failures
        .values()
        .any(|f| f.contains("ERR_NETWORK_CHANGED"));
    let verdict: Verdict = Box::new(move |probe: Probe| {
        if problems.is_empty() {
            probe.pass(format!("{calls} API call(s), no error"))
        } else {
            probe.fail(problems.join("; "))
        }
    });
    Ok((verdict, changed))
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("png.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// A page like Dify's: it calls `<prefix>/setup` on load and logs an error when it fails.
    fn page(prefix: &str) -> String {
        format!(
            r#"<!DOCTYPE html><html><head><title>t</title></head><body data-api-prefix="{prefix}"><div id="r">Loading</div><script>
fetch('{prefix}/setup', {{credentials: 'include'}}).then(r => r.json()).then(j => {{ document.getElementById('r').textContent = 'step ' + j.step; }})
  .catch(e => console.error('API unreachable: ' + e));
</script></body></html>"#
        )
    }

    async fn serve(body: String) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/html"))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/console/api/setup"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("X-Version", "1.13.3")
                    .set_body_raw(br#"{"step":"not_started"}"#.to_vec(), "application/json"),
            )
            .mount(&server)
            .await;
        server
    }

    fn skip_without_browser() -> bool {
        if find_browser().is_none() {
            eprintln!("skipped: no chromium (ci/setup installs it)");
            return true;
        }
        false
    }

    #[tokio::test]
    async fn a_page_whose_api_answers_passes_and_keeps_a_screenshot() {
        if skip_without_browser() {
            return;
        }
        let server = serve(page("/console/api")).await;
        let dir = std::env::temp_dir().join(format!("dc-browser-{}", uuid::Uuid::new_v4()));
        let t = Target::new(&server.uri()).unwrap().with_artifacts_dir(&dir);
        let o = check(&t).await;
        assert_eq!(o.status, Status::Passed, "{o}");
        assert_eq!(o.facts["api_calls"], "1", "{o}");
        let png = std::fs::read(dir.join(SCREENSHOT)).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let _ = std::fs::remove_dir_all(dir);
    }

    // The api on another origin without CORS: the browser blocks the call.
    #[tokio::test]
    async fn a_cross_origin_api_without_cors_fails_with_the_browsers_reason() {
        if skip_without_browser() {
            return;
        }
        let api = serve(String::new()).await;
        let server = serve(page(&format!("{}/console/api", api.uri()))).await;
        let o = check(&Target::new(&server.uri()).unwrap()).await;
        assert_eq!(o.status, Status::Failed, "{o}");
        assert!(o.got.contains("CORS"), "{o}");
        assert!(o.got.contains("API unreachable"), "{o}");
    }

    #[tokio::test]
    async fn an_unreachable_api_fails() {
        if skip_without_browser() {
            return;
        }
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let gone = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let server = serve(page(&format!("{gone}/console/api"))).await;
        let o = check(&Target::new(&server.uri()).unwrap()).await;
        assert_eq!(o.status, Status::Failed, "{o}");
        assert!(o.got.contains("ERR_CONNECTION_REFUSED"), "{o}");
    }
}
