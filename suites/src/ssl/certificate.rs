//! What the presented certificate says: `ssl.chain`, `ssl.expiry`, `ssl.hostname` and
//! `ssl.certbot-path`. One handshake (no verification during it) feeds all four, so a wrong
//! name does not hide an expiry and an expired certificate does not hide a broken chain.

use openssl::asn1::Asn1Time;

use crate::clients::tls_scan::{self, ScanError, Session};
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const CHAIN: Check = Check {
    id: "ssl.chain",
    suite: Suite::Ssl,
    severity: Severity::Critical,
    title: "the certificate chain is complete and trusted by the given CA (or the system roots)",
};
pub(crate) const EXPIRY: Check = Check {
    id: "ssl.expiry",
    suite: Suite::Ssl,
    severity: Severity::Critical,
    title: "the certificate is within its validity period, with more than 30 days left",
};
pub(crate) const HOSTNAME: Check = Check {
    id: "ssl.hostname",
    suite: Suite::Ssl,
    severity: Severity::Critical,
    title: "the certificate's subjectAltName covers the host the client asks for",
};
pub(crate) const CERTBOT_PATH: Check = Check {
    id: "ssl.certbot-path",
    suite: Suite::Ssl,
    severity: Severity::Major,
    title: "with CERTBOT_DOMAIN set, nginx serves the certificate under the certbot live directory",
};

/// Days left under which the expiry check fails (minor): certbot renews at 30.
pub const EXPIRY_THRESHOLD_DAYS: i32 = 30;

type Presented<'a> = Option<&'a Result<Session, ScanError>>;

/// The chain the server sent, or the outcome that says why there is none.
#[allow(clippy::result_large_err)] // the Err is the check's final outcome, built once
fn chain_or_outcome<'a>(
    check: &Check,
    target: &Target,
    presented: Presented<'a>,
    expected: &str,
) -> Result<(&'a Session, Probe), Outcome> {
    let Some(presented) = presented else {
        return Err(super::no_tls(check));
    };
    let tls = super::endpoint(target).expect("presented implies an endpoint");
    let mut probe = Probe::new(check, expected).url(format!("tls://{}", tls.addr));
    match presented {
        Ok(session) if !session.chain.is_empty() => {
            for (i, c) in session.chain.iter().enumerate() {
                probe.evidence(format!("cert {i}: {}", tls_scan::describe_cert(c)));
            }
            Ok((session, probe))
        }
        Ok(_) => Err(probe.fail("the server presented no certificate")),
        Err(e) => Err(probe.fail(format!("no handshake: {e}"))),
    }
}

pub(crate) fn chain(target: &Target, presented: Presented<'_>) -> Outcome {
    let (session, mut probe) = match chain_or_outcome(
        &CHAIN,
        target,
        presented,
        "a chain that verifies up to a trusted root",
    ) {
        Ok(v) => v,
        Err(o) => return o,
    };
    let tls = super::endpoint(target).expect("an endpoint");
    let trust = if tls.roots_pem.iter().all(u8::is_ascii_whitespace) {
        "the system roots"
    } else {
        "the CA given"
    };
    probe.evidence(format!("trusting {trust}"));
    let store = match tls_scan::trust_store(&tls.roots_pem) {
        Ok(s) => s,
        Err(e) => return probe.fail(format!("cannot read the CA: {e}")),
    };
    match tls_scan::verify_chain(&store, &session.chain) {
        Ok(()) => probe.pass(format!(
            "{} certificate(s) sent, verified against {trust}",
            session.chain.len()
        )),
        Err(why) => probe.fail(format!("not trusted: {why}")),
    }
}

pub(crate) fn expiry(target: &Target, presented: Presented<'_>) -> Outcome {
    let (session, mut probe) = match chain_or_outcome(
        &EXPIRY,
        target,
        presented,
        &format!("valid now, more than {EXPIRY_THRESHOLD_DAYS} days left"),
    ) {
        Ok(v) => v,
        Err(o) => return o,
    };
    let leaf = &session.chain[0];
    let now = match Asn1Time::days_from_now(0) {
        Ok(t) => t,
        Err(e) => return probe.fail(format!("cannot read the clock: {e}")),
    };
    let Ok(until_start) = now.diff(leaf.not_before()) else {
        return probe.fail("unreadable notBefore");
    };
    if until_start.days > 0 || (until_start.days == 0 && until_start.secs > 0) {
        return probe.fail(format!("not valid yet: notBefore {}", leaf.not_before()));
    }
    let Ok(left) = now.diff(leaf.not_after()) else {
        return probe.fail("unreadable notAfter");
    };
    probe.fact("days_left", left.days.to_string());
    if left.days < 0 || (left.days == 0 && left.secs < 0) {
        return probe.fail(format!(
            "expired {} day(s) ago: notAfter {}",
            -left.days,
            leaf.not_after()
        ));
    }
    if left.days < EXPIRY_THRESHOLD_DAYS {
        probe.severity(Severity::Minor);
        return probe.fail(format!(
            "{} day(s) left (notAfter {}): renew",
            left.days,
            leaf.not_after()
        ));
    }
    probe.pass(format!(
        "{} days left (notAfter {})",
        left.days,
        leaf.not_after()
    ))
}

