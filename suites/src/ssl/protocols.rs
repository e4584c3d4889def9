//! `ssl.protocols`: each TLS version offered alone, accepted or refused on the wire.
//!
//! nginx's `ssl_protocols` is not the answer: with OpenSSL 3 at its default security level a
//! server that lists TLSv1/TLSv1.1 still refuses them. Dify 1.13.3 defaults to
//! `TLSv1.2 TLSv1.3`; older templates listed TLSv1.1 too (research §4).

use crate::clients::tls_scan::{Offer, ScanError, VERSIONS, Version};
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const CHECK: Check = Check {
    id: "ssl.protocols",
    suite: Suite::Ssl,
    severity: Severity::Major,
    title: "TLS 1.0 and 1.1 are refused, TLS 1.2 or 1.3 accepted (each offered alone)",
};

pub(crate) async fn check(target: &Target) -> Outcome {
    let Some(tls) = super::endpoint(target) else {
        return super::no_tls(&CHECK);
    };
    let mut probe = Probe::new(
        &CHECK,
        "TLSv1 refused, TLSv1.1 refused, TLSv1.2 or TLSv1.3 accepted",
    )
    .url(format!("tls://{}", tls.addr));
    if let Some(configured) = target.settings().non_empty("NGINX_SSL_PROTOCOLS") {
        probe.evidence(format!("configured NGINX_SSL_PROTOCOLS={configured}"));
    }
    let mut accepted = Vec::new();
    let mut untestable = Vec::new();
    for version in VERSIONS {
        let offer = Offer {
            version: Some(version),
            ..Offer::default()
        };
        match super::scan(&tls, offer, target.request_timeout()).await {
            Ok(s) => {
                probe.evidence(format!("{version}: accepted ({})", s.cipher));
                accepted.push(version);
            }
            Err(ScanError::Refused(why)) => {
                probe.evidence(format!("{version}: refused ({why})"));
            }
            Err(ScanError::CannotOffer(why)) => {
                probe.evidence(format!(
                    "{version}: not tested, this client cannot offer it ({why})"
                ));
                untestable.push(version);
            }
            Err(e @ ScanError::Connect { .. }) => return probe.fail(e.to_string()),
        }
    }
    let names = |v: &[Version]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter().map(|v| v.name()).collect::<Vec<_>>().join(" ")
        }
    };
    probe.fact("accepted", names(&accepted));
    let old: Vec<Version> = accepted
        .iter()
        .copied()
        .filter(|v| v.deprecated())
        .collect();
    if !old.is_empty() {
        return probe.fail(format!(
            "deprecated {} accepted (accepted: {})",
            names(&old),
            names(&accepted)
        ));
    }
    if accepted.is_empty() {
        probe.severity(Severity::Critical);
        return probe.fail("no TLS version accepted");
    }
    if !untestable.is_empty() {
        return probe.skip(format!(
            "accepted {}, but {} could not be offered by this client",
            names(&accepted),
            names(&untestable)
        ));
    }
    probe.pass(format!("accepted: {}", names(&accepted)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;
    use crate::ssl::testing::{Server, TlsServer};
    use rstest::rstest;

    #[rstest]
    #[case::modern(Server::modern(), Status::Passed, "TLSv1.2 TLSv1.3")]
    #[case::only_13(Server { min: Version::Tls13, ..Server::modern() }, Status::Passed, "accepted: TLSv1.3")]
    #[case::legacy_at_seclevel0(
        Server::legacy(),
        Status::Failed,
        "deprecated TLSv1 TLSv1.1 accepted"
    )]
    // Listing TLSv1 without lowering the security level: OpenSSL 3 still refuses it.
    #[case::legacy_listed_only(Server { seclevel0: false, ..Server::legacy() }, Status::Passed, "TLSv1.2 TLSv1.3")]
    fn judges_versions_on_the_wire(
        #[case] server: Server,
        #[case] want: Status,
        #[case] got: &str,
    ) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let s = TlsServer::start(&server);
        let o = rt.block_on(check(&s.target()));
        assert_eq!(o.status, want, "{o}");
        assert!(o.got.contains(got), "{o}");
    }
}
