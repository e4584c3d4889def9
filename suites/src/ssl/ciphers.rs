//! `ssl.ciphers`: no weak cipher class is accepted over TLS 1.0-1.2 (TLS 1.3 has none).
//!
//! Each class is offered alone, as testssl.sh's "cipher categories" do. Dify's https template
//! sets no `ssl_ciphers` (research §4), so nginx's default (`HIGH:!aNULL:!MD5`) applies unless
//! an operator changes it. Classes this client's OpenSSL cannot offer are named, not guessed.

use crate::clients::tls_scan::{Offer, ScanError, Version};
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const CHECK: Check = Check {
    id: "ssl.ciphers",
    suite: Suite::Ssl,
    severity: Severity::Major,
    title: "no NULL, anonymous, export, RC4, DES, 3DES or MD5 cipher suite is accepted",
};

/// Weak classes: what scanners call them and the OpenSSL cipher string that selects them.
const WEAK: &[(&str, &str)] = &[
    ("NULL encryption", "eNULL"),
    ("anonymous key exchange", "aNULL"),
    ("export grade", "EXPORT"),
    ("RC4", "RC4"),
    ("single DES", "DES"),
    ("3DES (SWEET32)", "3DES"),
    ("MD5 MAC", "MD5"),
];

pub(crate) async fn check(target: &Target) -> Outcome {
    let Some(tls) = super::endpoint(target) else {
        return super::no_tls(&CHECK);
    };
    let mut probe =
        Probe::new(&CHECK, "every weak cipher class refused").url(format!("tls://{}", tls.addr));
    let mut accepted = Vec::new();
    let mut untested = Vec::new();
    for (name, spec) in WEAK {
        let offer = Offer {
            ciphers: Some((*spec).to_string()),
            max_version: Some(Version::Tls12),
            ..Offer::default()
        };
        match super::scan(&tls, offer, target.request_timeout()).await {
            Ok(s) => {
                probe.evidence(format!(
                    "{name} ({spec}): accepted {} over {}",
                    s.cipher, s.version
                ));
                accepted.push(*name);
            }
            Err(ScanError::Refused(why)) => {
                probe.evidence(format!("{name} ({spec}): refused ({why})"))
            }
            Err(ScanError::CannotOffer(_)) => {
                probe.evidence(format!(
                    "{name} ({spec}): not tested, not in this client's OpenSSL"
                ));
                untested.push(*name);
            }
            Err(e @ ScanError::Connect { .. }) => return probe.fail(e.to_string()),
        }
    }
    // What a default offer negotiates, for the report.
    if let Ok(s) = super::scan(&tls, Offer::default(), target.request_timeout()).await {
        probe.fact("negotiated", format!("{} {}", s.version, s.cipher));
    }
    if !accepted.is_empty() {
        return probe.fail(format!(
            "weak cipher classes accepted: {}",
            accepted.join(", ")
        ));
    }
    let tested = WEAK.len() - untested.len();
    probe.pass(format!(
        "{tested} weak class(es) refused{}",
        if untested.is_empty() {
            String::new()
        } else {
            format!("; not testable here: {}", untested.join(", "))
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;
    use crate::ssl::testing::{Server, TlsServer};
    use rstest::rstest;

    #[rstest]
    #[case::default(Server::modern(), Status::Passed)]
    #[case::null_enabled(Server { ciphers: Some("ALL:eNULL"), seclevel0: true, ..Server::modern() }, Status::Failed)]
    #[case::anonymous_enabled(Server { ciphers: Some("ALL:aNULL"), seclevel0: true, ..Server::modern() }, Status::Failed)]
    fn judges_weak_classes(#[case] server: Server, #[case] want: Status) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let s = TlsServer::start(&server);
        let o = rt.block_on(check(&s.target()));
        assert_eq!(o.status, want, "{o}");
        if want == Status::Failed {
            assert!(o.got.contains("accepted"), "{o}");
        }
    }
}
