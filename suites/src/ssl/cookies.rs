//! `ssl.cookie-secure`: the console cookies a login sets over HTTPS are `Secure`, named with the
//! `__Host-` prefix when Dify's rules give it.
//!
//! Dify decides from its settings, not from the request (`api/libs/token.py`, research §5):
//! `Secure` only when `CONSOLE_WEB_URL` and `CONSOLE_API_URL` both start with `https`, and then
//! `__Host-` unless `COOKIE_DOMAIN` is set. Turning on `NGINX_HTTPS_ENABLED` alone, as Dify's
//! HTTPS instructions have it (research §13, step 5), leaves both URLs as they were, so the
//! session cookies travel without `Secure` and a browser sends them over plain http too (nginx
//! still answers there, research §4). That is reported as a minor finding with its cause;
//! cookies that break Dify's own rules over HTTPS are a major one.

use crate::api::cookies;
use crate::clients::console::{HOST_PREFIX, Session};
use crate::flow::Flow;
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};

pub(crate) const CHECK: Check = Check {
    id: "ssl.cookie-secure",
    suite: Suite::Ssl,
    severity: Severity::Major,
    title: "console cookies set over HTTPS are Secure, with the __Host- prefix when Dify's rules give it",
};
const PATH: &str = "/console/api/login";

