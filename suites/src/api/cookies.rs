//! Dify's rules for the console cookies (`api/libs/token.py`, research §5 and §13), as data the
//! login check judges `Set-Cookie` headers against.
//!
//! - `Secure` exactly when both `CONSOLE_WEB_URL` and `CONSOLE_API_URL` start with `https`;
//! - the `__Host-` prefix when secure and `COOKIE_DOMAIN` is empty; with a domain (leading dot
//!   stripped) the cookies carry `Domain=` and no prefix;
//! - `access_token` HttpOnly, Max-Age `ACCESS_TOKEN_EXPIRE_MINUTES` x 60 (60 min default);
//!   `refresh_token` HttpOnly, `REFRESH_TOKEN_EXPIRE_DAYS` x 86400 (30 days); `csrf_token` not
//!   HttpOnly (the front end reads it), same lifetime as the access token; all SameSite=Lax, Path=/.
//!
//! And what a browser does with them: a `Secure` cookie set over plain http is dropped, so a
//! deployment whose URLs say https but that is served over http cannot keep anyone logged in.

use crate::clients::console::{ACCESS_TOKEN, CSRF_TOKEN, HOST_PREFIX, REFRESH_TOKEN, SetCookie};
use crate::target::Settings;

/// What one cookie must look like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Expected {
    pub name: String,
    pub http_only: bool,
    /// `None` when the deployment's URLs are unknown (then either is accepted).
    pub secure: Option<bool>,
    pub domain: Option<String>,
    pub max_age: Option<i64>,
}

/// The three cookies Dify's rules give for these settings. With no settings (a `check`
/// without `--env-file`), Secure and the prefix are not judged, only the rest.
pub(crate) fn expected(settings: &Settings) -> Vec<Expected> {
    let known =
        settings.get("CONSOLE_WEB_URL").is_some() || settings.get("CONSOLE_API_URL").is_some();
    let https = |key| settings.get(key).unwrap_or("").starts_with("https");
    let secure = https("CONSOLE_WEB_URL") && https("CONSOLE_API_URL");
    let domain = settings
        .get("COOKIE_DOMAIN")
        .map(|d| d.trim().trim_start_matches('.').to_string())
        .filter(|d| !d.is_empty());
    let minutes = number(settings, "ACCESS_TOKEN_EXPIRE_MINUTES", 60);
    let days = number(settings, "REFRESH_TOKEN_EXPIRE_DAYS", 30);
    let name = |base: &str| {
        if known && secure && domain.is_none() {
            format!("{HOST_PREFIX}{base}")
        } else {
            base.to_string()
        }
    };
    [
        (ACCESS_TOKEN, true, minutes * 60),
        (REFRESH_TOKEN, true, days * 86_400),
        (CSRF_TOKEN, false, minutes * 60),
    ]
    .into_iter()
    .map(|(base, http_only, max_age)| Expected {
        name: name(base),
        http_only,
        secure: known.then_some(secure),
        domain: domain.clone(),
        max_age: Some(max_age),
    })
    .collect()
}

fn number(settings: &Settings, key: &str, default: i64) -> i64 {
    settings
        .non_empty(key)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as i64)
        .unwrap_or(default)
}

