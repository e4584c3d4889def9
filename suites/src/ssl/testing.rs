//! A real OpenSSL server on loopback for the ssl checks' unit tests: chosen versions, security
//! level, ciphers and certificate, answering one HTTP request per connection.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use openssl::pkey::PKey;
use openssl::ssl::{SslAcceptor, SslMethod};
use openssl::x509::X509;

use crate::clients::tls_scan::Version;
use crate::target::{Target, TlsEndpoint};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cert {
    Valid,
    Expired,
    /// Valid for another host than the one the client asks for.
    WrongHost,
    /// Days of validity left.
    DaysLeft(i64),
    /// Signed by an intermediate the server does not send.
    MissingIntermediate,
}

#[derive(Clone, Debug)]
pub(crate) struct Server {
    pub min: Version,
    pub max: Version,
    pub seclevel0: bool,
    pub ciphers: Option<&'static str>,
    pub cert: Cert,
    /// Extra response headers of every HTTP answer.
    pub headers: Vec<(&'static str, &'static str)>,
}

impl Server {
    pub fn modern() -> Self {
        Self {
            min: Version::Tls12,
            max: Version::Tls13,
            seclevel0: false,
            ciphers: None,
            cert: Cert::Valid,
            headers: Vec::new(),
        }
    }

    pub fn legacy() -> Self {
        Self {
            min: Version::Tls10,
            seclevel0: true,
            ..Self::modern()
        }
    }
}

pub(crate) struct TlsServer {
    pub addr: String,
    pub ca_pem: String,
}

fn version(v: Version) -> openssl::ssl::SslVersion {
    match v {
        Version::Tls10 => openssl::ssl::SslVersion::TLS1,
        Version::Tls11 => openssl::ssl::SslVersion::TLS1_1,
        Version::Tls12 => openssl::ssl::SslVersion::TLS1_2,
        Version::Tls13 => openssl::ssl::SslVersion::TLS1_3,
    }
}

fn pki(cert: &Cert) -> (String, Vec<X509>, PKey<openssl::pkey::Private>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name = dn("test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let names = match cert {
        Cert::WrongHost => vec!["dify.example".to_string()],
        _ => vec!["localhost".to_string(), "127.0.0.1".to_string()],
    };
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(names).unwrap();
    params.distinguished_name = dn("test nginx");
    let now = time::OffsetDateTime::now_utc();
    match cert {
        Cert::Expired => {
            params.not_before = now - time::Duration::days(60);
            params.not_after = now - time::Duration::days(1);
        }
        Cert::DaysLeft(d) => {
            params.not_before = now - time::Duration::days(1);
            params.not_after = now + time::Duration::days(*d) + time::Duration::hours(1);
        }
        _ => {}
    }
    let chain = if *cert == Cert::MissingIntermediate {
        let ik = KeyPair::generate().unwrap();
        let mut ip = CertificateParams::new(Vec::<String>::new()).unwrap();
        ip.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ip.distinguished_name = dn("test intermediate");
        let inter = CertifiedIssuer::signed_by(ip, ik, &ca).unwrap();
        let leaf = params.signed_by(&key, &inter).unwrap();
        vec![X509::from_der(leaf.der()).unwrap()]
    } else {
        let leaf = params.signed_by(&key, &ca).unwrap();
        vec![X509::from_der(leaf.der()).unwrap()]
    };
    let pkey = PKey::private_key_from_der(&key.serialize_der()).unwrap();
    (ca.pem(), chain, pkey)
}

fn dn(cn: &str) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    dn
}

impl TlsServer {
    /// Starts serving on a thread that lives as long as the test process.
    pub fn start(server: &Server) -> Self {
        let (ca_pem, chain, key) = pki(&server.cert);
        let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
        b.set_certificate(&chain[0]).unwrap();
        b.set_private_key(&key).unwrap();
        // The Mozilla profile switches TLS < 1.2 off by option; the test decides instead.
        b.clear_options(openssl::ssl::SslOptions::NO_TLSV1 | openssl::ssl::SslOptions::NO_TLSV1_1);
        b.set_min_proto_version(Some(version(server.min))).unwrap();
        b.set_max_proto_version(Some(version(server.max))).unwrap();
        let base = server.ciphers.unwrap_or("DEFAULT");
        let list = if server.seclevel0 {
            format!("{base}:@SECLEVEL=0")
        } else {
            base.to_string()
        };
        b.set_cipher_list(&list).unwrap();
        let acceptor = Arc::new(b.build());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let headers: String = server
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let acceptor = acceptor.clone();
                let headers = headers.clone();
                std::thread::spawn(move || {
                    let Ok(mut tls) = acceptor.accept(tcp) else {
                        return;
                    };
                    let mut buf = [0u8; 2048];
                    let _ = tls.read(&mut buf);
                    let _ = write!(
                        tls,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{headers}Content-Length: 2\r\nConnection: close\r\n\r\nok"
                    );
                    let _ = tls.shutdown();
                });
            }
        });
        Self { addr, ca_pem }
    }

    pub fn target(&self) -> Target {
        Target::new("http://127.0.0.1:9")
            .unwrap()
            .with_tls(TlsEndpoint {
                addr: self.addr.clone(),
                server_name: "localhost".into(),
                roots_pem: self.ca_pem.clone().into_bytes(),
                expected_leaf_der: None,
            })
            .with_request_timeout(std::time::Duration::from_secs(5))
    }
}
