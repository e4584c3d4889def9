//! `web.api-prefix`: the API prefixes the page hands the browser app (`<body data-api-prefix
//! data-public-api-prefix>`, from `CONSOLE_API_URL` and `APP_API_URL`, research §8) are the
//! configured ones and lead to Dify's api. A wrong `CONSOLE_API_URL` sends every console call
//! elsewhere (research §10: the most common CORS complaint).

use super::page;
use crate::http::{client, describe_error, header};
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const CHECK: Check = Check {
    id: "web.api-prefix",
    suite: Suite::Web,
    severity: Severity::Critical,
    title: "the page's console and public API prefixes match CONSOLE_API_URL/APP_API_URL and reach the api",
};

pub(crate) async fn check(target: &Target) -> Outcome {
    let url = target.url("/");
    let settings = target.settings();
    let want_console = settings
        .get("CONSOLE_API_URL")
        .map(|u| format!("{}/console/api", u.trim_end_matches('/')));
    let want_public = settings
        .get("APP_API_URL")
        .map(|u| format!("{}/api", u.trim_end_matches('/')));
    let expected = match (&want_console, &want_public) {
        (Some(c), Some(p)) => format!(
            "data-api-prefix=\"{c}\", data-public-api-prefix=\"{p}\", both answering as Dify's api"
        ),
        _ => "data-api-prefix and data-public-api-prefix answering as Dify's api".into(),
    };
    let mut probe = Probe::new(&CHECK, expected).url(&url);
    let body = match client(target).get(&url).send().await {
        Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
        Ok(r) => return probe.fail(format!("GET / answered HTTP {}", r.status().as_u16())),
        Err(e) => return probe.fail(format!("no response: {}", describe_error(&e))),
    };
    let console = page::body_attribute(&body, "data-api-prefix");
    let public = page::body_attribute(&body, "data-public-api-prefix");
    probe.evidence(format!(
        "<body data-api-prefix=\"{}\" data-public-api-prefix=\"{}\">",
        console.as_deref().unwrap_or("(absent)"),
        public.as_deref().unwrap_or("(absent)")
    ));
    let (Some(console), Some(public)) = (console, public) else {
        return probe.fail("the page carries no data-api-prefix/data-public-api-prefix on <body>");
    };
    let mut failures = Vec::new();
    for (name, got, want) in [
        ("console", &console, &want_console),
        ("public", &public, &want_public),
    ] {
        if let Some(want) = want
            && got != want
        {
            failures.push(format!("{name} prefix `{got}`, configured `{want}`"));
        }
    }
    // Where the browser's calls go, resolved against the page as the browser does.
    let base = match reqwest::Url::parse(&url) {
        Ok(u) => u,
        Err(e) => return probe.fail(format!("bad URL {url}: {e}")),
    };
    for (name, prefix, path) in [
        ("console", &console, "/setup"),
        ("public", &public, "/system-features"),
    ] {
        let call = match base.join(&format!("{prefix}{path}")) {
            Ok(u) => u,
            Err(e) => {
                failures.push(format!("{name} prefix `{prefix}` is not a URL: {e}"));
                continue;
            }
        };
        match client(target).get(call.as_str()).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let version = header(&r, "x-version").map(str::to_owned);
                probe.evidence(format!(
                    "GET {call} -> HTTP {status}{}",
                    version
                        .as_deref()
                        .map(|v| format!(", X-Version: {v}"))
                        .unwrap_or_default()
                ));
                if status != 200 || version.is_none() {
                    failures.push(format!(
                        "{name} prefix leads to {call}, which answers HTTP {status}{}",
                        if version.is_none() {
                            " without X-Version (not Dify's api)"
                        } else {
                            ""
                        }
                    ));
                }
            }
            Err(e) => failures.push(format!(
                "{name} prefix leads to {call}: no response ({})",
                describe_error(&e)
            )),
        }
    }
    if failures.is_empty() {
        probe.pass(format!(
            "console `{console}`, public `{public}`, both reach the api"
        ))
    } else {
        probe.fail(failures.join("; "))
    }
}
