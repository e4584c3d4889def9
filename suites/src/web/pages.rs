//! `web.pages` and `web.assets`: the routes Dify's web serves from the server answer 200
//! HTML with Next.js markers (redirects happen client-side, research §8), and the assets a
//! page references load with the right content type.

use super::page;
use crate::api::truncate_for_evidence as truncate;
use crate::http::{client, describe_error, header};
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const PAGES: Check = Check {
    id: "web.pages",
    suite: Suite::Web,
    severity: Severity::Critical,
    title: "/, /install, /signin and /apps answer 200 HTML with Dify's Next.js markers",
};
pub(crate) const ASSETS: Check = Check {
    id: "web.assets",
    suite: Suite::Web,
    severity: Severity::Major,
    title: "the /_next/static/ assets the page references load with their content type",
};

pub(crate) const ROUTES: &[&str] = &["/", "/install", "/signin", "/apps"];

pub(crate) async fn pages(target: &Target) -> Outcome {
    let mut probe = Probe::new(
        &PAGES,
        format!(
            "HTTP 200 text/html with {} and a Next.js router payload on {}",
            page::STATIC_MARKER,
            ROUTES.join(", ")
        ),
    )
    .url(target.url("/"));
    let mut failures = Vec::new();
    for route in ROUTES {
        let url = target.url(route);
        let resp = match client(target).get(&url).send().await {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{route}: no response: {}", describe_error(&e)));
                continue;
            }
        };
        let status = resp.status().as_u16();
        let ctype = header(&resp, "content-type").unwrap_or("").to_string();
        let location = header(&resp, "location").map(str::to_owned);
        let body = resp.text().await.unwrap_or_default();
        probe.evidence(format!(
            "GET {route} -> HTTP {status}, Content-Type: {ctype}{}",
            location
                .map(|l| format!(", Location: {l}"))
                .unwrap_or_default()
        ));
        if status != 200 {
            failures.push(format!("{route}: HTTP {status}"));
        } else if !ctype.starts_with("text/html") {
            failures.push(format!("{route}: Content-Type `{ctype}`"));
        } else {
            let missing = page::missing_markers(&body);
            if !missing.is_empty() {
                probe.evidence(format!("  body: {}", truncate(&body, 200)));
                failures.push(format!("{route}: no {}", missing.join(", no ")));
            }
        }
    }
    if failures.is_empty() {
        probe.pass(format!("{} pages are Next.js HTML", ROUTES.len()))
    } else {
        probe.fail(failures.join("; "))
    }
}

pub(crate) async fn assets(target: &Target) -> Outcome {
    let url = target.url("/");
    let mut probe = Probe::new(
        &ASSETS,
        "every /_next/static/ asset of / answers 200 with its content type",
    )
    .url(&url);
    let body = match client(target).get(&url).send().await {
        Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
        Ok(r) => return probe.fail(format!("GET / answered HTTP {}", r.status().as_u16())),
        Err(e) => return probe.fail(format!("no response: {}", describe_error(&e))),
    };
    let list = page::static_assets(&body);
    if list.is_empty() {
        return probe.fail("the page references no /_next/static/ asset");
    }
    let base = match reqwest::Url::parse(&url) {
        Ok(u) => u,
        Err(e) => return probe.fail(format!("bad URL {url}: {e}")),
    };
    let mut failures = Vec::new();
    for asset in &list {
        let Ok(asset_url) = base.join(asset) else {
            failures.push(format!("{asset}: not a URL"));
            continue;
        };
        match client(target).get(asset_url.as_str()).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let ctype = header(&r, "content-type").unwrap_or("").to_string();
                probe.evidence(format!(
                    "GET {asset} -> HTTP {status}, Content-Type: {ctype}"
                ));
                let want = page::expected_type(asset);
                let mime = ctype
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                if status != 200 {
                    failures.push(format!("{asset}: HTTP {status}"));
                } else if let Some(want) = want
                    && !want.contains(&mime.as_str())
                {
                    failures.push(format!(
                        "{asset}: Content-Type `{ctype}`, expected {}",
                        want[0]
                    ));
                }
            }
            Err(e) => failures.push(format!("{asset}: no response: {}", describe_error(&e))),
        }
    }
    if failures.is_empty() {
        probe.pass(format!(
            "{} asset(s) load with their content type",
            list.len()
        ))
    } else {
        probe.fail(failures.join("; "))
    }
}
