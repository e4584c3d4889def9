//! CORS preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`).
//!
//! The console blueprint sends credentials (cookies carry the session since Dify 1.9.2), so an
//! allowed origin must be echoed exactly, never answered with `*`, and must come with
//! `Access-Control-Allow-Credentials: true`.

use crate::http::{client, describe_error};
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const CHECK: Check = Check {
    id: "cors.console-preflight",
    suite: Suite::Cors,
    severity: Severity::Major,
    title: "a preflight to the console API from the console's origin echoes that origin with credentials",
};
const CONSOLE_PATH: &str = "/console/api/setup";

pub(crate) async fn console(target: &Target) -> Outcome {
    let origin = target.console_origin();
    let url = target.url(CONSOLE_PATH);
    let mut probe = Probe::new(
        &CHECK,
        format!("2xx with Access-Control-Allow-Origin: {origin} and Access-Control-Allow-Credentials: true"),
    )
    .url(&url);
    probe.evidence(format!("OPTIONS {CONSOLE_PATH} Origin: {origin}"));
    let resp = client(target)
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "GET")
        .header(
            "Access-Control-Request-Headers",
            "content-type,x-csrf-token",
        )
        .send()
        .await;
    let resp = match resp {
        Ok(resp) => resp,
        Err(e) => return probe.fail(format!("no response: {}", describe_error(&e))),
    };
    let status = resp.status().as_u16();
    probe.evidence(format!("HTTP {status}"));
    for (name, value) in resp.headers() {
        let name = name.as_str();
        if name.starts_with("access-control-") || name == "vary" || name == "location" {
            probe.evidence(format!(
                "{name}: {}",
                value.to_str().unwrap_or("<non-ascii>")
            ));
        }
    }
    let get = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let allow_origin = get("access-control-allow-origin");
    let allow_credentials = get("access-control-allow-credentials");

    if (300..400).contains(&status) {
        return probe.fail(format!(
            "HTTP {status}: a redirect, which browsers refuse for a preflight"
        ));
    }
    if !(200..300).contains(&status) {
        return probe.fail(format!("HTTP {status}"));
    }
    match allow_origin.as_deref() {
        None => probe.fail(format!(
            "no Access-Control-Allow-Origin header: origin {origin} is not allowed"
        )),
        Some("*") => probe.fail(
            "Access-Control-Allow-Origin: * (browsers drop credentialed responses with a wildcard)",
        ),
        Some(other) if other != origin => {
            probe.fail(format!("Access-Control-Allow-Origin: {other}"))
        }
        Some(_) if allow_credentials.as_deref() != Some("true") => probe.fail(format!(
            "origin echoed but Access-Control-Allow-Credentials is {}",
            allow_credentials.as_deref().unwrap_or("absent")
        )),
        Some(_) => probe.pass(format!(
            "HTTP {status}, Access-Control-Allow-Origin: {origin}, credentials allowed"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;
    use rstest::rstest;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const ORIGIN: &str = "http://console.example";

    #[rstest]
    #[case::echoed(200, Some(ORIGIN), Some("true"), Status::Passed, "credentials allowed")]
    #[case::not_allowed(200, None, None, Status::Failed, "is not allowed")]
    #[case::wildcard(200, Some("*"), Some("true"), Status::Failed, "wildcard")]
    #[case::other_origin(200, Some("http://evil.example"), Some("true"), Status::Failed, "evil")]
    #[case::no_credentials(200, Some(ORIGIN), None, Status::Failed, "absent")]
    #[case::redirect(308, None, None, Status::Failed, "redirect")]
    #[case::server_error(500, Some(ORIGIN), Some("true"), Status::Failed, "HTTP 500")]
    #[tokio::test]
    async fn judges_console_preflight(
        #[case] code: u16,
        #[case] acao: Option<&str>,
        #[case] acac: Option<&str>,
        #[case] want: Status,
        #[case] got_contains: &str,
    ) {
        let server = MockServer::start().await;
        let mut response = ResponseTemplate::new(code);
        if let Some(v) = acao {
            response = response.insert_header("Access-Control-Allow-Origin", v);
        }
        if let Some(v) = acac {
            response = response.insert_header("Access-Control-Allow-Credentials", v);
        }
        Mock::given(method("OPTIONS"))
            .and(path(CONSOLE_PATH))
            .and(header("Origin", ORIGIN))
            .and(header("Access-Control-Request-Method", "GET"))
            .respond_with(response)
            .expect(1)
            .mount(&server)
            .await;
        let target = Target::new(&server.uri())
            .unwrap()
            .with_console_origin(ORIGIN);
        let o = console(&target).await;
        assert_eq!(o.status, want, "{o}");
        assert!(o.got.contains(got_contains), "{o}");
    }
}