/// What is wrong with the cookies a login set, one line per problem; empty when all is right.
/// `served_over_https` is how the target was reached.
pub(crate) fn problems(
    cookies: &[SetCookie],
    expected: &[Expected],
    served_over_https: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for want in expected {
        let found = cookies.iter().find(|c| c.name == want.name).or_else(|| {
            // The right cookie under the other naming rule is a finding of its own.
            let base = want.name.trim_start_matches(HOST_PREFIX);
            cookies.iter().find(|c| c.base_name() == base)
        });
        let Some(c) = found else {
            out.push(format!("no `{}` cookie", want.name));
            continue;
        };
        if c.name != want.name {
            out.push(format!(
                "`{}` where Dify's rules give `{}`",
                c.name, want.name
            ));
        }
        if c.http_only != want.http_only {
            out.push(format!(
                "`{}` is {}HttpOnly, expected {}",
                c.name,
                if c.http_only { "" } else { "not " },
                if want.http_only {
                    "HttpOnly"
                } else {
                    "readable by the page (not HttpOnly)"
                }
            ));
        }
        if let Some(secure) = want.secure
            && c.secure != secure
        {
            out.push(format!(
                "`{}` is {}Secure, expected {}Secure (CONSOLE_WEB_URL and CONSOLE_API_URL {} https)",
                c.name,
                if c.secure { "" } else { "not " },
                if secure { "" } else { "not " },
                if secure { "are both" } else { "are not both" }
            ));
        }
        if c.secure && !served_over_https {
            out.push(format!(
                "`{}` is Secure but the deployment is served over http: browsers drop it, so no login sticks",
                c.name
            ));
        }
        if c.same_site
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
            != Some("lax")
        {
            out.push(format!(
                "`{}` has SameSite={}, expected Lax",
                c.name,
                c.same_site.as_deref().unwrap_or("<none>")
            ));
        }
        if c.domain.as_deref().map(|d| d.trim_start_matches('.')) != want.domain.as_deref() {
            out.push(format!(
                "`{}` has Domain={}, expected {}",
                c.name,
                c.domain.as_deref().unwrap_or("<none>"),
                want.domain.as_deref().unwrap_or("none")
            ));
        }
        if c.name.starts_with(HOST_PREFIX)
            && (!c.secure || c.domain.is_some() || c.path.as_deref() != Some("/"))
        {
            out.push(format!(
                "`{}` breaks the __Host- prefix rules (Secure, Path=/, no Domain): browsers reject it",
                c.name
            ));
        }
        if want.max_age.is_some() && c.max_age != want.max_age {
            out.push(format!(
                "`{}` has Max-Age={}, expected {}",
                c.name,
                c.max_age.map_or("<none>".to_string(), |m| m.to_string()),
                want.max_age.unwrap_or_default()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::collections::BTreeMap;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    /// Dify's naming and Secure rule per scheme of the two console URLs and COOKIE_DOMAIN.
    #[rstest]
    #[case::empty_urls_same_origin("", "", "", "access_token", Some(false), None)]
    #[case::http_urls(
        "http://c.example",
        "http://c.example",
        "",
        "access_token",
        Some(false),
        None
    )]
    #[case::https_both(
        "https://c.example",
        "https://api.example",
        "",
        "__Host-access_token",
        Some(true),
        None
    )]
    #[case::https_web_only(
        "https://c.example",
        "http://api.example",
        "",
        "access_token",
        Some(false),
        None
    )]
    #[case::https_api_only(
        "http://c.example",
        "https://api.example",
        "",
        "access_token",
        Some(false),
        None
    )]
    #[case::https_with_domain(
        "https://c.example",
        "https://api.example",
        ".example.com",
        "access_token",
        Some(true),
        Some("example.com")
    )]
    fn names_and_secure_per_scheme(
        #[case] web: &str,
        #[case] api: &str,
        #[case] domain: &str,
        #[case] name: &str,
        #[case] secure: Option<bool>,
        #[case] want_domain: Option<&str>,
    ) {
        let s = settings(&[
            ("CONSOLE_WEB_URL", web),
            ("CONSOLE_API_URL", api),
            ("COOKIE_DOMAIN", domain),
        ]);
        let e = expected(&s);
        assert_eq!(e[0].name, name);
        assert_eq!(e[0].secure, secure);
        assert_eq!(e[0].domain.as_deref(), want_domain);
        assert!(e[0].http_only && e[1].http_only && !e[2].http_only);
        assert_eq!(e[1].max_age, Some(30 * 86_400));
        assert_eq!(e[2].max_age, Some(3600));
    }

    #[test]
    fn unknown_settings_judge_neither_secure_nor_prefix() {
        let e = expected(&Settings::default());
        assert_eq!(e[0].name, "access_token");
        assert_eq!(e[0].secure, None);
    }

    fn cookie(header: &str) -> SetCookie {
        SetCookie::parse(header).unwrap()
    }

    fn dify_http_cookies() -> Vec<SetCookie> {
        vec![
            cookie("access_token=a; Max-Age=3600; HttpOnly; Path=/; SameSite=Lax"),
            cookie("refresh_token=r; Max-Age=2592000; HttpOnly; Path=/; SameSite=Lax"),
            cookie("csrf_token=c; Max-Age=3600; Path=/; SameSite=Lax"),
        ]
    }

    #[test]
    fn dify_13_cookies_over_http_have_no_problem() {
        let e = expected(&settings(&[
            ("CONSOLE_WEB_URL", ""),
            ("CONSOLE_API_URL", ""),
        ]));
        assert_eq!(
            problems(&dify_http_cookies(), &e, false),
            Vec::<String>::new()
        );
    }

    #[rstest]
    #[case::secure_over_http(
        &[("CONSOLE_WEB_URL", "https://c.example"), ("CONSOLE_API_URL", "https://c.example")],
        &["__Host-access_token=a; Max-Age=3600; HttpOnly; Secure; Path=/; SameSite=Lax",
          "__Host-refresh_token=r; Max-Age=2592000; HttpOnly; Secure; Path=/; SameSite=Lax",
          "__Host-csrf_token=c; Max-Age=3600; Secure; Path=/; SameSite=Lax"],
        false,
        "browsers drop it"
    )]
    #[case::missing_prefix_when_secure(
        &[("CONSOLE_WEB_URL", "https://c.example"), ("CONSOLE_API_URL", "https://c.example")],
        &["access_token=a; Max-Age=3600; HttpOnly; Secure; Path=/; SameSite=Lax"],
        true,
        "where Dify's rules give `__Host-access_token`"
    )]
    #[case::csrf_http_only(
        &[("CONSOLE_WEB_URL", ""), ("CONSOLE_API_URL", "")],
        &["access_token=a; Max-Age=3600; HttpOnly; Path=/; SameSite=Lax",
          "refresh_token=r; Max-Age=2592000; HttpOnly; Path=/; SameSite=Lax",
          "csrf_token=c; Max-Age=3600; HttpOnly; Path=/; SameSite=Lax"],
        false,
        "readable by the page"
    )]
    #[case::no_cookies(&[], &[], false, "no `access_token` cookie")]
    fn finds_problems(
        #[case] env: &[(&str, &str)],
        #[case] headers: &[&str],
        #[case] https: bool,
        #[case] wanted: &str,
    ) {
        let cookies: Vec<SetCookie> = headers.iter().map(|h| cookie(h)).collect();
        let found = problems(&cookies, &expected(&settings(env)), https);
        assert!(found.iter().any(|p| p.contains(wanted)), "{found:#?}");
    }
}
