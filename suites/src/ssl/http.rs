//! HTTP around TLS: `ssl.hsts` (the HTTPS answer pins HTTPS) and `ssl.http-redirect` (plain
//! HTTP sends browsers to HTTPS). Dify's nginx does neither: the same server block answers on
//! both ports and its templates set no Strict-Transport-Security (research §4), so on Dify's
//! defaults both are findings; a missing redirect is reported at `info`, as Dify means it.

use crate::clients::tls_scan::{self, ScanError};
use crate::http::{client, describe_error, header};
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const HSTS: Check = Check {
    id: "ssl.hsts",
    suite: Suite::Ssl,
    severity: Severity::Minor,
    title: "HTTPS answers carry Strict-Transport-Security with max-age of 180 days or more",
};
pub(crate) const REDIRECT: Check = Check {
    id: "ssl.http-redirect",
    suite: Suite::Ssl,
    severity: Severity::Minor,
    title: "plain HTTP redirects to HTTPS",
};

/// 180 days, the floor scanners (testssl.sh, SSL Labs) accept.
const HSTS_MIN_AGE: u64 = 15_552_000;

pub(crate) async fn hsts(target: &Target) -> Outcome {
    let Some(tls) = super::endpoint(target) else {
        return super::no_tls(&HSTS);
    };
    let mut probe = Probe::new(
        &HSTS,
        format!("Strict-Transport-Security: max-age>={HSTS_MIN_AGE}"),
    )
    .url(format!("https://{}/", tls.addr));
    let (addr, name, timeout) = (
        tls.addr.clone(),
        tls.server_name.clone(),
        target.request_timeout(),
    );
    let head =
        tokio::task::spawn_blocking(move || tls_scan::https_head(&addr, &name, "/", timeout))
            .await
            .unwrap_or_else(|e| Err(ScanError::Refused(e.to_string())));
    let lines = match head {
        Ok(l) => l,
        Err(e) => return probe.fail(format!("no HTTPS answer: {e}")),
    };
    probe.evidence(lines[0].clone());
    let value = lines.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("strict-transport-security")
            .then(|| v.trim().to_string())
    });
    let Some(value) = value else {
        return probe.fail("no Strict-Transport-Security header");
    };
    probe.evidence(format!("Strict-Transport-Security: {value}"));
    let age = value.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| v.trim().trim_matches('"').parse::<u64>().ok())?
    });
    match age {
        Some(a) if a >= HSTS_MIN_AGE => probe.pass(format!("max-age={a}")),
        Some(a) => probe.fail(format!("max-age={a}, under {HSTS_MIN_AGE}")),
        None => probe.fail(format!("no valid max-age in `{value}`")),
    }
}

pub(crate) async fn redirect(target: &Target) -> Outcome {
    let Some(tls) = super::endpoint(target) else {
        return super::no_tls(&REDIRECT);
    };
    let base = target.base_url();
    let url = if base.scheme() == "http" {
        target.url("/")
    } else {
        let host = tls.server_name.as_str();
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        format!("http://{host}/")
    };
    let mut probe = Probe::new(&REDIRECT, "3xx with a Location on https://").url(&url);
    let resp = match client(target).get(&url).send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => {
            return probe.skip(format!("no plain HTTP listener: {}", describe_error(&e)));
        }
        Err(e) => return probe.fail(format!("no response: {}", describe_error(&e))),
    };
    let status = resp.status().as_u16();
    probe.evidence(format!("HTTP {status}"));
    let location = header(&resp, "location").map(str::to_owned);
    if let Some(l) = &location {
        probe.evidence(format!("Location: {l}"));
    }
    match (status, location) {
        (300..=399, Some(l)) if l.starts_with("https://") => {
            probe.pass(format!("HTTP {status} to {l}"))
        }
        (300..=399, l) => probe.fail(format!(
            "HTTP {status} to {}, not to https://",
            l.as_deref().unwrap_or("nowhere")
        )),
        (code, _) => {
            // Dify's nginx serves the same routes on both ports by design (research §4).
            probe.severity(Severity::Info);
            probe.fail(format!(
                "no redirect: plain HTTP answers {code} (Dify's nginx default)"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;
    use crate::ssl::testing::{Server, TlsServer};
    use rstest::rstest;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[rstest]
    #[case::none(vec![], Status::Failed, "no Strict")]
    #[case::year(vec![("Strict-Transport-Security", "max-age=31536000; includeSubDomains")], Status::Passed, "max-age=31536000")]
    #[case::short(vec![("Strict-Transport-Security", "max-age=300")], Status::Failed, "under")]
    #[case::garbage(vec![("Strict-Transport-Security", "includeSubDomains")], Status::Failed, "no valid max-age")]
    fn judges_hsts(
        #[case] headers: Vec<(&'static str, &'static str)>,
        #[case] want: Status,
        #[case] got: &str,
    ) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let s = TlsServer::start(&Server {
            headers,
            ..Server::modern()
        });
        let o = rt.block_on(hsts(&s.target()));
        assert_eq!(o.status, want, "{o}");
        assert!(o.got.contains(got), "{o}");
    }

    #[rstest]
    #[case::to_https(301, Some("https://dify.example/"), Status::Passed, Severity::Minor)]
    #[case::to_http(302, Some("http://dify.example/"), Status::Failed, Severity::Minor)]
    #[case::none(200, None, Status::Failed, Severity::Info)]
    #[tokio::test]
    async fn judges_the_plain_http_answer(
        #[case] code: u16,
        #[case] location: Option<&str>,
        #[case] want: Status,
        #[case] severity: Severity,
    ) {
        let tls = TlsServer::start(&Server::modern());
        let server = MockServer::start().await;
        let mut r = ResponseTemplate::new(code);
        if let Some(l) = location {
            r = r.insert_header("Location", l);
        }
        Mock::given(method("GET"))
            .and(path("/"))
            .respond_with(r)
            .mount(&server)
            .await;
        let t = Target::new(&server.uri())
            .unwrap()
            .with_tls(tls.target().tls().unwrap().clone());
        let o = redirect(&t).await;
        assert_eq!((o.status, o.severity), (want, severity), "{o}");
    }
}