pub(crate) async fn check(flow: &Flow) -> Outcome {
    let target = flow.target();
    let Some(tls) = super::endpoint(target) else {
        return super::no_tls(&CHECK);
    };
    let settings = target.settings();
    let expected = cookies::expected(settings);
    // Unknown settings (`check` without `--env-file`): only Secure is judged, not the names.
    let rules_known = expected.iter().all(|e| e.secure.is_some());
    let rules_secure = expected.iter().all(|e| e.secure == Some(true));
    let names: Vec<&str> = expected.iter().map(|e| e.name.as_str()).collect();
    let want = if !rules_known {
        "login over HTTPS sets access, refresh and csrf cookies, each Secure".to_string()
    } else {
        format!(
            "login over HTTPS sets {}, each Secure{}",
            names.join(", "),
            if rules_secure {
                ""
            } else {
                " (Dify gives Secure only when CONSOLE_WEB_URL and CONSOLE_API_URL are https)"
            }
        )
    };
    let https = match target.over_tls(&tls) {
        Ok(t) => t,
        Err(e) => return Probe::new(&CHECK, want).fail(e.to_string()),
    };
    let mut probe = Probe::new(&CHECK, want).url(https.url(PATH));
    if let Err(why) = flow.setup().await.needed() {
        return probe.skip(why);
    }
    let Some(admin) = target.admin() else {
        return probe.skip(
            "no administrator credentials to log in with (give --admin-email and the password in DIFY_ADMIN_PASSWORD)",
        );
    };
    let answer = match Session::login(&https, &admin.email, &admin.password).await {
        Ok((answer, _)) => answer,
        Err(e) => return probe.fail(format!("login over HTTPS: {e}")),
    };
    probe.evidence(format!("login over HTTPS: {}", answer.line()));
    for c in &answer.set_cookies {
        probe.evidence(format!("Set-Cookie: {}", c.describe()));
    }
    if answer.status != 200 {
        return probe.fail(format!(
            "login over HTTPS got HTTP {} `{}`",
            answer.status,
            answer.code().unwrap_or("<no code>")
        ));
    }
    let session: Vec<_> = answer
        .set_cookies
        .iter()
        .filter(|c| {
            [
                crate::clients::console::ACCESS_TOKEN,
                crate::clients::console::REFRESH_TOKEN,
                crate::clients::console::CSRF_TOKEN,
            ]
            .contains(&c.base_name())
        })
        .collect();
    if session.is_empty() {
        return probe.fail("login over HTTPS set no access, refresh or csrf cookie");
    }
    let insecure: Vec<&str> = session
        .iter()
        .filter(|c| !c.secure)
        .map(|c| c.name.as_str())
        .collect();

    if rules_known && rules_secure {
        // Dify means these to be Secure: anything else is its rules broken over HTTPS.
        let problems = cookies::problems(&answer.set_cookies, &expected, true);
        if problems.is_empty() {
            return probe.pass(format!("{}: Secure", names.join(", ")));
        }
        return probe.fail(problems.join("; "));
    }
    if insecure.is_empty() {
        let got: Vec<&str> = session.iter().map(|c| c.name.as_str()).collect();
        return probe.pass(format!("{}: Secure", got.join(", ")));
    }
    probe.severity(Severity::Minor);
    let cause = if rules_known {
        format!(
            ": Dify sets Secure only when CONSOLE_WEB_URL and CONSOLE_API_URL both start with https (here `{}` and `{}`); set both to the site's https URL (cookies are then named {HOST_PREFIX}…)",
            settings.get("CONSOLE_WEB_URL").unwrap_or(""),
            settings.get("CONSOLE_API_URL").unwrap_or(""),
        )
    } else {
        String::new()
    };
    probe.fail(format!(
        "{} set over HTTPS without Secure, so browsers also send them over plain http{cause}",
        insecure.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;
    use crate::secret::Secret;
    use crate::ssl::testing::{Server, TlsServer};
    use crate::target::{Admin, Settings, Target};
    use rstest::rstest;
    use std::collections::BTreeMap;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const SECURE: &[(&str, &str)] = &[
        (
            "Set-Cookie",
            "__Host-access_token=a.b.c; Max-Age=3600; Secure; HttpOnly; Path=/; SameSite=Lax",
        ),
        (
            "Set-Cookie",
            "__Host-refresh_token=r; Max-Age=2592000; Secure; HttpOnly; Path=/; SameSite=Lax",
        ),
        (
            "Set-Cookie",
            "__Host-csrf_token=c; Max-Age=3600; Secure; Path=/; SameSite=Lax",
        ),
    ];
    const PLAIN: &[(&str, &str)] = &[
        (
            "Set-Cookie",
            "access_token=a.b.c; Max-Age=3600; HttpOnly; Path=/; SameSite=Lax",
        ),
        (
            "Set-Cookie",
            "refresh_token=r; Max-Age=2592000; HttpOnly; Path=/; SameSite=Lax",
        ),
        (
            "Set-Cookie",
            "csrf_token=c; Max-Age=3600; Path=/; SameSite=Lax",
        ),
    ];
    const HTTPS_URLS: &[(&str, &str)] = &[
        ("CONSOLE_WEB_URL", "https://dify.example"),
        ("CONSOLE_API_URL", "https://dify.example"),
    ];
    const EMPTY_URLS: &[(&str, &str)] = &[("CONSOLE_WEB_URL", ""), ("CONSOLE_API_URL", "")];

    /// A set-up console (plain http, wiremock) whose HTTPS endpoint (a real OpenSSL server)
    /// answers the login with `cookies`.
    async fn judge(
        cookies: &'static [(&'static str, &'static str)],
        settings: &[(&str, &str)],
        admin: bool,
    ) -> Outcome {
        let tls = TlsServer::start(&Server {
            headers: cookies.to_vec(),
            ..Server::modern()
        });
        let console = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/console/api/setup"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"step": "finished"})),
            )
            .mount(&console)
            .await;
        let settings: BTreeMap<String, String> = settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut target = Target::new(&console.uri())
            .unwrap()
            .with_tls(tls.target().tls().unwrap().clone())
            .with_settings(Settings::new(settings));
        if admin {
            target = target.with_admin(Admin {
                email: "a@example.com".into(),
                name: "a".into(),
                password: Secret::new("Passw0rd!x"),
            });
        }
        check(&Flow::new(target)).await
    }

    #[rstest]
    #[case::https_urls_secure(SECURE, HTTPS_URLS, Status::Passed, Severity::Major, "Secure")]
    #[case::https_urls_not_secure(
        PLAIN,
        HTTPS_URLS,
        Status::Failed,
        Severity::Major,
        "where Dify's rules give `__Host-access_token`"
    )]
    #[case::empty_urls_not_secure(
        PLAIN,
        EMPTY_URLS,
        Status::Failed,
        Severity::Minor,
        "CONSOLE_WEB_URL and CONSOLE_API_URL both start with https"
    )]
    #[case::unknown_settings_secure(SECURE, &[], Status::Passed, Severity::Major, "__Host-access_token")]
    #[case::unknown_settings_not_secure(PLAIN, &[], Status::Failed, Severity::Minor, "without Secure")]
    #[tokio::test(flavor = "multi_thread")]
    async fn judges_the_cookies_of_a_login_over_https(
        #[case] cookies: &'static [(&'static str, &'static str)],
        #[case] settings: &[(&str, &str)],
        #[case] want: Status,
        #[case] severity: Severity,
        #[case] got: &str,
    ) {
        let o = judge(cookies, settings, true).await;
        assert_eq!((o.status, o.severity), (want, severity), "{o}");
        assert!(o.got.contains(got), "{o}");
        assert!(
            o.url
                .as_deref()
                .unwrap_or("")
                .starts_with("https://localhost:"),
            "{o}"
        );
        assert!(
            o.evidence.iter().any(|e| e.starts_with("Set-Cookie: ")),
            "{o}"
        );
        let text = o.to_string() + &o.evidence.join("\n");
        assert!(
            !text.contains("a.b.c"),
            "cookie values stay out of the evidence: {text}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn skips_without_credentials() {
        let o = judge(SECURE, HTTPS_URLS, false).await;
        assert_eq!(o.status, Status::Skipped, "{o}");
        assert!(o.got.contains("DIFY_ADMIN_PASSWORD"), "{o}");
    }
}
