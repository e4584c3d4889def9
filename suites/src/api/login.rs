//! `api.login`: login with the base64-encoded password sets the access, refresh and csrf cookies
//! with the flags Dify's rules give for the deployment's scheme; a wrong password is refused with
//! Dify's error.
//!
//! Why it matters (research §10): after upgrades logins fail for reasons users cannot see: the
//! base64 password of 1.11.1 (#29862), cookies for the wrong scheme or domain (#28228, #27354).
//! Dify 1.13.3 answers a wrong password with 401 `authentication_failed` "Invalid email or
//! password." (`controllers/console/auth/error.py`), and 429 `email_code_login_limit` after five
//! failures; the wrong attempt is made first, so the right one resets that counter.

use crate::api::cookies;
use crate::clients::console::Session;
use crate::flow::{Done, Flow};
use crate::outcome::{Probe, Severity};
use crate::secret::Secret;
use crate::suite::{Check, Suite};

pub(crate) const CHECK: Check = Check {
    id: "api.login",
    suite: Suite::Api,
    severity: Severity::Critical,
    title: "login with the base64 password sets access, refresh and csrf cookies per Dify's rules; a wrong password is refused",
};
const PATH: &str = "/console/api/login";

pub(crate) async fn run(flow: &Flow) -> Done<Session> {
    let target = flow.target();
    let expected = cookies::expected(target.settings());
    let names: Vec<&str> = expected.iter().map(|e| e.name.as_str()).collect();
    let mut probe = Probe::new(
        &CHECK,
        format!(
            "wrong password: HTTP 401 `authentication_failed`; right password (base64): HTTP 200 {{\"result\":\"success\"}} setting {}",
            names.join(", ")
        ),
    )
    .url(target.url(PATH));
    if let Err(why) = flow.setup().await.needed() {
        return Done::without(probe.skip(why));
    }
    let Some(admin) = target.admin() else {
        return Done::without(probe.skip(
            "no administrator credentials (give --admin-email and the password in DIFY_ADMIN_PASSWORD)",
        ));
    };

    let wrong = Secret::new(format!("{}-not-it-7", admin.password.expose()));
    match Session::login(target, &admin.email, &wrong).await {
        Ok((answer, session)) => {
            probe.evidence(format!("wrong password: {}", answer.line()));
            if session.is_some() || answer.status == 200 {
                return Done::without(probe.fail("a wrong password logged in"));
            }
            if answer.status == 429 {
                return Done::without(probe.fail(format!(
                    "the account is locked after failed logins (HTTP 429 `{}`)",
                    answer.code().unwrap_or("?")
                )));
            }
            if answer.status != 401 || answer.code() != Some("authentication_failed") {
                return Done::without(probe.fail(format!(
                    "a wrong password got HTTP {} `{}`, not 401 `authentication_failed`",
                    answer.status,
                    answer.code().unwrap_or("<no code>")
                )));
            }
        }
        Err(e) => return Done::without(probe.fail(e)),
    }

    let (answer, session) = match Session::login(target, &admin.email, &admin.password).await {
        Ok(r) => r,
        Err(e) => return Done::without(probe.fail(e)),
    };
    probe.evidence(format!("right password: {}", answer.line()));
    for c in &answer.set_cookies {
        probe.evidence(format!("Set-Cookie: {}", c.describe()));
    }
    if answer.status != 200 || answer.str_field("/result") != Some("success") {
        let hint = if answer.message() == Some("Invalid encrypted data") {
            " (the api did not accept the base64 password: a release before 1.11.1 expects it plain)"
        } else {
            ""
        };
        return Done::without(probe.fail(format!(
            "HTTP {} `{}`{hint}",
            answer.status,
            answer.code().or(answer.str_field("/result")).unwrap_or("<no code>")
        )));
    }
    let over_https = target.base_url().scheme() == "https";
    let problems = cookies::problems(&answer.set_cookies, &expected, over_https);
    let Some(session) = session else {
        return Done::without(probe.fail("HTTP 200 but no cookies: the session cannot be kept"));
    };
    if !problems.is_empty() {
        for p in &problems {
            probe.evidence(format!("problem: {p}"));
        }
        return Done::without(probe.fail(problems.join("; ")));
    }
    let got = format!(
        "wrong password refused (401 authentication_failed); login set {} as Dify's rules give",
        answer
            .set_cookies
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Done::passed(probe.pass(got), session)
}
