//! The HTTP client every check uses.

use std::sync::Once;

use crate::target::Target;

/// Installs ring as the process' rustls provider once. reqwest is built without a provider of
/// its own so that one crypto backend serves reqwest, tokio-rustls and the harness' rcgen.
pub fn ensure_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err only means another part of the process installed one first; that one serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client that never follows redirects (a redirected preflight is a failure to report,
/// not to hide) and gives up after the target's request timeout.
pub(crate) fn client(target: &Target) -> reqwest::Client {
    ensure_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(target.request_timeout())
        .user_agent(concat!("dify-conformance/", env!("CARGO_PKG_VERSION")));
    if let Some(tls) = target.https_via() {
        // Dial the endpoint whatever the name resolves to: the name is for SNI and the
        // certificate, the address is where the harness published the port.
        if let Ok(addr) = tls.addr.parse::<std::net::SocketAddr>() {
            builder = builder.resolve(&tls.server_name, addr);
        }
        let roots: Vec<reqwest::Certificate> =
            reqwest::Certificate::from_pem_bundle(&tls.roots_pem).unwrap_or_default();
        if !roots.is_empty() {
            builder = builder.tls_certs_only(roots);
        }
    }
    builder.build().unwrap_or_else(|_| reqwest::Client::new())
}

/// A response header as text, for evidence.
pub(crate) fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The error chain of a failed request in one line ("error sending request: connection refused").
pub(crate) fn describe_error(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
