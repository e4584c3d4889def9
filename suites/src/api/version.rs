//! `GET /console/api/setup` through nginx answers with the api's `X-Version` header, and
//! `GET /console/api/version?current_version=<that>` agrees with it.
//!
//! Why these endpoints: they need no login and are served by the api itself. `GET /v1/` would be
//! the documented version endpoint, but on Dify 1.13.3 a flask-restx root route shadows it (404,
//! research §12). The version endpoint asks `CHECK_UPDATE_URL` for newer releases; with it empty
//! (update checks off) it answers the api's own version, and when the update server cannot be
//! reached it answers `current_version` after a 10 s time-out (§7), so a slow answer is
//! reported: it is what every console page load pays on an offline host.

use crate::http::{client, describe_error, header};
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const CHECK: Check = Check {
    id: "api.version",
    suite: Suite::Api,
    severity: Severity::Critical,
    title: "the console API answers through nginx and reports its version (X-Version, /console/api/version)",
};
const PATH: &str = "/console/api/setup";
const VERSION_PATH: &str = "/console/api/version";
/// Slower than this, the version endpoint waited for an unreachable update server.
const SLOW_VERSION: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) async fn check(target: &Target) -> Outcome {
    let url = target.url(PATH);
    let mut probe = Probe::new(
        &CHECK,
        "HTTP 200 with an X-Version header and a setup `step`",
    )
    .url(&url);
    let resp = match client(target).get(&url).send().await {
        Ok(resp) => resp,
        Err(e) => return probe.fail(format!("no response: {}", describe_error(&e))),
    };
    let status = resp.status();
    let version = header(&resp, "x-version").map(str::to_owned);
    probe.evidence(format!("HTTP {}", status.as_u16()));
    if let Some(v) = &version {
        probe.evidence(format!("X-Version: {v}"));
        probe.fact("version", v.clone());
    }
    if let Some(env) = header(&resp, "x-env") {
        probe.fact("env", env);
    }
    let body = resp.text().await.unwrap_or_default();
    let step = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("step").and_then(|s| s.as_str()).map(str::to_owned));
    probe.evidence(format!("body: {}", truncate_for_evidence(&body, 200)));
    match (status.as_u16(), version, step) {
        (200, Some(v), Some(step)) if !v.is_empty() => {
            probe.fact("setup_step", step.clone());
            match version_endpoint(target, &v, &mut probe).await {
                Ok(latest) => probe.pass(format!(
                    "HTTP 200, X-Version {v}, setup step `{step}`; {VERSION_PATH} answers {latest}"
                )),
                Err(why) => probe.fail(why),
            }
        }
        (200, None, _) => probe.fail("HTTP 200 without an X-Version header (is this Dify's api?)"),
        (200, Some(_), None) => probe.fail("HTTP 200 but the body has no `step` field"),
        (code, _, _) => probe.fail(format!("HTTP {code}")),
    }
}

/// Asks the version endpoint with the running version; its `version` must be that version or
/// a newer release (the update server's answer). Returns what it answered.
async fn version_endpoint(
    target: &Target,
    running: &str,
    probe: &mut Probe,
) -> Result<String, String> {
    let started = std::time::Instant::now();
    // `+` in a query is a space: `1.13.3+standin` must be percent-encoded.
    let mut url = reqwest::Url::parse(&target.url(VERSION_PATH))
        .map_err(|e| format!("{VERSION_PATH}: {e}"))?;
    url.query_pairs_mut()
        .append_pair("current_version", running);
    let resp = client(target)
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{VERSION_PATH}: no response: {}", describe_error(&e)))?;
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    let took = started.elapsed();
    probe.evidence(format!(
        "GET {VERSION_PATH}?current_version={running} -> HTTP {status} in {:.1} s: {}",
        took.as_secs_f64(),
        truncate_for_evidence(&body, 200)
    ));
    if status != 200 {
        return Err(format!("{VERSION_PATH} answered HTTP {status}"));
    }
    let json: serde_json::Value = serde_json::from_str(&body)
        .map_err(|_| format!("{VERSION_PATH} answered HTTP 200 without JSON"))?;
    let Some(answered) = json.get("version").and_then(|v| v.as_str()) else {
        return Err(format!("{VERSION_PATH} answered without a `version` field"));
    };
    if took > SLOW_VERSION {
        probe.evidence(format!(
            "the answer took {:.1} s: CHECK_UPDATE_URL is set but its server does not answer; \
             set it empty on an offline host",
            took.as_secs_f64()
        ));
    }
    if answered == running {
        return Ok(format!("`{answered}`"));
    }
    if older(answered, running) {
        return Err(format!(
            "{VERSION_PATH} says version `{answered}`, older than the running `{running}`"
        ));
    }
    probe.fact("latest_version", answered);
    Ok(format!(
        "`{answered}` (a newer release than the running {running})"
    ))
}

