//! The ssl suite: nginx serves HTTPS the way a browser and a TLS scanner expect.
//!
//! Judged on the wire, never from the configuration: every question is a handshake (see
//! [`crate::clients::tls_scan`]). Runs against the harness' TLS endpoint of a cell with
//! `NGINX_HTTPS_ENABLED=true`, or any `https://` base URL given to `check`.

mod certificate;
mod ciphers;
mod cookies;
mod handshake;
mod http;
mod protocols;

use std::time::Duration;

use crate::clients::tls_scan::{self, Offer, ScanError, Session};
use crate::flow::Flow;
use crate::outcome::{Outcome, Probe};
use crate::suite::Check;
use crate::target::{Target, TlsEndpoint};

pub const CHECKS: &[Check] = &[
    handshake::CHECK,
    protocols::CHECK,
    certificate::CHAIN,
    certificate::EXPIRY,
    certificate::HOSTNAME,
    ciphers::CHECK,
    http::HSTS,
    http::REDIRECT,
    certificate::CERTBOT_PATH,
    cookies::CHECK,
];

pub async fn run(flow: &Flow) -> Vec<Outcome> {
    let target = flow.target();
    let presented = match endpoint(target) {
        Some(tls) => Some(scan(&tls, Offer::default(), target.request_timeout()).await),
        None => None,
    };
    vec![
        handshake::check(target).await,
        protocols::check(target).await,
        certificate::chain(target, presented.as_ref()),
        certificate::expiry(target, presented.as_ref()),
        certificate::hostname(target, presented.as_ref()),
        ciphers::check(target).await,
        http::hsts(target).await,
        http::redirect(target).await,
        certificate::certbot_path(target, presented.as_ref()),
        cookies::check(flow).await,
    ]
}

/// The TLS endpoint to judge: the one the harness gave, else the `https://` base URL's host
/// and port, trusted by the system's roots.
pub(crate) fn endpoint(target: &Target) -> Option<TlsEndpoint> {
    if let Some(tls) = target.tls() {
        return Some(tls.clone());
    }
    let url = target.base_url();
    if url.scheme() != "https" {
        return None;
    }
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port_or_known_default()?;
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Some(TlsEndpoint {
        addr,
        server_name: host.to_string(),
        roots_pem: Vec::new(),
        expected_leaf_der: None,
    })
}

/// The skip every ssl check gives a target without TLS.
pub(crate) fn no_tls(check: &Check) -> Outcome {
    Probe::new(check, "a TLS endpoint to probe")
        .skip("the target has no TLS endpoint (NGINX_HTTPS_ENABLED is not true, base URL is not https://)")
}

/// One handshake off the async runtime (OpenSSL's client blocks).
pub(crate) async fn scan(
    tls: &TlsEndpoint,
    offer: Offer,
    timeout: Duration,
) -> Result<Session, ScanError> {
    let addr = tls.addr.clone();
    let name = tls.server_name.clone();
    tokio::task::spawn_blocking(move || tls_scan::handshake(&addr, &name, &offer, timeout))
        .await
        .unwrap_or_else(|e| Err(ScanError::Refused(format!("scan task failed: {e}"))))
}

#[cfg(test)]
pub(crate) mod testing;
