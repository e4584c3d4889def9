//! `GET /` answers 200 HTML carrying a Next.js asset path.
//!
//! Dify's web routes on the client (`/install`, `/signin`, `/apps` are all 200 from the server),
//! so the check asserts the page and a Next.js marker, never a redirect.

use crate::api::truncate_for_evidence as truncate;
use crate::http::{client, describe_error, header};
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const CHECK: Check = Check {
    id: "web.root",
    suite: Suite::Web,
    severity: Severity::Critical,
    title: "`GET /` through nginx answers 200 HTML from the Next.js web app",
};
const MARKER: &str = "/_next/static/";

pub(crate) async fn check(target: &Target) -> Outcome {
    let url = target.url("/");
    let mut probe = Probe::new(
        &CHECK,
        format!("HTTP 200, text/html, a page referencing {MARKER}"),
    )
    .url(&url);
    let resp = match client(target).get(&url).send().await {
        Ok(resp) => resp,
        Err(e) => return probe.fail(format!("no response: {}", describe_error(&e))),
    };
    let status = resp.status().as_u16();
    let content_type = header(&resp, "content-type").unwrap_or("").to_owned();
    probe.evidence(format!("HTTP {status}"));
    probe.evidence(format!("Content-Type: {content_type}"));
    if let Some(location) = header(&resp, "location") {
        probe.evidence(format!("Location: {location}"));
    }
    let body = resp.text().await.unwrap_or_default();
    probe.evidence(format!("body: {}", truncate(&body, 200)));
    if status != 200 {
        return probe.fail(format!("HTTP {status}"));
    }
    if !content_type.starts_with("text/html") {
        return probe.fail(format!("HTTP 200 with Content-Type `{content_type}`"));
    }
    if !body.contains(MARKER) {
        return probe.fail(format!("HTML without {MARKER} (not the Next.js web app?)"));
    }
    probe.pass(format!(
        "HTTP 200 HTML ({} bytes) with {MARKER}",
        body.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;
    use rstest::rstest;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[rstest]
    #[case::next_page(
        200,
        "text/html; charset=utf-8",
        "<script src=\"/_next/static/a.js\">",
        Status::Passed
    )]
    #[case::plain_html(200, "text/html", "<h1>Welcome to nginx!</h1>", Status::Failed)]
    #[case::json(200, "application/json", "{\"_next/static/\":1}", Status::Failed)]
    #[case::bad_gateway(502, "text/html", "<h1>502 Bad Gateway</h1>", Status::Failed)]
    #[case::redirect(307, "text/html", "", Status::Failed)]
    #[tokio::test]
    async fn judges_root_page(
        #[case] code: u16,
        #[case] content_type: &str,
        #[case] body: &str,
        #[case] want: Status,
    ) {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/"))
            .respond_with(
                ResponseTemplate::new(code)
                    .insert_header("content-type", content_type)
                    .insert_header("location", "/signin")
                    .set_body_raw(body.as_bytes().to_vec(), content_type),
            )
            .mount(&server)
            .await;
        let o = check(&Target::new(&server.uri()).unwrap()).await;
        assert_eq!(o.status, want, "{o}");
    }
}
