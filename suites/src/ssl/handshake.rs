//! A TLS 1.2+ handshake with nginx, as a modern client makes it, presenting the certificate
//! the operator mounted.
//!
//! rustls speaks only TLS 1.2 and 1.3, so a successful handshake is itself the proof of
//! "1.2 or newer"; refusing TLS 1.0/1.1 is `ssl.protocols`. Trust, name and dates are left to
//! `ssl.chain`, `ssl.hostname` and `ssl.expiry`, so a bad certificate fails the check about it
//! and not this one too.

use crate::clients::tls_probe::handshake_unverified;
use crate::outcome::{Outcome, Probe, Severity};
use crate::suite::{Check, Suite};
use crate::target::Target;

pub(crate) const CHECK: Check = Check {
    id: "ssl.handshake",
    suite: Suite::Ssl,
    severity: Severity::Critical,
    title: "a TLS 1.2+ handshake with nginx succeeds and presents the mounted certificate",
};

pub(crate) async fn check(target: &Target) -> Outcome {
    let Some(tls) = super::endpoint(target) else {
        return super::no_tls(&CHECK);
    };
    let expected = if tls.expected_leaf_der.is_some() {
        "TLS 1.2+ handshake, leaf certificate = the one mounted for nginx"
    } else {
        "TLS 1.2+ handshake with a certificate"
    };
    let mut probe = Probe::new(&CHECK, expected).url(format!("tls://{}", tls.addr));
    probe.evidence(format!("SNI {}", tls.server_name));
    let shown =
        match handshake_unverified(&tls.addr, &tls.server_name, target.request_timeout()).await {
            Ok(h) => h,
            Err(e) => return probe.fail(e.to_string()),
        };
    probe.evidence(format!("protocol {}", shown.protocol));
    probe.evidence(format!("cipher suite {}", shown.cipher_suite));
    probe.evidence(format!("{} certificate(s) presented", shown.chain.len()));
    probe.fact("protocol", shown.protocol.clone());
    probe.fact("cipher_suite", shown.cipher_suite.clone());
    if let Some(want) = &tls.expected_leaf_der {
        match shown.chain.first() {
            Some(leaf) if leaf == want => {}
            Some(_) => {
                return probe.fail(
                    "a certificate, but not the one mounted for nginx (stale, or the other of nginx/ssl and certbot's live directory?)",
                );
            }
            None => return probe.fail("no certificate presented"),
        }
    }
    probe.pass(format!("{} with {}", shown.protocol, shown.cipher_suite))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;
    use crate::target::TlsEndpoint;
    use std::sync::Arc;
    use tokio::net::TcpListener;

    struct Pki {
        ca_pem: String,
        leaf_der: Vec<u8>,
        server: Arc<rustls::ServerConfig>,
    }

    fn pki(names: &[&str]) -> Pki {
        crate::http::ensure_crypto_provider();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
        let server = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
            )
            .unwrap();
        Pki {
            ca_pem: ca.pem(),
            leaf_der: leaf.der().to_vec(),
            server: Arc::new(server),
        }
    }

    /// A loopback TLS server that completes handshakes until the test ends.
    async fn serve(config: Arc<rustls::ServerConfig>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = acceptor.accept(tcp).await;
                });
            }
        });
        addr
    }

    fn target(addr: String, roots: &str, leaf: Option<Vec<u8>>) -> Target {
        Target::new("http://127.0.0.1:9")
            .unwrap()
            .with_tls(TlsEndpoint {
                addr,
                server_name: "localhost".into(),
                roots_pem: roots.as_bytes().to_vec(),
                expected_leaf_der: leaf,
            })
    }

    #[tokio::test]
    async fn passes_with_the_expected_certificate() {
        let pki = pki(&["localhost"]);
        let addr = serve(pki.server.clone()).await;
        let o = check(&target(addr, &pki.ca_pem, Some(pki.leaf_der.clone()))).await;
        assert_eq!(o.status, Status::Passed, "{o}");
        assert!(o.facts["protocol"].starts_with("TLSv1_"), "{o}");
    }

    #[tokio::test]
    async fn fails_when_another_trusted_certificate_is_presented() {
        let pki = pki(&["localhost"]);
        let addr = serve(pki.server.clone()).await;
        let o = check(&target(addr, &pki.ca_pem, Some(vec![1, 2, 3]))).await;
        assert_eq!(o.status, Status::Failed, "{o}");
        assert!(o.got.contains("not the one mounted"), "{o}");
    }

    // Trust and names are ssl.chain's and ssl.hostname's: the handshake itself completes.
    #[tokio::test]
    async fn leaves_trust_and_names_to_their_checks() {
        let served = pki(&["dify.example"]);
        let other = pki(&["localhost"]);
        let addr = serve(served.server.clone()).await;
        let o = check(&target(addr, &other.ca_pem, Some(served.leaf_der.clone()))).await;
        assert_eq!(o.status, Status::Passed, "{o}");
    }

    #[tokio::test]
    async fn fails_when_nothing_speaks_tls() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        // Accept and close at once: no ServerHello ever comes.
        std::thread::spawn(move || {
            for c in listener.incoming() {
                drop(c);
            }
        });
        let pki = pki(&["localhost"]);
        let o = check(&target(addr, &pki.ca_pem, None)).await;
        assert_eq!(o.status, Status::Failed, "{o}");
        assert!(o.got.contains("handshake"), "{o}");
    }

    #[tokio::test]
    async fn skips_without_tls_endpoint() {
        let o = check(&Target::new("http://127.0.0.1:9").unwrap()).await;
        assert_eq!(o.status, Status::Skipped);
    }
}
