//! `GET /console/api/setup` through nginx answers with the api's `X-Version` header.
//!
//! Why this endpoint: it needs no login and is served by the api itself. `GET /v1/` would be
//! the documented version endpoint, but on Dify 1.13.3 a flask-restx root route shadows it (404).

use crate::http::{client, describe_error, header};
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const CHECK: Check = Check {
    id: "api.version",
    suite: Suite::Api,
    severity: Severity::Critical,
    title: "the console API answers through nginx and reports its version (X-Version)",
};
const PATH: &str = "/console/api/setup";

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
            probe.pass(format!("HTTP 200, X-Version {v}, setup step `{step}`"))
        }
        (200, None, _) => probe.fail("HTTP 200 without an X-Version header (is this Dify's api?)"),
        (200, Some(_), None) => probe.fail("HTTP 200 but the body has no `step` field"),
        (code, _, _) => probe.fail(format!("HTTP {code}")),
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