/// Whether dotted version `a` is older than `b`, comparing the leading numbers only
/// (`1.13.3+standin` reads as 1.13.3). Unparsable versions never count as older.
fn older(a: &str, b: &str) -> bool {
    let nums = |v: &str| -> Option<Vec<u64>> {
        let core = v.trim_start_matches('v').split(['+', '-']).next()?;
        core.split('.').map(|p| p.parse().ok()).collect()
    };
    match (nums(a), nums(b)) {
        (Some(a), Some(b)) => a < b,
        _ => false,
    }
}

pub(crate) fn truncate_for_evidence(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    async fn target_for(response: ResponseTemplate) -> (MockServer, Target) {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(PATH))
            .respond_with(response)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(VERSION_PATH))
            .respond_with(
                ResponseTemplate::new(200).set_body_string(
                    r#"{"version":"1.13.3","release_date":"","release_notes":""}"#,
                ),
            )
            .mount(&server)
            .await;
        let target = Target::new(&server.uri()).unwrap();
        (server, target)
    }

    #[tokio::test]
    async fn passes_with_version_header_and_step() {
        let (_s, t) = target_for(
            ResponseTemplate::new(200)
                .insert_header("X-Version", "1.13.3")
                .set_body_string(r#"{"step":"not_started"}"#),
        )
        .await;
        let o = check(&t).await;
        assert_eq!(o.status, Status::Passed, "{o}");
        assert_eq!(o.facts["version"], "1.13.3");
    }

    #[tokio::test]
    async fn fails_when_the_version_endpoint_disagrees() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(PATH))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("X-Version", "1.13.3")
                    .set_body_string(r#"{"step":"finished"}"#),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(VERSION_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"version":"1.9.0"}"#))
            .mount(&server)
            .await;
        let o = check(&Target::new(&server.uri()).unwrap()).await;
        assert_eq!(o.status, Status::Failed, "{o}");
        assert!(o.got.contains("older than"), "{o}");
    }

    #[test]
    fn compares_versions_by_their_numbers() {
        assert!(older("1.9.0", "1.13.3"));
        assert!(!older("1.13.3", "1.13.3+standin"));
        assert!(!older("2.0.0", "1.13.3"));
        assert!(!older("latest", "1.13.3"));
    }

    #[tokio::test]
    async fn fails_without_version_header() {
        let (_s, t) =
            target_for(ResponseTemplate::new(200).set_body_string(r#"{"step":"finished"}"#)).await;
        let o = check(&t).await;
        assert_eq!(o.status, Status::Failed);
        assert!(o.got.contains("without an X-Version"), "{o}");
    }

    #[tokio::test]
    async fn fails_on_gateway_error() {
        let (_s, t) =
            target_for(ResponseTemplate::new(502).set_body_string("<html>bad gateway")).await;
        let o = check(&t).await;
        assert_eq!(o.status, Status::Failed);
        assert_eq!(o.got, "HTTP 502");
        assert!(o.evidence.iter().any(|e| e.contains("bad gateway")));
    }

    #[tokio::test]
    async fn fails_when_nothing_listens() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let t = Target::new(&format!("http://{addr}")).unwrap();
        let o = check(&t).await;
        assert_eq!(o.status, Status::Failed);
        assert!(o.got.starts_with("no response"), "{o}");
    }
}
