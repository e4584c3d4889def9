//! A TLS handshake that reports what was negotiated and presented.
//!
//! reqwest only exposes the leaf certificate and the version; a conformance check also wants the
//! cipher suite and the whole chain, so this speaks tokio-rustls directly.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::http::ensure_crypto_provider;

/// What one successful handshake showed.
#[derive(Clone, Debug)]
pub struct Handshake {
    /// e.g. `TLSv1_3`.
    pub protocol: String,
    pub cipher_suite: String,
    /// DER of the certificates as the server sent them, leaf first.
    pub chain: Vec<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("no CA certificate could be read from the PEM given")]
    NoRoots,
    #[error("`{0}` is not a valid TLS server name")]
    BadServerName(String),
    #[error("TCP connect to {addr} failed: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS handshake with {addr} failed: {source}")]
    Handshake {
        addr: String,
        source: std::io::Error,
    },
    #[error("no TLS answer from {addr} within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
}

/// Connects to `addr`, sends `server_name` as SNI and verifies the chain against `roots_pem`.
pub async fn handshake(
    addr: &str,
    server_name: &str,
    roots_pem: &[u8],
    timeout: Duration,
) -> Result<Handshake, ProbeError> {
    ensure_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    // No CA given: the system's roots, as a browser would trust.
    let system;
    let roots_pem = if roots_pem.iter().all(u8::is_ascii_whitespace) {
        let path = std::env::var_os("SSL_CERT_FILE")
            .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
        system = std::fs::read(&path).map_err(|_| ProbeError::NoRoots)?;
        &system[..]
    } else {
        roots_pem
    };
    let certs: Vec<CertificateDer<'static>> =
        rustls_pemfile_certs(roots_pem).ok_or(ProbeError::NoRoots)?;
    for cert in certs {
        roots.add(cert).map_err(|_| ProbeError::NoRoots)?;
    }
    if roots.is_empty() {
        return Err(ProbeError::NoRoots);
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    connect(addr, server_name, config, timeout).await
}

/// A modern client's handshake (TLS 1.2/1.3, rustls' suites) that accepts whatever certificate
/// is presented: trust, name and dates are judged by the checks about them, from the chain.
pub async fn handshake_unverified(
    addr: &str,
    server_name: &str,
    timeout: Duration,
) -> Result<Handshake, ProbeError> {
    ensure_crypto_provider();
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    connect(addr, server_name, config, timeout).await
}

/// Accepts any certificate, still checking the handshake signatures with the provider's
/// algorithms (so the server proves it holds the key of the certificate it sent).
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

async fn connect(
    addr: &str,
    server_name: &str,
    config: rustls::ClientConfig,
    timeout: Duration,
) -> Result<Handshake, ProbeError> {
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|_| ProbeError::BadServerName(server_name.to_owned()))?;
    let connector = TlsConnector::from(Arc::new(config));

    let work = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|source| ProbeError::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|source| ProbeError::Handshake {
                addr: addr.to_owned(),
                source,
            })?;
        let (_, conn) = tls.get_ref();
        Ok(Handshake {
            protocol: conn
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            cipher_suite: conn
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default(),
            chain: conn
                .peer_certificates()
                .unwrap_or_default()
                .iter()
                .map(|c| c.as_ref().to_vec())
                .collect(),
        })
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| ProbeError::Timeout {
            addr: addr.to_owned(),
            timeout,
        })?
}

/// The certificates in a PEM bundle, or `None` when it holds none or is malformed.
fn rustls_pemfile_certs(pem: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    certs.ok().filter(|c| !c.is_empty())
}
