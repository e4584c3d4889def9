//! A TLS scanner over the system's OpenSSL: one handshake per question, the way testssl.sh and
//! SSLyze ask (a protocol version offered alone, a cipher class offered alone).
//!
//! rustls cannot speak TLS 1.0/1.1 or weak suites, so it cannot tell whether a server still
//! accepts them. OpenSSL 3 can, but only at `@SECLEVEL=0`: at its default level the client itself
//! refuses to offer TLS < 1.2, and a server at its default level refuses them whatever its
//! `ssl_protocols` says. So every probe here runs at security level 0 and never verifies the peer
//! during the handshake: trust, names and dates are judged afterwards from the chain it sent.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509, X509StoreContext};

/// The protocol versions a scan asks about, oldest first.
pub const VERSIONS: [Version; 4] = [
    Version::Tls10,
    Version::Tls11,
    Version::Tls12,
    Version::Tls13,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl Version {
    /// The name nginx's `ssl_protocols` and testssl.sh use.
    pub fn name(self) -> &'static str {
        match self {
            Version::Tls10 => "TLSv1",
            Version::Tls11 => "TLSv1.1",
            Version::Tls12 => "TLSv1.2",
            Version::Tls13 => "TLSv1.3",
        }
    }

    /// Versions older than 1.2 are deprecated (RFC 8996).
    pub fn deprecated(self) -> bool {
        self < Version::Tls12
    }

    fn openssl(self) -> SslVersion {
        match self {
            Version::Tls10 => SslVersion::TLS1,
            Version::Tls11 => SslVersion::TLS1_1,
            Version::Tls12 => SslVersion::TLS1_2,
            Version::Tls13 => SslVersion::TLS1_3,
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What to offer in one handshake.
#[derive(Clone, Debug, Default)]
pub struct Offer {
    /// Offer exactly this version (min = max); `None`: anything the library speaks.
    pub version: Option<Version>,
    /// OpenSSL cipher string for TLS <= 1.2 (`@SECLEVEL=0` is appended).
    pub ciphers: Option<String>,
    /// Cap the version (a cipher class probe must not end up in TLS 1.3).
    pub max_version: Option<Version>,
}

/// What a completed handshake showed.
#[derive(Clone, Debug)]
pub struct Session {
    pub version: String,
    pub cipher: String,
    /// The certificates as the server sent them, leaf first.
    pub chain: Vec<X509>,
}

/// Why a handshake did not complete.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// Nothing to talk to: the verdict is about the network, not about TLS.
    #[error("TCP connect to {addr} failed: {reason}")]
    Connect { addr: String, reason: String },
    /// This client cannot make the offer (the library lacks the version or cipher class).
    #[error("this client cannot offer it: {0}")]
    CannotOffer(String),
    /// The server answered and refused (an alert, a closed connection).
    #[error("refused: {0}")]
    Refused(String),
}

/// One handshake with `addr`, `server_name` as SNI, offering `offer`.
pub fn handshake(
    addr: &str,
    server_name: &str,
    offer: &Offer,
    timeout: Duration,
) -> Result<Session, ScanError> {
    let (stream, _) = connect(addr, server_name, offer, timeout)?;
    let ssl = stream.ssl();
    Ok(Session {
        version: ssl.version_str().to_string(),
        cipher: ssl
            .current_cipher()
            .map(|c| c.name().to_string())
            .unwrap_or_default(),
        chain: ssl
            .peer_cert_chain()
            .map(|s| s.iter().map(|c| c.to_owned()).collect())
            .or_else(|| ssl.peer_certificate().map(|c| vec![c]))
            .unwrap_or_default(),
    })
}

/// Status line and headers of `GET path` over TLS (HTTP/1.1, `Connection: close`).
pub fn https_head(
    addr: &str,
    server_name: &str,
    path: &str,
    timeout: Duration,
) -> Result<Vec<String>, ScanError> {
    let (mut stream, _) = connect(addr, server_name, &Offer::default(), timeout)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {server_name}\r\nUser-Agent: dify-conformance\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| ScanError::Refused(format!("writing the request: {e}")))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the end of the headers; the body is not needed.
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(ScanError::Refused(format!("reading the response: {e}"))),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let lines: Vec<String> = head.lines().map(str::to_owned).collect();
    if lines.first().is_none_or(|l| !l.starts_with("HTTP/")) {
        return Err(ScanError::Refused("no HTTP response over TLS".into()));
    }
    Ok(lines)
}

fn connect(
    addr: &str,
    server_name: &str,
    offer: &Offer,
    timeout: Duration,
) -> Result<(openssl::ssl::SslStream<TcpStream>, ()), ScanError> {
    let cannot = |e: openssl::error::ErrorStack| ScanError::CannotOffer(e.to_string());
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(cannot)?;
    builder.set_verify(SslVerifyMode::NONE);
    let level0 = match &offer.ciphers {
        Some(c) => format!("{c}:@SECLEVEL=0"),
        None => "ALL:@SECLEVEL=0".to_string(),
    };
    builder.set_cipher_list(&level0).map_err(cannot)?;
    if let Some(v) = offer.version {
        builder
            .set_min_proto_version(Some(v.openssl()))
            .map_err(cannot)?;
        builder
            .set_max_proto_version(Some(v.openssl()))
            .map_err(cannot)?;
    } else {
        builder
            .set_min_proto_version(Some(SslVersion::TLS1))
            .map_err(cannot)?;
    }
    if let Some(v) = offer.max_version {
        builder
            .set_max_proto_version(Some(v.openssl()))
            .map_err(cannot)?;
    }
    let connector = builder.build();
    let mut config = connector.configure().map_err(cannot)?;
    config.set_verify_hostname(false);
    config.set_use_server_name_indication(server_name.parse::<std::net::IpAddr>().is_err());

    let sockaddr = addr
        .to_socket_addrs()
        .map_err(|e| ScanError::Connect {
            addr: addr.to_owned(),
            reason: e.to_string(),
        })?
        .next()
        .ok_or_else(|| ScanError::Connect {
            addr: addr.to_owned(),
            reason: "no address".into(),
        })?;
    let tcp = TcpStream::connect_timeout(&sockaddr, timeout).map_err(|e| ScanError::Connect {
        addr: addr.to_owned(),
        reason: e.to_string(),
    })?;
    let _ = tcp.set_read_timeout(Some(timeout));
    let _ = tcp.set_write_timeout(Some(timeout));
    match config.connect(server_name, tcp) {
        Ok(s) => Ok((s, ())),
        Err(openssl::ssl::HandshakeError::SetupFailure(e)) => Err(cannot(e)),
        Err(openssl::ssl::HandshakeError::Failure(mid)) => {
            Err(ScanError::Refused(describe(mid.error())))
        }
        Err(openssl::ssl::HandshakeError::WouldBlock(mid)) => {
            Err(ScanError::Refused(describe(mid.error())))
        }
    }
}

/// OpenSSL's reason in one line: the alert or library reason, else the I/O error.
fn describe(e: &openssl::ssl::Error) -> String {
    if let Some(stack) = e.ssl_error() {
        let reasons: Vec<String> = stack
            .errors()
            .iter()
            .map(|e| e.reason().unwrap_or("unknown").to_string())
            .collect();
        if !reasons.is_empty() {
            return reasons.join("; ");
        }
    }
    if let Some(io) = e.io_error() {
        return io.to_string();
    }
    match e.code() {
        openssl::ssl::ErrorCode::SYSCALL | openssl::ssl::ErrorCode::ZERO_RETURN => {
            "connection closed by the server".into()
        }
        code => format!("handshake error {}", code.as_raw()),
    }
}

/// The trust store: the CA certificates in `roots_pem`, or the system's when it is empty.
pub fn trust_store(roots_pem: &[u8]) -> Result<X509Store, String> {
    let mut builder = X509StoreBuilder::new().map_err(|e| e.to_string())?;
    if roots_pem.iter().all(u8::is_ascii_whitespace) {
        builder.set_default_paths().map_err(|e| e.to_string())?;
    } else {
        let certs = X509::stack_from_pem(roots_pem).map_err(|e| e.to_string())?;
        if certs.is_empty() {
            return Err("no CA certificate in the PEM given".into());
        }
        for c in certs {
            builder.add_cert(c).map_err(|e| e.to_string())?;
        }
    }
    // Dates are ssl.expiry's business; the chain check judges only issuers and signatures.
    builder
        .set_flags(X509VerifyFlags::NO_CHECK_TIME)
        .map_err(|e| e.to_string())?;
    Ok(builder.build())
}

/// Verifies `chain` (leaf first, as sent) against `store`: `Ok(())` or OpenSSL's reason.
pub fn verify_chain(store: &X509Store, chain: &[X509]) -> Result<(), String> {
    let (leaf, rest) = chain.split_first().ok_or("no certificate presented")?;
    let mut untrusted = openssl::stack::Stack::new().map_err(|e| e.to_string())?;
    for c in rest {
        untrusted.push(c.clone()).map_err(|e| e.to_string())?;
    }
    let mut ctx = X509StoreContext::new().map_err(|e| e.to_string())?;
    ctx.init(store, leaf, &untrusted, |c| {
        let ok = c.verify_cert()?;
        Ok(if ok {
            Ok(())
        } else {
            Err(format!(
                "{} (at depth {})",
                c.error().error_string(),
                c.error_depth()
            ))
        })
    })
    .map_err(|e| e.to_string())?
}

/// One line describing a certificate for evidence.
pub fn describe_cert(cert: &X509) -> String {
    let name = |n: &openssl::x509::X509NameRef| {
        n.entries()
            .map(|e| {
                format!(
                    "{}={}",
                    e.object().nid().short_name().unwrap_or("?"),
                    e.data().to_string().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "subject [{}] issuer [{}] valid {} .. {}",
        name(cert.subject_name()),
        name(cert.issuer_name()),
        cert.not_before(),
        cert.not_after()
    )
}

/// The DNS and IP names of a certificate's subjectAltName.
pub fn alt_names(cert: &X509) -> Vec<String> {
    let Some(names) = cert.subject_alt_names() else {
        return Vec::new();
    };
    names
        .iter()
        .filter_map(|n| {
            n.dnsname().map(str::to_owned).or_else(|| {
                n.ipaddress().and_then(|ip| match ip.len() {
                    4 => {
                        let b: [u8; 4] = ip.try_into().ok()?;
                        Some(std::net::IpAddr::from(b).to_string())
                    }
                    16 => {
                        let b: [u8; 16] = ip.try_into().ok()?;
                        Some(std::net::IpAddr::from(b).to_string())
                    }
                    _ => None,
                })
            })
        })
        .collect()
}

/// Whether `host` matches a certificate name, as browsers match (RFC 6125 §6.4): exact and
/// case-insensitive, a `*` only as the whole left-most label and matching exactly one label,
/// never for an IP address.
pub fn name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if pattern == host {
        return true;
    }
    if host.parse::<std::net::IpAddr>().is_ok() {
        return false;
    }
    let Some(suffix) = pattern.strip_prefix("*.") else {
        return false;
    };
    // A wildcard must leave at least two labels (`*.com` matches nothing).
    if !suffix.contains('.') || suffix.contains('*') {
        return false;
    }
    match host.split_once('.') {
        Some((first, rest)) => !first.is_empty() && rest == suffix,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::exact("dify.example", "dify.example", true)]
    #[case::case_insensitive("Dify.Example", "dify.EXAMPLE", true)]
    #[case::trailing_dot("dify.example.", "dify.example", true)]
    #[case::wildcard_one_label("*.example.com", "dify.example.com", true)]
    #[case::wildcard_not_two_labels("*.example.com", "a.dify.example.com", false)]
    #[case::wildcard_not_apex("*.example.com", "example.com", false)]
    #[case::wildcard_public_suffix("*.com", "example.com", false)]
    #[case::partial_wildcard("d*.example.com", "dify.example.com", false)]
    #[case::other_host("dify.example", "evil.example", false)]
    #[case::ip_exact("127.0.0.1", "127.0.0.1", true)]
    #[case::ip_not_wildcard("*.0.0.1", "127.0.0.1", false)]
    fn matches_names_like_a_browser(#[case] pattern: &str, #[case] host: &str, #[case] want: bool) {
        assert_eq!(name_matches(pattern, host), want);
    }
}
