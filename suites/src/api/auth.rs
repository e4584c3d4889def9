//! `api.auth-required` and `api.csrf`: the console API refuses calls without a session, and a
//! session without the CSRF double submit.
//!
//! Dify 1.13.3 (`libs/login.py`, `libs/token.py`, research §5, §13): `@login_required` answers
//! 401 without a valid access token, and then runs `check_csrf_token` for every method but
//! OPTIONS, GET included: the `X-CSRF-Token` header must equal the `csrf_token` cookie, else 401
//! "CSRF token is missing or invalid.". The endpoint used is `GET /console/api/datasets`: it
//! is `@login_required` in every release since 0.6 and reads nothing sensitive.

use reqwest::Method;

use crate::clients::console::{Csrf, exchange};
use crate::flow::Flow;
use crate::http::client;
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const AUTH_REQUIRED: Check = Check {
    id: "api.auth-required",
    suite: Suite::Api,
    severity: Severity::Critical,
    title: "console calls without the session cookies are refused with 401",
};
pub(crate) const CSRF: Check = Check {
    id: "api.csrf",
    suite: Suite::Api,
    severity: Severity::Major,
    title: "console calls with cookies but a missing or wrong X-CSRF-Token get 401; with both they succeed",
};
const PATH: &str = "/console/api/datasets?page=1&limit=1";
/// Dify's message for a failed CSRF check.
const CSRF_MESSAGE: &str = "CSRF token is missing or invalid.";

pub(crate) async fn auth_required(target: &Target) -> Outcome {
    let mut probe = Probe::new(&AUTH_REQUIRED, "HTTP 401 for GET and POST without cookies")
        .url(target.url(PATH));
    let http = client(target);
    let mut refused = Vec::new();
    for method in [Method::GET, Method::POST] {
        let mut req = http.request(method.clone(), target.url(PATH));
        if method == Method::POST {
            // A body Dify would accept from a logged-in user: only the session is missing.
            req = req.json(&serde_json::json!({"name": "dify-conformance-never-created"}));
        }
        let answer = match exchange(req, method.clone(), PATH).await {
            Ok(a) => a,
            Err(e) => return probe.fail(e),
        };
        probe.evidence(answer.line());
        if answer.status != 401 {
            return probe.fail(format!(
                "{method} without cookies answered HTTP {}, not 401",
                answer.status
            ));
        }
        refused.push(method.to_string());
    }
    probe.pass(format!(
        "{} without cookies: HTTP 401",
        refused.join(" and ")
    ))
}

pub(crate) async fn csrf(flow: &Flow) -> Outcome {
    let target = flow.target();
    let mut probe = Probe::new(
        &CSRF,
        format!("no X-CSRF-Token: 401 \"{CSRF_MESSAGE}\"; a wrong one: 401; the csrf cookie's value: 200"),
    )
    .url(target.url(PATH));
    let session = match flow.login().await.needed() {
        Ok(s) => s,
        Err(why) => return probe.skip(why),
    };
    for (csrf, want, label) in [
        (Csrf::Missing, 401, "without X-CSRF-Token"),
        (Csrf::Wrong, 401, "with a wrong X-CSRF-Token"),
        (Csrf::Matching, 200, "with the matching X-CSRF-Token"),
    ] {
        let answer =
            match exchange(session.request(Method::GET, PATH, csrf), Method::GET, PATH).await {
                Ok(a) => a,
                Err(e) => return probe.fail(e),
            };
        probe.evidence(format!("{label}: {}", answer.line()));
        if answer.status != want {
            return probe.fail(format!(
                "GET {label} answered HTTP {}, expected {want}",
                answer.status
            ));
        }
        if want == 401 && answer.message() != Some(CSRF_MESSAGE) {
            return probe.fail(format!(
                "GET {label} was refused, but not by the CSRF check: `{}`",
                answer.message().unwrap_or(&answer.text)
            ));
        }
    }
    probe.pass("missing and wrong X-CSRF-Token refused with 401; the matching one accepted")
}