pub(crate) fn hostname(target: &Target, presented: Presented<'_>) -> Outcome {
    let tls = super::endpoint(target);
    let host = tls
        .as_ref()
        .map(|t| t.server_name.clone())
        .unwrap_or_default();
    let (session, mut probe) = match chain_or_outcome(
        &HOSTNAME,
        target,
        presented,
        &format!("a subjectAltName matching `{host}`"),
    ) {
        Ok(v) => v,
        Err(o) => return o,
    };
    let names = tls_scan::alt_names(&session.chain[0]);
    probe.evidence(format!("subjectAltName: {}", names.join(", ")));
    if names.is_empty() {
        return probe.fail("the certificate has no subjectAltName (browsers ignore the CN)");
    }
    match names.iter().find(|n| tls_scan::name_matches(n, &host)) {
        Some(n) => probe.pass(format!("`{host}` matches `{n}`")),
        None => probe.fail(format!("`{host}` matches none of {}", names.join(", "))),
    }
}

pub(crate) fn certbot_path(target: &Target, presented: Presented<'_>) -> Outcome {
    let Some(domain) = target
        .settings()
        .non_empty("CERTBOT_DOMAIN")
        .map(str::to_owned)
    else {
        return Probe::new(&CERTBOT_PATH, "CERTBOT_DOMAIN set").skip("CERTBOT_DOMAIN is not set");
    };
    let expected = match target.certbot_leaf_der() {
        Some(_) => {
            format!("the certificate at /etc/letsencrypt/live/{domain}/ (not the one in nginx/ssl)")
        }
        None => format!("a certificate for {domain}, as certbot obtains it"),
    };
    let (session, probe) = match chain_or_outcome(&CERTBOT_PATH, target, presented, &expected) {
        Ok(v) => v,
        Err(o) => return o,
    };
    let served = match session.chain[0].to_der() {
        Ok(d) => d,
        Err(e) => return probe.fail(format!("unreadable certificate: {e}")),
    };
    if let Some(want) = target.certbot_leaf_der() {
        return if served == want {
            probe.pass(format!(
                "the certbot live certificate for {domain} is served"
            ))
        } else {
            probe.fail(format!(
                "another certificate is served: nginx did not pick /etc/letsencrypt/live/{domain}/ (files missing or not mounted?)"
            ))
        };
    }
    let names = tls_scan::alt_names(&session.chain[0]);
    if names.iter().any(|n| tls_scan::name_matches(n, &domain)) {
        probe.pass(format!("the served certificate names {domain}"))
    } else {
        probe.fail(format!(
            "the served certificate names {} but not {domain}",
            names.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::tls_scan::Offer;
    use crate::outcome::Status;
    use crate::ssl::testing::{Cert, Server, TlsServer};
    use rstest::rstest;

    fn judge(cert: Cert) -> Vec<Outcome> {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let s = TlsServer::start(&Server {
            cert,
            ..Server::modern()
        });
        let t = s.target();
        let tls = t.tls().unwrap().clone();
        let presented = rt.block_on(crate::ssl::scan(
            &tls,
            Offer::default(),
            t.request_timeout(),
        ));
        vec![
            chain(&t, Some(&presented)),
            expiry(&t, Some(&presented)),
            hostname(&t, Some(&presented)),
        ]
    }

    // Each bad certificate fails exactly the check about it.
    #[rstest]
    #[case::valid(Cert::Valid, [Status::Passed, Status::Passed, Status::Passed])]
    #[case::expired(Cert::Expired, [Status::Passed, Status::Failed, Status::Passed])]
    #[case::soon(Cert::DaysLeft(10), [Status::Passed, Status::Failed, Status::Passed])]
    #[case::wrong_host(Cert::WrongHost, [Status::Passed, Status::Passed, Status::Failed])]
    #[case::missing_intermediate(Cert::MissingIntermediate, [Status::Failed, Status::Passed, Status::Passed])]
    fn judges_the_presented_certificate(#[case] cert: Cert, #[case] want: [Status; 3]) {
        let got = judge(cert.clone());
        let statuses: Vec<Status> = got.iter().map(|o| o.status).collect();
        assert_eq!(statuses, want, "{cert:?}: {got:#?}");
        for o in got.iter().filter(|o| !o.passed()) {
            assert!(!o.evidence.is_empty(), "{o}");
        }
        if cert == Cert::DaysLeft(10) {
            assert_eq!(got[1].severity, Severity::Minor, "{}", got[1]);
            assert_eq!(got[1].facts["days_left"], "10");
        }
        if cert == Cert::Expired {
            assert_eq!(got[1].severity, Severity::Critical);
            assert!(got[1].got.contains("expired"), "{}", got[1]);
        }
    }

    #[test]
    fn untrusted_ca_fails_the_chain() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let s = TlsServer::start(&Server::modern());
        let other = TlsServer::start(&Server::modern());
        let t = s.target().with_tls(crate::target::TlsEndpoint {
            roots_pem: other.ca_pem.clone().into_bytes(),
            ..s.target().tls().unwrap().clone()
        });
        let tls = t.tls().unwrap().clone();
        let presented = rt.block_on(crate::ssl::scan(
            &tls,
            Offer::default(),
            t.request_timeout(),
        ));
        let o = chain(&t, Some(&presented));
        assert_eq!(o.status, Status::Failed, "{o}");
        assert!(o.got.contains("not trusted"), "{o}");
    }

    #[test]
    fn skips_without_tls() {
        let t = Target::new("http://127.0.0.1:9").unwrap();
        assert_eq!(chain(&t, None).status, Status::Skipped);
        assert_eq!(certbot_path(&t, None).status, Status::Skipped);
    }
}
